#include "crdt/any_crdt.hpp"

#include <catch2/catch.hpp>

#include <random>

#include "crdt/map.hpp"
#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace {

const Actor kA = "node-a";
const Actor kB = "node-b";

const TypeTag kAllTypes[] = {TypeTag::pn_counter, TypeTag::orswot, TypeTag::lww_register, TypeTag::mv_register,
                             TypeTag::flag,       TypeTag::map,    TypeTag::hll};

AnyOp sample_op(TypeTag type, int i) {
  switch (type) {
    case TypeTag::pn_counter: return PnCounter::Op::increment(i + 1);
    case TypeTag::orswot: return Orswot::Op::add("e" + std::to_string(i));
    case TypeTag::lww_register: return LwwRegister::Op{"v" + std::to_string(i), HlcTimestamp{}};
    case TypeTag::mv_register: return MvRegister::Op{"v" + std::to_string(i)};
    case TypeTag::flag: return i % 2 ? EnableWinsFlag::Op::disable : EnableWinsFlag::Op::enable;
    case TypeTag::map: return MapOp{{MapFieldOp::update("f" + std::to_string(i % 2), PnCounter::Op::increment(i))}};
    default: return Hll::Op::add("e" + std::to_string(i));
  }
}

// Two replicas of `type` that saw a few ops each, concurrently.
std::pair<AnyCrdt, AnyCrdt> replicas_of(TypeTag type) {
  AnyCrdt a = AnyCrdt::make_empty(type).value();
  AnyCrdt b = a;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.apply(sample_op(type, i), kA).has_value());
    REQUIRE(b.apply(sample_op(type, i + 3), kB).has_value());
  }
  return {a, b};
}

}  // namespace

TEST_CASE("any crdt makes, applies and merges every CRDT type by tag", "[any_crdt]") {
  for (TypeTag type : kAllTypes) {
    INFO("type " << static_cast<int>(type));
    auto [a, b] = replicas_of(type);
    CHECK(a.type_tag() == type);
    AnyCrdt ab = a, ba = b;
    REQUIRE(ab.merge(b).has_value());
    REQUIRE(ba.merge(a).has_value());
    CHECK(ab == ba);
    CHECK(ab.value() == ba.value());
    CHECK(ab.context().descends(a.context()));
    // The encoding is the held type's own, and decodes by its tag.
    auto bytes = encode_to_bytes(ab);
    auto decoded = decode_from_bytes<AnyCrdt>(bytes);
    REQUIRE(decoded.has_value());
    CHECK(decoded.value() == ab);
    CHECK(decoded.value().type_tag() == type);
    // An observed reset through the wrapper forgets what it saw.
    AnyCrdt reset = ab;
    reset.reset(ab.context());
    if (type != TypeTag::hll) CHECK_FALSE(reset.value() == ab.value());
  }
  CHECK(encode_to_bytes(AnyCrdt(Orswot{})) == encode_to_bytes(Orswot{}));
  CHECK(AnyCrdt(Map{}).get_if<Map>() != nullptr);
  CHECK(AnyCrdt(Map{}).get_if<Orswot>() == nullptr);
}

TEST_CASE("any crdt refuses mismatched types as errors, unchanged", "[any_crdt]") {
  AnyCrdt counter = AnyCrdt::make_empty(TypeTag::pn_counter).value();
  REQUIRE(counter.apply(PnCounter::Op::increment(2), kA).has_value());
  AnyCrdt before = counter;
  auto merged = counter.merge(AnyCrdt(Orswot{}));
  REQUIRE(merged.has_error());
  CHECK(merged.error().code == Errc::precondition_failed);
  CHECK(counter == before);
  auto applied = counter.apply(Orswot::Op::add("x"), kA);
  REQUIRE(applied.has_error());
  CHECK(applied.error().code == Errc::invalid_argument);
  CHECK(counter == before);
  CHECK(AnyCrdt::make_empty(TypeTag::vclock).has_error());
  CHECK(AnyCrdt::make_empty(TypeTag::object).has_error());
}

TEST_CASE("any crdt decoder refuses unknown tags and survives mutated bytes", "[any_crdt]") {
  VClock clock;
  clock.increment(kA);
  CHECK(decode_from_bytes<AnyCrdt>(encode_to_bytes(clock)).has_error());  // a clock is not a CRDT value
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::vector<std::string> encodings;
  for (TypeTag type : kAllTypes) {
    auto [a, b] = replicas_of(type);
    REQUIRE(a.merge(b).has_value());
    encodings.push_back(encode_to_bytes(a));
  }
  CHECK(testing::check_decoder_robustness<AnyCrdt>(encodings, rng, 3000).empty());
}
