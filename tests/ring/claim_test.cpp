#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "ring/claim.hpp"

namespace shoal::ring {
namespace {

std::vector<ClaimNode> make_nodes(std::size_t count, std::size_t locations = 0) {
  std::vector<ClaimNode> nodes;
  for (std::size_t i = 0; i < count; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "shoal%03zu@127.0.0.1:%zu", i, 7000 + i);
    nodes.push_back({name, locations == 0 ? "" : "zone-" + std::to_string(i % locations)});
  }
  return nodes;
}

// Independent check of the claim guarantees (does not trust the report).
struct Check {
  std::uint32_t min_count = 0;
  std::uint32_t max_count = 0;
  std::vector<std::uint32_t> repeats;  // windows of `window` partitions with a repeated owner
};

Check check_layout(const std::vector<std::string>& owners, std::size_t node_count, std::uint32_t window) {
  Check c;
  std::map<std::string, std::uint32_t> counts;
  for (const auto& o : owners) ++counts[o];
  c.min_count = counts.size() < node_count ? 0 : UINT32_MAX;
  for (const auto& [node, n] : counts) {
    c.min_count = std::min(c.min_count, n);
    c.max_count = std::max(c.max_count, n);
  }
  const auto q = static_cast<std::uint32_t>(owners.size());
  for (std::uint32_t p = 0; p < q; ++p) {
    std::set<std::string> seen;
    for (std::uint32_t i = 0; i < window; ++i) seen.insert(owners[(p + i) % q]);
    if (seen.size() != window) c.repeats.push_back(p);
  }
  return c;
}

TEST_CASE("ring size must be a power of two within bounds", "[claim]") {
  auto nodes = make_nodes(3);
  for (std::uint32_t q : {0u, 4u, 63u, 100u, 2048u}) {
    auto r = claim_fresh(q, nodes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find("power of two") != std::string::npos);
  }
  CHECK(claim_fresh(8, nodes).has_value());
  CHECK(claim_fresh(1024, nodes).has_value());
  CHECK_FALSE(claim_fresh(64, {}).has_value());
  auto dup = make_nodes(2);
  dup.push_back(dup[0]);
  CHECK_FALSE(claim_fresh(64, dup).has_value());
  CHECK_FALSE(claim_fresh(8, nodes, ClaimOptions{5}).has_value());
}

TEST_CASE("fresh claim is balanced and spread for 1..64 nodes", "[claim]") {
  for (std::uint32_t q : {64u, 256u}) {
    for (std::size_t n = 1; n <= 64; ++n) {
      INFO("Q " << q << " nodes " << n);
      auto nodes = make_nodes(n);
      auto result = claim_fresh(q, nodes);
      REQUIRE(result.has_value());
      const ClaimResult& r = result.value();
      REQUIRE(r.owners.size() == q);
      Check c = check_layout(r.owners, n, std::min<std::uint32_t>(4, static_cast<std::uint32_t>(n)));
      CHECK(c.max_count - c.min_count <= 1);
      CHECK(r.report.balanced);
      if (n >= 4) {
        CHECK(c.repeats.empty());
        CHECK(r.report.spread);
        CHECK(r.report.reason.empty());
      } else {
        CHECK_FALSE(r.report.spread);
        CHECK(r.report.reason.find("nodes for target_n_val") != std::string::npos);
      }
      // The report agrees with the independent check.
      CHECK(r.report.violations == c.repeats);
    }
  }
}

TEST_CASE("claim is deterministic and independent of input order", "[claim]") {
  auto nodes = make_nodes(11);
  auto a = claim_fresh(256, nodes);
  std::reverse(nodes.begin(), nodes.end());
  auto b = claim_fresh(256, nodes);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a.value().owners == b.value().owners);
}

// Moves allowed beyond the ideal share: swaps of the spread repair.
constexpr std::uint32_t kSlack = 8;

