#include "crdt/hll.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tests/crdt/harness.hpp"

using namespace shoal;
using namespace shoal::crdt;

namespace {
// Small enough that a random case crosses from the sparse to the dense
// encoding (more than 8 of 64 registers set).
constexpr unsigned kModelPrecision = 6;
}  // namespace

namespace shoal::crdt::testing {

// The spec without resets (reset is reset-wins and tested by hand below):
// the sketch of every element ever added, whoever added it.
template <>
struct Model<Hll> {
  static constexpr bool allows_reset = false;

  static Hll make_replica() { return Hll::with_precision(kModelPrecision).value(); }

  static Hll::Op random_op(const Hll&, std::mt19937_64& rng) { return Hll::Op::add("e" + std::to_string(rng() % 40)); }

  static std::string describe(const Hll::Op& op) { return "add " + op.element; }

  template <typename Events>
  static std::uint64_t expected(const Events& events) {
    Hll all = make_replica();
    for (const auto& e : events) REQUIRE(all.add(e.op->element, "model").has_value());
    return all.value();
  }
};

}  // namespace shoal::crdt::testing

namespace {

// Seeds that once failed; they run on every test run.
const std::vector<testing::RegressionSeed> kHllRegressionSeeds = {};

// Adds "prefix<i>" for i in [from, to); false if any add failed.
bool add_range(Hll& hll, const std::string& prefix, std::uint64_t from, std::uint64_t to, const Actor& actor) {
  bool all = true;
  for (std::uint64_t i = from; i < to; ++i) all = hll.add(prefix + std::to_string(i), actor).has_value() && all;
  return all;
}

double relative_error(std::uint64_t estimate, std::uint64_t truth) {
  return std::abs(static_cast<double>(estimate) - static_cast<double>(truth)) / static_cast<double>(truth);
}

}  // namespace

TEST_CASE("hll estimates within 2% at precision 14", "[hll]") {
  Hll hll;
  REQUIRE(hll.precision() == 14);
  std::uint64_t added = 0;
  for (std::uint64_t target : {1'000u, 100'000u, 1'000'000u}) {
    REQUIRE(add_range(hll, "element-", added, target, "a"));
    added = target;
    INFO("distinct " << target << " estimate " << hll.value());
    CHECK(relative_error(hll.value(), target) < 0.02);
    if (std::getenv("SHOAL_HLL_PRINT") != nullptr)
      std::printf("p14: %llu distinct -> %llu\n", static_cast<unsigned long long>(target),
                  static_cast<unsigned long long>(hll.value()));
  }
  // Adding the same elements again changes nothing.
  Hll again = hll;
  REQUIRE(add_range(again, "element-", 0, 1000, "b"));
  CHECK(again.registers() == hll.registers());
}

TEST_CASE("hll small and middle ranges stay close", "[hll]") {
  Hll hll;
  std::uint64_t added = 0;
  for (std::uint64_t target : {10u, 100u, 10'000u, 30'000u, 50'000u}) {
    REQUIRE(add_range(hll, "x", added, target, "a"));
    added = target;
    INFO("distinct " << target << " estimate " << hll.value());
    CHECK(relative_error(hll.value(), target) < 0.03);
  }
  CHECK(Hll().value() == 0);
}

TEST_CASE("hll precision is bounded", "[hll]") {
  CHECK(Hll::with_precision(3).error().code == Errc::invalid_argument);
  CHECK(Hll::with_precision(17).error().code == Errc::invalid_argument);
  CHECK(Hll::with_precision(4).has_value());
  CHECK(Hll::with_precision(16).value().registers().size() == 65536);
  Hll hll;
  auto big = hll.apply(Hll::Op::add(std::string(kHllElementBytesMax + 1, 'x')), "a");
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().code == Errc::too_large);
}

