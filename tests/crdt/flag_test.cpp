#include "crdt/flag.hpp"

#include <catch2/catch.hpp>

#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace shoal::crdt::testing {

// The spec: the flag is enabled iff some enable was observed by no later
// event (every enable, disable and reset removes the enables it observed).
template <>
struct Model<EnableWinsFlag> {
  static constexpr bool allows_reset = true;

  static EnableWinsFlag::Op random_op(const EnableWinsFlag&, std::mt19937_64& rng) {
    return rng() % 2 == 0 ? EnableWinsFlag::Op::enable : EnableWinsFlag::Op::disable;
  }

  static std::string describe(EnableWinsFlag::Op op) { return op == EnableWinsFlag::Op::enable ? "enable" : "disable"; }

  template <typename Events>
  static bool expected(const Events& events) {
    for (const auto& e : events) {
      if (e.is_reset() || *e.op != EnableWinsFlag::Op::enable) continue;
      bool observed = std::any_of(events.begin(), events.end(), [&](const auto& later) { return later.saw(e.id); });
      if (!observed) return true;
    }
    return false;
  }
};

}  // namespace shoal::crdt::testing

namespace {

// Seeds that once failed; they run on every test run.
const std::vector<testing::RegressionSeed> kFlagRegressionSeeds = {};

EnableWinsFlag applied(EnableWinsFlag& flag, EnableWinsFlag::Op op, const Actor& actor) {
  auto result = flag.apply(op, actor);
  REQUIRE(result.has_value());
  return result.value();
}

}  // namespace

TEST_CASE("flag: a concurrent enable wins over a disable", "[flag]") {
  EnableWinsFlag a, b;
  CHECK_FALSE(a.value());
  applied(a, EnableWinsFlag::Op::enable, "a");
  b.merge(a);
  CHECK(b.value());
  auto disable = applied(b, EnableWinsFlag::Op::disable, "b");
  CHECK_FALSE(b.value());
  auto enable = applied(a, EnableWinsFlag::Op::enable, "a");  // concurrent with b's disable
  EnableWinsFlag c;
  c.merge(disable);
  c.merge(enable);
  CHECK(c.value());
  a.merge(b);
  b.merge(a);
  CHECK(a == b);
  CHECK(a.value());

  // A disable that observed every enable turns it off everywhere.
  auto off = applied(a, EnableWinsFlag::Op::disable, "a");
  b.merge(off);
  CHECK_FALSE(b.value());
}

TEST_CASE("flag: an observed reset disables; an enable it did not see survives", "[flag]") {
  EnableWinsFlag a, b;
  applied(a, EnableWinsFlag::Op::enable, "a");
  b.merge(a);
  EnableWinsFlag reset = b;
  reset.reset(b.context());
  CHECK_FALSE(reset.value());
  a.merge(reset);
  CHECK_FALSE(a.value());
  applied(b, EnableWinsFlag::Op::enable, "b");
  a.merge(b);
  CHECK(a.value());
}

TEST_CASE("flag decoder rejects a dot outside its context", "[flag]") {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::flag), 1, 2);
  packer.pack_array(1);
  Dot{"a", 2}.encode(packer);
  DotContext context;
  context.add(Dot{"a", 1});
  context.encode_body(packer);
  auto decoded = decode_from_bytes<EnableWinsFlag>(std::string_view(buffer.data(), buffer.size()));
  REQUIRE_FALSE(decoded.has_value());
  CHECK(decoded.error().code == Errc::malformed);
}

TEST_CASE("flag satisfies the CRDT properties on random histories", "[flag][property]") {
  testing::run_properties<EnableWinsFlag>(3000, "flag", kFlagRegressionSeeds);
}
