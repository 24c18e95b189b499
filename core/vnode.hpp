// The vnode: the actor that owns one partition's replica data on this node
// (riak_core's vnode). It alone reads and writes its storage engine; other
// actors reach it only with messages (core/peer_messages.hpp):
//
//   vnode_get        read a key's object                 -> vnode_get_reply
//   vnode_put        merge a replicated object in        -> vnode_put_reply
//   vnode_coordinate apply a client write as the
//                    coordinating replica                 -> vnode_coordinate_reply (the new object, at once)
//                                                          + vnode_put_reply (once it is stored)
//   vnode_fold       a page of keys or buckets           -> vnode_fold_reply
//   vnode_reap       drop a tombstone all primaries hold -> vnode_reap_reply
//   vnode_aae        a step of an anti-entropy exchange   -> vnode_aae_reply
//
// Every stored write also updates the vnode's anti-entropy trees
// (core/anti_entropy.hpp). They are persisted at a clean stop and restored
// at the next start; after an unclean stop (or without the record) they are
// rebuilt in the background, a few thousand keys per step, and exchanges
// are refused until the rebuild is done.
//
// Writes of one scheduler turn are submitted as one storage batch (the
// engine's group commit then joins every vnode's batch into one
// transaction); a write is acknowledged only once committed, and fsynced
// first when the request asked for `dw`. Until then its object sits in a
// small write-behind map so later reads see it.
//
// Actor ids (DESIGN.md, riak_kv's kv679): a write's dot is issued by actor
// [0x01][incarnation: 16 bytes][epoch: 8 bytes BE]. The incarnation changes
// whenever storage lost or may have lost acknowledged writes. The epoch is a
// per-vnode counter, leased durably in blocks before use: a write on a key
// this vnode does not hold takes a fresh epoch, so a dot is never issued
// twice for one key even when the vnode's copy was reaped, swept or lost; a
// write on a key it holds reuses the actor already in the key's clock if
// that actor was created in this run (or before a clean shutdown), so
// clocks do not grow with every write.
//
// Thread-safety: an actor; everything runs on its scheduler's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/anti_entropy.hpp"
#include "core/bucket_types.hpp"
#include "core/cluster_state.hpp"
#include "core/config.hpp"
#include "core/peer_messages.hpp"
#include "core/runtime.hpp"
#include "core/stats.hpp"
#include "crdt/hlc.hpp"
#include "crdt/object.hpp"
#include "storage/engine.hpp"

namespace shoal::core {

// What every vnode of a node shares: all of it immutable, or thread-safe.
struct VnodeServices {
  std::function<Result<std::unique_ptr<storage::Engine>>(std::uint32_t partition)> open_engine;
  std::shared_ptr<ClusterState> cluster;  // bucket types (read per request: they change at run time)
  std::shared_ptr<const BucketTypes> bucket_types() const { return cluster->bucket_types(); }
  Limits limits;
  ActorRef router = kNoActor;
  std::uint32_t ring_size = 64;
  std::uint32_t expiry_sweep_interval_ms = 60'000;
  storage::SyncMode sync_mode = storage::SyncMode::nosync;
  NodeStats* stats = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<AaeRegistry> aae;       // where trees' state is published
  std::size_t aae_key_list_max = 50'000;  // keys of one key-hash list reply
};

inline constexpr std::uint8_t kActorIdVersion = 1;
inline constexpr std::size_t kActorIdBytes = 1 + 16 + 8;
inline constexpr std::uint64_t kEpochLeaseBlock = 10'000;
inline constexpr std::size_t kSweepKeysPerTick = 10'000;
inline constexpr std::size_t kFoldKeysVisitedMax = 20'000;  // per vnode_fold request

class Vnode final : public Actor {
 public:
  static Result<std::unique_ptr<Actor>> create(std::shared_ptr<const VnodeServices> services, std::uint32_t partition);
  ~Vnode() override;

  std::string name() const override { return "vnode " + std::to_string(partition_); }
  void started(ActorContext& ctx) override;
  void receive(ActorContext& ctx, Mail& mail) override;
  void on_timer(ActorContext& ctx, std::uint64_t token) override;
  void turn_end(ActorContext& ctx) override;
  void on_crash(ActorContext& ctx, const Mail* mail) override;
  void stopping(ActorContext& ctx) override;

  // For tests: the actor id a write would use on a key this vnode does not hold.
  std::string fresh_actor_preview() const;