TEST_CASE("hll merge of different precisions folds to the coarser one exactly", "[hll]") {
  Hll fine = Hll::with_precision(14).value();
  Hll coarse = Hll::with_precision(10).value();
  Hll direct = Hll::with_precision(10).value();
  for (int i = 0; i < 20000; ++i) {
    std::string element = "k" + std::to_string(i);
    REQUIRE(direct.add(element, "d").has_value());
    REQUIRE((i % 3 == 0 ? coarse : fine).add(element, "a").has_value());
  }
  Hll fine_into_coarse = coarse;
  fine_into_coarse.merge(fine);
  Hll coarse_into_fine = fine;
  coarse_into_fine.merge(coarse);
  CHECK(fine_into_coarse.precision() == 10);
  CHECK(coarse_into_fine == fine_into_coarse);
  CHECK(fine_into_coarse.registers() == direct.registers());
  CHECK(relative_error(fine_into_coarse.value(), 20000) < 0.1);
}

TEST_CASE("hll reset wins over concurrent adds; adds after it count", "[hll]") {
  Hll a, b;
  REQUIRE(add_range(a, "old", 0, 100, "a"));
  b.merge(a);
  Hll resetter = b;
  resetter.reset(resetter.context());
  CHECK(resetter.value() == 0);
  CHECK(resetter.context().descends(a.context()));
  REQUIRE(a.add("concurrent", "a").has_value());  // a did not see the reset
  REQUIRE(resetter.add("after", "b").has_value());
  a.merge(resetter);
  resetter.merge(a);
  CHECK(a == resetter);
  CHECK(a.value() == 1);  // only "after": the reset discarded "concurrent" too
}

TEST_CASE("hll decoder rejects non-canonical register encodings", "[hll]") {
  Hll hll = Hll::with_precision(4).value();
  REQUIRE(hll.add("one", "a").has_value());
  auto round = decode_from_bytes<Hll>(encode_to_bytes(hll));
  REQUIRE(round.has_value());
  CHECK(round.value() == hll);

  // One register set, sent dense: must be sparse.
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::hll), 1, 4);
  packer.pack_uint8(4);
  packer.pack_uint64(0);
  hll.context().encode_body(packer);
  codec::pack_bytes(packer, std::string_view(reinterpret_cast<const char*>(hll.registers().data()), 16));
  auto dense = decode_from_bytes<Hll>(std::string_view(buffer.data(), buffer.size()));
  REQUIRE_FALSE(dense.has_value());
  CHECK(dense.error().code == Errc::malformed);
}

TEST_CASE("hll satisfies the CRDT properties on random histories", "[hll][property]") {
  testing::run_properties<Hll>(2000, "hll", kHllRegressionSeeds);
}

TEST_CASE("hll sketch merge op: the union of another sketch, as a delta replicas merge", "[hll]") {
  Hll a, b, both;
  for (int i = 0; i < 3000; ++i) {
    REQUIRE(a.add("a" + std::to_string(i), "x").has_value());
    REQUIRE(b.add("b" + std::to_string(i), "y").has_value());
    REQUIRE(both.add("a" + std::to_string(i), "z").has_value());
    REQUIRE(both.add("b" + std::to_string(i), "z").has_value());
  }
  Hll replica = a;
  auto delta = a.apply(Hll::Op::merge_sketch(b), "x");
  REQUIRE(delta.has_value());
  CHECK(a.registers() == both.registers());
  CHECK(a.value() == both.value());
  replica.merge(delta.value());  // another replica that merges only the delta ends up equal
  CHECK(replica.registers() == a.registers());
  CHECK(replica.context() == a.context());
  // Bad sketches are refused and change nothing.
  Hll::Op bad = Hll::Op::merge_sketch(b);
  bad.registers.pop_back();
  CHECK(a.apply(bad, "x").error().code == Errc::invalid_argument);
  bad = Hll::Op::merge_sketch(b);
  bad.registers[0] = 200;
  CHECK(a.apply(bad, "x").error().code == Errc::invalid_argument);
  CHECK(a.registers() == both.registers());
}
