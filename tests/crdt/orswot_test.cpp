#include "crdt/orswot.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "tests/crdt/harness.hpp"
#include "tests/crdt/orswot_model.hpp"

using namespace shoal;
using namespace shoal::crdt;


namespace {

const Actor kA = "node-a";
const Actor kB = "node-b";

Orswot applied(Orswot& set, const Orswot::Op& op, const Actor& actor) {
  auto delta = set.apply(op, actor);
  REQUIRE(delta.has_value());
  return std::move(delta).value();
}

}  // namespace

TEST_CASE("orswot adds, removes and reports its elements", "[orswot]") {
  Orswot set;
  applied(set, Orswot::Op::add("x"), kA);
  applied(set, Orswot::Op::add_all({"y", "z", "y"}), kA);
  CHECK(set.value() == Orswot::Value{"x", "y", "z"});
  CHECK(set.context().get(kA) == 3);  // one dot per distinct element
  applied(set, Orswot::Op::remove("y"), kA);
  CHECK(set.value() == Orswot::Value{"x", "z"});
  applied(set, Orswot::Op::remove_all({"x", "z"}), kA);
  CHECK(set.empty());
}

TEST_CASE("orswot remove of an absent element without context is refused and changes nothing", "[orswot]") {
  Orswot set;
  applied(set, Orswot::Op::add("x"), kA);
  Orswot before = set;
  auto result = set.apply(Orswot::Op::remove_all({"x", "ghost"}), kA);
  REQUIRE(result.has_error());
  CHECK(result.error().code == Errc::precondition_failed);
  CHECK(result.error().message.find("ghost") != std::string::npos);
  CHECK(set == before);
  // With a context the same remove is fine: the client may know more.
  CHECK(set.apply(Orswot::Op::remove("ghost", set.context()), kA).has_value());
}

TEST_CASE("orswot concurrent add and remove of the same element: add wins", "[orswot]") {
  Orswot a;
  applied(a, Orswot::Op::add("x"), kA);
  Orswot b = a;
  applied(b, Orswot::Op::remove("x"), kB);  // observed a's add
  applied(a, Orswot::Op::add("x"), kA);     // concurrent re-add
  Orswot ab = a, ba = b;
  ab.merge(b);
  ba.merge(a);
  CHECK(ab == ba);
  CHECK(ab.value() == Orswot::Value{"x"});
  // A remove that saw both adds does remove it.
  applied(ab, Orswot::Op::remove("x"), kB);
  ba.merge(ab);
  CHECK(ba.empty());
}

TEST_CASE("orswot remove with an unseen context is deferred until the dots arrive", "[orswot]") {
  Orswot origin;
  auto add_delta = applied(origin, Orswot::Op::add("x"), kA);
  Orswot late;  // has not seen the add
  applied(late, Orswot::Op::add("y"), kB);
  auto remove_delta = applied(late, Orswot::Op::remove("x", origin.context()), kB);
  CHECK(late.deferred().size() == 1);
  CHECK(remove_delta.deferred().size() == 1);
  late.merge(add_delta);
  CHECK(late.value() == Orswot::Value{"y"});  // the add arrived and was removed at once
  CHECK(late.deferred().empty());             // the context is now seen
  // The remove's delta has the same effect wherever it lands.
  origin.merge(remove_delta);
  CHECK_FALSE(origin.contains("x"));
  // Deferring did not claim the unseen add of another element as seen.
  Orswot other;
  applied(other, Orswot::Op::add("w"), kA);  // kA's dot 1, which the remove context covers, but for w
  other.merge(late);
  CHECK(other.contains("w") == false);        // covered dot, absent at late: removed by the merge
}

TEST_CASE("orswot observed reset keeps concurrent adds", "[orswot]") {
  Orswot a;
  applied(a, Orswot::Op::add_all({"x", "y"}), kA);
  Orswot b = a;
  VClock seen = b.context();
  b.reset(seen);
  CHECK(b.empty());
  applied(a, Orswot::Op::add("z"), kA);
  a.merge(b);
  CHECK(a.value() == Orswot::Value{"z"});
  Orswot delta;
  delta.reset(seen);
  Orswot c;
  c.merge(delta);
  CHECK(c.context() == seen);
}

TEST_CASE("orswot delta merged elsewhere equals applying the op there", "[orswot][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    Orswot origin;
    for (int i = 0; i < 6; ++i) applied(origin, Orswot::Op::add(std::string(1, static_cast<char>('a' + rng() % 6))), kA);
    Orswot copy = origin;
    auto op = rng() % 2 ? Orswot::Op::add(std::string(1, static_cast<char>('a' + rng() % 6)))
                        : Orswot::Op::remove_all({"a", "b"}, origin.context());
    auto delta = applied(origin, op, kA);
    copy.merge(delta);
    REQUIRE(copy == origin);
  }
}

