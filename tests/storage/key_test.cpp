#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "storage/key.hpp"

using namespace shoal::storage;

namespace {
std::string random_bytes(std::mt19937_64& rng, std::size_t size_max) {
  // Small alphabet with NUL and 0xFF so escapes and prefixes are exercised.
  static const char alphabet[] = {'\0', '\x01', 'a', 'b', '\xff'};
  std::string out(rng() % (size_max + 1), 'a');
  for (char& c : out) c = alphabet[rng() % sizeof(alphabet)];
  return out;
}
}  // namespace

TEST_CASE("storage keys round-trip and sort by type, then bucket, then key", "[storage][key]") {
  std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  using Triple = std::tuple<std::string, std::string, std::string>;
  std::vector<Triple> triples;
  for (int i = 0; i < 2000; ++i) triples.emplace_back(random_bytes(rng, 4), random_bytes(rng, 4), random_bytes(rng, 6));
  for (const auto& [t, b, k] : triples) {
    auto decoded = decode_storage_key(encode_storage_key(t, b, k));
    REQUIRE(decoded);
    CHECK(decoded.value() == StorageKeyParts{t, b, k});
    CHECK(encode_storage_key(t, b, k).starts_with(bucket_prefix(t, b)));
    CHECK(bucket_prefix(t, b).starts_with(bucket_type_prefix(t)));
  }
  for (int i = 0; i + 1 < static_cast<int>(triples.size()); ++i) {
    const Triple& x = triples[i];
    const Triple& y = triples[i + 1];
    std::string ex = encode_storage_key(std::get<0>(x), std::get<1>(x), std::get<2>(x));
    std::string ey = encode_storage_key(std::get<0>(y), std::get<1>(y), std::get<2>(y));
    INFO("pair " << i);
    CHECK((x < y) == (ex < ey));
    CHECK((x == y) == (ex == ey));
    // A key of another bucket never carries this bucket's prefix.
    if (std::get<0>(x) != std::get<0>(y) || std::get<1>(x) != std::get<1>(y))
      CHECK_FALSE(ey.starts_with(bucket_prefix(std::get<0>(x), std::get<1>(x))));
  }
}

TEST_CASE("malformed storage keys are rejected", "[storage][key]") {
  CHECK(decode_storage_key("").error().code == shoal::Errc::malformed);
  CHECK(decode_storage_key("x").error().code == shoal::Errc::malformed);
  CHECK(decode_storage_key(std::string(1, kObjectKeyTag) + "abc").error().code == shoal::Errc::malformed);
  CHECK(decode_storage_key(std::string(1, kObjectKeyTag) + std::string("a\0\x05", 3)).error().code ==
        shoal::Errc::malformed);
}

TEST_CASE("prefix_end bounds a prefix range", "[storage][key]") {
  CHECK(prefix_end("ab") == "ac");
  CHECK(prefix_end(std::string("a\xff", 2)) == "b");
  CHECK(prefix_end(std::string("\xff\xff", 2)).empty());
  std::string p = bucket_prefix("t", "b");
  CHECK(encode_storage_key("t", "b", std::string(100, '\xff')) < prefix_end(p));
  CHECK(encode_storage_key("t", "b\x01", "") >= prefix_end(p));
}
