#include "ring/claim.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace shoal::ring {

namespace {

constexpr int kUnowned = -1;
// A repeated node in a window outweighs any number of repeated locations.
constexpr std::int64_t kNodeConflictWeight = std::int64_t{1} << 32;

struct Context {
  std::uint32_t q = 0;
  std::uint32_t target = 0;
  std::vector<ClaimNode> nodes;        // sorted by id
  std::vector<std::uint32_t> loc;      // location id per node
  std::uint32_t location_count = 0;
  bool labelled = false;
  std::uint32_t node_window = 0;       // min(target, nodes)
  std::uint32_t location_window = 0;   // min(target, locations)
};

Result<Context> make_context(std::uint32_t q, std::span<const ClaimNode> nodes, const ClaimOptions& options) {
  SHOAL_TRYV(validate_partition_count(q));
  if (nodes.empty()) return make_error(Errc::invalid_argument, "claim needs at least one node");
  if (nodes.size() > kNodesMax)
    return make_error(Errc::too_large, std::to_string(nodes.size()) + " nodes exceeds the ring limit of " +
                                           std::to_string(kNodesMax));
  if (options.target_n_val < 1 || options.target_n_val > kTargetNValMax || options.target_n_val > q / 2)
    return make_error(Errc::invalid_argument, "target_n_val " + std::to_string(options.target_n_val) +
                                                  " must be between 1 and min(" + std::to_string(kTargetNValMax) +
                                                  ", Q/2 = " + std::to_string(q / 2) + ")");
  Context c;
  c.q = q;
  c.target = options.target_n_val;
  c.nodes.assign(nodes.begin(), nodes.end());
  std::sort(c.nodes.begin(), c.nodes.end(), [](const ClaimNode& a, const ClaimNode& b) { return a.node < b.node; });
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    const ClaimNode& n = c.nodes[i];
    if (n.node.empty() || n.node.size() > kNodeIdBytesMax)
      return make_error(Errc::invalid_argument, "node id must be 1.." + std::to_string(kNodeIdBytesMax) + " bytes");
    if (n.location.size() > kLocationBytesMax)
      return make_error(Errc::invalid_argument, "location of " + n.node + " exceeds " +
                                                    std::to_string(kLocationBytesMax) + " bytes");
    if (i > 0 && c.nodes[i - 1].node == n.node)
      return make_error(Errc::invalid_argument, "node " + n.node + " listed twice");
  }
  std::map<std::string, std::uint32_t> ids;
  for (const ClaimNode& n : c.nodes)
    if (!n.location.empty()) ids.emplace(n.location, 0);
  c.labelled = !ids.empty();
  std::uint32_t next = 0;
  for (auto& [name, id] : ids) id = next++;
  for (const ClaimNode& n : c.nodes) c.loc.push_back(n.location.empty() ? next++ : ids.at(n.location));
  c.location_count = next;
  c.node_window = std::min<std::uint32_t>(c.target, static_cast<std::uint32_t>(c.nodes.size()));
  c.location_window = std::min(c.target, c.location_count);
  return c;
}

int node_conflicts(const Context& c, const std::vector<int>& owner, std::uint32_t p, int node) {
  int n = 0;
  for (std::uint32_t d = 1; d < c.node_window; ++d) {
    n += owner[(p + d) % c.q] == node;
    n += owner[(p + c.q - d) % c.q] == node;
  }
  return n;
}

int location_conflicts(const Context& c, const std::vector<int>& owner, std::uint32_t p, int node) {
  const std::uint32_t loc = c.loc[static_cast<std::size_t>(node)];
  int n = 0;
  for (std::uint32_t d = 1; d < c.location_window; ++d) {
    int after = owner[(p + d) % c.q];
    int before = owner[(p + c.q - d) % c.q];
    n += after != kUnowned && c.loc[static_cast<std::size_t>(after)] == loc;
    n += before != kUnowned && c.loc[static_cast<std::size_t>(before)] == loc;
  }
  return n;
}

