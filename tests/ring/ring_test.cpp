#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "base/codec.hpp"
#include "ring/ring.hpp"

namespace shoal::ring {
namespace {

std::vector<ClaimNode> make_nodes(std::size_t count, std::size_t first = 0) {
  std::vector<ClaimNode> nodes;
  for (std::size_t i = first; i < first + count; ++i)
    nodes.push_back({"node" + std::to_string(i) + "@127.0.0.1:" + std::to_string(7000 + i), ""});
  return nodes;
}

Ring must(Result<Ring> r) {
  if (!r) FAIL(r.error().to_string());
  return std::move(r).value();
}

Plan must(Result<Plan> r) {
  if (!r) FAIL(r.error().to_string());
  return std::move(r).value();
}

Ring complete_all(Ring ring, const std::string& actor) {
  for (const Transfer& t : ring.pending_transfers()) ring = must(ring.complete_transfer(t.partition, actor));
  return ring;
}

TEST_CASE("a new cluster is deterministic, balanced and versioned", "[ring]") {
  auto nodes = make_nodes(5);
  Ring a = must(Ring::new_cluster("prod", 64, nodes));
  std::reverse(nodes.begin(), nodes.end());
  Ring b = must(Ring::new_cluster("prod", 64, nodes));
  CHECK(a == b);
  CHECK(a.digest() == b.digest());
  CHECK(a.partition_count() == 64);
  CHECK(a.members().size() == 5);
  for (const Member& m : a.members()) {
    CHECK(m.status == MemberStatus::valid);
    auto parts = a.partitions_of(m.node);
    CHECK(parts.size() >= 12);
    CHECK(parts.size() <= 13);
  }
  CHECK(a.version().get("node0@127.0.0.1:7000") == 1);
  CHECK(a.pending_transfers().empty());
  CHECK(a.digest() != must(Ring::new_cluster("staging", 64, nodes)).digest());

  auto bad = Ring::new_cluster("prod", 100, nodes);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("power of two") != std::string::npos);
  CHECK_FALSE(Ring::new_cluster("", 64, nodes).has_value());
}

TEST_CASE("join plans transfers to the new node and completes them", "[ring]") {
  Ring ring = must(Ring::new_cluster("prod", 64, make_nodes(4)));
  const ClaimNode newcomer = make_nodes(1, 4)[0];
  const std::string actor = "node0@127.0.0.1:7000";
  Plan plan = must(ring.join(newcomer, actor));
  CHECK(plan.report.balanced);
  CHECK(plan.report.spread);
  // The owners do not change until handoff completes.
  CHECK(plan.ring.owners() == ring.owners());
  CHECK(plan.ring.member(newcomer.node)->status == MemberStatus::joining);
  CHECK(plan.ring.version().get(actor) == ring.version().get(actor) + 1);
  CHECK(plan.ring.version().descends(ring.version()));
  REQUIRE(plan.transfers.size() >= 12);
  CHECK(plan.transfers.size() <= 13 + 8);
  std::size_t to_new = 0;
  for (const Transfer& t : plan.transfers) {
    CHECK(t.state == TransferState::awaiting);
    CHECK(ring.owner(t.partition) == t.from);
    to_new += t.to == newcomer.node;
  }
  CHECK(to_new >= 12);
  CHECK(ring.member(newcomer.node) == nullptr);
  CHECK(plan.ring.join(newcomer, actor).error().code == Errc::precondition_failed);

  Ring halfway = must(plan.ring.mark_handing_off(plan.transfers[0].partition, newcomer.node));
  CHECK(halfway.pending_transfers()[0].state == TransferState::handing_off);
  Ring done = complete_all(halfway, newcomer.node);
  CHECK(done.member(newcomer.node)->status == MemberStatus::valid);
  CHECK(done.pending_transfers().empty());
  std::vector<std::string> owners;
  for (const Owner& o : done.owners()) owners.push_back(o.node);
  CHECK(owners == plan.ring.target_owners());
  CHECK(done.partitions_of(newcomer.node).size() >= 12);
  CHECK(done.complete_transfer(0, actor).error().code == Errc::precondition_failed);
}

TEST_CASE("leave hands every partition away, then the node is exiting", "[ring]") {
  Ring ring = must(Ring::new_cluster("prod", 64, make_nodes(6)));
  const std::string leaver = "node3@127.0.0.1:7003";
  Plan plan = must(ring.leave(leaver, leaver));
  CHECK(plan.ring.member(leaver)->status == MemberStatus::leaving);
  CHECK(plan.report.balanced);
  CHECK(plan.report.spread);
  std::size_t from_leaver = 0;
  for (const Transfer& t : plan.transfers) from_leaver += t.from == leaver;
  CHECK(from_leaver == ring.partitions_of(leaver).size());
  Ring done = complete_all(plan.ring, leaver);
  CHECK(done.partitions_of(leaver).empty());
  CHECK(done.member(leaver)->status == MemberStatus::exiting);
  CHECK(done.leave(leaver, leaver).error().code == Errc::precondition_failed);

  // Not forgotten while it still takes part in a transfer; then removed.
  CHECK(plan.ring.set_status(leaver, MemberStatus::removed, leaver).error().code == Errc::precondition_failed);
  Ring forgotten = must(done.set_status(leaver, MemberStatus::removed, "node0@127.0.0.1:7000"));
  CHECK(forgotten.member(leaver)->status == MemberStatus::removed);
  CHECK(must(Ring::merge(done, forgotten)).member(leaver)->status == MemberStatus::removed);
  CHECK(must(Ring::merge(forgotten, done)).member(leaver)->status == MemberStatus::removed);
  // Only an exiting member is forgotten this way.
  CHECK(done.set_status("node2@127.0.0.1:7002", MemberStatus::removed, leaver).error().code ==
        Errc::precondition_failed);
}

TEST_CASE("force_remove reassigns at once, replace hands over exactly", "[ring]") {
  Ring ring = must(Ring::new_cluster("prod", 64, make_nodes(5)));
  const std::string gone = "node1@127.0.0.1:7001";
  Plan removed = must(ring.force_remove(gone, "node0@127.0.0.1:7000"));
  CHECK(removed.ring.partitions_of(gone).empty());
  CHECK(removed.ring.member(gone)->status == MemberStatus::removed);
  std::size_t immediate = 0;
  for (const Transfer& t : removed.transfers) immediate += t.from == gone && t.state == TransferState::complete;
  CHECK(immediate == ring.partitions_of(gone).size());
  CHECK(removed.report.balanced);
  // A removed node can join again later; its member record moves on.
  Plan rejoin = must(removed.ring.join(ClaimNode{gone, ""}, gone));
  CHECK(rejoin.ring.member(gone)->status == MemberStatus::joining);
  CHECK(rejoin.ring.member(gone)->counter > removed.ring.member(gone)->counter);

  const std::string old_node = "node2@127.0.0.1:7002";
  const ClaimNode fresh{"node9@127.0.0.1:7009", ""};
  Plan replaced = must(ring.replace(old_node, fresh, "node0@127.0.0.1:7000"));
  CHECK(replaced.transfers.size() == ring.partitions_of(old_node).size());
  Ring done = complete_all(replaced.ring, fresh.node);
  CHECK(done.partitions_of(fresh.node) == ring.partitions_of(old_node));
  CHECK(done.member(old_node)->status == MemberStatus::exiting);
  CHECK(done.member(fresh.node)->status == MemberStatus::valid);

  Ring down = must(ring.set_status(old_node, MemberStatus::down, "node0@127.0.0.1:7000"));
  CHECK(down.member(old_node)->status == MemberStatus::down);
  CHECK(down.partitions_of(old_node) == ring.partitions_of(old_node));
  CHECK(must(down.set_status(old_node, MemberStatus::valid, old_node)).member(old_node)->status ==
        MemberStatus::valid);
  CHECK(ring.set_status(old_node, MemberStatus::removed, old_node).error().code == Errc::precondition_failed);
}

TEST_CASE("a ring routes keys through its placement", "[ring]") {
  Ring ring = must(Ring::new_cluster("prod", 64, make_nodes(5)));
  const std::uint64_t hash = key_hash("default", "users", "alice");
  Preflist list = ring.preference_list(hash, 3);
  REQUIRE(list.entries.size() == 3);
  CHECK(list.entries[0].partition == ring.partition_of(hash));
  CHECK(list.entries[0].node == ring.owner(ring.partition_of(hash)));
  std::vector<std::string> up;
  for (const Member& m : ring.members())
    if (m.node != list.entries[0].node) up.push_back(m.node);
  Preflist degraded = ring.preference_list(hash, 3, ring.reachable_mask(up));
  REQUIRE(degraded.entries.size() == 3);
  CHECK(degraded.entries[0].role == Role::fallback);
  CHECK(degraded.entries[0].primary_node == list.entries[0].node);
  CHECK(ring.primary_list(hash, 3).entries == list.entries);
}

// Random ring states, built through the wire format (which is also how
// arbitrary states arrive from peers).
struct RandomRing {
  std::mt19937_64& rng;
  std::uint64_t pick(std::uint64_t n) { return rng() % n; }

