#include "crdt/mv_register.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace shoal::crdt::testing {

template <>
struct Model<MvRegister> {
  static constexpr bool allows_reset = true;

  static MvRegister::Op random_op(const MvRegister&, std::mt19937_64& rng) {
    return MvRegister::Op{std::string(1, static_cast<char>('a' + rng() % 4))};
  }

  static std::string describe(const MvRegister::Op& op) { return "write " + op.value; }

  // The values of every write no later write saw and no reset covered.
  template <typename Events>
  static MvRegister::Value expected(const Events& events) {
    std::map<Actor, std::uint64_t> counters;
    std::vector<Dot> dots(events.size());
    for (const auto& e : events)
      if (!e.is_reset()) dots[e.id] = Dot{e.actor, ++counters[e.actor]};
    std::set<std::string> live;
    for (const auto& w : events) {
      if (w.is_reset()) continue;
      bool dead = false;
      for (const auto& e : events)
        if (e.is_reset() ? e.context.contains(dots[w.id]) : e.saw(w.id)) dead = true;
      if (!dead) live.insert(w.op->value);
    }
    return MvRegister::Value(live.begin(), live.end());
  }
};

}  // namespace shoal::crdt::testing

TEST_CASE("mv register keeps concurrent writes until a write that saw them", "[mv_register]") {
  MvRegister a, b;
  REQUIRE(a.apply({"x"}, "a").has_value());
  REQUIRE(b.apply({"y"}, "b").has_value());
  a.merge(b);
  CHECK(a.value() == MvRegister::Value{"x", "y"});
  // The delta of a write that saw both, merged at b, resolves b too.
  auto delta = a.apply({"z"}, "a");
  REQUIRE(delta.has_value());
  b.merge(delta.value());
  CHECK(b.value() == MvRegister::Value{"z"});
  CHECK(a == b);
  // Equal concurrent values show once.
  MvRegister c, d;
  REQUIRE(c.apply({"same"}, "c").has_value());
  REQUIRE(d.apply({"same"}, "d").has_value());
  c.merge(d);
  CHECK(c.value() == MvRegister::Value{"same"});
  CHECK(c.entries().size() == 2);
}

TEST_CASE("mv register observed reset keeps a concurrent write", "[mv_register]") {
  MvRegister a;
  REQUIRE(a.apply({"old"}, "a").has_value());
  MvRegister b = a;
  REQUIRE(b.apply({"concurrent"}, "b").has_value());
  a.reset(a.context());
  CHECK(a.value().empty());
  a.merge(b);
  CHECK(a.value() == MvRegister::Value{"concurrent"});
  CHECK(MvRegister{}.apply({std::string(kRegisterValueBytesMax + 1, 'x')}, "a").error().code == Errc::too_large);
}

TEST_CASE("mv register satisfies the CRDT properties on random histories", "[mv_register][property]") {
  testing::run_properties<MvRegister>(3000, "mv_register");
}
