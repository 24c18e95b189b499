#include "crdt/dot_context.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace shoal::crdt;

TEST_CASE("dot context keeps out-of-order dots apart until the gap fills", "[dot_context]") {
  DotContext c;
  c.add(Dot{"a", 1});
  c.add(Dot{"a", 3});
  CHECK(c.contains(Dot{"a", 3}));
  CHECK_FALSE(c.contains(Dot{"a", 2}));
  CHECK(c.clock().get("a") == 1);
  c.add(Dot{"a", 2});
  CHECK(c.clock().get("a") == 3);
  CHECK(c.cloud().empty());
  CHECK(c.next("a") == Dot{"a", 4});
  VClock v;
  v.raise("a", 4);
  CHECK(c.descends(v));
  v.raise("b", 1);
  CHECK_FALSE(c.descends(v));
}

TEST_CASE("dot context merge equals adding every dot, in any order", "[dot_context][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 500; ++round) {
    std::vector<Dot> dots;
    for (int i = 0; i < 20; ++i) dots.push_back(Dot{std::string(1, char('a' + rng() % 3)), 1 + rng() % 8});
    DotContext x, y, all;
    for (std::size_t i = 0; i < dots.size(); ++i) {
      (i % 2 ? x : y).add(dots[i]);
      all.add(dots[i]);
    }
    DotContext xy = x, yx = y;
    xy.merge(y);
    yx.merge(x);
    REQUIRE(xy == yx);
    REQUIRE(xy == all);
    for (const auto& d : dots) REQUIRE(all.contains(d));
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    all.encode_body(pk);
    auto handle = msgpack::unpack(buf.data(), buf.size());
    auto decoded = DotContext::decode_body(handle.get());
    REQUIRE(decoded.has_value());
    REQUIRE(decoded.value() == all);
  }
}