  std::string bytes(std::uint32_t q) {
    static const char* kNodes[] = {"a@h:1", "b@h:2", "c@h:3", "d@h:4", "e@h:5", "f@h:6"};
    static const char* kLocations[] = {"", "zone-1", "zone-2"};
    std::vector<std::string> members;
    for (const char* n : kNodes)
      if (pick(3) != 0) members.push_back(n);
    if (members.empty()) members.push_back(kNodes[pick(6)]);
    crdt::VClock version;
    for (std::uint64_t i = pick(4); i > 0; --i) version.raise(kNodes[pick(6)], 1 + pick(5));
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    codec::pack_header(pk, kRingTypeTag, kRingVersion, 6);
    codec::pack_bytes(pk, "prod");
    pk.pack_uint32(3);
    version.encode_body(pk);
    pk.pack_array(static_cast<std::uint32_t>(members.size()));
    for (const auto& m : members) {
      pk.pack_array(4);
      codec::pack_bytes(pk, m);
      pk.pack_uint8(static_cast<std::uint8_t>(pick(6)));
      codec::pack_bytes(pk, kLocations[pick(3)]);
      pk.pack_uint64(pick(4));
    }
    pk.pack_array(q);
    for (std::uint32_t p = 0; p < q; ++p) {
      pk.pack_array(2);
      pk.pack_uint32(static_cast<std::uint32_t>(pick(members.size())));
      pk.pack_uint64(pick(4));
    }
    std::vector<std::uint32_t> slots;
    for (std::uint32_t p = 0; p < q; ++p)
      if (pick(3) == 0) slots.push_back(p);
    pk.pack_array(static_cast<std::uint32_t>(slots.size()));
    for (std::uint32_t p : slots) {
      pk.pack_array(5);
      pk.pack_uint32(p);
      pk.pack_uint32(static_cast<std::uint32_t>(pick(members.size())));
      pk.pack_uint32(static_cast<std::uint32_t>(pick(members.size())));
      pk.pack_uint8(static_cast<std::uint8_t>(pick(4)));
      pk.pack_uint64(pick(4));
    }
    return std::string(buffer.data(), buffer.size());
  }

