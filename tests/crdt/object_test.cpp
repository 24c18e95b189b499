#include "crdt/object.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <variant>

#include "crdt/lww_register.hpp"
#include "crdt/mv_register.hpp"
#include "crdt/pn_counter.hpp"
#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace {

// A stand-in CRDT payload with the interface the object needs (the same one
// AnyCrdt provides), over three of the concrete types.
struct TestCrdt {
  std::variant<PnCounter, LwwRegister, MvRegister> state;

  friend bool operator==(const TestCrdt&, const TestCrdt&) = default;
  void merge(const TestCrdt& other) {
    REQUIRE(state.index() == other.state.index());
    std::visit([&](auto& mine) { mine.merge(std::get<std::decay_t<decltype(mine)>>(other.state)); }, state);
  }
  void reset(const VClock& context) {
    std::visit([&](auto& mine) { mine.reset(context); }, state);
  }
  TypeTag type_tag() const {
    return std::visit([](const auto& mine) { return std::decay_t<decltype(mine)>::kTypeTag; }, state);
  }
  VClock context() const {
    return std::visit([](const auto& mine) { return mine.context(); }, state);
  }
  void encode(Packer& packer) const {
    std::visit([&](const auto& mine) { mine.encode(packer); }, state);
  }
  static Result<TestCrdt> decode(const msgpack::object& object) {
    SHOAL_TRY(items, codec::expect_array(object, 1, 64, "crdt"));
    SHOAL_TRY(tag, codec::expect_uint(items[0], "crdt tag", 255));
    switch (static_cast<TypeTag>(tag)) {
      case TypeTag::pn_counter: {
        SHOAL_TRY(c, PnCounter::decode(object));
        return TestCrdt{c};
      }
      case TypeTag::lww_register: {
        SHOAL_TRY(r, LwwRegister::decode(object));
        return TestCrdt{r};
      }
      case TypeTag::mv_register: {
        SHOAL_TRY(r, MvRegister::decode(object));
        return TestCrdt{r};
      }
      default:
        return make_error(Errc::malformed, "unknown crdt tag");
    }
  }
};

using TestObject = BasicObject<TestCrdt>;

const ObjectKey kKey{"default", "bucket", "key"};
const MergePolicy kMult{true, false};
const MergePolicy kLww{false, true};

std::optional<TestCrdt> initial(Datatype datatype) {
  switch (datatype) {
    case Datatype::counter: return TestCrdt{PnCounter{}};
    case Datatype::register_: return TestCrdt{LwwRegister{}};
    case Datatype::mv_register: return TestCrdt{MvRegister{}};
    default: return std::nullopt;
  }
}

TestObject make(Datatype datatype = Datatype::plain) {
  auto o = TestObject::make(kKey, datatype, initial(datatype));
  REQUIRE(o.has_value());
  return o.value();
}

Sibling sibling(std::string value, std::int64_t physical_us) {
  Sibling s;
  s.value = std::move(value);
  s.content_type = "text/plain";
  s.last_modified = HlcTimestamp{physical_us, 0};
  return s;
}

TestObject merged(TestObject a, const TestObject& b, const MergePolicy& policy) {
  a.merge(b, policy);
  return a;
}

