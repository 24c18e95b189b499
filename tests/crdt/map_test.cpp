#include "crdt/map.hpp"

#include <catch2/catch.hpp>

#include <map>

#include "tests/crdt/harness.hpp"
#include "tests/crdt/orswot_model.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace {

const FieldKey kFields[] = {{"x", TypeTag::pn_counter}, {"y", TypeTag::pn_counter}, {"x", TypeTag::orswot},
                            {"y", TypeTag::orswot}};

}  // namespace

namespace shoal::crdt {

// For the harness's failure messages.
inline std::ostream& operator<<(std::ostream& os, const MapValue& value) {
  os << "{";
  for (const auto& [key, field] : value.fields) {
    os << " " << key.name << "/" << static_cast<int>(key.type) << "=";
    if (const auto* n = std::get_if<std::int64_t>(&field.value)) os << *n;
    if (const auto* set = std::get_if<Orswot::Value>(&field.value)) {
      os << "[";
      for (const auto& e : *set) os << e;
      os << "]";
    }
  }
  return os << " }";
}

}  // namespace shoal::crdt

namespace shoal::crdt::testing {

// Maps of counters and sets. Each op touches one or two distinct fields
// (never the same field twice, so that "saw" is the whole causal story);
// removes use the replica's own context or none.
template <>
struct Model<Map> {
  static constexpr bool allows_reset = true;

  static std::optional<MapFieldOp> random_field_op(const Map& replica, const FieldKey& key, std::mt19937_64& rng) {
    if (rng() % 4 == 0) {
      std::optional<VClock> context;
      // Only contexts this replica read: a context that claims presence dots
      // without the nested history behind them cannot come from any replica
      // (deferred map removes are unit-tested below).
      if (rng() % 2 == 0) context = replica.context();
      return MapFieldOp::remove(key.name, key.type, context);
    }
    if (key.type == TypeTag::pn_counter)
      return MapFieldOp::update(key.name, PnCounter::Op::increment(static_cast<std::int64_t>(rng() % 21) - 10));
    std::string element(1, static_cast<char>('a' + rng() % 3));
    const AnyCrdt* field = replica.find(key.name, key.type);
    if (field != nullptr && rng() % 3 == 0) {
      auto present = field->get_if<Orswot>()->value();
      if (!present.empty()) return MapFieldOp::update(key.name, Orswot::Op::remove(*present.begin()));
    }
    return MapFieldOp::update(key.name, Orswot::Op::add(element));
  }

  static Map::Op random_op(const Map& replica, std::mt19937_64& rng) {
    Map::Op op;
    std::size_t first = rng() % 4;
    op.fields.push_back(*random_field_op(replica, kFields[first], rng));
    // One context per op (the harness records one): a second field op only
    // when the first is not a remove with a context.
    if (rng() % 4 == 0 && !op.fields.front().context)
      op.fields.push_back(*random_field_op(replica, kFields[(first + 1 + rng() % 3) % 4], rng));
    return op;
  }

  static std::optional<VClock> op_context(const Map::Op& op) {
    for (const auto& f : op.fields)
      if (f.context) return f.context;
    return std::nullopt;
  }

  static std::string describe(const Map::Op& op) {
    std::string out;
    for (const auto& f : op.fields) {
      out += f.kind == MapFieldOp::Kind::update ? " update " : " remove ";
      out += f.field.name + (f.field.type == TypeTag::pn_counter ? "/counter" : "/set");
      if (f.kind == MapFieldOp::Kind::update) {
        if (const auto* c = std::get_if<PnCounter::Op>(&f.op)) out += " +" + std::to_string(c->delta);
        if (const auto* s = std::get_if<Orswot::Op>(&f.op))
          out += (s->kind == Orswot::Op::Kind::add ? " add " : " rm ") + s->elements.front();
      } else if (f.context) {
        out += " ctx=" + detail::show_clock(*f.context);
      }
    }
    return out;
  }

  // Nested dots an update of `key` uses: one per counter op, one per
  // distinct added element.
  static std::uint64_t nested_dots(const MapFieldOp& f) {
    if (const auto* s = std::get_if<Orswot::Op>(&f.op)) {
      if (s->kind != Orswot::Op::Kind::add) return 0;
      return std::set<std::string>(s->elements.begin(), s->elements.end()).size();
    }
    return 1;
  }