std::int64_t cost_at(const Context& c, const std::vector<int>& owner, std::uint32_t p) {
  int o = owner[p];
  if (o == kUnowned) return 0;
  return node_conflicts(c, owner, p, o) * kNodeConflictWeight + location_conflicts(c, owner, p, o);
}

// Local search in the spirit of claim v3's tail-violation fix: swap the
// owners of a conflicting partition and another one when that lowers the
// conflicts. Swaps keep every node's count, so balance is preserved.
void repair(const Context& c, std::vector<int>& owner) {
  const std::uint32_t rounds_max = 4 * c.q;
  for (std::uint32_t round = 0; round < rounds_max; ++round) {
    bool improved = false;
    for (std::uint32_t p = 0; p < c.q && !improved; ++p) {
      if (cost_at(c, owner, p) == 0) continue;
      for (std::uint32_t other = 0; other < c.q && !improved; ++other) {
        if (owner[other] == owner[p]) continue;
        std::int64_t before = cost_at(c, owner, p) + cost_at(c, owner, other);
        std::swap(owner[p], owner[other]);
        std::int64_t after = cost_at(c, owner, p) + cost_at(c, owner, other);
        if (after < before) {
          improved = true;
        } else {
          std::swap(owner[p], owner[other]);
        }
      }
    }
    if (!improved) return;
  }
}

// Sainte-Lague style sequencing: the m-th partition of a node with share c
// ideally sits at (m + 1/2) * Q / c, so every node's partitions are evenly
// spaced around the whole circle (including across the wrap). Each position
// goes to the node whose next ideal slot is earliest among those that repeat
// no node (and, if possible, no location) of the neighbouring window. With
// `keep`, the current owner of a position wins when it is within one round of
// the earliest, so a re-layout keeps much of the old one.
std::vector<int> sequence_layout(const Context& c, const std::vector<std::uint32_t>& share,
                                 const std::vector<int>* keep) {
  const auto n = static_cast<std::uint32_t>(c.nodes.size());
  std::vector<std::uint32_t> used(n, 0);
  std::vector<int> owner(c.q, kUnowned);
  // ideal(i) = (2 used_i + 1) / (2 share_i), compared by cross-multiplying.
  auto earlier = [&](std::uint32_t a, std::uint32_t b) {
    return std::uint64_t{2 * used[a] + 1} * share[b] < std::uint64_t{2 * used[b] + 1} * share[a];
  };
  auto within_round = [&](std::uint32_t a, std::uint32_t best) {
    return std::uint64_t{2 * used[a] + 1} * share[best] * n <=
           std::uint64_t{2 * used[best] + 1} * share[a] * n + std::uint64_t{2} * share[a] * share[best];
  };
  for (std::uint32_t pos = 0; pos < c.q; ++pos) {
    int best = kUnowned;
    std::pair<bool, bool> best_ok{};
    for (std::uint32_t i = 0; i < n; ++i) {
      if (used[i] == share[i]) continue;
      const int node = static_cast<int>(i);
      std::pair<bool, bool> ok_pair{node_conflicts(c, owner, pos, node) == 0,
                                    location_conflicts(c, owner, pos, node) == 0};
      if (best == kUnowned || ok_pair > best_ok ||
          (ok_pair == best_ok && earlier(i, static_cast<std::uint32_t>(best)))) {
        best = node;
        best_ok = ok_pair;
      }
    }
    if (keep != nullptr) {
      const int current = (*keep)[pos];
      if (current != kUnowned && current != best) {
        const auto cur = static_cast<std::uint32_t>(current);
        std::pair<bool, bool> ok_pair{node_conflicts(c, owner, pos, current) == 0,
                                      location_conflicts(c, owner, pos, current) == 0};
        if (used[cur] < share[cur] && ok_pair == best_ok && within_round(cur, static_cast<std::uint32_t>(best)))
          best = current;
      }
    }
    owner[pos] = best;
    ++used[static_cast<std::size_t>(best)];
  }
  repair(c, owner);
  return owner;
}

