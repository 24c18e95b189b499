// The ring state: cluster membership, partition owners and pending transfers,
// as one immutable, versioned value that nodes gossip and merge.
//
// Owned by ring/. A Ring is never mutated: every staged change (join, leave,
// force_remove, replace, complete_transfer, set_status) returns a new value,
// and the node swaps which value it routes with. Const methods are safe from
// any number of threads.
//
// Merge is a join-semilattice, field by field, so gossip converges whatever
// the order and repetition of exchanges: members merge per node by the
// largest (counter, status, location), owners per partition by the largest
// (epoch, node), transfers per partition by the largest (epoch, state, from,
// to), versions by vector-clock merge. Every change made by a node bumps the
// counter or epoch of what it touched and the version with that node as
// actor, so a change made after seeing another wins over it. See docs/ring.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "crdt/crdt.hpp"
#include "crdt/vclock.hpp"
#include "ring/claim.hpp"
#include "ring/partition.hpp"
#include "ring/preflist.hpp"

namespace shoal::ring {

// Wire and disk type tag of a ring state, from the one registry of tags.
inline constexpr std::uint8_t kRingTypeTag = static_cast<std::uint8_t>(crdt::TypeTag::ring_state);
inline constexpr std::uint8_t kRingVersion = 1;
inline constexpr std::size_t kClusterNameBytesMax = 255;

// Later statuses win a merge tie at equal member counters. `removed` is the
// tombstone of a force-removed (or exited and forgotten) member: it keeps the
// node id known so a stale gossip cannot bring the member back.
enum class MemberStatus : std::uint8_t { joining = 0, valid = 1, leaving = 2, exiting = 3, down = 4, removed = 5 };
std::string_view member_status_name(MemberStatus status);

struct Member {
  std::string node;  // "name@host:port"
  MemberStatus status = MemberStatus::joining;
  std::string location;       // "" when unlabelled
  std::uint64_t counter = 0;  // bumped by every change to this member
  friend bool operator==(const Member&, const Member&) = default;
};

struct Owner {
  std::string node;
  std::uint64_t epoch = 0;  // bumped by every change of owner
  friend bool operator==(const Owner&, const Owner&) = default;
};

// awaiting: planned, no data sent yet; handing_off: data streaming; complete:
// the new owner took over; cancelled: a later plan dropped it.
enum class TransferState : std::uint8_t { awaiting = 0, handing_off = 1, complete = 2, cancelled = 3 };
std::string_view transfer_state_name(TransferState state);

struct Transfer {
  Partition partition = 0;
  std::string from;
  std::string to;
  TransferState state = TransferState::awaiting;
  std::uint64_t epoch = 0;
  bool pending() const { return state == TransferState::awaiting || state == TransferState::handing_off; }
  friend bool operator==(const Transfer&, const Transfer&) = default;
};

class Ring;

// The outcome of a staged change: the next ring and what it will move.
struct Plan;

class Ring {
 public:
  // A new cluster whose members are all valid, laid out by claim_fresh.
  static Result<Ring> new_cluster(std::string cluster_name, std::uint32_t partition_count,
                                  std::span<const ClaimNode> members, const ClaimOptions& options = {});

  const std::string& cluster_name() const { return state_->cluster_name; }
  std::uint32_t partition_count() const { return static_cast<std::uint32_t>(state_->owners.size()); }
  std::uint32_t target_n_val() const { return state_->target_n_val; }
  const crdt::VClock& version() const { return state_->version; }
  const std::vector<Member>& members() const { return state_->members; }  // sorted by node id
  const Member* member(std::string_view node) const;
  const std::vector<Owner>& owners() const { return state_->owners; }
  const std::string& owner(Partition partition) const { return state_->owners[partition].node; }
  std::vector<Partition> partitions_of(std::string_view node) const { return placement().partitions_of(node); }
  // One slot per partition that ever had a transfer, sorted by partition.
  const std::vector<Transfer>& transfers() const { return state_->transfers; }
  std::vector<Transfer> pending_transfers() const;
  // Owners once every pending transfer completes.
  std::vector<std::string> target_owners() const;

  Partition partition_of(std::uint64_t hash) const { return ring::partition_of(hash, partition_count()); }
  const Placement& placement() const { return state_->placement; }
  NodeMask reachable_mask(std::span<const std::string> reachable_nodes) const {
    return placement().mask_of(reachable_nodes);
  }
  Preflist preference_list(std::uint64_t hash, std::uint32_t n_val) const {
    return placement().preference_list(hash, n_val);
  }
  Preflist preference_list(std::uint64_t hash, std::uint32_t n_val, const NodeMask& reachable) const {
    return placement().preference_list(hash, n_val, reachable);
  }
  Preflist primary_list(std::uint64_t hash, std::uint32_t n_val) const {
    return placement().primaries(partition_of(hash), n_val);
  }

  // Staged changes; `actor` is the node making the change.
  Result<Plan> join(const ClaimNode& node, const crdt::Actor& actor) const;
  Result<Plan> leave(std::string_view node, const crdt::Actor& actor) const;
  // The node's data is gone: its partitions change owner at once, no handoff.
  Result<Plan> force_remove(std::string_view node, const crdt::Actor& actor) const;
  // `replacement` takes over exactly the partitions of `old_node`.
  Result<Plan> replace(std::string_view old_node, const ClaimNode& replacement, const crdt::Actor& actor) const;
  Result<Ring> mark_handing_off(Partition partition, const crdt::Actor& actor) const;
  // Ownership moves; a joining node with nothing left to receive becomes
  // valid, a leaving node with nothing left becomes exiting.
  Result<Ring> complete_transfer(Partition partition, const crdt::Actor& actor) const;
  // Operator-visible status such as down (and back to valid), and removed
  // for an exiting member that owns nothing and is in no pending transfer.
  Result<Ring> set_status(std::string_view node, MemberStatus status, const crdt::Actor& actor) const;

  // Commutative, associative, idempotent. Fails only for rings of different
  // clusters or shapes, which must never be merged.
  static Result<Ring> merge(const Ring& a, const Ring& b);

  std::string encode() const;
  static Result<Ring> decode(std::string_view bytes);
  // Stable across processes and builds of the same format version: peers
  // compare it in their handshake.
  std::uint64_t digest() const;

  friend bool operator==(const Ring& a, const Ring& b);

 private:
  struct State {
    std::string cluster_name;
    std::uint32_t target_n_val = kTargetNValDefault;
    crdt::VClock version;
    std::vector<Member> members;
    std::vector<Owner> owners;
    std::vector<Transfer> transfers;
    Placement placement;  // derived from members and owners
  };

  explicit Ring(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  // Checks the invariants and derives the placement.
  static Result<Ring> build(State state);
  Result<Plan> plan_claim(State next, std::span<const std::string> forced_away, const crdt::Actor& actor) const;
  ClaimOptions claim_options() const { return ClaimOptions{state_->target_n_val}; }

  std::shared_ptr<const State> state_;
};

struct Plan {
  Ring ring;
  std::vector<Transfer> transfers;  // partitions whose owner changes
  ClaimReport report;
};

}  // namespace shoal::ring
