#include "core/stats.hpp"

#include <bit>

namespace shoal::core {

std::size_t LatencyHistogram::bucket_of(std::uint64_t us) {
  if (us < kSubBuckets) return static_cast<std::size_t>(us);
  int magnitude = std::bit_width(us) - 4;  // us >> magnitude is in [8, 16)... keep 16 sub-buckets
  std::uint64_t sub = us >> magnitude;     // in [8, 16)
  std::size_t index = static_cast<std::size_t>(magnitude) * (kSubBuckets / 2) + kSubBuckets / 2 +
                      static_cast<std::size_t>(sub - kSubBuckets / 2);
  return std::min<std::size_t>(index, kSubBuckets * kMagnitudes - 1);
}

std::uint64_t LatencyHistogram::bucket_upper(std::size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  std::size_t rel = bucket - kSubBuckets / 2;
  std::size_t magnitude = rel / (kSubBuckets / 2);
  std::uint64_t sub = rel % (kSubBuckets / 2) + kSubBuckets / 2;
  return ((sub + 1) << magnitude) - 1;
}

void LatencyHistogram::record(std::uint64_t us) {
  buckets_[bucket_of(us)].fetch_add(1, std::memory_order_relaxed);
  std::uint64_t seen = max_.load(std::memory_order_relaxed);
  while (us > seen && !max_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
  }
}

std::uint64_t LatencyHistogram::count() const {
  std::uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

std::uint64_t LatencyHistogram::percentile(double p) const {
  std::uint64_t total = count();
  if (total == 0) return 0;
  auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(total) + 0.5);
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return std::min(bucket_upper(i), max());
  }
  return max();
}

std::string_view op_name(Op op) {
  switch (op) {
    case Op::get:
      return "get";
    case Op::put:
      return "put";
    case Op::del:
      return "delete";
    case Op::update:
      return "update";
    case Op::list:
      return "list";
    case Op::admin:
      return "admin";
    case Op::count_:
      break;
  }
  return "?";
}

}  // namespace shoal::core