// Round robin with deletions: ceil(Q/n) full rounds over the nodes would be
// cyclic and perfectly spread, but hold n - (Q mod n) entries too many; delete
// that many, one per node, evenly spaced so that no stretch between two
// occurrences of a node loses more than n - window entries. The round-robin
// order interleaves locations (first node of each location, then the second
// of each, ...), as Riak's location-aware claim does.
std::vector<int> round_robin_layout(const Context& c) {
  const auto n = static_cast<std::uint32_t>(c.nodes.size());
  std::vector<std::uint32_t> order(n);
  std::vector<std::uint32_t> rank(n, 0);
  {
    std::map<std::uint32_t, std::uint32_t> seen;
    for (std::uint32_t i = 0; i < n; ++i) rank[i] = seen[c.loc[i]]++;
    for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return std::tie(rank[a], c.loc[a]) < std::tie(rank[b], c.loc[b]);
    });
  }
  const std::uint32_t rounds = (c.q + n - 1) / n;
  const std::uint32_t slots = rounds * n;
  const std::uint32_t deletions = slots - c.q;
  std::vector<bool> deleted(slots, false);
  std::vector<bool> node_deleted(n, false);
  const std::uint32_t allowed = n - c.node_window;  // deletions per stretch of n - 1 slots
  auto stretch_ok = [&](std::uint32_t slot) {
    // Every stretch of n - 1 consecutive slots containing `slot` keeps <= allowed deletions.
    for (std::uint32_t first = slot + slots - (n - 1) + 1; first <= slot + slots; ++first) {
      std::uint32_t count = 1;
      for (std::uint32_t k = 0; k < n - 1; ++k) {
        std::uint32_t s = (first + k) % slots;
        count += s != slot && deleted[s];
      }
      if (count > allowed) return false;
    }
    return true;
  };
  for (std::uint32_t d = 0; d < deletions; ++d) {
    const std::uint32_t ideal = static_cast<std::uint32_t>(std::uint64_t{d} * slots / deletions);
    bool done = false;
    for (std::uint32_t step = 0; step < slots && !done; ++step) {
      std::uint32_t s = (ideal + step) % slots;
      std::uint32_t node = order[s % n];
      if (deleted[s] || node_deleted[node] || (n > 1 && !stretch_ok(s))) continue;
      deleted[s] = true;
      node_deleted[node] = true;
      done = true;
    }
    if (!done) {  // no spread-keeping choice: delete the first node not yet deleted
      for (std::uint32_t s = ideal;; s = (s + 1) % slots)
        if (!deleted[s] && !node_deleted[order[s % n]]) {
          deleted[s] = true;
          node_deleted[order[s % n]] = true;
          break;
        }
    }
  }
  std::vector<int> owner;
  owner.reserve(c.q);
  for (std::uint32_t s = 0; s < slots; ++s)
    if (!deleted[s]) owner.push_back(static_cast<int>(order[s % n]));
  SHOAL_ASSERT(owner.size() == c.q, "round robin keeps exactly Q slots");
  repair(c, owner);
  return owner;
}

std::size_t violation_count(const Context& c, const std::vector<int>& owner);

std::vector<int> fresh_layout(const Context& c) {
  const auto n = static_cast<std::uint32_t>(c.nodes.size());
  std::vector<std::uint32_t> share(n, c.q / n);
  for (std::uint32_t i = 0; i < c.q % n; ++i) ++share[i];
  std::vector<int> sequenced = sequence_layout(c, share, nullptr);
  std::vector<int> robin = round_robin_layout(c);
  return violation_count(c, robin) <= violation_count(c, sequenced) ? robin : sequenced;
}

