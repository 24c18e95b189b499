// Orswot: the add-wins observed-remove set without tombstones (Bieniusa et
// al. 2012, "An optimized conflict-free replicated set"; riak_dt_orswot), in
// delta-state form (Almeida et al. 2018, AWORSet). Owned by crdt/; values are
// plain data, thread-compatible.
//
// Each present element carries the dots of the adds that put it there; the
// set's DotContext records every dot ever seen. An add gives the element one
// fresh dot and drops the ones it observed. A remove drops the element's
// observed dots. Merge keeps a dot if both sides hold it, or if one side holds
// it and the other has never seen it; a dot seen by one side and absent there
// was removed. So an add concurrent with a remove of the same element
// survives: add wins. A remove whose context mentions dots this replica has
// not seen yet is *deferred* (kept as context -> elements) and applied when
// those dots arrive; absorbing the context instead would wrongly claim other
// elements' unseen dots as removed.
#pragma once

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/crdt.hpp"
#include "crdt/dot_context.hpp"
#include "crdt/vclock.hpp"

namespace shoal::crdt {

// Limits of one set; a peer cannot make a decoder exceed them, and an op that
// would is refused with Errc::too_large.
inline constexpr std::size_t kSetElementsMax = 1 << 20;
inline constexpr std::size_t kSetElementBytesMax = 64 * 1024;
// Pending removes with a context not yet seen. Each holds a clock, so the
// bound keeps a replica cut off from one peer from growing without limit.
inline constexpr std::size_t kSetDeferredMax = 1024;
inline constexpr std::size_t kSetOpElementsMax = 64 * 1024;  // elements named by one op

// Orders clocks by their sorted entries: a total order, for canonical maps.
struct VClockLess {
  bool operator()(const VClock& a, const VClock& b) const { return a.entries() < b.entries(); }
};

class Orswot {
 public:
  static constexpr TypeTag kTypeTag = TypeTag::orswot;
  static constexpr std::uint8_t kVersion = 1;

  struct Op {
    enum class Kind : std::uint8_t { add, remove };
    Kind kind = Kind::add;
    std::vector<std::string> elements;
    // For removes: the context the client read. Without it the remove uses
    // this replica's knowledge and every element must be present.
    std::optional<VClock> context;

    static Op add(std::string element);
    static Op add_all(std::vector<std::string> elements);
    static Op remove(std::string element, std::optional<VClock> context = std::nullopt);
    static Op remove_all(std::vector<std::string> elements, std::optional<VClock> context = std::nullopt);
    friend bool operator==(const Op&, const Op&) = default;
  };
  using Value = std::set<std::string>;
  // Sorted, distinct, never empty in a state. Nearly always one dot (an add
  // replaces the dots it saw), kept inline so a large merge does not
  // allocate per element.
  using Dots = boost::container::small_vector<Dot, 1>;

  Orswot() = default;

  // Mutates this replica and returns the delta. Errors (nothing changed):
  // precondition_failed for a context-free remove of an absent element,
  // too_large / invalid_argument for an op over a limit.
  Result<Orswot> apply(const Op& op, const Actor& actor);
  void merge(const Orswot& other);
  Value value() const;
  bool contains(std::string_view element) const { return entries_.find(element) != entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Observed reset: drops every dot `context` covers (and only those).
  void reset(const VClock& context);
  VClock context() const { return context_.clock(); }

  const DotContext& dot_context() const { return context_; }
  const std::map<std::string, Dots, std::less<>>& entries() const { return entries_; }
  const std::map<VClock, std::set<std::string>, VClockLess>& deferred() const { return deferred_; }

  friend bool operator==(const Orswot&, const Orswot&) = default;

  void encode(Packer& packer) const;
  static Result<Orswot> decode(const msgpack::object& object);

 private:
  Result<void> check_op(const Op& op) const;
  void add_elements(const std::vector<std::string>& elements, const Actor& actor, Orswot& delta);
  void remove_covered(const std::string& element, const VClock& clock, Orswot* delta);
  void apply_deferred();

  std::map<std::string, Dots, std::less<>> entries_;
  DotContext context_;
  std::map<VClock, std::set<std::string>, VClockLess> deferred_;
};

static_assert(Crdt<Orswot>);

}  // namespace shoal::crdt