  // A counter field, as PnCounter documents it: each actor's entry is
  // cumulative over its updates, dropped by a remove/reset that saw the
  // update that last wrote it; an actor whose replica saw its entry dropped
  // starts again from zero.
  template <typename Events, typename FieldOp, typename Removes>
  static std::int64_t counter_reference(const Events& events, FieldOp field_op, Removes removes) {
    struct Entry {
      std::size_t last = SIZE_MAX;  // event id of the actor's latest update
      std::int64_t total = 0;
    };
    std::map<Actor, Entry> entries;
    auto dropped = [&](std::size_t update, const auto* seen_by) {
      return std::any_of(events.begin(), events.end(), [&](const auto& y) {
        return removes(y) && y.saw(update) && (seen_by == nullptr || seen_by->saw(y.id));
      });
    };
    for (const auto& e : events) {
      const MapFieldOp* f = field_op(e);
      if (f == nullptr || f->kind != MapFieldOp::Kind::update) continue;
      Entry& entry = entries[e.actor];
      std::int64_t carried = entry.last != SIZE_MAX && !dropped(entry.last, &e) ? entry.total : 0;
      entry = Entry{e.id, carried + std::get<PnCounter::Op>(f->op).delta};
    }
    std::int64_t sum = 0;
    for (const auto& [actor, entry] : entries)
      if (!dropped(entry.last, static_cast<const typename Events::value_type*>(nullptr))) sum += entry.total;
    return sum;
  }