ClaimReport evaluate(const Context& c, const std::vector<int>& owner) {
  ClaimReport r;
  std::vector<std::uint32_t> count(c.nodes.size(), 0);
  for (int o : owner) ++count[static_cast<std::size_t>(o)];
  auto [lo, hi] = std::minmax_element(count.begin(), count.end());
  r.partitions_per_node_min = *lo;
  r.partitions_per_node_max = *hi;
  // With fewer than Q nodes everyone can own something; balance is max-min <= 1.
  r.balanced = *hi - *lo <= 1;
  for (std::uint32_t p = 0; p < c.q; ++p) {
    bool node_repeat = false;
    bool loc_repeat = false;
    for (std::uint32_t i = 0; i < c.node_window; ++i)
      for (std::uint32_t j = i + 1; j < c.node_window; ++j)
        node_repeat |= owner[(p + i) % c.q] == owner[(p + j) % c.q];
    for (std::uint32_t i = 0; i < c.location_window; ++i)
      for (std::uint32_t j = i + 1; j < c.location_window; ++j)
        loc_repeat |= c.loc[static_cast<std::size_t>(owner[(p + i) % c.q])] ==
                      c.loc[static_cast<std::size_t>(owner[(p + j) % c.q])];
    if (node_repeat) r.violations.push_back(p);
    if (c.labelled && loc_repeat) r.location_violations.push_back(p);
  }
  std::string reason;
  auto add = [&reason](const std::string& s) { reason += (reason.empty() ? "" : "; ") + s; };
  if (!r.balanced)
    add("unbalanced: " + std::to_string(*lo) + ".." + std::to_string(*hi) + " partitions per node");
  r.spread = r.violations.empty() && c.nodes.size() >= c.target;
  if (c.nodes.size() < c.target)
    add("only " + std::to_string(c.nodes.size()) + " nodes for target_n_val " + std::to_string(c.target));
  if (!r.violations.empty())
    add(std::to_string(r.violations.size()) + " windows of " + std::to_string(c.node_window) +
        " partitions repeat a node (first at partition " + std::to_string(r.violations.front()) + ")");
  if (c.labelled) {
    r.locations_spread = r.location_violations.empty() && c.location_count >= c.target;
    if (c.location_count < c.target)
      add("only " + std::to_string(c.location_count) + " locations for target_n_val " + std::to_string(c.target));
    if (!r.location_violations.empty())
      add(std::to_string(r.location_violations.size()) + " windows of " + std::to_string(c.location_window) +
          " partitions repeat a location (first at partition " + std::to_string(r.location_violations.front()) + ")");
  }
  r.reason = std::move(reason);
  return r;
}

// Spread violations first, location violations second.
std::size_t violation_count(const Context& c, const std::vector<int>& owner) {
  ClaimReport r = evaluate(c, owner);
  return r.violations.size() * (c.q + 1) + r.location_violations.size();
}

ClaimResult finish(const Context& c, const std::vector<int>& owner, std::span<const std::string> before) {
  ClaimResult result;
  result.owners.reserve(c.q);
  for (std::uint32_t p = 0; p < c.q; ++p) {
    result.owners.push_back(c.nodes[static_cast<std::size_t>(owner[p])].node);
    if (!before.empty() && before[p] != result.owners.back()) ++result.moved;
  }
  result.report = evaluate(c, owner);
  return result;
}

std::vector<std::uint32_t> cyclic_distance_to(const Context& c, const std::vector<int>& owner, int node) {
  std::vector<std::uint32_t> dist(c.q, c.q);
  // Two sweeps around the circle (twice each, to wrap) give the distance to the nearest partition of node.
  std::uint32_t run = c.q;
  for (std::uint32_t k = 0; k < 2 * c.q; ++k) {
    std::uint32_t p = k % c.q;
    run = owner[p] == node ? 0 : std::min(run + 1, c.q);
    dist[p] = std::min(dist[p], run);
  }
  run = c.q;
  for (std::uint32_t k = 2 * c.q; k-- > 0;) {
    std::uint32_t p = k % c.q;
    run = owner[p] == node ? 0 : std::min(run + 1, c.q);
    dist[p] = std::min(dist[p], run);
  }
  return dist;
}

