// Moving partitions between nodes, as coordinators of the router
// (core/coordinator.hpp):
//
//   HandoffCoordinator  ownership transfer after a ring change: pages of
//                       whole objects are read from the local vnode
//                       (vnode_fold_objects) and sent to the new owner's vnode
//                       (handoff_batch), one batch in flight, throttled to a
//                       byte rate. While it runs the local vnode passes every
//                       write it stores on (handoff_forward), and those ride in
//                       the next batch, so a write that lands behind the fold's
//                       cursor is not left behind. When the fold is done and
//                       every forwarded write is acknowledged, ownership moves
//                       (the router completes the transfer in the ring); the
//                       coordinator keeps forwarding for a grace period while
//                       the ring change spreads, then the old copy is dropped.
//   RepairCoordinator   after force-remove: the new owner of a partition
//                       rebuilds it from the surviving replicas of every
//                       preference list the partition serves (riak_kv's
//                       partition repair), merging their objects into its
//                       own vnode.
//
// Receivers merge what they are sent, so a batch sent twice (a retry after
// a timeout, a restart of either side) does no harm: a transfer restarted
// from the beginning after a crash simply completes.
//
// Thread-safety: coordinators run on the router's scheduler thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/coordinator.hpp"

namespace shoal::core {

// What the handoff and repair coordinators need beyond CoordinatorHost.
class MembershipHost : public CoordinatorHost {
 public:
  virtual void transfer_progress(std::uint32_t partition, std::uint64_t keys, std::uint64_t bytes,
                                 std::uint64_t keys_estimate) = 0;
  // The data is all on the target: the router moves ownership.
  virtual void transfer_copied(std::uint32_t partition) = 0;
  // The coordinator is done (after its grace period, or on failure).
  virtual void transfer_finished(std::uint32_t partition, bool repair, const Result<void>& outcome) = 0;
  virtual std::uint64_t transfer_bytes_per_s() const = 0;
  // The node's monotonic clock (base/clock.hpp), for throttles and grace periods.
  virtual std::int64_t monotonic_us() const = 0;
  virtual std::uint32_t transfer_grace_ms() const = 0;
  // The transfers this node runs (sends or repairs), with their progress.
  virtual net::ClusterAdminReply local_transfers() const = 0;
  // This node's part of `what` (transfers, aae-status, aae-exchange,
  // merkle-roots, hints) for an admin report gathered from every node.
  virtual net::ClusterAdminReply local_report(const std::string& what) = 0;
};

inline constexpr std::uint32_t kTransferBatchKeys = 2048;
inline constexpr std::uint32_t kTransferBatchBytes = 2u << 20;
inline constexpr std::uint32_t kTransferReplyTimeoutMs = 10'000;
inline constexpr std::uint32_t kTransferRetryMs = 1'000;
inline constexpr std::size_t kForwardQueueMax = 100'000;

// Bytes per batch of a transfer throttled to `bytes_per_s` (0: unthrottled):
// about an eighth of a second's worth, so the rate stays even.
std::uint32_t transfer_batch_bytes(std::uint64_t bytes_per_s);
// How long to wait before sending more, when `sent` bytes went out since
// `start_us` (steady clock) and the limit is `bytes_per_s`; 0: send now.
std::uint32_t transfer_wait_ms(std::uint64_t bytes_per_s, std::int64_t start_us, std::int64_t now_us,
                               std::uint64_t sent);

class HandoffCoordinator final : public Coordinator {
 public:
  // `grace_ms`: how long writes are still passed on once everything is
  // copied (default: the host's transfer grace, for a ring change to spread).
  HandoffCoordinator(MembershipHost& host, std::uint64_t id, std::uint32_t partition, std::string target,
                     std::optional<std::uint32_t> grace_ms = std::nullopt);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;
  // A write the local vnode stored during the transfer.
  void forward(std::string object);
  const std::string& target() const { return target_; }
  bool copied() const { return copied_; }
  // The ring no longer wants this transfer (a later plan changed it).
  void cancel();

 private:
  enum class Phase { folding, sending, waiting, draining, finished };
  void next_step();
  void ask_page();
  void send_batch();

  void fail(const Error& error);

  MembershipHost& membership_;
  std::uint32_t partition_;
  std::string target_;
  Phase phase_ = Phase::folding;
  std::string cursor_;
  bool fold_done_ = false;
  bool fold_outstanding_ = false;
  std::vector<std::string> page_;       // objects read, not yet sent
  std::deque<std::string> forwarded_;   // writes passed on by the vnode
  std::vector<std::string> in_flight_;  // the batch awaiting its acknowledgement
  std::uint64_t attempt_ = 0;           // the batch's and the pauses' timers
  std::uint64_t fold_attempt_ = 0;      // the read's timers
  std::uint64_t keys_sent_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t keys_estimate_ = 0;
  std::int64_t window_start_us_ = 0;  // throttle window
  std::uint64_t window_bytes_ = 0;
  bool copied_ = false;
  std::int64_t drain_until_us_ = 0;
  std::uint32_t grace_ms_;
};

class RepairCoordinator final : public Coordinator {
 public:
  struct Source {
    ring::PreflistEntry replica;  // where to read
    std::uint32_t key_partition;  // which keys: those of the preference list starting here
  };
  RepairCoordinator(MembershipHost& host, std::uint64_t id, std::uint32_t partition, std::vector<Source> sources);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

 private:
  void ask_page();
  // Objects whose preference list includes this partition (a source also
  // holds keys of other lists).
  std::vector<std::string> belonging(std::vector<std::string> objects) const;

  MembershipHost& membership_;
  std::uint32_t partition_;
  std::vector<Source> sources_;
  std::size_t source_ = 0;
  std::string cursor_;
  std::string asked_from_;  // the cursor of the page being read and stored
  bool source_done_ = false;
  bool storing_ = false;
  std::uint64_t attempt_ = 0;
  std::uint64_t keys_ = 0;
  std::uint64_t bytes_ = 0;
  std::int64_t start_us_ = 0;  // throttle window
  std::size_t failed_sources_ = 0;
};

// admin transfers: the ring's pending transfers, with the progress each
// sending node reports for its own (and the repairs and hinted handoffs
// nodes run). With another `what` (aae-status, aae-exchange, merkle-roots,
// hints), every node's table of that report, merged.
class TransfersCoordinator final : public Coordinator {
 public:
  TransfersCoordinator(MembershipHost& host, std::uint64_t id, std::uint64_t request_id, std::uint32_t timeout_ms,
                       std::string what = "transfers");
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

 private:
  void finish_answer();
  void merge_table(net::ClusterAdminReply reply);

  MembershipHost& membership_;
  std::uint32_t timeout_ms_;
  std::string what_;
  net::Table table_;
  std::vector<std::string> notes_;
  std::size_t pending_ = 0;
  std::set<std::string> asked_;
  std::vector<net::TransferView> reported_;
  std::vector<std::string> silent_;  // nodes that did not answer
};

}  // namespace shoal::core
