// Preference lists: which vnodes hold the replicas of a key.
//
// Owned by ring/. A `Placement` is the read-only routing view of a ring
// (partition owners and node locations), built once per ring value and
// shared; it is immutable, so any number of threads may query it at once.
//
// Dynamo's rule: the N replicas of a key live on the first N partitions
// clockwise from the key's partition whose owners are distinct nodes; with
// location labels, distinct locations are preferred too. When a primary is
// unreachable, the next reachable distinct node clockwise after the
// primaries stands in for it as a fallback, named in the entry so hinted
// handoff knows where the data goes back to.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ring/claim.hpp"
#include "ring/partition.hpp"

namespace shoal::ring {

inline constexpr std::uint32_t kNValMax = 16;

enum class Role : std::uint8_t { primary, fallback };

struct PreflistEntry {
  // The partition whose data this replica holds. For a fallback it is the
  // partition of the primary it stands in for (the fallback node runs a vnode
  // for that partition and hands its data back later).
  Partition partition = 0;
  std::string node;
  Role role = Role::primary;
  std::string primary_node;  // fallback only: the unreachable primary (hinted-handoff target)
  friend bool operator==(const PreflistEntry&, const PreflistEntry&) = default;
};

struct Preflist {
  std::vector<PreflistEntry> entries;  // replica slots in order; fallbacks take their primary's slot
  bool complete = true;                // entries.size() == n_val
  bool locations_distinct = true;      // no two entries share a location label
  std::string reason;                  // why incomplete or why locations repeat; empty otherwise
};

// Identifies one preference list: the partition it starts at and its n_val.
struct PreflistId {
  Partition start = 0;
  std::uint32_t n_val = 0;
  friend bool operator==(const PreflistId&, const PreflistId&) = default;
  friend auto operator<=>(const PreflistId&, const PreflistId&) = default;
};

// Reachability, one flag per node index of the Placement (see node_index()).
using NodeMask = std::vector<bool>;

class Placement {
 public:
  Placement() = default;
  // `nodes` sorted and unique; `locations` parallel to it ("" = unlabelled);
  // owner[p] indexes `nodes`. Preconditions are asserted.
  Placement(std::vector<std::string> nodes, std::vector<std::string> locations, std::vector<std::uint32_t> owner);

  // From claim output: owners[p] is a node id listed in `nodes` (asserted).
  static Placement from_owners(std::span<const std::string> owners, std::span<const ClaimNode> nodes);

  std::uint32_t partition_count() const { return static_cast<std::uint32_t>(owner_.size()); }
  std::span<const std::string> nodes() const { return nodes_; }
  const std::string& owner(Partition partition) const { return nodes_[owner_[partition]]; }
  std::uint32_t owner_index(Partition partition) const { return owner_[partition]; }
  // Index of a node id in nodes(), or -1.
  int node_index(std::string_view node) const;
  std::vector<Partition> partitions_of(std::string_view node) const;

  // A mask with the listed nodes reachable (unknown ids are ignored).
  NodeMask mask_of(std::span<const std::string> reachable) const;

  // The N primaries of the list starting at `partition`, reachable or not.
  Preflist primaries(Partition partition, std::uint32_t n_val) const;
  // The list for a key hash with every node reachable.
  Preflist preference_list(std::uint64_t hash, std::uint32_t n_val) const;
  // The list for a key hash: unreachable primaries are replaced by fallbacks.
  Preflist preference_list(std::uint64_t hash, std::uint32_t n_val, const NodeMask& reachable) const;
  Preflist preference_list_at(Partition partition, std::uint32_t n_val, const NodeMask* reachable) const;

  // Every preference list of n_val whose primaries include `partition`, in
  // start order (a vnode serves keys of all of them; AAE keeps a tree per list).
  std::vector<PreflistId> preflists_containing(Partition partition, std::uint32_t n_val) const;

 private:
  // Fills `out` with the primary partitions starting at `start`; returns how many.
  std::uint32_t primary_partitions(Partition start, std::uint32_t n_val, Partition* out) const;

  std::vector<std::string> nodes_;
  std::vector<std::string> locations_;
  std::vector<std::uint32_t> location_id_;  // per node; unlabelled nodes get their own id
  std::uint32_t location_count_ = 0;
  bool labelled_ = false;
  std::uint32_t owning_nodes_ = 0;          // distinct owners
  std::uint32_t owning_locations_ = 0;      // distinct locations of owners
  std::vector<std::uint32_t> owner_;
};

}  // namespace shoal::ring
