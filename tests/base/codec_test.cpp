#include "base/codec.hpp"

#include <catch2/catch.hpp>

#include "base/hash.hpp"

using namespace shoal;

namespace {
std::string pack_sample() {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  codec::pack_header(pk, 7, 1, 2);
  pk.pack_uint64(42);
  codec::pack_bytes(pk, "actor");
  return std::string(buf.data(), buf.size());
}
}  // namespace

TEST_CASE("codec reads back a versioned header and its fields", "[codec]") {
  auto bytes = pack_sample();
  auto handle = codec::unpack(bytes);
  REQUIRE(handle.has_value());
  auto fields = codec::expect_header(handle.value().get(), 7, 1, 2, 2, "sample");
  REQUIRE(fields.has_value());
  CHECK(codec::expect_uint(fields.value()[0], "n").value() == 42);
  CHECK(codec::expect_bytes(fields.value()[1], "actor").value() == "actor");
  // Wrong tag, wrong version, wrong types are errors naming the field.
  CHECK(codec::expect_header(handle.value().get(), 8, 1, 2, 2, "sample").error().code == Errc::malformed);
  CHECK(codec::expect_header(handle.value().get(), 7, 2, 2, 2, "sample").error().code == Errc::unsupported_version);
  auto wrong = codec::expect_bytes(fields.value()[0], "actor");
  REQUIRE(wrong.has_error());
  CHECK(wrong.error().message.find("actor") != std::string::npos);
  CHECK(codec::expect_bytes(fields.value()[1], "actor", 3).error().code == Errc::too_large);
}

TEST_CASE("codec rejects truncated, trailing, oversized and deep input", "[codec]") {
  auto bytes = pack_sample();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO(n);
    CHECK(codec::unpack(bytes.substr(0, n)).has_error());
  }
  CHECK(codec::unpack(bytes + "x").error().code == Errc::malformed);
  codec::Limits tiny;
  tiny.bytes_max = 4;
  CHECK(codec::unpack(bytes, tiny).error().code == Errc::too_large);
  // An array header claiming 2^32-1 elements must not allocate them.
  std::string huge("\xdd\xff\xff\xff\xff", 5);
  CHECK(codec::unpack(huge).has_error());
  std::string deep(100, '\x91');
  deep += '\x01';
  CHECK(codec::unpack(deep).error().code == Errc::too_large);
}

TEST_CASE("hashes are stable across builds", "[hash]") {
  // These values are on disk and on the wire: they must never change.
  CHECK(hash64("") == 0x2d06800538d394c2ULL);
  CHECK(hash64("shoal") == hash64(std::string("shoal")));
  CHECK(hash64("a") != hash64("b"));
  Hasher64 h1;
  h1.add("ab");
  h1.add("c");
  Hasher64 h2;
  h2.add("a");
  h2.add("bc");
  CHECK(h1.digest() != h2.digest());
  CHECK(hash128("x") != hash128("y"));
}
