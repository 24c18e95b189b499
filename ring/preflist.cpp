#include "ring/preflist.hpp"

#include <algorithm>
#include <map>

namespace shoal::ring {

Placement::Placement(std::vector<std::string> nodes, std::vector<std::string> locations,
                     std::vector<std::uint32_t> owner)
    : nodes_(std::move(nodes)), locations_(std::move(locations)), owner_(std::move(owner)) {
  SHOAL_ASSERT(nodes_.size() == locations_.size(), "one location per node");
  SHOAL_ASSERT(std::is_sorted(nodes_.begin(), nodes_.end()) &&
                   std::adjacent_find(nodes_.begin(), nodes_.end()) == nodes_.end(),
               "nodes sorted and unique");
  SHOAL_ASSERT(validate_partition_count(static_cast<std::uint32_t>(owner_.size())).has_value(),
               "owner table has a valid ring size");
  std::map<std::string, std::uint32_t> ids;
  for (const auto& l : locations_)
    if (!l.empty()) ids.emplace(l, 0);
  labelled_ = !ids.empty();
  std::uint32_t next = 0;
  for (auto& [name, id] : ids) id = next++;
  for (const auto& l : locations_) location_id_.push_back(l.empty() ? next++ : ids.at(l));
  location_count_ = next;
  std::vector<bool> owns(nodes_.size(), false);
  std::vector<bool> loc_owns(location_count_, false);
  for (std::uint32_t o : owner_) {
    SHOAL_ASSERT(o < nodes_.size(), "every owner is a known node");
    owns[o] = true;
    loc_owns[location_id_[o]] = true;
  }
  owning_nodes_ = static_cast<std::uint32_t>(std::count(owns.begin(), owns.end(), true));
  owning_locations_ = static_cast<std::uint32_t>(std::count(loc_owns.begin(), loc_owns.end(), true));
}

Placement Placement::from_owners(std::span<const std::string> owners, std::span<const ClaimNode> nodes) {
  std::vector<ClaimNode> sorted(nodes.begin(), nodes.end());
  std::sort(sorted.begin(), sorted.end(), [](const ClaimNode& a, const ClaimNode& b) { return a.node < b.node; });
  std::vector<std::string> ids;
  std::vector<std::string> locations;
  for (auto& n : sorted) {
    ids.push_back(n.node);
    locations.push_back(n.location);
  }
  std::vector<std::uint32_t> owner;
  for (const auto& o : owners) {
    auto it = std::lower_bound(ids.begin(), ids.end(), o);
    SHOAL_ASSERT(it != ids.end() && *it == o, "every owner is among the nodes");
    owner.push_back(static_cast<std::uint32_t>(it - ids.begin()));
  }
  return Placement(std::move(ids), std::move(locations), std::move(owner));
}

int Placement::node_index(std::string_view node) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node);
  return it != nodes_.end() && *it == node ? static_cast<int>(it - nodes_.begin()) : -1;
}

std::vector<Partition> Placement::partitions_of(std::string_view node) const {
  std::vector<Partition> out;
  int index = node_index(node);
  if (index < 0) return out;
  for (Partition p = 0; p < owner_.size(); ++p)
    if (owner_[p] == static_cast<std::uint32_t>(index)) out.push_back(p);
  return out;
}

NodeMask Placement::mask_of(std::span<const std::string> reachable) const {
  NodeMask mask(nodes_.size(), false);
  for (const auto& node : reachable) {
    int index = node_index(node);
    if (index >= 0) mask[static_cast<std::size_t>(index)] = true;
  }
  return mask;
}

std::uint32_t Placement::primary_partitions(Partition start, std::uint32_t n_val, Partition* out) const {
  const auto q = partition_count();
  const std::uint32_t want = std::min(n_val, owning_nodes_);
  std::uint32_t nodes[kNValMax];
  std::uint32_t locs[kNValMax];
  std::uint32_t count = 0;
  std::uint32_t distinct_locs = 0;
  auto has = [](const std::uint32_t* a, std::uint32_t n, std::uint32_t v) { return std::find(a, a + n, v) != a + n; };
  // Pass 1: distinct nodes in distinct locations, while unused locations remain.
  for (std::uint32_t i = 0; i < q && count < want && distinct_locs < owning_locations_; ++i) {
    const Partition p = (start + i) & (q - 1);
    const std::uint32_t o = owner_[p];
    const std::uint32_t l = location_id_[o];
    if (has(nodes, count, o) || has(locs, distinct_locs, l)) continue;
    out[count] = p;
    nodes[count++] = o;
    locs[distinct_locs++] = l;
  }
  // Pass 2: distinct nodes, locations may repeat.
  for (std::uint32_t i = 0; i < q && count < want; ++i) {
    const Partition p = (start + i) & (q - 1);
    const std::uint32_t o = owner_[p];
    if (has(nodes, count, o)) continue;
    out[count] = p;
    nodes[count++] = o;
  }
  std::sort(out, out + count, [start, q](Partition a, Partition b) {
    return ((a - start) & (q - 1)) < ((b - start) & (q - 1));
  });
  return count;
}

