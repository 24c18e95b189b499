// PnCounter: a counter that goes up and down and survives observed resets.
// Owned by crdt/; values are thread-compatible.
//
// Design: riak_dt_emcntr ("embedded counter") and the causal counter of
// Almeida et al. 2018. One entry per actor {dot, increments P, decrements N}
// plus a DotContext. P and N are cumulative for that actor since its replica
// last saw its entry reset; each op replaces the entry under a fresh dot.
// Concurrency:
// - merge: an entry on both sides -> the greater dot (the actor's later
//   state); on one side only -> kept iff the other side has not seen its dot
//   (if it has, the other side reset it).
// - reset(ctx) removes the contribution of every actor whose latest op ctx
//   observed. An actor that counted concurrently with the reset keeps its
//   whole entry (update wins, as riak_dt_map does for embedded counters); an
//   actor whose replica has seen the reset starts again from zero.
// - value() = sum P - sum N, saturated to the int64 range (concurrent
//   increments can push the total past it although every single op was
//   checked); `checked_value()` reports that case as Errc::too_large.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "crdt/crdt.hpp"
#include "crdt/dot_context.hpp"

namespace shoal::crdt {

inline constexpr std::size_t kCounterEntriesMax = kClockEntriesMax;

class PnCounter {
 public:
  struct Op {
    std::int64_t delta = 0;  // negative: a decrement
    static Op increment(std::int64_t delta) { return Op{delta}; }
    static Op decrement(std::int64_t amount) { return Op{-amount}; }
  };
  using Value = std::int64_t;
  static constexpr TypeTag kTypeTag = TypeTag::pn_counter;

  struct Entry {
    std::uint64_t counter = 0;     // the entry's dot is (actor, counter)
    std::uint64_t increments = 0;  // P
    std::uint64_t decrements = 0;  // N
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  PnCounter() = default;

  // Adds op.delta under a fresh dot of `actor`. Errc::too_large when the
  // actor's cumulative P or N or this replica's value would leave its range;
  // the replica is unchanged then.
  Result<PnCounter> apply(const Op& op, const Actor& actor);
  void merge(const PnCounter& other);
  Value value() const;
  Result<Value> checked_value() const;
  void reset(const VClock& context);
  VClock context() const { return context_.clock(); }

  const std::map<Actor, Entry>& entries() const { return entries_; }

  friend bool operator==(const PnCounter&, const PnCounter&) = default;

  void encode(Packer& packer) const;
  static Result<PnCounter> decode(const msgpack::object& object);

 private:
  std::map<Actor, Entry> entries_;
  DotContext context_;
};

}  // namespace shoal::crdt
