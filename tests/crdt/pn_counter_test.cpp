#include "crdt/pn_counter.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <map>

#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace shoal::crdt::testing {

// The spec, from the causal history alone: an actor's entry after its m-th
// op (dot m) is the m-th op's delta plus the entry of its (m-1)-th op, unless
// a reset the actor's replica had seen by then covered dot m-1; the final
// value counts each actor's last entry unless some reset covered its dot.
template <>
struct Model<PnCounter> {
  static constexpr bool allows_reset = true;

  static PnCounter::Op random_op(const PnCounter&, std::mt19937_64& rng) {
    auto delta = static_cast<std::int64_t>(rng() % 41) - 20;
    return PnCounter::Op::increment(delta);
  }

  static std::string describe(const PnCounter::Op& op) { return "increment " + std::to_string(op.delta); }

  template <typename Events>
  static PnCounter::Value expected(const Events& events) {
    struct Last {
      std::uint64_t dot = 0;
      std::int64_t total = 0;  // P - N of the actor's current entry
    };
    std::map<Actor, Last> last;
    auto covered = [&](const Actor& actor, std::uint64_t dot, const auto* seen_by) {
      for (const auto& e : events) {
        if (!e.is_reset() || !e.context.contains(Dot{actor, dot})) continue;
        if (seen_by == nullptr || seen_by->saw(e.id)) return true;
      }
      return false;
    };
    for (const auto& e : events) {
      if (e.is_reset()) continue;
      Last& l = last[e.actor];
      std::int64_t carried = l.dot > 0 && !covered(e.actor, l.dot, &e) ? l.total : 0;
      l = Last{l.dot + 1, carried + e.op->delta};
    }
    std::int64_t sum = 0;
    for (const auto& [actor, l] : last)
      if (!covered(actor, l.dot, static_cast<const typename Events::value_type*>(nullptr))) sum += l.total;
    return sum;
  }
};

}  // namespace shoal::crdt::testing

namespace {

// Seeds that once failed; they run on every test run.
const std::vector<testing::RegressionSeed> kCounterRegressionSeeds = {
    // An actor increments, its replica resets, then it increments again: a
    // model (or merge) that carries the reset entry forward counts it twice.
    {"entry carried across an observed reset", 5575826669291278934ULL},
};

PnCounter applied(PnCounter& counter, std::int64_t delta, const Actor& actor) {
  auto result = counter.apply(PnCounter::Op::increment(delta), actor);
  REQUIRE(result.has_value());
  return result.value();
}

}  // namespace

TEST_CASE("counter counts increments and decrements across replicas", "[pn_counter]") {
  PnCounter a, b;
  applied(a, 5, "a");
  applied(a, -2, "a");
  auto delta = applied(b, 10, "b");
  CHECK(a.value() == 3);
  a.merge(delta);
  CHECK(a.value() == 13);
  b.merge(a);
  CHECK(b == a);
  CHECK(b.value() == 13);
}

TEST_CASE("counter reset removes what it observed; a concurrent increment keeps its whole entry", "[pn_counter]") {
  PnCounter a, b;
  applied(a, 5, "a");
  applied(b, 7, "b");
  b.merge(a);  // b has seen a's 5 and its own 7
  PnCounter resetter = b;
  resetter.reset(resetter.context());
  CHECK(resetter.value() == 0);

  applied(a, 3, "a");  // concurrent with the reset: a's entry is now 8
  PnCounter merged = resetter;
  merged.merge(a);
  CHECK(merged.value() == 8);  // update wins: a keeps its whole entry, b's 7 is gone

  // b saw the reset; its next increment starts from zero.
  b.merge(resetter);
  applied(b, 1, "b");
  merged.merge(b);
  CHECK(merged.value() == 9);
}

TEST_CASE("counter refuses overflow and leaves the replica unchanged", "[pn_counter]") {
  PnCounter c;
  applied(c, std::numeric_limits<std::int64_t>::max(), "a");
  auto over = c.apply(PnCounter::Op::increment(1), "b");
  REQUIRE_FALSE(over.has_value());
  CHECK(over.error().code == Errc::too_large);
  CHECK(c.value() == std::numeric_limits<std::int64_t>::max());
  applied(c, std::numeric_limits<std::int64_t>::min(), "b");
  CHECK(c.value() == -1);

  // Concurrent increments can pass the range: value() saturates and
  // checked_value() says so.
  PnCounter x, y;
  applied(x, std::numeric_limits<std::int64_t>::max(), "x");
  applied(y, std::numeric_limits<std::int64_t>::max(), "y");
  x.merge(y);
  CHECK(x.value() == std::numeric_limits<std::int64_t>::max());
  auto checked = x.checked_value();
  REQUIRE_FALSE(checked.has_value());
  CHECK(checked.error().code == Errc::too_large);
  CHECK_FALSE(x.apply(PnCounter::Op::increment(1), "z").has_value());
  CHECK(x.apply(PnCounter::Op::increment(-1), "z").has_value());
}

TEST_CASE("counter decoder rejects non-canonical encodings", "[pn_counter]") {
  PnCounter c;
  applied(c, 1, "a");
  applied(c, 1, "b");
  auto good = decode_from_bytes<PnCounter>(encode_to_bytes(c));
  REQUIRE(good.has_value());
  CHECK(good.value() == c);

  // Entries in the wrong order.
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::pn_counter), 1, 2);
  packer.pack_array(2);
  for (const char* actor : {"b", "a"}) {
    packer.pack_array(4);
    codec::pack_bytes(packer, actor);
    packer.pack_uint64(1);
    packer.pack_uint64(1);
    packer.pack_uint64(0);
  }
  DotContext context;
  context.add(Dot{"a", 1});
  context.add(Dot{"b", 1});
  context.encode_body(packer);
  auto bad = decode_from_bytes<PnCounter>(std::string_view(buffer.data(), buffer.size()));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::malformed);
}

TEST_CASE("counter satisfies the CRDT properties on random histories", "[pn_counter][property]") {
  testing::run_properties<PnCounter>(3000, "pn_counter", kCounterRegressionSeeds);
}
