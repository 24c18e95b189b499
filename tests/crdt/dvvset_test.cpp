#include "crdt/dvvset.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

using namespace shoal;
using namespace shoal::crdt;

namespace {

using Set = DvvSet<std::string>;

struct RawEntry {
  std::string actor;
  std::uint64_t counter;
  std::vector<std::string> values;
};

// Builds a set from its compact form through the decoder, as dvvset.erl's
// tests write literals.
Set literal(const std::vector<RawEntry>& entries, const std::vector<std::string>& anonymous = {}) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::dvvset), 1, 2);
  packer.pack_array(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) {
    packer.pack_array(3);
    codec::pack_bytes(packer, e.actor);
    packer.pack_uint64(e.counter);
    packer.pack_array(static_cast<std::uint32_t>(e.values.size()));
    for (const auto& v : e.values) codec::pack_bytes(packer, v);
  }
  packer.pack_array(static_cast<std::uint32_t>(anonymous.size()));
  for (const auto& v : anonymous) codec::pack_bytes(packer, v);
  auto decoded = decode_from_bytes<Set>(std::string_view(buffer.data(), buffer.size()));
  REQUIRE(decoded.has_value());
  return decoded.value();
}

Set write(Set stored, const std::string& value, const VClock& context, const Actor& actor) {
  auto r = stored.update(value, context, actor);
  REQUIRE(r.has_value());
  return stored;
}

Set synced(Set a, const Set& b) {
  a.sync(b);
  return a;
}

VClock clock_of(std::initializer_list<std::pair<const char*, std::uint64_t>> entries) {
  VClock c;
  for (const auto& [actor, counter] : entries) c.raise(actor, counter);
  return c;
}

}  // namespace

// The scenarios of dvvset.erl's eunit tests (join_test, update_test, sync_test).
TEST_CASE("dvvset join, update and sync follow dvvset.erl", "[dvvset]") {
  Set a0 = write(Set{}, "v1", VClock{}, "a");
  CHECK(a0 == literal({{"a", 1, {"v1"}}}));
  CHECK(a0.join() == clock_of({{"a", 1}}));

  Set a1 = write(a0, "v2", a0.join(), "a");
  CHECK(a1 == literal({{"a", 2, {"v2"}}}));
  Set a2 = write(a1, "v3", a1.join(), "b");
  CHECK(a2 == literal({{"a", 2, {}}, {"b", 1, {"v3"}}}));
  CHECK(a2.join() == clock_of({{"a", 2}, {"b", 1}}));
  // A write with a stale context keeps what the context did not see.
  Set a3 = write(a1, "v4", a0.join(), "b");
  CHECK(a3 == literal({{"a", 2, {"v2"}}, {"b", 1, {"v4"}}}));
  Set a4 = write(a1, "v5", a0.join(), "a");
  CHECK(a4 == literal({{"a", 3, {"v5", "v2"}}}));
  CHECK(a4.values() == std::vector<std::string>{"v5", "v2"});
  CHECK(a4.size() == 2);

  Set w = literal({{"a", 1, {}}});
  Set z = literal({{"a", 2, {"v2", "v1"}}});
  CHECK(synced(w, z) == literal({{"a", 2, {"v2"}}}));
  CHECK(synced(w, z) == synced(z, w));
  Set b3 = write(a1, "v3", a1.join(), "b");
  Set c3 = write(a1, "v3", a1.join(), "c");
  CHECK(synced(c3, b3) == synced(b3, c3));
  CHECK(synced(c3, b3) == literal({{"a", 2, {}}, {"b", 1, {"v3"}}, {"c", 1, {"v3"}}}));
  Set x = literal({{"x", 1, {}}});
  CHECK(synced(x, a0) == literal({{"a", 1, {"v1"}}, {"x", 1, {}}}));
  CHECK(synced(a0, a1) == a1);
}

TEST_CASE("dvvset new_value is what a client sends; anonymous values follow dvvset.erl", "[dvvset]") {
  Set fresh = Set::new_value("v1");
  CHECK(fresh.values() == std::vector<std::string>{"v1"});
  CHECK(fresh.join().empty());
  Set stored;
  REQUIRE(stored.update(fresh, VClock{}, "a").has_value());
  CHECK(stored == literal({{"a", 1, {"v1"}}}));
  CHECK(stored.update(Set{}, VClock{}, "a").error().code == Errc::invalid_argument);
  CHECK(stored.update("v", VClock{}, "").error().code == Errc::invalid_argument);
  // Anonymous values of concurrent sides are unioned; a strictly older side loses its own.
  Set older = literal({}, {"x"});
  CHECK(synced(older, stored) == stored);
  CHECK(synced(literal({{"b", 1, {}}}, {"y"}), literal({{"c", 1, {}}}, {"x"})).anonymous() ==
        std::vector<std::string>{"x", "y"});
}

TEST_CASE("dvvset avoids sibling explosion", "[dvvset]") {
  // Two clients write alternately, each with the context returned by its own
  // previous write (never having read the other's): per-actor version
  // vectors at the server would keep every write as a sibling.
  Set stored;
  VClock context_1, context_2;
  for (int round = 0; round < 50; ++round) {
    REQUIRE(stored.update("c1-" + std::to_string(round), context_1, "server").has_value());
    context_1 = stored.join();
    CHECK(stored.size() <= 2);
    REQUIRE(stored.update("c2-" + std::to_string(round), context_2, "server").has_value());
    context_2 = stored.join();
    CHECK(stored.size() <= 2);
  }
  CHECK(stored.values() == std::vector<std::string>{"c2-49", "c1-49"});
  // A client that read everything resolves the siblings.
  REQUIRE(stored.update("resolved", stored.join(), "server").has_value());
  CHECK(stored.values() == std::vector<std::string>{"resolved"});
}

