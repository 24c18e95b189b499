#include "crdt/vclock.hpp"

#include <catch2/catch.hpp>

#include <random>

#include "crdt/crdt.hpp"

using namespace shoal;
using namespace shoal::crdt;

TEST_CASE("vclock increments, compares and merges", "[vclock]") {
  VClock a;
  CHECK(a.increment("x") == Dot{"x", 1});
  CHECK(a.increment("x") == Dot{"x", 2});
  VClock b;
  b.increment("y");
  CHECK(a.concurrent(b));
  VClock c = a;
  c.merge(b);
  CHECK(c.descends(a));
  CHECK(c.descends(b));
  CHECK(c.dominates(a));
  CHECK_FALSE(a.descends(c));
  CHECK(c.get("x") == 2);
  CHECK(c.get("y") == 1);
  CHECK(c.contains(Dot{"x", 2}));
  CHECK_FALSE(c.contains(Dot{"x", 3}));
  CHECK(VClock::intersection(a, c) == a);
  CHECK(VClock::intersection(a, b).empty());
  c.raise("x", 1);
  CHECK(c.get("x") == 2);
  c.raise("a", 5);
  CHECK(c.entries().front().first == "a");
}

TEST_CASE("vclock merge laws and canonical encoding on random clocks", "[vclock][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto random_clock = [&] {
    VClock c;
    int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) c.raise(std::string(1, static_cast<char>('a' + rng() % 6)), 1 + rng() % 4);
    return c;
  };
  for (int i = 0; i < 2000; ++i) {
    VClock a = random_clock(), b = random_clock(), c = random_clock();
    VClock ab = a, ba = b;
    ab.merge(b);
    ba.merge(a);
    REQUIRE(ab == ba);
    VClock ab_c = ab, a_bc = a, bc = b;
    ab_c.merge(c);
    bc.merge(c);
    a_bc.merge(bc);
    REQUIRE(ab_c == a_bc);
    VClock aa = a;
    aa.merge(a);
    REQUIRE(aa == a);
    REQUIRE(encode_to_bytes(ab) == encode_to_bytes(ba));
    auto decoded = decode_from_bytes<VClock>(encode_to_bytes(a));
    REQUIRE(decoded.has_value());
    REQUIRE(decoded.value() == a);
  }
}

TEST_CASE("vclock decoder refuses malformed and non-canonical bytes", "[vclock]") {
  VClock a;
  a.increment("b");
  a.increment("a");
  auto bytes = encode_to_bytes(a);
  for (std::size_t n = 0; n < bytes.size(); ++n) CHECK(decode_from_bytes<VClock>(bytes.substr(0, n)).has_error());
  // Hand-built clock with actors out of order.
  msgpack::sbuffer buf;
  Packer pk(buf);
  codec::pack_header(pk, static_cast<std::uint8_t>(TypeTag::vclock), 1, 1);
  pk.pack_array(4);
  codec::pack_bytes(pk, "b");
  pk.pack_uint64(1);
  codec::pack_bytes(pk, "a");
  pk.pack_uint64(1);
  auto r = decode_from_bytes<VClock>(std::string_view(buf.data(), buf.size()));
  REQUIRE(r.has_error());
  CHECK(r.error().code == Errc::malformed);
}