// Rotates and relabels `layout` (nodes only swap names within a location, so
// its spread is unchanged) to share as many owners as possible with `current`.
std::vector<int> align(const Context& c, const std::vector<int>& layout, const std::vector<int>& current) {
  const auto n = static_cast<std::uint32_t>(c.nodes.size());
  std::vector<int> best;
  std::uint32_t best_kept = 0;
  std::map<std::pair<int, int>, std::uint32_t> overlap;
  for (std::uint32_t rot = 0; rot < c.q; ++rot) {
    overlap.clear();
    for (std::uint32_t p = 0; p < c.q; ++p) ++overlap[{layout[(p + rot) % c.q], current[p]}];
    std::vector<std::tuple<std::uint32_t, int, int>> pairs;
    for (const auto& [key, count] : overlap)
      if (c.loc[static_cast<std::size_t>(key.first)] == c.loc[static_cast<std::size_t>(key.second)])
        pairs.emplace_back(count, key.first, key.second);
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
      return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) > std::get<0>(b) : a < b;
    });
    std::vector<int> rename(n, kUnowned);
    std::vector<bool> taken(n, false);
    std::uint32_t kept = 0;
    for (const auto& [count, from, to] : pairs) {
      if (rename[static_cast<std::size_t>(from)] != kUnowned || taken[static_cast<std::size_t>(to)]) continue;
      rename[static_cast<std::size_t>(from)] = to;
      taken[static_cast<std::size_t>(to)] = true;
      kept += count;
    }
    if (!best.empty() && kept <= best_kept) continue;
    for (std::uint32_t from = 0; from < n; ++from) {
      if (rename[from] != kUnowned) continue;
      for (std::uint32_t to = 0; to < n; ++to)
        if (!taken[to] && c.loc[to] == c.loc[from]) {
          rename[from] = static_cast<int>(to);
          taken[to] = true;
          break;
        }
    }
    best.assign(c.q, kUnowned);
    for (std::uint32_t p = 0; p < c.q; ++p) best[p] = rename[static_cast<std::size_t>(layout[(p + rot) % c.q])];
    best_kept = kept;
  }
  return best;
}

}  // namespace

Result<ClaimResult> claim_fresh(std::uint32_t partition_count, std::span<const ClaimNode> nodes,
                                const ClaimOptions& options) {
  SHOAL_TRY(c, make_context(partition_count, nodes, options));
  return finish(c, fresh_layout(c), {});
}

