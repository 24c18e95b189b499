// Vector clocks and dots: the causality vocabulary of every type in crdt/.
//
// An `Actor` is an opaque byte string chosen by the caller (a vnode id plus
// its incarnation, see DESIGN.md). A `Dot` names one event: the n-th event of
// an actor. A `VClock` maps actors to the count of their events seen and
// summarises a contiguous causal past. Entries are kept sorted by actor so
// that equal clocks are equal values with identical encodings.
// Values: thread-compatible.
#pragma once

#include <msgpack.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace shoal::crdt {

using Actor = std::string;

struct Dot {
  Actor actor;
  std::uint64_t counter = 0;  // >= 1 for a real event
  friend bool operator==(const Dot&, const Dot&) = default;
  friend auto operator<=>(const Dot&, const Dot&) = default;

  void encode(msgpack::packer<msgpack::sbuffer>& packer) const;
  static Result<Dot> decode(const msgpack::object& object);
};

// Limits that bound a decoded clock (a peer cannot make us allocate more).
inline constexpr std::size_t kActorBytesMax = 1024;
inline constexpr std::size_t kClockEntriesMax = 65536;

class VClock {
 public:
  using Entry = std::pair<Actor, std::uint64_t>;

  VClock() = default;

  std::uint64_t get(std::string_view actor) const;
  // Advances `actor` by one and returns the new event's dot.
  Dot increment(const Actor& actor);
  // Raises `actor` to at least `counter`.
  void raise(const Actor& actor, std::uint64_t counter);
  bool contains(const Dot& dot) const { return dot.counter <= get(dot.actor); }

  // Pointwise maximum.
  void merge(const VClock& other);
  // Pointwise minimum (actors missing on one side drop out).
  static VClock intersection(const VClock& a, const VClock& b);

  // this >= other pointwise: every event `other` saw, this saw too.
  bool descends(const VClock& other) const;
  // descends and differs.
  bool dominates(const VClock& other) const { return descends(other) && *this != other; }
  bool concurrent(const VClock& other) const { return !descends(other) && !other.descends(*this); }

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

  friend bool operator==(const VClock&, const VClock&) = default;

  void encode(msgpack::packer<msgpack::sbuffer>& packer) const;
  static Result<VClock> decode(const msgpack::object& object);

  // Body without the type header, for embedding in other encodings.
  void encode_body(msgpack::packer<msgpack::sbuffer>& packer) const;
  static Result<VClock> decode_body(const msgpack::object& object);

 private:
  std::vector<Entry> entries_;  // sorted by actor, counters >= 1
};

}  // namespace shoal::crdt