Preflist Placement::primaries(Partition partition, std::uint32_t n_val) const {
  return preference_list_at(partition, n_val, nullptr);
}

Preflist Placement::preference_list(std::uint64_t hash, std::uint32_t n_val) const {
  return preference_list_at(partition_of(hash, partition_count()), n_val, nullptr);
}

Preflist Placement::preference_list(std::uint64_t hash, std::uint32_t n_val, const NodeMask& reachable) const {
  return preference_list_at(partition_of(hash, partition_count()), n_val, &reachable);
}

Preflist Placement::preference_list_at(Partition partition, std::uint32_t n_val, const NodeMask* reachable) const {
  SHOAL_ASSERT(n_val >= 1 && n_val <= kNValMax, "n_val must be 1..kNValMax (validated with the bucket type)");
  SHOAL_ASSERT(partition < owner_.size(), "partition within the ring");
  SHOAL_ASSERT(reachable == nullptr || reachable->size() == nodes_.size(), "mask built by this placement");
  const auto q = partition_count();
  Partition prim[kNValMax];
  const std::uint32_t found = primary_partitions(partition, n_val, prim);
  auto up = [reachable](std::uint32_t node) { return reachable == nullptr || (*reachable)[node]; };

  std::uint32_t fallback_nodes[kNValMax];
  std::uint32_t missing = 0;
  std::uint32_t fallbacks = 0;
  for (std::uint32_t j = 0; j < found; ++j) missing += !up(owner_[prim[j]]);
  if (missing > 0) {
    std::uint32_t taken_locs[2 * kNValMax];
    std::uint32_t loc_count = 0;
    for (std::uint32_t j = 0; j < found; ++j)
      if (up(owner_[prim[j]])) taken_locs[loc_count++] = location_id_[owner_[prim[j]]];
    auto usable = [&](std::uint32_t o) {
      if (!up(o)) return false;
      for (std::uint32_t j = 0; j < found; ++j)
        if (owner_[prim[j]] == o) return false;
      return std::find(fallback_nodes, fallback_nodes + fallbacks, o) == fallback_nodes + fallbacks;
    };
    const Partition after = prim[found - 1];
    // Pass 1 prefers locations not yet holding a replica; pass 2 takes any.
    for (int pass = 0; pass < 2 && fallbacks < missing; ++pass) {
      for (std::uint32_t i = 1; i <= q && fallbacks < missing; ++i) {
        const std::uint32_t o = owner_[(after + i) & (q - 1)];
        if (!usable(o)) continue;
        const std::uint32_t l = location_id_[o];
        const bool new_loc = std::find(taken_locs, taken_locs + loc_count, l) == taken_locs + loc_count;
        if (pass == 0 && !new_loc) continue;
        fallback_nodes[fallbacks++] = o;
        if (new_loc) taken_locs[loc_count++] = l;
      }
    }
  }

  Preflist out;
  out.entries.reserve(found);
  std::uint32_t used_fallbacks = 0;
  for (std::uint32_t j = 0; j < found; ++j) {
    const std::uint32_t o = owner_[prim[j]];
    if (up(o)) {
      out.entries.push_back(PreflistEntry{prim[j], nodes_[o], Role::primary, {}});
    } else if (used_fallbacks < fallbacks) {
      out.entries.push_back(
          PreflistEntry{prim[j], nodes_[fallback_nodes[used_fallbacks++]], Role::fallback, nodes_[o]});
    }
  }
  out.complete = out.entries.size() == n_val;
  if (found < n_val) {
    out.reason = "only " + std::to_string(owning_nodes_) + " nodes own partitions, fewer than n_val " +
                 std::to_string(n_val);
  } else if (!out.complete) {
    out.reason = std::to_string(missing) + " primaries unreachable and only " + std::to_string(fallbacks) +
                 " reachable nodes outside the preference list";
  }
  if (labelled_) {
    std::uint32_t locs[kNValMax];
    std::uint32_t count = 0;
    for (const auto& e : out.entries) {
      const std::uint32_t l = location_id_[static_cast<std::size_t>(node_index(e.node))];
      if (std::find(locs, locs + count, l) != locs + count) out.locations_distinct = false;
      locs[count++] = l;
    }
    if (!out.locations_distinct)
      out.reason += std::string(out.reason.empty() ? "" : "; ") + "replicas share a location: " +
                    std::to_string(owning_locations_) + " locations own partitions for n_val " +
                    std::to_string(n_val);
  }
  return out;
}

std::vector<PreflistId> Placement::preflists_containing(Partition partition, std::uint32_t n_val) const {
  SHOAL_ASSERT(n_val >= 1 && n_val <= kNValMax, "n_val must be 1..kNValMax");
  std::vector<PreflistId> out;
  Partition prim[kNValMax];
  for (Partition start = 0; start < partition_count(); ++start) {
    const std::uint32_t found = primary_partitions(start, n_val, prim);
    if (std::find(prim, prim + found, partition) != prim + found) out.push_back(PreflistId{start, n_val});
  }
  return out;
}

}  // namespace shoal::ring