Result<ClaimResult> claim_rebalance(std::span<const std::string> current_owners, std::span<const ClaimNode> nodes,
                                    const ClaimOptions& options) {
  SHOAL_TRY(c, make_context(static_cast<std::uint32_t>(current_owners.size()), nodes, options));
  const auto n = static_cast<std::uint32_t>(c.nodes.size());
  std::vector<int> owner(c.q, kUnowned);
  std::vector<std::uint32_t> count(n, 0);
  for (std::uint32_t p = 0; p < c.q; ++p) {
    auto it = std::lower_bound(c.nodes.begin(), c.nodes.end(), current_owners[p],
                               [](const ClaimNode& a, const std::string& id) { return a.node < id; });
    if (it != c.nodes.end() && it->node == current_owners[p]) {
      owner[p] = static_cast<int>(it - c.nodes.begin());
      ++count[static_cast<std::size_t>(owner[p])];
    }
  }
  // Shares: the nodes that own most now keep the extra partition, so fewer move.
  std::vector<std::uint32_t> order(n);
  for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return count[a] > count[b]; });
  std::vector<std::uint32_t> target(n, c.q / n);
  for (std::uint32_t i = 0; i < c.q % n; ++i) ++target[order[i]];

  // Orphaned partitions (their owner left) go to the wanting node that fits best.
  for (std::uint32_t p = 0; p < c.q; ++p) {
    if (owner[p] != kUnowned) continue;
    int best = kUnowned;
    std::tuple<int, int, std::int64_t> best_key{};
    for (std::uint32_t i = 0; i < n; ++i) {
      if (count[i] >= target[i]) continue;
      const int node = static_cast<int>(i);
      auto key = std::make_tuple(-node_conflicts(c, owner, p, node), -location_conflicts(c, owner, p, node),
                                 static_cast<std::int64_t>(target[i]) - count[i]);
      if (best == kUnowned || key > best_key) {
        best = node;
        best_key = key;
      }
    }
    SHOAL_ASSERT(best != kUnowned, "shares add up to Q, so someone wants an orphaned partition");
    owner[p] = best;
    ++count[static_cast<std::size_t>(best)];
  }
  // Wanting nodes take from nodes over their share, preferring partitions
  // where they conflict with nobody and that are far from what they own.
  for (;;) {
    int wanting = kUnowned;
    std::uint32_t deficit = 0;
    for (std::uint32_t i = 0; i < n; ++i)
      if (target[i] > count[i] && target[i] - count[i] > deficit) {
        wanting = static_cast<int>(i);
        deficit = target[i] - count[i];
      }
    if (wanting == kUnowned) break;
    std::vector<std::uint32_t> dist = cyclic_distance_to(c, owner, wanting);
    std::uint32_t best = c.q;
    std::tuple<int, int, int, std::uint32_t> best_key{};
    for (std::uint32_t p = 0; p < c.q; ++p) {
      auto from = static_cast<std::size_t>(owner[p]);
      if (count[from] <= target[from]) continue;
      auto key = std::make_tuple(-node_conflicts(c, owner, p, wanting), -location_conflicts(c, owner, p, wanting),
                                 node_conflicts(c, owner, p, owner[p]), dist[p]);
      if (best == c.q || key > best_key) {
        best = p;
        best_key = key;
      }
    }
    SHOAL_ASSERT(best != c.q, "shares add up to Q, so someone is over its share");
    --count[static_cast<std::size_t>(owner[best])];
    owner[best] = wanting;
    ++count[static_cast<std::size_t>(wanting)];
  }
  repair(c, owner);
  ClaimResult result = finish(c, owner, current_owners);
  if (result.report.violations.empty() && result.report.location_violations.empty()) return result;

  // Local moves could not remove every repeat: lay the ring out again,
  // keeping current owners where that costs nothing, or take a fresh layout
  // turned and relabelled to keep the most owners. A re-layout moves many
  // partitions, so it is taken only if it repeats fewer nodes, or as many
  // nodes and no location at all.
  ClaimResult best = std::move(result);
  for (const std::vector<int>& candidate : {sequence_layout(c, target, &owner), align(c, fresh_layout(c), owner)}) {
    ClaimResult r = finish(c, candidate, current_owners);
    const std::size_t nodes_now = best.report.violations.size();
    const std::size_t nodes_then = r.report.violations.size();
    const bool better = nodes_then < nodes_now ||
                        (nodes_then == nodes_now && r.report.location_violations.empty() &&
                         (!best.report.location_violations.empty() || r.moved < best.moved));
    if (better) best = std::move(r);
  }
  return best;
}

ClaimReport evaluate_claim(std::span<const std::string> owners, std::span<const ClaimNode> nodes,
                           const ClaimOptions& options) {
  auto c = make_context(static_cast<std::uint32_t>(owners.size()), nodes, options);
  SHOAL_ASSERT(c.has_value(), "evaluate_claim needs a valid ring size, node list and options");
  std::vector<int> owner(owners.size(), kUnowned);
  for (std::size_t p = 0; p < owners.size(); ++p) {
    auto it = std::lower_bound(c.value().nodes.begin(), c.value().nodes.end(), owners[p],
                               [](const ClaimNode& a, const std::string& id) { return a.node < id; });
    SHOAL_ASSERT(it != c.value().nodes.end() && it->node == owners[p], "every owner must be among the nodes");
    owner[p] = static_cast<int>(it - c.value().nodes.begin());
  }
  return evaluate(c.value(), owner);
}

}  // namespace shoal::ring
