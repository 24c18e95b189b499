#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "ring/claim.hpp"
#include "ring/partition.hpp"
#include "ring/preflist.hpp"

namespace shoal::ring {
namespace {

std::vector<ClaimNode> make_nodes(std::size_t count, std::size_t locations = 0) {
  std::vector<ClaimNode> nodes;
  for (std::size_t i = 0; i < count; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "n%02zu@127.0.0.1:%zu", i, 7000 + i);
    nodes.push_back({name, locations == 0 ? "" : "zone-" + std::to_string(i % locations)});
  }
  return nodes;
}

Placement claimed(std::uint32_t q, const std::vector<ClaimNode>& nodes) {
  auto r = claim_fresh(q, nodes);
  REQUIRE(r.has_value());
  return Placement::from_owners(r.value().owners, nodes);
}

std::set<std::string> nodes_of(const Preflist& list) {
  std::set<std::string> s;
  for (const auto& e : list.entries) s.insert(e.node);
  return s;
}

TEST_CASE("key hash is length-prefixed and partitions are top bits", "[preflist]") {
  CHECK(key_hash("t", "ab", "c") != key_hash("t", "a", "bc"));
  CHECK(key_hash("t", "b", "k") == key_hash("t", "b", "k"));
  CHECK(key_hash("default", "b", "k") != key_hash("other", "b", "k"));
  CHECK(partition_of(0, 64) == 0);
  CHECK(partition_of(UINT64_MAX, 64) == 63);
  CHECK(partition_of(std::uint64_t{1} << 58, 64) == 1);
  CHECK(partition_of((std::uint64_t{1} << 58) - 1, 64) == 0);
  CHECK(partition_of(UINT64_MAX, 1024) == 1023);
  CHECK(partition_start(5, 64) == std::uint64_t{5} << 58);
}

TEST_CASE("preference lists skip partitions of nodes already in the list", "[preflist]") {
  // A deliberately clumped layout: three runs of one node each.
  std::vector<ClaimNode> nodes = make_nodes(3);
  std::vector<std::string> owners;
  for (std::uint32_t p = 0; p < 64; ++p) owners.push_back(nodes[p < 22 ? 0 : p < 43 ? 1 : 2].node);
  Placement placement = Placement::from_owners(owners, nodes);
  Preflist list = placement.primaries(0, 3);
  REQUIRE(list.entries.size() == 3);
  CHECK(list.complete);
  CHECK(list.entries[0].partition == 0);
  CHECK(list.entries[1].partition == 22);
  CHECK(list.entries[2].partition == 43);
  CHECK(nodes_of(list).size() == 3);
  // Wraps around the ring.
  Preflist wrapped = placement.primaries(50, 3);
  REQUIRE(wrapped.entries.size() == 3);
  CHECK(wrapped.entries[0].partition == 50);
  CHECK(wrapped.entries[1].partition == 0);
  CHECK(wrapped.entries[2].partition == 22);
}

TEST_CASE("every preference list is on distinct nodes when nodes >= n_val", "[preflist]") {
  for (std::uint32_t q : {64u, 256u}) {
    for (std::size_t n = 1; n <= 20; ++n) {
      Placement placement = claimed(q, make_nodes(n));
      for (std::uint32_t n_val = 1; n_val <= 5; ++n_val) {
        for (Partition p = 0; p < q; ++p) {
          INFO("Q " << q << " nodes " << n << " n_val " << n_val << " partition " << p);
          Preflist list = placement.primaries(p, n_val);
          const std::size_t expect = std::min<std::size_t>(n, n_val);
          REQUIRE(list.entries.size() == expect);
          CHECK(nodes_of(list).size() == expect);
          CHECK(list.entries[0].partition == p);
          CHECK(list.complete == (n >= n_val));
          if (n < n_val) CHECK(list.reason.find("fewer than n_val") != std::string::npos);
          for (const auto& e : list.entries) {
            CHECK(e.role == Role::primary);
            CHECK(placement.owner(e.partition) == e.node);
          }
        }
      }
    }
  }
}

TEST_CASE("two nodes and n_val 3 give a short list that says so", "[preflist]") {
  Placement placement = claimed(64, make_nodes(2));
  Preflist list = placement.preference_list(key_hash("default", "b", "k"), 3);
  CHECK(list.entries.size() == 2);
  CHECK_FALSE(list.complete);
  CHECK(list.reason == "only 2 nodes own partitions, fewer than n_val 3");
}

// The independent model of fallbacks: walk clockwise after the last primary.
std::vector<std::string> expected_fallbacks(const Placement& placement, const Preflist& primaries,
                                            const std::set<std::string>& down) {
  std::vector<std::string> out;
  std::set<std::string> in_list = nodes_of(primaries);
  const auto q = placement.partition_count();
  const Partition last = primaries.entries.back().partition;
  for (std::uint32_t i = 1; i <= q; ++i) {
    const std::string& o = placement.owner((last + i) % q);
    if (down.count(o) || in_list.count(o)) continue;
    in_list.insert(o);
    out.push_back(o);
  }
  return out;
}

TEST_CASE("unreachable primaries are replaced by tagged fallbacks", "[preflist]") {
  const std::uint64_t seed = 0x5eed0001;
  std::mt19937_64 rng(seed);
  for (std::size_t n : {5u, 8u, 16u}) {
    auto nodes = make_nodes(n);
    Placement placement = claimed(64, nodes);
    for (std::size_t unreachable = 0; unreachable <= 2; ++unreachable) {
      for (int trial = 0; trial < 200; ++trial) {
        std::vector<std::string> ids;
        for (auto& node : nodes) ids.push_back(node.node);
        std::shuffle(ids.begin(), ids.end(), rng);
        std::set<std::string> down(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(unreachable));
        std::vector<std::string> up(ids.begin() + static_cast<std::ptrdiff_t>(unreachable), ids.end());
        NodeMask mask = placement.mask_of(up);
        const std::uint64_t hash = rng();
        INFO("seed " << seed << " nodes " << n << " unreachable " << unreachable << " trial " << trial);
        Preflist primaries = placement.primaries(partition_of(hash, 64), 3);
        Preflist list = placement.preference_list(hash, 3, mask);
        REQUIRE(list.entries.size() == 3);
        CHECK(list.complete);
        CHECK(nodes_of(list).size() == 3);
        std::vector<std::string> fallbacks = expected_fallbacks(placement, primaries, down);
        std::size_t next_fallback = 0;
        for (std::size_t j = 0; j < 3; ++j) {
          const PreflistEntry& e = list.entries[j];
          const PreflistEntry& primary = primaries.entries[j];
          CHECK(e.partition == primary.partition);
          CHECK_FALSE(down.count(e.node));
          if (down.count(primary.node)) {
            CHECK(e.role == Role::fallback);
            CHECK(e.primary_node == primary.node);
            REQUIRE(next_fallback < fallbacks.size());
            CHECK(e.node == fallbacks[next_fallback++]);
          } else {
            CHECK(e.role == Role::primary);
            CHECK(e.node == primary.node);
            CHECK(e.primary_node.empty());
          }
        }
      }
    }
  }
}

TEST_CASE("too few reachable nodes give a short list with a reason", "[preflist]") {
  auto nodes = make_nodes(3);
  Placement placement = claimed(64, nodes);
  std::vector<std::string> up{nodes[0].node, nodes[1].node};
  Preflist list = placement.preference_list(key_hash("t", "b", "k"), 3, placement.mask_of(up));
  CHECK(list.entries.size() == 2);
  CHECK_FALSE(list.complete);
  CHECK(list.reason == "1 primaries unreachable and only 0 reachable nodes outside the preference list");
  Preflist none = placement.preference_list(key_hash("t", "b", "k"), 3, placement.mask_of({}));
  CHECK(none.entries.empty());
  CHECK_FALSE(none.complete);
}

TEST_CASE("preference lists spread over locations when there are enough", "[preflist][location]") {
  SECTION("3 zones of 2 nodes, n_val 3: every list spans 3 zones, fallbacks too") {
    auto nodes = make_nodes(6, 3);
    std::map<std::string, std::string> zone;
    for (auto& n : nodes) zone[n.node] = n.location;
    Placement placement = claimed(64, nodes);
    for (Partition p = 0; p < 64; ++p) {
      Preflist list = placement.primaries(p, 3);
      std::set<std::string> zones;
      for (auto& e : list.entries) zones.insert(zone[e.node]);
      CHECK(zones.size() == 3);
      CHECK(list.locations_distinct);
      // One node down: its zone partner is the only node that keeps 3 zones.
      std::vector<std::string> up;
      for (auto& n : nodes)
        if (n.node != list.entries[1].node) up.push_back(n.node);
      const NodeMask mask = placement.mask_of(up);
      Preflist degraded = placement.preference_list_at(p, 3, &mask);
      REQUIRE(degraded.entries.size() == 3);
      CHECK(degraded.entries[1].role == Role::fallback);
      CHECK(zone[degraded.entries[1].node] == zone[list.entries[1].node]);
      CHECK(degraded.locations_distinct);
    }
  }
  SECTION("2 zones for n_val 3: flagged, still on distinct nodes") {
    Placement placement = claimed(64, make_nodes(6, 2));
    Preflist list = placement.primaries(7, 3);
    CHECK(list.entries.size() == 3);
    CHECK(list.complete);
    CHECK(nodes_of(list).size() == 3);
    CHECK_FALSE(list.locations_distinct);
    CHECK(list.reason.find("replicas share a location") != std::string::npos);
  }
}

TEST_CASE("a partition belongs to n_val preference lists", "[preflist][aae]") {
  Placement placement = claimed(64, make_nodes(8));
  for (Partition p = 0; p < 64; ++p) {
    auto ids = placement.preflists_containing(p, 3);
    REQUIRE(ids.size() == 3);
    for (const auto& id : ids) {
      CHECK(id.n_val == 3);
      bool found = false;
      for (const auto& e : placement.primaries(id.start, 3).entries) found |= e.partition == p;
      CHECK(found);
    }
    std::set<Partition> starts;
    for (const auto& id : ids) starts.insert(id.start);
    CHECK(starts == std::set<Partition>{(p + 62) % 64, (p + 63) % 64, p});
  }
  // With a clumped layout the lists reach further: still every list that holds it.
  std::vector<ClaimNode> nodes = make_nodes(3);
  std::vector<std::string> owners;
  for (std::uint32_t p = 0; p < 64; ++p) owners.push_back(nodes[p < 22 ? 0 : p < 43 ? 1 : 2].node);
  Placement clumped = Placement::from_owners(owners, nodes);
  CHECK(clumped.preflists_containing(22, 3).size() == 44);  // starts 43..63, 0..22
}

TEST_CASE("partitions_of lists a node's partitions", "[preflist]") {
  auto nodes = make_nodes(4);
  Placement placement = claimed(64, nodes);
  std::size_t total = 0;
  for (auto& n : nodes) {
    auto parts = placement.partitions_of(n.node);
    CHECK(parts.size() == 16);
    for (Partition p : parts) CHECK(placement.owner(p) == n.node);
    total += parts.size();
  }
  CHECK(total == 64);
  CHECK(placement.partitions_of("nobody@x:1").empty());
}

}  // namespace
}  // namespace shoal::ring
