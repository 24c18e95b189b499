// Phi-accrual failure detection (Hayashibara et al., as Cassandra and Akka
// use it): instead of a fixed timeout, each peer's heartbeat arrivals build
// a distribution of inter-arrival times, and phi = -log10(P(a heartbeat
// arrives later than now)) says how unlikely the current silence is. A peer
// is suspected when phi passes a threshold (8: one false suspicion in 10^8
// silences of that length). The detector adapts to a link whose heartbeats
// come late or jittery (a loaded node) and stays quick on a steady one.
//
// The distribution is a normal one over a sliding window of intervals, with
// a floor on its standard deviation (a perfectly regular link would
// otherwise be suspected after a microsecond of delay) and an acceptable
// pause added to the mean (scheduling hiccups of a busy node).
//
// Pure logic, no clock: callers pass the time. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace shoal::core {

struct PhiOptions {
  double threshold = 8.0;
  std::size_t window = 200;  // intervals remembered
  std::int64_t min_std_deviation_us = 100'000;
  std::int64_t acceptable_pause_us = 500'000;
  std::int64_t first_interval_estimate_us = 500'000;  // before two heartbeats arrived
};

class PhiAccrualDetector {
 public:
  explicit PhiAccrualDetector(PhiOptions options = {}) : options_(options) {}

  void heartbeat(std::int64_t now_us);
  // 0 right after a heartbeat; grows with silence. 0 when nothing was heard yet.
  double phi(std::int64_t now_us) const;
  bool available(std::int64_t now_us) const { return heard() && phi(now_us) < options_.threshold; }
  bool heard() const { return last_us_ >= 0; }
  void reset();
  double mean_interval_us() const;
  const PhiOptions& options() const { return options_; }

 private:
  PhiOptions options_;
  std::deque<std::int64_t> intervals_;
  double sum_ = 0;
  double sum_squares_ = 0;
  std::int64_t last_us_ = -1;
};

}  // namespace shoal::core
