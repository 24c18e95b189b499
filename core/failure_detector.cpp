#include "core/failure_detector.hpp"

#include <algorithm>
#include <cmath>

namespace shoal::core {

void PhiAccrualDetector::heartbeat(std::int64_t now_us) {
  if (last_us_ >= 0 && now_us > last_us_) {
    std::int64_t interval = now_us - last_us_;
    intervals_.push_back(interval);
    sum_ += static_cast<double>(interval);
    sum_squares_ += static_cast<double>(interval) * static_cast<double>(interval);
    if (intervals_.size() > options_.window) {
      auto old = static_cast<double>(intervals_.front());
      intervals_.pop_front();
      sum_ -= old;
      sum_squares_ -= old * old;
    }
  }
  if (now_us > last_us_) last_us_ = now_us;
}

double PhiAccrualDetector::mean_interval_us() const {
  if (intervals_.empty()) return static_cast<double>(options_.first_interval_estimate_us);
  return sum_ / static_cast<double>(intervals_.size());
}

double PhiAccrualDetector::phi(std::int64_t now_us) const {
  if (last_us_ < 0 || now_us <= last_us_) return 0.0;
  const double elapsed = static_cast<double>(now_us - last_us_);
  double mean = mean_interval_us();
  double variance = 0;
  if (intervals_.size() >= 2)
    variance = std::max(0.0, sum_squares_ / static_cast<double>(intervals_.size()) - mean * mean);
  double deviation = std::max(std::sqrt(variance), static_cast<double>(options_.min_std_deviation_us));
  mean += static_cast<double>(options_.acceptable_pause_us);
  // The logistic approximation of the normal CDF used by Akka: accurate to
  // ~1e-4 and, unlike 1 - erf, it does not underflow for long silences.
  const double y = (elapsed - mean) / deviation;
  const double e = std::exp(-y * (1.5976 + 0.070566 * y * y));
  if (elapsed > mean) return -std::log10(e / (1.0 + e));
  return -std::log10(1.0 - 1.0 / (1.0 + e));
}

void PhiAccrualDetector::reset() {
  intervals_.clear();
  sum_ = sum_squares_ = 0;
  last_us_ = -1;
}

}  // namespace shoal::core
