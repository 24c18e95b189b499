#include "crdt/hlc.hpp"

#include <algorithm>
#include <limits>

#include "base/codec.hpp"

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kHlcVersion = 1;
}  // namespace

HlcTimestamp HlcTimestamp::successor() const {
  // A logical counter that would wrap borrows the next microsecond instead:
  // order is kept, physical time runs one microsecond ahead (harmless).
  if (logical == std::numeric_limits<std::uint32_t>::max()) {
    SHOAL_ASSERT(physical_us < std::numeric_limits<std::int64_t>::max(), "hlc physical time overflow");
    return HlcTimestamp{physical_us + 1, 0};
  }
  return HlcTimestamp{physical_us, logical + 1};
}

std::string HlcTimestamp::to_string() const {
  return std::to_string(physical_us) + "." + std::to_string(logical);
}

void HlcTimestamp::encode_body(Packer& packer) const {
  packer.pack_array(2);
  packer.pack_int64(physical_us);
  packer.pack_uint32(logical);
}

Result<HlcTimestamp> HlcTimestamp::decode_body(const msgpack::object& object) {
  SHOAL_TRY(items, codec::expect_array(object, 2, 2, "hlc"));
  SHOAL_TRY(physical, codec::expect_int(items[0], "hlc physical_us"));
  SHOAL_TRY(logical, codec::expect_uint(items[1], "hlc logical", std::numeric_limits<std::uint32_t>::max()));
  return HlcTimestamp{physical, static_cast<std::uint32_t>(logical)};
}

void HlcTimestamp::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kHlcVersion, 1);
  encode_body(packer);
}

Result<HlcTimestamp> HlcTimestamp::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kHlcVersion, 1, 1, "hlc"));
  return decode_body(fields[0]);
}

HlcTimestamp HlcClock::now(std::int64_t physical_now_us) {
  if (physical_now_us > last_.physical_us) {
    last_ = HlcTimestamp{physical_now_us, 0};
  } else {
    last_ = last_.successor();
  }
  return last_;
}

Result<HlcTimestamp> HlcClock::update(const HlcTimestamp& received, std::int64_t physical_now_us) {
  // Compare as differences so extreme values cannot overflow.
  if (received.physical_us > physical_now_us &&
      static_cast<std::uint64_t>(received.physical_us) - static_cast<std::uint64_t>(physical_now_us) >
          static_cast<std::uint64_t>(max_drift_us_))
    return make_error(Errc::invalid_argument,
                      "timestamp " + received.to_string() + " is more than " + std::to_string(max_drift_us_) +
                          " us ahead of the local clock (" + std::to_string(physical_now_us) +
                          " us): check the sender's clock");
  std::int64_t physical = std::max({last_.physical_us, received.physical_us, physical_now_us});
  if (physical == last_.physical_us && physical == received.physical_us) {
    last_ = std::max(last_, received).successor();
  } else if (physical == last_.physical_us) {
    last_ = last_.successor();
  } else if (physical == received.physical_us) {
    last_ = received.successor();
  } else {
    last_ = HlcTimestamp{physical, 0};
  }
  return last_;
}

}  // namespace shoal::crdt