 private:
  struct PendingReply {
    Mail to;  // where the reply goes (sender, peer)
    std::uint64_t request_id = 0;
    bool durable = false;
    bool handoff = false;  // a handoff_batch_reply instead of a vnode_put_reply
  };
  struct DirtyEntry {
    std::optional<std::string> bytes;  // nullopt: erased
    std::uint64_t batch = 0;
  };

  Vnode(std::shared_ptr<const VnodeServices> services, std::uint32_t partition,
        std::unique_ptr<storage::Engine> engine);
  Result<void> open_epochs();

  void handle_get(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_put(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_coordinate(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_fold(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_reap(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_fold_objects(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_handoff_batch(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  void handle_aae(ActorContext& ctx, Mail& mail, const net::Envelope& env);
  // The (key, value hash) list of the tree's `segments`, in order, stopping
  // at a segment boundary once aae_key_list_max keys are listed;
  // `covered` receives how many segments it lists.
  Result<std::string> aae_key_hashes(storage::TreeId id, const std::vector<std::uint32_t>& segments,
                                     std::uint32_t& covered);
  void open_trees();
  void publish_trees(bool with_count);
  std::map<std::string, std::optional<std::string>> staged_writes() const;
  // Merges one replicated object into this replica's copy and stages the
  // result; false (with `error`) when it does not decode or merge.
  bool merge_in(std::string object_bytes, bool durable, std::optional<PendingReply> reply, Error& error);
  void reply_after_commits(PendingReply pending);
  void send_ready_replies(ActorContext& ctx);
  void send_replies(ActorContext& ctx, const std::vector<PendingReply>& replies, const Result<void>& result);

  // The client write applied as the coordinating replica: the new object,
  // and for a CRDT update on state this replica held, the delta to send the
  // other replicas instead of the whole state (delta-state CRDTs: merging a
  // delta is a join like merging a state, and it is as small as the op).
  struct ClientWrite {
    crdt::Object object;
    std::optional<crdt::Object> delta;
    std::optional<std::string> previous;  // the stored bytes the write replaces
    std::optional<std::int64_t> effect;   // asked by the update option `effect`
  };
  Result<ClientWrite> apply_client_write(const net::KeyRequest& request, std::uint64_t ttl_ms);
  Result<std::optional<std::string>> load(const std::string& storage_key);
  // The stored object, decoded; `bytes`, when given, receives its bytes.
  Result<std::optional<crdt::Object>> load_object(const std::string& storage_key,
                                                  std::optional<std::string>* bytes = nullptr);
  // Stages `bytes` (nullopt: erase) in place of `previous`, what load()
  // returns for the key now: the anti-entropy tree is updated from both.
  void stage_write(const std::string& storage_key, const std::optional<std::string>& previous,
                   std::optional<std::string> bytes, bool durable, std::optional<PendingReply> reply);
  void submit_writes(ActorContext& ctx);
  void committed(ActorContext& ctx, std::uint64_t batch, const Result<void>& result);
  void reply(ActorContext& ctx, const Mail& to, std::string bytes);
  Result<crdt::Actor> actor_for(const crdt::Object* current);
  Result<crdt::Actor> fresh_actor();
  crdt::HlcTimestamp now();
  void sweep(ActorContext& ctx);

  std::shared_ptr<const VnodeServices> services_;
  std::uint32_t partition_;
  std::unique_ptr<storage::Engine> engine_;
  std::string incarnation_;
  std::uint64_t next_epoch_ = 1;
  std::uint64_t leased_epoch_ = 0;     // epochs up to this one are durably leased
  std::uint64_t run_first_epoch_ = 0;  // actors of this incarnation from this epoch on may be reused
  crdt::HlcClock hlc_;

  storage::WriteBatch pending_;
  std::vector<PendingReply> pending_replies_;
  std::uint64_t next_batch_ = 1;
  std::uint64_t last_submitted_batch_ = 0;
  std::vector<PendingReply> ready_replies_;  // answerable now: what they cover is already stored
  std::unordered_map<std::uint64_t, std::vector<PendingReply>> in_flight_;
  std::unordered_map<std::string, DirtyEntry> dirty_;
  std::string sweep_cursor_;
  VnodeTrees trees_;
  // While this partition is being transferred, every write it stores is
  // also passed to the router for the new owner (handoff_forward).
  bool forward_writes_ = false;
  std::vector<std::string> forwards_;
};

// Merges `incoming` into `current` under `props`, honouring expiry: an
// object whose expiry passed before the other side's last write is dead and
// the other side replaces it (so a write after expiry does not bring the
// expired value back as a sibling). Deterministic and commutative.
crdt::Object merge_replicas(crdt::Object current, const crdt::Object& incoming, const BucketProps& props);

}  // namespace shoal::core
