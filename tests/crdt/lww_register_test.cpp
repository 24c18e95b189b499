#include "crdt/lww_register.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <tuple>

#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace shoal::crdt::testing {

template <>
struct Model<LwwRegister> {
  static constexpr bool allows_reset = true;

  static LwwRegister::Op random_op(const LwwRegister&, std::mt19937_64& rng) {
    // Few distinct timestamps and values, so ties on both happen.
    return LwwRegister::Op{std::string(1, static_cast<char>('a' + rng() % 3)),
                           HlcTimestamp{static_cast<std::int64_t>(rng() % 4), static_cast<std::uint32_t>(rng() % 2)}};
  }

  static std::string describe(const LwwRegister::Op& op) {
    return "write " + op.value + " @" + op.timestamp.to_string();
  }

  // A write is live unless a later write at a replica that had seen it
  // replaced it, or a reset's context covers its dot; the value is the live
  // write greatest by (timestamp, actor, value).
  template <typename Events>
  static LwwRegister::Value expected(const Events& events) {
    std::map<Actor, std::uint64_t> counters;
    std::optional<std::tuple<HlcTimestamp, Actor, std::string>> best;
    std::vector<Dot> dots(events.size());
    for (const auto& e : events)
      if (!e.is_reset()) dots[e.id] = Dot{e.actor, ++counters[e.actor]};
    for (const auto& w : events) {
      if (w.is_reset()) continue;
      bool dead = false;
      for (const auto& e : events) {
        if (e.is_reset() ? e.context.contains(dots[w.id]) : e.saw(w.id)) dead = true;
      }
      if (dead) continue;
      auto key = std::make_tuple(w.op->timestamp, w.actor, w.op->value);
      if (!best || *best < key) best = key;
    }
    if (!best) return std::nullopt;
    return std::get<2>(*best);
  }
};

}  // namespace shoal::crdt::testing

TEST_CASE("lww register: the greatest timestamp wins, ties by actor then value", "[lww_register]") {
  LwwRegister a, b;
  REQUIRE(a.apply({"old", HlcTimestamp{10, 0}}, "a").has_value());
  REQUIRE(b.apply({"new", HlcTimestamp{10, 1}}, "b").has_value());
  LwwRegister ab = a, ba = b;
  ab.merge(b);
  ba.merge(a);
  CHECK(ab == ba);
  CHECK(ab.value() == "new");
  // Equal timestamps: the greater actor wins on every replica.
  LwwRegister c, d;
  REQUIRE(c.apply({"from-x", HlcTimestamp{5, 0}}, "x").has_value());
  REQUIRE(d.apply({"from-y", HlcTimestamp{5, 0}}, "y").has_value());
  c.merge(d);
  CHECK(c.value() == "from-y");
  CHECK(c.winner()->first.actor == "y");
  // A later write at a replica that saw both replaces both.
  REQUIRE(c.apply({"final", HlcTimestamp{6, 0}}, "x").has_value());
  CHECK(c.entries().size() == 1);
  CHECK(c.value() == "final");
}

TEST_CASE("lww register: observed reset removes what it saw, a concurrent write survives", "[lww_register]") {
  LwwRegister a;
  REQUIRE(a.apply({"v1", HlcTimestamp{1, 0}}, "a").has_value());
  LwwRegister b = a;
  REQUIRE(b.apply({"v2", HlcTimestamp{2, 0}}, "b").has_value());
  LwwRegister deleted = a;
  deleted.reset(a.context());
  CHECK(deleted.value() == std::nullopt);
  deleted.merge(b);
  CHECK(deleted.value() == "v2");
  // A reset that saw v2 wins over it everywhere.
  LwwRegister c = b;
  c.reset(b.context());
  c.merge(a);
  c.merge(b);
  CHECK(c.value() == std::nullopt);
}

TEST_CASE("lww register refuses oversized values and bad actors", "[lww_register]") {
  LwwRegister r;
  CHECK(r.apply({std::string(kRegisterValueBytesMax + 1, 'x'), HlcTimestamp{}}, "a").error().code == Errc::too_large);
  CHECK(r.apply({"v", HlcTimestamp{}}, "").error().code == Errc::invalid_argument);
  CHECK(r == LwwRegister{});
}

TEST_CASE("lww register decoder rejects entries outside their context", "[lww_register]") {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::lww_register), 1, 2);
  packer.pack_array(1);
  packer.pack_array(3);
  Dot{"a", 1}.encode(packer);
  HlcTimestamp{1, 0}.encode_body(packer);
  codec::pack_bytes(packer, "v");
  DotContext{}.encode_body(packer);
  auto r = decode_from_bytes<LwwRegister>(std::string_view(buffer.data(), buffer.size()));
  REQUIRE(r.has_error());
  CHECK(r.error().code == Errc::malformed);
}

TEST_CASE("lww register satisfies the CRDT properties on random histories", "[lww_register][property]") {
  testing::run_properties<LwwRegister>(3000, "lww_register");
}