TEST_CASE("dvvset refuses writes past its limits and stays unchanged", "[dvvset]") {
  Set stored;
  DvvSetLimits limits{3, 2};
  for (int i = 0; i < 3; ++i) REQUIRE(stored.update("v" + std::to_string(i), VClock{}, "a", limits).has_value());
  Set before = stored;
  auto r = stored.update("v3", VClock{}, "a", limits);
  REQUIRE(r.has_error());
  CHECK(r.error().code == Errc::too_large);
  CHECK(stored == before);
  // With a context that covers them, the write goes through.
  CHECK(stored.update("v3", stored.join(), "a", limits).has_value());
  CHECK(stored.update("w", stored.join(), "b", limits).has_value());
  CHECK(stored.update("w", stored.join(), "c", limits).error().code == Errc::too_large);
}

TEST_CASE("dvvset on random histories: siblings are exactly the writes no context covered; sync is a join",
          "[dvvset][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    const int replicas = 2 + static_cast<int>(rng() % 3);
    std::vector<Set> state(static_cast<std::size_t>(replicas));
    std::map<std::string, Dot> dot_of;  // value -> the dot it was written with
    std::vector<VClock> contexts;       // every context a write carried
    std::vector<Set> reached;
    int writes = 0;
    int steps = 5 + static_cast<int>(rng() % 25);
    for (int step = 0; step < steps; ++step) {
      auto r = rng() % static_cast<std::uint64_t>(replicas);
      auto choice = rng() % 4;
      if (choice == 0) {
        state[r].sync(state[rng() % static_cast<std::uint64_t>(replicas)]);
      } else {
        // A client read some replica earlier (or nothing) and writes here.
        VClock context;
        if (choice != 1) context = state[rng() % static_cast<std::uint64_t>(replicas)].join();
        std::string value = "w" + std::to_string(writes++);
        Actor actor = "r" + std::to_string(r);
        REQUIRE(state[r].update(value, context, actor, DvvSetLimits{1000, 1000}).has_value());
        dot_of[value] = Dot{actor, state[r].join().get(actor)};
        contexts.push_back(context);
      }
      reached.push_back(state[r]);
    }
    // Merge laws on states the histories reached.
    for (int i = 0; i < 20 && reached.size() >= 3; ++i) {
      const Set& a = reached[rng() % reached.size()];
      const Set& b = reached[rng() % reached.size()];
      const Set& c = reached[rng() % reached.size()];
      REQUIRE(synced(a, b) == synced(b, a));
      REQUIRE(synced(synced(a, b), c) == synced(a, synced(b, c)));
      REQUIRE(synced(a, a) == a);
      REQUIRE(encode_to_bytes(synced(a, b)) == encode_to_bytes(synced(b, a)));
    }
    // Full exchange in two different orders.
    Set forward, backward;
    for (int i = 0; i < replicas; ++i) forward.sync(state[static_cast<std::size_t>(i)]);
    for (int i = replicas - 1; i >= 0; --i) backward.sync(state[static_cast<std::size_t>(i)]);
    REQUIRE(forward == backward);
    std::set<std::string> expected;
    for (const auto& [value, dot] : dot_of) {
      const Dot& written = dot;  // clang 14 cannot capture a structured binding
      bool covered =
          std::any_of(contexts.begin(), contexts.end(), [&](const VClock& c) { return c.contains(written); });
      if (!covered) expected.insert(value);
    }
    auto values = forward.values();
    REQUIRE(std::set<std::string>(values.begin(), values.end()) == expected);
    REQUIRE(values.size() == expected.size());
    auto decoded = decode_from_bytes<Set>(encode_to_bytes(forward));
    REQUIRE(decoded.has_value());
    REQUIRE(decoded.value() == forward);
  }
}

TEST_CASE("dvvset decoder survives truncated and mutated bytes", "[dvvset][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Set s = write(write(write(Set{}, "one", VClock{}, "a"), "two", VClock{}, "b"), "three", VClock{}, "a");
  auto bytes = encode_to_bytes(s);
  for (std::size_t n = 0; n < bytes.size(); ++n) CHECK(decode_from_bytes<Set>(bytes.substr(0, n)).has_error());
  for (int i = 0; i < 5000; ++i) {
    std::string mutated = bytes;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      auto pos = rng() % mutated.size();
      switch (rng() % 3) {
        case 0: mutated[pos] = static_cast<char>(rng()); break;
        case 1: mutated.insert(pos, 1, static_cast<char>(rng())); break;
        default: mutated.erase(pos, 1); break;
      }
      if (mutated.empty()) mutated = "x";
    }
    auto decoded = decode_from_bytes<Set>(mutated);
    if (decoded.has_value()) {
      // Whatever decodes re-encodes to itself.
      auto again = decode_from_bytes<Set>(encode_to_bytes(decoded.value()));
      REQUIRE(again.has_value());
      REQUIRE(again.value() == decoded.value());
    }
  }
  // Non-canonical: actors out of order, more values than events, zero counter.
  std::string unsorted;
  {
    msgpack::sbuffer buffer;
    Packer packer(buffer);
    codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::dvvset), 1, 2);
    packer.pack_array(2);
    for (const char* actor : {"b", "a"}) {
      packer.pack_array(3);
      codec::pack_bytes(packer, actor);
      packer.pack_uint64(1);
      packer.pack_array(0);
    }
    packer.pack_array(0);
    unsorted.assign(buffer.data(), buffer.size());
  }
  CHECK(decode_from_bytes<Set>(unsorted).error().code == Errc::malformed);
}
