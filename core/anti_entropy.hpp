// Active anti-entropy (docs/anti_entropy.md): every vnode keeps one Merkle
// tree per preference list it serves (storage/merkle.hpp), updated on each
// write; replicas of a list compare trees level by level and repair every
// difference through the merge path.
//
//   VnodeTrees              a vnode's trees: the O(1) update on every stored
//                           write, the background rebuild after an unclean
//                           restart (a few thousand keys per step, writes
//                           behind the cursor applied to the new trees), and
//                           the encoding persisted at a clean stop.
//   AaeRegistry             what vnodes publish for the router and admins:
//                           tree state, roots, object counts. Thread-safe.
//   AaeExchangeCoordinator  one bounded exchange between two replicas of a
//                           preference list: roots, branches, segments, key
//                           hashes, then the differing objects are fetched
//                           from both, merged, and the merge is sent to each
//                           side that lacked it (handoff_batch).
//
// Thread-safety: VnodeTrees is owned by one vnode actor; the coordinator
// runs on the router's thread; AaeRegistry locks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/bucket_types.hpp"
#include "core/coordinator.hpp"
#include "storage/engine.hpp"
#include "storage/merkle.hpp"

namespace shoal::core {

// 256 branches x 16 segments: 4096 segments, 34 KiB per tree. A vnode holds
// n_val trees per bucket n_val in use, so a node of 64 vnodes with n_val 3
// keeps ~6.5 MiB of trees; a list of 1M keys has ~250 keys per segment.
inline constexpr storage::TreeShape kAaeTreeShape{256, 16};
inline constexpr std::size_t kAaeRebuildKeysPerStep = 5'000;
inline constexpr std::uint32_t kAaeRebuildStepMs = 5;       // at most ~1M keys/s per vnode
inline constexpr std::size_t kAaeFetchBytesMax = 8u << 20;  // one fetch reply

// The tree a stored object belongs to: its key's preference list (the
// partition its hash falls in) and its bucket type's n_val.
std::optional<storage::TreeId> tree_of(std::string_view storage_key, const BucketTypes& types, std::uint32_t ring_size);

struct AaeTreeView {
  storage::TreeId id;
  std::uint64_t root = 0;
};
struct AaePartitionView {
  bool ready = false;
  std::uint64_t rebuilt_keys = 0;   // while rebuilding
  std::uint64_t keys_estimate = 0;  // objects stored (the engine's count)
  std::vector<AaeTreeView> trees;
};

class AaeRegistry {
 public:
  void publish(std::uint32_t partition, AaePartitionView view);
  void erase(std::uint32_t partition);
  std::optional<AaePartitionView> find(std::uint32_t partition) const;
  std::map<std::uint32_t, AaePartitionView> all() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::uint32_t, AaePartitionView> views_;
};

class VnodeTrees {
 public:
  // Looks a stored key's current value up (the write-behind map, then storage).
  using LoadFn = std::function<Result<std::optional<std::string>>(const std::string& storage_key)>;

  explicit VnodeTrees(std::uint32_t ring_size);

  // Trees persisted at a clean stop; false (and a rebuild is needed) when
  // the bytes do not decode.
  bool restore(std::string_view bytes);
  std::string encode() const;
  // Starts over from an empty set of trees and folds the engine in steps.
  void start_rebuild();
  bool ready() const { return !rebuilding_; }
  std::uint64_t rebuilt_keys() const { return rebuilt_keys_; }

  // A write of `storage_key` from `old_bytes` to `new_bytes` (nullopt: absent).
  void update(const std::string& storage_key, const std::optional<std::string>& old_bytes,
              const std::optional<std::string>& new_bytes, const BucketTypes& types);
  // One rebuild step of at most `keys` keys. `staged` lists the writes not
  // yet in storage (key -> bytes, nullopt: erased): they override what the
  // fold reads, and staged keys the fold does not see are added. True when
  // the rebuild is done.
  Result<bool> rebuild_step(storage::Engine& engine, const std::map<std::string, std::optional<std::string>>& staged,
                            const BucketTypes& types, std::size_t keys);

  const storage::MerkleTree* find(storage::TreeId id) const { return trees_.find(id); }
  std::vector<AaeTreeView> views() const;
  // A changed root since the last call (for publishing only when needed).
  bool take_changed();

 private:
  void apply(const std::string& storage_key, const std::optional<std::string>& old_bytes,
             const std::optional<std::string>& new_bytes, const BucketTypes& types);

  std::uint32_t ring_size_;
  storage::TreeSet trees_;
  bool rebuilding_ = false;
  bool cursor_started_ = false;
  std::string cursor_;  // rebuild: every key <= cursor_ is in the trees
  std::uint64_t rebuilt_keys_ = 0;
  bool changed_ = true;
};

// The outcome of one exchange, for the router's schedule and `aae status`.
struct AaeOutcome {
  std::uint64_t keys_repaired = 0;
  bool more = false;     // a bound was hit: differences remain
  bool in_sync = false;  // roots were equal
  std::optional<Error> error;
};

class AaeHost {
 public:
  virtual ~AaeHost() = default;
  virtual void aae_exchange_finished(std::uint64_t coordinator, const AaeOutcome& outcome) = 0;
  // A tombstone the exchange spread: reap it once every replica holds it.
  virtual void aae_tombstone_repaired(const crdt::ObjectKey& key) = 0;
  virtual std::uint32_t aae_keys_per_exchange() const = 0;
};

class AaeExchangeCoordinator final : public Coordinator {
 public:
  AaeExchangeCoordinator(CoordinatorHost& host, AaeHost& aae, std::uint64_t id, storage::TreeId tree,
                         ring::PreflistEntry a, ring::PreflistEntry b);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

  static constexpr std::uint32_t kStepTimeoutMs = 30'000;
  static constexpr std::size_t kSegmentsPerExchangeMax = 1024;

 private:
  void ask(AaeStep step, std::vector<std::uint32_t> indices = {}, std::vector<std::string> keys = {});
  void advance();
  void compare_roots();
  void compare_branches();
  void compare_segments();
  void compare_keys();
  void repair();
  void end(std::optional<Error> error = std::nullopt);

  AaeHost& aae_;
  storage::TreeId tree_;
  ring::PreflistEntry sides_[2];
  AaeStep step_ = AaeStep::root;
  std::uint64_t attempt_ = 0;
  std::optional<VnodeAaeReply> replies_[2];
  std::vector<std::uint32_t> segments_;  // differing segments whose keys are listed
  std::vector<std::string> keys_;        // differing keys being repaired
  std::size_t pushes_pending_ = 0;
  std::vector<crdt::ObjectKey> tombstones_;
  AaeOutcome outcome_;
};

}  // namespace shoal::core
