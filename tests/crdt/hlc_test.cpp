#include "crdt/hlc.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <random>

using namespace shoal;
using namespace shoal::crdt;

TEST_CASE("hlc follows physical time and counts within a microsecond", "[hlc]") {
  HlcClock clock;
  CHECK(clock.now(100) == HlcTimestamp{100, 0});
  CHECK(clock.now(100) == HlcTimestamp{100, 1});
  CHECK(clock.now(250) == HlcTimestamp{250, 0});
  // The physical clock jumps back 200 us: timestamps keep increasing.
  CHECK(clock.now(50) == HlcTimestamp{250, 1});
  CHECK(clock.now(51) == HlcTimestamp{250, 2});
  CHECK(clock.now(251) == HlcTimestamp{251, 0});
}

TEST_CASE("hlc receive orders the receive after the send", "[hlc]") {
  HlcClock a, b;
  auto sent = a.now(1'000);
  // b's physical clock is behind a's.
  auto received = b.update(sent, 900);
  REQUIRE(received.has_value());
  CHECK(received.value() > sent);
  CHECK(b.now(901) > received.value());
  // Receiving an older timestamp still moves forward.
  auto old = b.update(HlcTimestamp{10, 0}, 905);
  REQUIRE(old.has_value());
  CHECK(old.value() > received.value());
  // Equal physical parts: the logical counter goes past both.
  HlcClock c;
  c.now(2'000);
  c.now(2'000);  // last = 2000.1
  CHECK(c.update(HlcTimestamp{2'000, 7}, 1'500).value() == HlcTimestamp{2'000, 8});
  CHECK(c.update(HlcTimestamp{1'000, 9}, 2'000).value() == HlcTimestamp{2'000, 9});
  CHECK(c.update(HlcTimestamp{1'000, 9}, 3'000).value() == HlcTimestamp{3'000, 0});
}

TEST_CASE("hlc refuses timestamps too far ahead and stays unpoisoned", "[hlc]") {
  HlcClock clock(60'000'000);
  clock.now(1'000'000);
  auto before = clock.last();
  auto r = clock.update(HlcTimestamp{1'000'000 + 60'000'001, 0}, 1'000'000);
  REQUIRE(r.has_error());
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(clock.last() == before);
  CHECK(clock.update(HlcTimestamp{1'000'000 + 60'000'000, 0}, 1'000'000).has_value());
  // Extreme values do not overflow the drift check.
  HlcClock other;
  CHECK(other.update(HlcTimestamp{std::numeric_limits<std::int64_t>::max(), 0}, std::numeric_limits<std::int64_t>::min())
            .has_error());
}

TEST_CASE("hlc logical overflow borrows the next microsecond", "[hlc]") {
  HlcTimestamp t{5, std::numeric_limits<std::uint32_t>::max()};
  CHECK(t.successor() == HlcTimestamp{6, 0});
  CHECK(t.successor() > t);
}

TEST_CASE("hlc is monotone and causal under random clocks and messages", "[hlc][property]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    std::vector<HlcClock> clocks(3, HlcClock(1'000'000));
    std::vector<std::int64_t> physical(3, 10'000'000);
    std::vector<HlcTimestamp> last(3);
    for (int step = 0; step < 200; ++step) {
      auto i = rng() % 3;
      // Physical clocks wander, sometimes jumping back.
      physical[i] += static_cast<std::int64_t>(rng() % 2000) - 700;
      if (rng() % 4 == 0) {
        auto j = rng() % 3;
        auto sent = clocks[j].now(physical[j]);
        REQUIRE(sent > last[j]);
        last[j] = sent;
        auto got = clocks[i].update(sent, physical[i]);
        if (got.has_value()) {
          REQUIRE(got.value() > sent);
          REQUIRE(got.value() > last[i]);
          last[i] = got.value();
        } else {
          REQUIRE(sent.physical_us - physical[i] > 1'000'000);
        }
      } else {
        auto t = clocks[i].now(physical[i]);
        REQUIRE(t > last[i]);
        REQUIRE(t.physical_us >= physical[i]);
        last[i] = t;
      }
    }
  }
}

TEST_CASE("hlc encoding round-trips and rejects malformed bytes", "[hlc]") {
  HlcTimestamp t{-42, 7};
  auto bytes = encode_to_bytes(t);
  auto decoded = decode_from_bytes<HlcTimestamp>(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded.value() == t);
  for (std::size_t n = 0; n < bytes.size(); ++n) CHECK(decode_from_bytes<HlcTimestamp>(bytes.substr(0, n)).has_error());
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::hlc), 1, 1);
  packer.pack_array(2);
  packer.pack_int64(1);
  packer.pack_uint64(1ULL << 33);  // logical out of range
  CHECK(decode_from_bytes<HlcTimestamp>(std::string_view(buffer.data(), buffer.size())).has_error());
}
