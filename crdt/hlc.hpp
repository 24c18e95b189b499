// Hybrid logical clocks: timestamps that follow physical time yet respect
// causality, so last-write-wins and expiry never rest on raw wall clocks.
//
// Kulkarni, Demirbas, Madappa, Avva, Leone, "Logical Physical Clocks and
// Consistent Snapshots in Globally Distributed Databases" (2014). A timestamp
// is {physical_us, logical}: the greatest physical time seen plus a counter
// that orders events within it. `HlcClock` is the pure algorithm (the caller
// passes the physical time, which keeps it testable and replayable); it is
// monotone even when the physical clock jumps back, and refuses a received
// timestamp too far ahead of the local clock, so one node with a broken clock
// cannot drag every clock it talks to into the future. Owned by whoever
// stamps writes (a vnode); values are thread-compatible, a clock is not
// thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "crdt/crdt.hpp"

namespace shoal::crdt {

struct HlcTimestamp {
  std::int64_t physical_us = 0;
  std::uint32_t logical = 0;

  static constexpr TypeTag kTypeTag = TypeTag::hlc;

  // Ordered by physical time, then logical counter. Writers that need a total
  // order across actors break ties by actor id themselves.
  friend auto operator<=>(const HlcTimestamp&, const HlcTimestamp&) = default;
  friend bool operator==(const HlcTimestamp&, const HlcTimestamp&) = default;

  bool is_zero() const { return physical_us == 0 && logical == 0; }
  // The smallest timestamp after this one.
  HlcTimestamp successor() const;
  std::string to_string() const;

  void encode(Packer& packer) const;
  static Result<HlcTimestamp> decode(const msgpack::object& object);
  // Body only ([physical_us, logical]), for embedding.
  void encode_body(Packer& packer) const;
  static Result<HlcTimestamp> decode_body(const msgpack::object& object);
};

using Hlc = HlcTimestamp;

inline constexpr std::int64_t kHlcMaxDriftUsDefault = 60'000'000;

class HlcClock {
 public:
  explicit HlcClock(std::int64_t max_drift_us = kHlcMaxDriftUsDefault)
      : max_drift_us_(max_drift_us < 0 ? 0 : max_drift_us) {}

  // A timestamp for a local event (a write this node coordinates): greater
  // than every timestamp this clock returned or received before.
  HlcTimestamp now(std::int64_t physical_now_us);

  // Merges a timestamp received from another node and returns one for the
  // receive event, greater than both. Errc::invalid_argument (and the clock is
  // unchanged) when `received` is more than max_drift_us ahead of
  // `physical_now_us`.
  Result<HlcTimestamp> update(const HlcTimestamp& received, std::int64_t physical_now_us);

  // The last timestamp issued or received.
  const HlcTimestamp& last() const { return last_; }
  std::int64_t max_drift_us() const { return max_drift_us_; }

 private:
  HlcTimestamp last_;
  std::int64_t max_drift_us_;
};

}  // namespace shoal::crdt
