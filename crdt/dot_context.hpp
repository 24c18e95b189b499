// The causal context of a delta-state CRDT: every dot a replica has seen,
// as a vector clock for the contiguous prefix of each actor's events plus a
// "dot cloud" for events seen out of order (a delta can carry dot 7 of an
// actor whose dots 5 and 6 have not arrived yet; claiming them as seen would
// wrongly drop them when they come). Almeida et al. 2018, section 5.
// Values: thread-compatible.
#pragma once

#include <set>

#include "crdt/vclock.hpp"

namespace shoal::crdt {

inline constexpr std::size_t kDotCloudMax = 1 << 20;

class DotContext {
 public:
  DotContext() = default;
  explicit DotContext(VClock clock) : clock_(std::move(clock)) {}

  bool contains(const Dot& dot) const { return clock_.contains(dot) || cloud_.contains(dot); }
  // Records `dot` as seen (compacting into the clock when contiguous).
  void add(const Dot& dot);
  // A fresh dot for `actor`, recorded as seen. Precondition: the actor's own
  // events are contiguous here (it is the replica applying its own op).
  Dot next(const Actor& actor);
  void merge(const DotContext& other);
  // Everything `clock` has seen is now seen here too.
  void absorb(const VClock& clock);

  // The contiguous part: what a client may safely send back as a context.
  const VClock& clock() const { return clock_; }
  const std::set<Dot>& cloud() const { return cloud_; }
  bool descends(const VClock& clock) const;

  friend bool operator==(const DotContext&, const DotContext&) = default;

  // Body only (no type header): embedded in each CRDT's encoding.
  void encode_body(msgpack::packer<msgpack::sbuffer>& packer) const;
  static Result<DotContext> decode_body(const msgpack::object& object);

 private:
  void compact();

  VClock clock_;
  std::set<Dot> cloud_;  // dots not contiguous with clock_; never contains a dot clock_ covers
};

}  // namespace shoal::crdt
