// LatencyHistogram: shoal-bench's record of operation latencies, in
// microseconds, kept in log-linear buckets the way HdrHistogram does (Gil
// Tene): exact below 128 us, then 64 buckets per power of two, so every value
// is known to within 1/64 (1.6%) of itself from 1 us to the 64-bit limit, in a
// fixed array of 3,776 counters. Recording is O(1) and never allocates;
// percentiles scan the array. Percentiles report the highest value of the
// bucket the sample falls in (never flattering), capped at the exact maximum.
// Thread-compatible: shoal-bench records under its own lock.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace shoal::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;  // exact values below this
  static constexpr std::uint64_t kHalfSubBuckets = kSubBuckets / 2;                 // buckets per power of two above it
  static constexpr std::uint64_t kShiftMax = 64 - kSubBucketBits;
  static constexpr std::size_t kBuckets = kSubBuckets + kShiftMax * kHalfSubBuckets;

  void record(std::uint64_t value_us) {
    ++counts_[index_of(value_us)];
    ++count_;
    sum_us_ += static_cast<double>(value_us);
    max_us_ = std::max(max_us_, value_us);
    min_us_ = std::min(min_us_, value_us);
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_us_ += other.sum_us_;
    max_us_ = std::max(max_us_, other.max_us_);
    min_us_ = std::min(min_us_, other.min_us_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max_us() const { return max_us_; }
  std::uint64_t min_us() const { return count_ == 0 ? 0 : min_us_; }
  double mean_us() const { return count_ == 0 ? 0.0 : sum_us_ / static_cast<double>(count_); }

  // The value at `percentile` (0 < percentile <= 100) of the recorded
  // samples: the sample of rank ceil(count * percentile / 100). 0 when empty.
  std::uint64_t percentile_us(double percentile) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(static_cast<double>(count_) * percentile / 100.0));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_in(i), max_us_);
    }
    return max_us_;
  }

  // Bucket arithmetic: the bucket of a value, and the highest value a bucket
  // holds (public so it can be checked on its own).
  static std::size_t index_of(std::uint64_t value) {
    if (value < kSubBuckets) return static_cast<std::size_t>(value);
    // value >> shift lands in [kHalfSubBuckets, kSubBuckets).
    auto shift = static_cast<std::uint64_t>(std::bit_width(value)) - kSubBucketBits;
    std::uint64_t sub = value >> shift;
    return static_cast<std::size_t>(kSubBuckets + (shift - 1) * kHalfSubBuckets + (sub - kHalfSubBuckets));
  }
  static std::uint64_t highest_in(std::size_t index) {
    if (index < kSubBuckets) return index;
    std::uint64_t j = index - kSubBuckets;
    std::uint64_t shift = j / kHalfSubBuckets + 1;
    std::uint64_t lowest = (j % kHalfSubBuckets + kHalfSubBuckets) << shift;
    std::uint64_t width = std::uint64_t{1} << shift;
    // The top bucket's end would overflow; it is clamped to the type's max.
    return lowest > std::numeric_limits<std::uint64_t>::max() - (width - 1) ? std::numeric_limits<std::uint64_t>::max()
                                                                            : lowest + (width - 1);
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  double sum_us_ = 0;
  std::uint64_t max_us_ = 0;
  std::uint64_t min_us_ = std::numeric_limits<std::uint64_t>::max();
};

}  // namespace shoal::bench