  // The spec: a field is present iff some update of it was not seen by a
  // later remove of it or reset of the map; its value is the nested type's
  // reference over the field's updates (as nested ops) and its removes and
  // the map's resets (as nested resets whose context is what they saw).
  template <typename Events>
  static Map::Value expected(const Events& events) {
    Map::Value out;
    for (const auto& key : kFields) {
      auto field_op = [&](const auto& e) -> const MapFieldOp* {
        if (e.is_reset()) return nullptr;
        for (const auto& f : e.op->fields)
          if (f.field == key) return &f;
        return nullptr;
      };
      auto removes = [&](const auto& e) {
        const MapFieldOp* f = field_op(e);
        return e.is_reset() || (f != nullptr && f->kind == MapFieldOp::Kind::remove);
      };
      // The nested clock of what event e saw of this field.
      auto seen_clock = [&](const auto& e) {
        VClock clock;
        for (const auto& other : events) {
          const MapFieldOp* f = field_op(other);
          if (f == nullptr || f->kind != MapFieldOp::Kind::update || !e.saw(other.id)) continue;
          clock.raise(other.actor, clock.get(other.actor) + nested_dots(*f));
        }
        return clock;
      };
      // Presence: each update takes the next map dot of its actor, in op
      // order; it is replaced by a later update of the field that saw it,
      // and removed by a remove or reset whose context covers its dot.
      std::map<std::size_t, Dot> presence;
      std::map<Actor, std::uint64_t> counters;
      for (const auto& e : events) {
        if (e.is_reset()) continue;
        for (const auto& f : e.op->fields) {
          if (f.kind != MapFieldOp::Kind::update) continue;
          Dot dot{e.actor, ++counters[e.actor]};
          if (f.field == key) presence.emplace(e.id, dot);
        }
      }
      bool present = false;
      for (const auto& [id, dot] : presence) {
        bool replaced = std::any_of(presence.begin(), presence.end(),
                                    [&, id = id](const auto& later) { return events[later.first].saw(id); });
        bool removed = std::any_of(events.begin(), events.end(),
                                   [&, dot = dot](const auto& y) { return removes(y) && y.context.contains(dot); });
        present = present || (!replaced && !removed);
      }
      if (!present) continue;
      auto build = [&](auto tag) {
        using Nested = decltype(tag);
        std::vector<Event<typename Nested::Op>> nested;
        for (const auto& e : events) {
          const MapFieldOp* f = field_op(e);
          if (!removes(e) && f == nullptr) continue;
          Event<typename Nested::Op> n;
          n.id = e.id;
          n.replica = e.replica;
          n.actor = e.actor;
          n.seen = e.seen;
          n.context = seen_clock(e);
          if (!removes(e)) n.op = std::get<typename Nested::Op>(f->op);
          nested.push_back(std::move(n));
        }
        return AnyValue{Model<Nested>::expected(nested)};
      };
      if (key.type == TypeTag::pn_counter) {
        out.fields.emplace_back(key, AnyValue{counter_reference(events, field_op, removes)});
      } else {
        out.fields.emplace_back(key, build(Orswot{}));
      }
    }
    std::sort(out.fields.begin(), out.fields.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }
};

}  // namespace shoal::crdt::testing

namespace {

const Actor kA = "node-a";
const Actor kB = "node-b";

Map applied(Map& map, std::vector<MapFieldOp> fields, const Actor& actor) {
  auto delta = map.apply(Map::Op{std::move(fields)}, actor);
  REQUIRE(delta.has_value());
  return std::move(delta).value();
}

std::int64_t counter(const Map& map, const std::string& name) {
  const AnyCrdt* field = map.find(name, TypeTag::pn_counter);
  REQUIRE(field != nullptr);
  return field->get_if<PnCounter>()->value();
}

}  // namespace

TEST_CASE("map updates nested fields and keys them by name and type", "[map]") {
  Map map;
  applied(map, {MapFieldOp::update("n", PnCounter::Op::increment(5)), MapFieldOp::update("n", Orswot::Op::add("a"))},
          kA);
  CHECK(map.size() == 2);
  CHECK(counter(map, "n") == 5);
  CHECK(map.find("n", TypeTag::orswot)->get_if<Orswot>()->contains("a"));
  auto value = map.value();
  REQUIRE(value.find("n", TypeTag::pn_counter) != nullptr);
  CHECK(std::get<std::int64_t>(value.find("n", TypeTag::pn_counter)->value) == 5);
}

TEST_CASE("map remove of an absent field without context is refused, and ops are all or nothing", "[map]") {
  Map map;
  applied(map, {MapFieldOp::update("n", PnCounter::Op::increment(1))}, kA);
  Map before = map;
  auto result = map.apply(
      Map::Op{{MapFieldOp::update("n", PnCounter::Op::increment(1)), MapFieldOp::remove("ghost", TypeTag::flag)}}, kA);
  REQUIRE(result.has_error());
  CHECK(result.error().code == Errc::precondition_failed);
  CHECK(result.error().message.find("ghost") != std::string::npos);
  CHECK(map == before);
  auto mismatched = map.apply(Map::Op{{MapFieldOp{MapFieldOp::Kind::update, FieldKey{"n", TypeTag::flag},
                                                   PnCounter::Op::increment(1), std::nullopt}}},
                              kA);
  REQUIRE(mismatched.has_error());
  CHECK(mismatched.error().code == Errc::invalid_argument);
  CHECK(map.apply(Map::Op{{MapFieldOp::update("n", PnCounter::Op::increment(1))}}, "\xff" "x").has_error());
  // The map records nested clocks under prefixed actors, which must stay
  // within the actor limit.
  auto long_actor = map.apply(Map::Op{{MapFieldOp::update("n", PnCounter::Op::increment(1))}},
                              std::string(kActorBytesMax - 5, 'a'));
  REQUIRE(long_actor.has_error());
  CHECK(long_actor.error().code == Errc::invalid_argument);
  CHECK(map == before);
}

TEST_CASE("map update wins over a concurrent remove, keeping only the unobserved part", "[map]") {
  Map a;
  applied(a, {MapFieldOp::update("s", Orswot::Op::add("old")), MapFieldOp::update("c", PnCounter::Op::increment(3))},
          kA);
  Map b = a;
  applied(b, {MapFieldOp::remove("s", TypeTag::orswot, b.context()), MapFieldOp::remove("c", TypeTag::pn_counter)},
          kB);
  CHECK(b.empty());
  applied(a, {MapFieldOp::update("s", Orswot::Op::add("new"))}, kA);
  Map ab = a, ba = b;
  ab.merge(b);
  ba.merge(a);
  CHECK(ab == ba);
  REQUIRE(ab.find("s", TypeTag::orswot) != nullptr);
  CHECK(ab.find("s", TypeTag::orswot)->get_if<Orswot>()->value() == Orswot::Value{"new"});
  CHECK(ab.find("c", TypeTag::pn_counter) == nullptr);
  // Creating the removed counter again starts from zero, and a stale copy of
  // the old state cannot bring the old count back.
  Map stale = a;
  applied(ab, {MapFieldOp::update("c", PnCounter::Op::increment(1))}, kB);
  ab.merge(stale);
  CHECK(counter(ab, "c") == 1);
}

TEST_CASE("map remove with an unseen context is deferred", "[map]") {
  Map origin;
  auto delta = applied(origin, {MapFieldOp::update("f", EnableWinsFlag::Op::enable)}, kA);
  Map late;
  applied(late, {MapFieldOp::remove("f", TypeTag::flag, origin.context())}, kB);
  CHECK(late.deferred().size() == 1);
  late.merge(delta);
  CHECK(late.empty());
  CHECK(late.deferred().empty());
}

TEST_CASE("map holds registers, flags, HLLs and nested maps", "[map]") {
  Map map;
  MapOp inner{{MapFieldOp::update("deep", MvRegister::Op{"v1"})}};
  applied(map,
          {MapFieldOp::update("lww", LwwRegister::Op{"hello", HlcTimestamp{}}),
           MapFieldOp::update("flag", EnableWinsFlag::Op::enable), MapFieldOp::update("hll", Hll::Op::add("x")),
           MapFieldOp::update("inner", inner)},
          kA);
  CHECK(map.size() == 4);
  const Map* nested = map.find("inner", TypeTag::map)->get_if<Map>();
  REQUIRE(nested != nullptr);
  CHECK(nested->find("deep", TypeTag::mv_register)->get_if<MvRegister>()->value() == MvRegister::Value{"v1"});
  Map other = map;
  applied(other, {MapFieldOp::remove("inner", TypeTag::map)}, kB);
  applied(map, {MapFieldOp::update("inner", MapOp{{MapFieldOp::update("deep2", EnableWinsFlag::Op::enable)}})}, kA);
  map.merge(other);
  nested = map.find("inner", TypeTag::map)->get_if<Map>();
  REQUIRE(nested != nullptr);
  CHECK(nested->find("deep", TypeTag::mv_register) == nullptr);  // observed by the remove
  CHECK(nested->find("deep2", TypeTag::flag) != nullptr);         // concurrent: survives
  auto bytes = encode_to_bytes(map);
  auto decoded = decode_from_bytes<Map>(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded.value() == map);
}

TEST_CASE("map nesting depth is bounded on apply and decode", "[map]") {
  MapOp op{{MapFieldOp::update("leaf", EnableWinsFlag::Op::enable)}};
  for (std::size_t depth = 1; depth < kMapDepthMax; ++depth) op = MapOp{{MapFieldOp::update("m", op)}};
  Map ok_map;
  auto fits = ok_map.apply(op, kA);
  REQUIRE(fits.has_value());
  auto bytes = encode_to_bytes(ok_map);
  CHECK(decode_from_bytes<Map>(bytes).has_value());
  Map too_deep;
  auto over = too_deep.apply(MapOp{{MapFieldOp::update("m", op)}}, kA);
  REQUIRE(over.has_error());
  CHECK(over.error().code == Errc::invalid_argument);
  // The same bytes one level further down are refused.
  auto handle = codec::unpack(bytes);
  REQUIRE(handle.has_value());
  auto refused = Map::decode_at_depth(handle.value().get(), 2);
  REQUIRE(refused.has_error());
  CHECK(refused.error().code == Errc::malformed);
}

TEST_CASE("map satisfies the CRDT properties against the update-wins model", "[map][property]") {
  static const std::vector<testing::RegressionSeed> kRegressions = {};
  testing::HarnessLimits limits;
  limits.steps_max = 30;
  testing::run_properties<Map>(600, "map", kRegressions, limits);
}
