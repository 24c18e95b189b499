// EnableWinsFlag: a boolean that concurrent enables win over.
// Owned by crdt/; values are thread-compatible.
//
// Design: riak_dt_od_flag and the EWFlag of Almeida et al. 2018. The state is
// a set of dots (one per enable not yet observed by a later disable) plus a
// DotContext. Enable replaces the dots this replica has seen with a fresh one;
// disable removes the dots this replica has seen (its own context: a disable
// removes only what it observed). The flag is enabled iff any dot remains, so
// an enable concurrent with a disable survives it (enable wins). Merge is the
// dot-kernel join: a dot stays iff both sides have it or the side without it
// has not seen it. reset(ctx) drops the dots ctx covers (observed reset).
#pragma once

#include <set>

#include "crdt/crdt.hpp"
#include "crdt/dot_context.hpp"

namespace shoal::crdt {

// Concurrent enables by distinct actors each leave a dot; bounded like a clock.
inline constexpr std::size_t kFlagDotsMax = kClockEntriesMax;

class EnableWinsFlag {
 public:
  enum class Op : std::uint8_t { enable, disable };
  using Value = bool;
  static constexpr TypeTag kTypeTag = TypeTag::flag;

  EnableWinsFlag() = default;

  Result<EnableWinsFlag> apply(Op op, const Actor& actor);
  void merge(const EnableWinsFlag& other);
  Value value() const { return !dots_.empty(); }
  void reset(const VClock& context);
  VClock context() const { return context_.clock(); }

  friend bool operator==(const EnableWinsFlag&, const EnableWinsFlag&) = default;

  void encode(Packer& packer) const;
  static Result<EnableWinsFlag> decode(const msgpack::object& object);

 private:
  std::set<Dot> dots_;  // every dot is in context_
  DotContext context_;
};

}  // namespace shoal::crdt