std::vector<std::string> values_of(const TestObject& o) {
  std::vector<std::string> out;
  for (const auto& s : o.siblings()) out.push_back((s.tombstone ? "x:" : "") + s.value);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("object: a delete with context and a concurrent write leave the write as a sibling", "[object]") {
  TestObject a = make();
  REQUIRE(a.put(sibling("v1", 10), VClock{}, "a", kMult).has_value());
  TestObject b = a;
  VClock read = a.context();
  // The delete saw v1; a concurrent write at b did not see the delete.
  REQUIRE(a.remove(read, "a", HlcTimestamp{20, 0}, kMult).has_value());
  REQUIRE(b.put(sibling("v2", 15), read, "b", kMult).has_value());
  TestObject ab = merged(a, b, kMult);
  CHECK(ab == merged(b, a, kMult));
  CHECK(values_of(ab) == std::vector<std::string>{"v2", "x:"});
  CHECK_FALSE(ab.is_tombstone());
  // A delete that saw everything leaves only the tombstone.
  REQUIRE(ab.remove(ab.context(), "b", HlcTimestamp{30, 0}, kMult).has_value());
  CHECK(values_of(ab) == std::vector<std::string>{"x:"});
  CHECK(ab.is_tombstone());
  // And it wins over the replicas that have not seen it.
  CHECK(values_of(merged(merged(a, b, kMult), ab, kMult)) == std::vector<std::string>{"x:"});
}

TEST_CASE("object: last-write-wins keeps the single greatest sibling", "[object]") {
  TestObject a = make(), b = make();
  REQUIRE(a.put(sibling("early", 10), VClock{}, "a", kLww).has_value());
  REQUIRE(b.put(sibling("late", 20), VClock{}, "b", kLww).has_value());
  TestObject ab = merged(a, b, kLww);
  CHECK(ab == merged(b, a, kLww));
  CHECK(values_of(ab) == std::vector<std::string>{"late"});
  // Equal HLCs: the greater actor wins.
  TestObject c = make(), d = make();
  REQUIRE(c.put(sibling("from-a", 10), VClock{}, "a", kLww).has_value());
  REQUIRE(d.put(sibling("from-b", 10), VClock{}, "b", kLww).has_value());
  CHECK(values_of(merged(c, d, kLww)) == std::vector<std::string>{"from-b"});
  // A write stamped behind the value it replaces (a slow clock) still wins
  // locally: its HLC is raised past it.
  TestObject e = ab;
  REQUIRE(e.put(sibling("newest", 5), VClock{}, "c", kLww).has_value());
  CHECK(values_of(e) == std::vector<std::string>{"newest"});
  CHECK(HlcTimestamp{20, 0} < e.siblings().front().last_modified);
}

TEST_CASE("object: the expiry of the write with the greatest HLC wins on every replica", "[object]") {
  TestObject a = make(), b = make();
  REQUIRE(a.put(sibling("v1", 10), VClock{}, "a", kMult, HlcTimestamp{1'000, 0}).has_value());
  REQUIRE(b.put(sibling("v2", 20), VClock{}, "b", kMult, HlcTimestamp{500, 0}).has_value());
  TestObject ab = merged(a, b, kMult), ba = merged(b, a, kMult);
  CHECK(ab == ba);
  CHECK(ab.expires_at() == HlcTimestamp{500, 0});
  CHECK_FALSE(ab.expired(HlcTimestamp{499, 9}));
  CHECK(ab.expired(HlcTimestamp{500, 0}));
  // A later write without expiry clears it.
  REQUIRE(ab.put(sibling("v3", 30), ab.context(), "a", kMult).has_value());
  CHECK_FALSE(ab.expires_at().has_value());
  CHECK(merged(ba, ab, kMult).expires_at() == std::nullopt);
}

TEST_CASE("object: CRDT delete is an observed reset; a concurrent update survives", "[object]") {
  TestObject a = make(Datatype::counter);
  auto& counter = std::get<PnCounter>(a.crdt().state);
  REQUIRE(counter.apply(PnCounter::Op::increment(5), "a").has_value());
  a.record_write(HlcTimestamp{10, 0}, std::nullopt);
  TestObject b = a;
  a.remove_crdt(a.context(), HlcTimestamp{20, 0});
  CHECK(a.is_tombstone());
  CHECK(std::get<PnCounter>(a.crdt().state).value() == 0);
  REQUIRE(std::get<PnCounter>(b.crdt().state).apply(PnCounter::Op::increment(2), "b").has_value());
  b.record_write(HlcTimestamp{25, 0}, std::nullopt);
  TestObject ab = merged(a, b, kMult);
  CHECK(ab == merged(b, a, kMult));
  CHECK(std::get<PnCounter>(ab.crdt().state).value() == 2);
  CHECK_FALSE(ab.is_tombstone());
}

TEST_CASE("object: under `any`, the latest retype wins wholesale and nothing crashes", "[object]") {
  TestObject base = make();
  REQUIRE(base.put(sibling("text", 10), VClock{}, "a", kMult).has_value());
  TestObject counter = base, reg = base;
  REQUIRE(counter.retype(Datatype::counter, HlcTimestamp{20, 0}, initial(Datatype::counter)).has_value());
  REQUIRE(reg.retype(Datatype::register_, HlcTimestamp{15, 0}, initial(Datatype::register_)).has_value());
  for (const auto& x : {base, reg}) {
    CHECK(merged(x, counter, kMult) == counter);
    CHECK(merged(counter, x, kMult) == counter);
  }
  // Concurrent creates of different types (no retype): the datatype number decides.
  TestObject plain = make(), mv = make(Datatype::mv_register);
  CHECK(merged(plain, mv, kMult).datatype() == Datatype::mv_register);
  CHECK(merged(mv, plain, kMult).datatype() == Datatype::mv_register);
  CHECK(plain.put(sibling("x", 1), VClock{}, "a", kMult).has_value());
  CHECK(counter.put(sibling("x", 1), VClock{}, "a", kMult).error().code == Errc::precondition_failed);
}

TEST_CASE("object: limits are enforced on writes and on decode", "[object]") {
  ObjectLimits limits;
  limits.value_bytes_max = 8;
  limits.siblings_max = 2;
  limits.metadata_entries_max = 1;
  TestObject o = make();
  CHECK(o.put(sibling("123456789", 1), VClock{}, "a", kMult, std::nullopt, limits).error().code == Errc::too_large);
  Sibling meta = sibling("v", 1);
  meta.user_metadata = {{"a", "1"}, {"b", "2"}};
  CHECK(o.put(meta, VClock{}, "a", kMult, std::nullopt, limits).error().code == Errc::too_large);
  meta.user_metadata = {{"b", "1"}, {"a", "2"}};
  CHECK(o.put(meta, VClock{}, "a", kMult).error().code == Errc::invalid_argument);
  REQUIRE(o.put(sibling("1", 1), VClock{}, "a", kMult, std::nullopt, limits).has_value());
  REQUIRE(o.put(sibling("2", 2), VClock{}, "a", kMult, std::nullopt, limits).has_value());
  CHECK(o.put(sibling("3", 3), VClock{}, "a", kMult, std::nullopt, limits).error().code == Errc::too_large);
  CHECK(TestObject::make(ObjectKey{"t", "b", std::string(64 * 1024 + 1, 'k')}, Datatype::plain).error().code ==
        Errc::too_large);
  CHECK(TestObject::make(ObjectKey{std::string(256, 't'), "b", "k"}, Datatype::plain).error().code ==
        Errc::too_large);
  CHECK(TestObject::make(kKey, Datatype::counter).error().code == Errc::invalid_argument);
  CHECK(TestObject::make(kKey, Datatype::counter, TestCrdt{MvRegister{}}).error().code == Errc::invalid_argument);
  // A stored value over a smaller configured limit is refused on decode.
  REQUIRE(o.put(sibling("1234", 4), o.context(), "a", kMult).has_value());
  auto bytes = encode_to_bytes(o);
  auto handle = codec::unpack(bytes);
  REQUIRE(handle.has_value());
  ObjectLimits tiny;
  tiny.value_bytes_max = 3;
  CHECK(TestObject::decode(handle.value().get(), tiny).error().code == Errc::too_large);
  CHECK(TestObject::decode(handle.value().get()).value() == o);
}

namespace {

// One random history over 3 replicas of one key; returns the states reached.
struct History {
  std::vector<TestObject> replicas;
  std::vector<TestObject> pool;
};

History random_history(std::mt19937_64& rng, const MergePolicy& policy, int mode) {
  // mode 0: plain; 1: counter; 2: register; 3: mv register; 4: `any` (mixed)
  static const Datatype kModes[] = {Datatype::plain, Datatype::counter, Datatype::register_, Datatype::mv_register};
  Datatype fixed = mode < 4 ? kModes[mode] : Datatype::plain;
  History h;
  std::vector<HlcClock> clocks(3);
  std::vector<std::int64_t> physical{1'000, 1'000, 1'000};
  for (int r = 0; r < 3; ++r) h.replicas.push_back(make(mode == 4 && rng() % 2 ? kModes[rng() % 4] : fixed));
  int steps = 3 + static_cast<int>(rng() % 20);
  for (int step = 0; step < steps; ++step) {
    auto r = rng() % 3;
    auto& o = h.replicas[r];
    physical[r] += static_cast<std::int64_t>(rng() % 50) - 10;
    auto hlc = clocks[r].now(physical[r]);
    Actor actor = "r" + std::to_string(r);
    auto roll = rng() % 10;
    if (roll < 3) {
      auto from = rng() % 3;
      o.merge(h.replicas[from], policy);
      (void)clocks[r].update(h.replicas[from].modified(), physical[r]);
    } else {
      Datatype target = mode == 4 ? kModes[rng() % 4] : fixed;
      if (o.datatype() != target) REQUIRE(o.retype(target, hlc, initial(target)).has_value());
      VClock context = rng() % 3 ? h.replicas[rng() % 3].context() : VClock{};
      std::optional<HlcTimestamp> expiry;
      if (rng() % 3 == 0) expiry = HlcTimestamp{hlc.physical_us + static_cast<std::int64_t>(rng() % 100), 0};
      bool remove = rng() % 5 == 0;
      if (target == Datatype::plain) {
        if (remove) {
          REQUIRE(o.remove(context, actor, hlc, policy, ObjectLimits{.siblings_max = 1000}).has_value());
        } else {
          Sibling s;
          s.value = std::string(1, static_cast<char>('a' + rng() % 4));
          s.last_modified = hlc;
          if (rng() % 2) s.user_metadata = {{"k", std::to_string(rng() % 2)}};
          REQUIRE(o.put(s, context, actor, policy, expiry, ObjectLimits{.siblings_max = 1000}).has_value());
        }
      } else if (remove) {
        o.remove_crdt(context, hlc);
      } else {
        auto& state = o.crdt().state;
        std::string v(1, static_cast<char>('a' + rng() % 4));
        if (auto* c = std::get_if<PnCounter>(&state)) {
          REQUIRE(c->apply(PnCounter::Op::increment(static_cast<std::int64_t>(rng() % 7) - 3), actor).has_value());
        } else if (auto* l = std::get_if<LwwRegister>(&state)) {
          REQUIRE(l->apply(LwwRegister::Op{v, hlc}, actor).has_value());
        } else {
          REQUIRE(std::get<MvRegister>(state).apply(MvRegister::Op{v}, actor).has_value());
        }
        o.record_write(hlc, expiry);
      }
    }
    if (rng() % 2) h.pool.push_back(o);
  }
  for (const auto& o : h.replicas) h.pool.push_back(o);
  return h;
}

// The harness's decoder check wants value().
struct Wrapped {  // check_decoder_robustness wants value()
  TestObject object;
  int value() const { return 0; }
  friend bool operator==(const Wrapped&, const Wrapped&) = default;
  void encode(Packer& packer) const { object.encode(packer); }
  static Result<Wrapped> decode(const msgpack::object& o) {
    SHOAL_TRY(object, TestObject::decode(o));
    return Wrapped{std::move(object)};
  }
};

}  // namespace

TEST_CASE("object merge is a join with canonical bytes on random histories", "[object][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 1500; ++round) {
    MergePolicy policy = rng() % 2 ? kMult : kLww;
    int mode = std::min(4, static_cast<int>(rng() % 7));
    INFO("round " << round << " mode " << mode << " single " << policy.single());
    History h = random_history(rng, policy, mode);
    const auto& pool = h.pool;
    for (int i = 0; i < 15; ++i) {
      const auto& a = pool[rng() % pool.size()];
      const auto& b = pool[rng() % pool.size()];
      const auto& c = pool[rng() % pool.size()];
      TestObject ab = merged(a, b, policy), ba = merged(b, a, policy);
      REQUIRE(ab == ba);
      REQUIRE(encode_to_bytes(ab) == encode_to_bytes(ba));
      TestObject ab_c = merged(ab, c, policy), a_bc = merged(a, merged(b, c, policy), policy);
      REQUIRE(ab_c == a_bc);
      REQUIRE(encode_to_bytes(ab_c) == encode_to_bytes(a_bc));
      REQUIRE(merged(ab, ab, policy) == ab);
      if (policy.single() && ab.datatype() == Datatype::plain) REQUIRE(ab.siblings().size() <= 1);
    }
    // Full exchange in two orders: identical bytes, identical expiry verdicts.
    TestObject forward = h.replicas[0], backward = h.replicas[2];
    for (int r = 1; r < 3; ++r) forward.merge(h.replicas[static_cast<std::size_t>(r)], policy);
    for (int r = 1; r >= 0; --r) backward.merge(h.replicas[static_cast<std::size_t>(r)], policy);
    REQUIRE(encode_to_bytes(forward) == encode_to_bytes(backward));
    auto decoded = decode_from_bytes<TestObject>(encode_to_bytes(forward));
    REQUIRE(decoded.has_value());
    REQUIRE(decoded.value() == forward);
    // Mutated encodings: an error or a value that re-encodes canonically.
    std::vector<std::string> encodings;
    for (const auto& o : pool) encodings.push_back(encode_to_bytes(o));
    std::string failure = testing::check_decoder_robustness<Wrapped>(encodings, rng, 30);
    INFO(failure);
    REQUIRE(failure.empty());
  }
}

TEST_CASE("object decoder: every truncation of a valid encoding is an error", "[object]") {
  TestObject o = make();
  Sibling s = sibling("value", 7);
  s.user_metadata = {{"a", "b"}};
  REQUIRE(o.put(s, VClock{}, "a", kMult, HlcTimestamp{99, 0}).has_value());
  auto bytes = encode_to_bytes(o);
  for (std::size_t n = 0; n < bytes.size(); ++n) CHECK(decode_from_bytes<TestObject>(bytes.substr(0, n)).has_error());
  TestObject c = make(Datatype::mv_register);
  REQUIRE(std::get<MvRegister>(c.crdt().state).apply({"x"}, "a").has_value());
  bytes = encode_to_bytes(c);
  for (std::size_t n = 0; n < bytes.size(); ++n) CHECK(decode_from_bytes<TestObject>(bytes.substr(0, n)).has_error());
  CHECK(decode_from_bytes<TestObject>(bytes).value() == c);
}
