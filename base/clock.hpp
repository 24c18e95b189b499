// Time, behind an interface, so logic that reads the clock can run against a
// test clock in a seeded, replayable test (as leveldb's Env and
// FoundationDB's simulator do). SystemClock is thread-safe; ManualClock is
// thread-safe too (atomics) so a test may advance it from another thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace shoal {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in microseconds since the Unix epoch. May jump.
  virtual std::int64_t now_unix_us() const = 0;
  // Monotonic time in microseconds from an arbitrary origin. Never goes back.
  virtual std::int64_t monotonic_us() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_unix_us() const override;
  std::int64_t monotonic_us() const override;
  static SystemClock& instance();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_unix_us = 1'700'000'000'000'000) : unix_us_(start_unix_us) {}
  std::int64_t now_unix_us() const override { return unix_us_.load(); }
  std::int64_t monotonic_us() const override { return monotonic_us_.load(); }
  void advance_us(std::int64_t delta_us) {
    unix_us_ += delta_us;
    if (delta_us > 0) monotonic_us_ += delta_us;
  }
  // Moves wall time only (a clock step), as NTP or an operator might.
  void set_unix_us(std::int64_t unix_us) { unix_us_ = unix_us; }

 private:
  std::atomic<std::int64_t> unix_us_;
  std::atomic<std::int64_t> monotonic_us_{0};
};

}  // namespace shoal
