// LwwRegister: a register whose value is the last write, ordered by hybrid
// logical clock. Owned by crdt/; values are thread-compatible.
//
// Follows riak_dt_lwwreg (and Shapiro et al. 2011, LWW-Register), made
// causal as in the delta paper's MVReg (Almeida et al. 2018) so that an
// observed reset works: every write is stored under its dot in a DotFun with
// a DotContext. A write replaces every write its replica has seen; writes
// concurrent with each other are all kept and value() is the greatest by
// (HLC timestamp, actor, value bytes): a total order, so every replica picks
// the same one. Coordinators stamp writes with an HLC that has seen what they
// read, so a causally later write also carries the later timestamp, and this
// is last-writer-wins by timestamp. reset(ctx) removes exactly the writes ctx
// covers; a write concurrent with the reset survives.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "crdt/crdt.hpp"
#include "crdt/dot_context.hpp"
#include "crdt/hlc.hpp"

namespace shoal::crdt {

inline constexpr std::size_t kRegisterValueBytesMax = 16 * 1024 * 1024;
// Concurrent writes kept at once: bounded by the writers that raced.
inline constexpr std::size_t kRegisterEntriesMax = 65536;

namespace detail {

// Join of two dot-keyed maps under their contexts (Almeida et al. 2018, the
// causal join of DotFun): a dot survives if both sides hold it, or one side
// holds it and the other has not seen it. Two different values under one dot
// cannot come from correct replicas; the greater wins so the join still
// commutes.
template <typename V>
void join_dot_fun(std::map<Dot, V>& mine, const DotContext& my_context, const std::map<Dot, V>& theirs,
                  const DotContext& their_context) {
  for (auto it = mine.begin(); it != mine.end();) {
    auto other = theirs.find(it->first);
    if (other == theirs.end()) {
      it = their_context.contains(it->first) ? mine.erase(it) : std::next(it);
    } else {
      if (it->second < other->second) it->second = other->second;
      ++it;
    }
  }
  for (const auto& [dot, value] : theirs)
    if (!mine.contains(dot) && !my_context.contains(dot)) mine.emplace(dot, value);
}

template <typename V>
void reset_dot_fun(std::map<Dot, V>& entries, DotContext& context, const VClock& clock) {
  std::erase_if(entries, [&](const auto& entry) { return clock.contains(entry.first); });
  context.absorb(clock);
}

}  // namespace detail

class LwwRegister {
 public:
  struct Op {
    std::string value;
    HlcTimestamp timestamp;  // assigned by the coordinator
  };
  using Value = std::optional<std::string>;  // nullopt: never written, or reset
  static constexpr TypeTag kTypeTag = TypeTag::lww_register;

  struct Entry {
    HlcTimestamp timestamp;
    std::string value;
    friend bool operator==(const Entry&, const Entry&) = default;
    friend auto operator<=>(const Entry&, const Entry&) = default;
  };

  LwwRegister() = default;

  // Writes op.value under a fresh dot of `actor`, replacing every write this
  // replica holds. Errc::too_large for a value over kRegisterValueBytesMax,
  // Errc::invalid_argument for an empty or oversized actor.
  Result<LwwRegister> apply(const Op& op, const Actor& actor);
  void merge(const LwwRegister& other);
  Value value() const;
  // The winning write: its dot (the actor breaks timestamp ties) and entry.
  std::optional<std::pair<Dot, Entry>> winner() const;
  void reset(const VClock& context);
  VClock context() const { return context_.clock(); }

  const std::map<Dot, Entry>& entries() const { return entries_; }

  friend bool operator==(const LwwRegister&, const LwwRegister&) = default;

  void encode(Packer& packer) const;
  static Result<LwwRegister> decode(const msgpack::object& object);

 private:
  std::map<Dot, Entry> entries_;  // concurrent writes; usually one
  DotContext context_;
};

static_assert(Crdt<LwwRegister>);

}  // namespace shoal::crdt
