// Counters and latency histograms of one node, read by `shoal status`.
// Updated from every scheduler thread with relaxed atomics (a counter is
// statistics, not synchronisation); read at any time. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace shoal::core {

// Log-linear latency histogram (HdrHistogram-like, 1/16 relative precision)
// over microseconds, lock-free.
class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 16;
  static constexpr int kMagnitudes = 40;
  void record(std::uint64_t us);
  // Percentile in [0, 100]; 0 when empty.
  std::uint64_t percentile(double p) const;
  std::uint64_t count() const;
  std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }

 private:
  static std::size_t bucket_of(std::uint64_t us);
  static std::uint64_t bucket_upper(std::size_t bucket);
  std::array<std::atomic<std::uint64_t>, kSubBuckets * kMagnitudes> buckets_{};
  std::atomic<std::uint64_t> max_{0};
};

enum class Op : std::uint8_t { get, put, del, update, list, admin, count_ };
std::string_view op_name(Op op);

struct NodeStats {
  using Counter = std::atomic<std::uint64_t>;
  // Client requests, by operation.
  std::array<Counter, static_cast<std::size_t>(Op::count_)> requests{};
  std::array<Counter, static_cast<std::size_t>(Op::count_)> errors{};
  std::array<LatencyHistogram, static_cast<std::size_t>(Op::count_)> latency_us;
  Counter requests_forwarded{0};
  Counter requests_overloaded{0};
  Counter requests_timed_out{0};
  Counter malformed_messages{0};
  // Replica work.
  Counter vnode_gets{0};
  Counter vnode_puts{0};
  Counter vnode_coordinated{0};
  Counter read_repairs{0};
  Counter aae_repairs{0};  // anti-entropy lands later; reported as 0 until then
  Counter tombstones_reaped{0};
  Counter expired_swept{0};
  Counter objects_over_warn{0};
  Counter siblings_over_warn{0};
  Counter vnode_crashes{0};
  // Peers.
  Counter peer_messages_in{0};
  Counter peer_messages_out{0};
  Counter peer_send_failures{0};
  Counter handshakes_refused{0};

  void count_request(Op op) { requests[static_cast<std::size_t>(op)].fetch_add(1, std::memory_order_relaxed); }
  void count_error(Op op) { errors[static_cast<std::size_t>(op)].fetch_add(1, std::memory_order_relaxed); }
  void record_latency(Op op, std::uint64_t us) { latency_us[static_cast<std::size_t>(op)].record(us); }
};

}  // namespace shoal::core