TEST_CASE("orswot limits are enforced with clear errors", "[orswot]") {
  Orswot set;
  auto big = set.apply(Orswot::Op::add(std::string(kSetElementBytesMax + 1, 'x')), kA);
  REQUIRE(big.has_error());
  CHECK(big.error().code == Errc::too_large);
  CHECK(set.apply(Orswot::Op::add("x"), "").has_error());
  // Deferred removes are bounded.
  VClock unseen;
  for (std::size_t i = 0; i < kSetDeferredMax; ++i) {
    unseen.raise("far", i + 1);
    applied(set, Orswot::Op::remove("x", unseen), kA);
  }
  unseen.raise("far", kSetDeferredMax + 1);
  auto over = set.apply(Orswot::Op::remove("x", unseen), kA);
  REQUIRE(over.has_error());
  CHECK(over.error().code == Errc::too_large);
  CHECK(set.deferred().size() == kSetDeferredMax);
}

TEST_CASE("orswot decoder refuses non-canonical and forged encodings", "[orswot]") {
  Orswot set;
  applied(set, Orswot::Op::add_all({"a", "b"}), kA);
  auto bytes = encode_to_bytes(set);
  auto decoded = decode_from_bytes<Orswot>(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded.value() == set);
  for (std::size_t n = 0; n < bytes.size(); ++n) CHECK(decode_from_bytes<Orswot>(bytes.substr(0, n)).has_error());

  auto encode_with = [](const std::vector<std::pair<std::string, Dot>>& entries, const VClock& clock) {
    msgpack::sbuffer buf;
    Packer pk(buf);
    codec::pack_header(pk, static_cast<std::uint8_t>(TypeTag::orswot), Orswot::kVersion, 3);
    pk.pack_array(static_cast<std::uint32_t>(entries.size()));
    for (const auto& [element, dot] : entries) {
      pk.pack_array(2);
      codec::pack_bytes(pk, element);
      pk.pack_array(1);
      dot.encode(pk);
    }
    DotContext(clock).encode_body(pk);
    pk.pack_array(0);
    return std::string(buf.data(), buf.size());
  };
  VClock clock;
  clock.raise(kA, 2);
  CHECK(decode_from_bytes<Orswot>(encode_with({{"a", Dot{kA, 1}}, {"b", Dot{kA, 2}}}, clock)).has_value());
  auto unsorted = decode_from_bytes<Orswot>(encode_with({{"b", Dot{kA, 2}}, {"a", Dot{kA, 1}}}, clock));
  REQUIRE(unsorted.has_error());
  CHECK(unsorted.error().code == Errc::malformed);
  CHECK(decode_from_bytes<Orswot>(encode_with({{"a", Dot{kA, 1}}, {"a", Dot{kA, 2}}}, clock)).has_error());
  CHECK(decode_from_bytes<Orswot>(encode_with({{"a", Dot{kA, 3}}}, clock)).has_error());  // dot outside context
}

TEST_CASE("orswot merge of 100k elements is fast", "[orswot][timing]") {
  // A quick guard, not the benchmark (tests/bench/bench_crdt.cpp): the
  // overlap case is what anti-entropy of a large set does.
  constexpr int kElements = 100000;
  Orswot a, b;
  std::vector<std::string> half_a, half_b;
  for (int i = 0; i < kElements; ++i) (i % 2 ? half_a : half_b).push_back("element-" + std::to_string(i));
  applied(a, Orswot::Op::add_all(half_a), kA);
  applied(b, Orswot::Op::add_all(half_b), kB);
  auto time_ms = [](auto&& fn) {
    auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  Orswot merged = a;
  double disjoint_ms = time_ms([&] { merged.merge(b); });
  REQUIRE(merged.size() == kElements);
  Orswot again = merged;
  double equal_ms = time_ms([&] { again.merge(merged); });
  std::printf("orswot merge 100k: disjoint halves %.1f ms, equal states %.1f ms\n", disjoint_ms, equal_ms);
  CHECK(again == merged);
  CHECK(equal_ms < 500);  // generous: shared, sanitized or debug builds
}

TEST_CASE("orswot satisfies the CRDT properties against the add-wins model", "[orswot][property]") {
  static const std::vector<testing::RegressionSeed> kRegressions = {};
  testing::run_properties<Orswot>(1500, "orswot", kRegressions);
}