TEST_CASE("join and leave move few partitions and keep the guarantees", "[claim]") {
  for (std::uint32_t q : {64u, 256u}) {
    auto all = make_nodes(64);
    std::vector<ClaimNode> current(all.begin(), all.begin() + 1);
    auto start = claim_fresh(q, current);
    REQUIRE(start.has_value());
    std::vector<std::string> owners = start.value().owners;
    std::uint32_t worst_slack = 0;
    std::ostringstream tight;
    for (std::size_t k = 1; k < all.size(); ++k) {
      current.push_back(all[k]);
      auto joined = claim_rebalance(owners, current);
      REQUIRE(joined.has_value());
      const ClaimResult& r = joined.value();
      const std::uint32_t ideal = (q + static_cast<std::uint32_t>(k)) / static_cast<std::uint32_t>(k + 1);
      INFO("Q " << q << " join to " << (k + 1) << " nodes moved " << r.moved << " ideal " << ideal << " reason "
                << r.report.reason);
      CHECK(r.report.balanced);
      if (k + 1 >= 4) CHECK(r.report.spread);
      CHECK(check_layout(r.owners, k + 1, std::min<std::uint32_t>(4, static_cast<std::uint32_t>(k + 1)))
                .repeats.size() == r.report.violations.size());
      // With fewer than 2 * target_n_val - 1 nodes the spread layouts are so
      // rigid that keeping the spread needs a reshuffle; the figures are shown.
      if (k + 1 >= 7) {
        worst_slack = std::max(worst_slack, r.moved > ideal ? r.moved - ideal : 0);
        CHECK(r.moved <= ideal + kSlack);
      } else {
        tight << " " << (k + 1) << ":" << r.moved << "/" << ideal;
      }
      owners = r.owners;
    }
    WARN("Q " << q << ": joins 1->64 nodes, worst extra moves over ceil(Q/(k+1)) at >= 7 nodes: " << worst_slack
              << "; below 7 nodes (nodes:moved/ideal):" << tight.str());
    tight.str("");
    std::uint32_t worst_leave = 0;
    while (current.size() > 1) {
      const std::size_t k = current.size();
      current.erase(current.begin() + static_cast<std::ptrdiff_t>(k / 2));
      auto left = claim_rebalance(owners, current);
      REQUIRE(left.has_value());
      const ClaimResult& r = left.value();
      const std::uint32_t ideal = (q + static_cast<std::uint32_t>(k) - 1) / static_cast<std::uint32_t>(k);
      INFO("Q " << q << " leave to " << (k - 1) << " nodes moved " << r.moved << " ideal " << ideal << " reason "
                << r.report.reason);
      CHECK(r.report.balanced);
      if (k - 1 >= 4) CHECK(r.report.spread);
      if (k - 1 >= 7) {
        worst_leave = std::max(worst_leave, r.moved > ideal ? r.moved - ideal : 0);
        CHECK(r.moved <= ideal + kSlack);
      } else {
        tight << " " << (k - 1) << ":" << r.moved << "/" << ideal;
      }
      owners = r.owners;
    }
    WARN("Q " << q << ": leaves 64->1 nodes, worst extra moves over ceil(Q/k) at >= 7 nodes: " << worst_leave
              << "; below 7 nodes (nodes:moved/ideal):" << tight.str());
  }
}

TEST_CASE("location-aware claim spreads windows over locations", "[claim][location]") {
  SECTION("4 zones of 3 nodes: every window of 4 spans 4 zones") {
    auto nodes = make_nodes(12, 4);
    auto r = claim_fresh(64, nodes);
    REQUIRE(r.has_value());
    CHECK(r.value().report.spread);
    CHECK(r.value().report.locations_spread);
    CHECK(r.value().report.location_violations.empty());
    std::map<std::string, std::string> loc;
    for (auto& n : nodes) loc[n.node] = n.location;
    for (std::uint32_t p = 0; p < 64; ++p) {
      std::set<std::string> zones;
      for (std::uint32_t i = 0; i < 4; ++i) zones.insert(loc[r.value().owners[(p + i) % 64]]);
      CHECK(zones.size() == 4);
    }
  }
  SECTION("2 zones cannot cover target_n_val 4: flagged with a reason") {
    auto r = claim_fresh(64, make_nodes(6, 2));
    REQUIRE(r.has_value());
    CHECK(r.value().report.spread);
    CHECK_FALSE(r.value().report.locations_spread);
    CHECK(r.value().report.reason.find("only 2 locations") != std::string::npos);
  }
  SECTION("a lopsided zone cannot be spread: flagged") {
    auto nodes = make_nodes(8);
    for (std::size_t i = 0; i < nodes.size(); ++i) nodes[i].location = i < 5 ? "big" : "small-" + std::to_string(i);
    auto r = claim_fresh(64, nodes);
    REQUIRE(r.has_value());
    CHECK(r.value().report.spread);
    CHECK_FALSE(r.value().report.locations_spread);
    CHECK_FALSE(r.value().report.location_violations.empty());
  }
}

TEST_CASE("rebalancing keeps location spread when zones stay balanced, flags it otherwise", "[claim][location]") {
  auto nodes = make_nodes(16, 4);  // node i is in zone i % 4
  std::vector<ClaimNode> current(nodes.begin(), nodes.begin() + 12);
  auto start = claim_fresh(64, current);
  REQUIRE(start.has_value());
  REQUIRE(start.value().report.locations_spread);
  std::vector<std::string> owners = start.value().owners;
  for (std::size_t k = 12; k < 16; ++k) {
    current.push_back(nodes[k]);
    auto r = claim_rebalance(owners, current);
    REQUIRE(r.has_value());
    INFO("nodes " << current.size() << " moved " << r.value().moved << " reason " << r.value().report.reason);
    CHECK(r.value().report.balanced);
    CHECK(r.value().report.spread);
    // Zone 0 gets a 4th node first: it then owns more than Q/4 partitions,
    // so windows of 4 cannot all span 4 zones until the zones are even again.
    const bool zones_even = current.size() % 4 == 0;
    CHECK(r.value().report.locations_spread == zones_even);
    if (!zones_even) CHECK(r.value().report.reason.find("repeat a location") != std::string::npos);
    owners = r.value().owners;
  }
}

}  // namespace
}  // namespace shoal::ring