  Ring ring(std::uint32_t q) {
    auto r = Ring::decode(bytes(q));
    if (!r) FAIL(r.error().to_string());
    return std::move(r).value();
  }
};

TEST_CASE("merge is commutative, associative and idempotent on random states", "[ring][merge]") {
  const std::uint64_t seed = 0x41a9c3;
  std::mt19937_64 rng(seed);
  RandomRing gen{rng};
  for (int i = 0; i < 3000; ++i) {
    INFO("seed " << seed << " case " << i);
    Ring a = gen.ring(8);
    Ring b = gen.ring(8);
    Ring c = gen.ring(8);
    Ring ab = must(Ring::merge(a, b));
    Ring ba = must(Ring::merge(b, a));
    REQUIRE(ab == ba);
    CHECK(ab.digest() == ba.digest());
    REQUIRE(must(Ring::merge(ab, c)) == must(Ring::merge(a, must(Ring::merge(b, c)))));
    REQUIRE(must(Ring::merge(a, a)) == a);
    // The merge is an upper bound: merging either input again changes nothing.
    REQUIRE(must(Ring::merge(ab, a)) == ab);
    CHECK(ab.version().descends(a.version()));
    CHECK(ab.version().descends(b.version()));
  }
}

TEST_CASE("gossip of concurrent changes converges and keeps both", "[ring][merge]") {
  Ring base = must(Ring::new_cluster("prod", 64, make_nodes(5)));
  const std::string a = "node0@127.0.0.1:7000";
  const std::string b = "node4@127.0.0.1:7004";
  Ring on_a = must(base.set_status("node2@127.0.0.1:7002", MemberStatus::down, a));
  Ring on_b = must(base.join(ClaimNode{"node7@127.0.0.1:7007", "zone-x"}, b)).ring;
  CHECK(on_a.version().concurrent(on_b.version()));
  Ring merged = must(Ring::merge(on_a, on_b));
  CHECK(merged == must(Ring::merge(on_b, on_a)));
  CHECK(merged.member("node2@127.0.0.1:7002")->status == MemberStatus::down);
  CHECK(merged.member("node7@127.0.0.1:7007")->status == MemberStatus::joining);
  CHECK(merged.pending_transfers() == on_b.pending_transfers());
  // A later change made after seeing both wins over each.
  Ring later = must(merged.set_status("node2@127.0.0.1:7002", MemberStatus::valid, a));
  CHECK(must(Ring::merge(later, on_a)) == later);
  CHECK(must(Ring::merge(on_b, later)) == later);
  // A stale copy of a removed member does not bring it back.
  Ring removed = must(base.force_remove("node3@127.0.0.1:7003", a)).ring;
  CHECK(must(Ring::merge(removed, base)).member("node3@127.0.0.1:7003")->status == MemberStatus::removed);
  CHECK(must(Ring::merge(removed, base)).partitions_of("node3@127.0.0.1:7003").empty());

  Ring other = must(Ring::new_cluster("other", 64, make_nodes(5)));
  CHECK(Ring::merge(base, other).error().code == Errc::invalid_argument);
}

TEST_CASE("encode and decode round-trip; bad bytes are errors", "[ring][codec]") {
  const std::uint64_t seed = 0x7e57c0de;
  std::mt19937_64 rng(seed);
  RandomRing gen{rng};
  Ring real = must(Ring::new_cluster("prod", 256, make_nodes(7)));
  real = must(real.join(ClaimNode{"node9@127.0.0.1:7009", "zone-1"}, "node0@127.0.0.1:7000")).ring;
  for (int i = 0; i < 300; ++i) {
    INFO("seed " << seed << " case " << i);
    Ring ring = i == 0 ? real : gen.ring(i % 2 == 0 ? 8 : 64);
    const std::string bytes = ring.encode();
    Ring back = must(Ring::decode(bytes));
    REQUIRE(back == ring);
    CHECK(back.digest() == ring.digest());
    CHECK(back.encode() == bytes);
    // Every truncation fails cleanly.
    for (std::size_t len = 0; len < bytes.size(); len += 1 + bytes.size() / 64)
      CHECK_FALSE(Ring::decode(std::string_view(bytes).substr(0, len)).has_value());
    // Mutations either fail with an error or decode to a valid ring.
    for (int m = 0; m < 20; ++m) {
      std::string mutated = bytes;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) mutated[rng() % mutated.size()] = static_cast<char>(rng());
      auto decoded = Ring::decode(mutated);
      if (decoded) {
        CHECK(decoded.value() == must(Ring::decode(decoded.value().encode())));
      } else {
        CHECK((decoded.error().code == Errc::malformed || decoded.error().code == Errc::too_large ||
               decoded.error().code == Errc::unsupported_version));
      }
    }
  }
  CHECK(Ring::decode("").error().code == Errc::malformed);
  std::string wrong_tag = real.encode();
  wrong_tag[1] = 7;  // the type tag after the array header
  CHECK_FALSE(Ring::decode(wrong_tag).has_value());
}

}  // namespace
}  // namespace shoal::ring
