// Map: a recursive map whose fields are CRDTs (any AnyCrdt type, maps
// included), keyed by (name bytes, type tag) as riak_dt_map is. Owned by
// crdt/; values are thread-compatible.
//
// Semantics follow riak_dt_map v2: update wins over a concurrent remove.
// Presence of a field is tracked by dots, exactly like ORSWOT elements: an
// update gives the field a fresh dot (replacing the ones it saw) and applies
// the nested op with the same actor; a remove drops the presence dots its
// context covers and resets the nested value with what the context observed
// of it, so a concurrent update keeps the field with only its unobserved
// part. A remove whose context has presence dots this replica has not seen
// is deferred (ORSWOT-style) until they arrive.
//
// Nested values keep their own causal context. So that one VClock (what
// context() returns and a client sends back) also describes what was
// observed of every nested value, the map's context holds, besides its own
// presence dots, each field's nested clock under a reserved per-field actor
// prefix (0xFF, type tag, 64-bit hash of the name). A remove or reset reads
// a field's part back out of the context. Actors starting with byte 0xFF are
// therefore reserved and refused by apply(). Fields are dropped when their
// last presence dot goes; the map's context keeps what was seen of them, so
// a field created again continues its nested dot counters and stale copies of
// removed state cannot come back.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "crdt/any_crdt.hpp"
#include "crdt/crdt.hpp"
#include "crdt/dot_context.hpp"
#include "crdt/orswot.hpp"

namespace shoal::crdt {

// Nesting is bounded so that decoding and applying recurse a bounded number
// of times; each map level costs three msgpack levels, and the codec allows
// 32 in total.
inline constexpr std::size_t kMapDepthMax = 6;
inline constexpr std::size_t kMapFieldsMax = 16 * 1024;
inline constexpr std::size_t kMapFieldNameBytesMax = 1024;
inline constexpr std::size_t kMapDeferredMax = 1024;
inline constexpr std::size_t kMapOpFieldsMax = 1024;  // field operations in one op

class Map {
 public:
  static constexpr TypeTag kTypeTag = TypeTag::map;
  static constexpr std::uint8_t kVersion = 1;
  using Op = MapOp;
  using Value = MapValue;
  using Dots = Orswot::Dots;

  struct Field {
    Dots dots;  // presence: sorted, never empty in a state
    AnyCrdt value;
    friend bool operator==(const Field&, const Field&) = default;
  };

  Map() = default;

  // Applies every field operation of `op` in order, all or nothing, and
  // returns the delta. Errors: precondition_failed for a context-free remove
  // of an absent field (or a nested precondition), invalid_argument for an
  // op whose type does not match its field or that nests too deep,
  // too_large for limits.
  Result<Map> apply(const Op& op, const Actor& actor);
  void merge(const Map& other);
  Value value() const;
  // Observed reset of every field.
  void reset(const VClock& context);
  VClock context() const { return context_.clock(); }

  const AnyCrdt* find(std::string_view name, TypeTag type) const;
  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  const std::map<FieldKey, Field>& fields() const { return fields_; }
  const std::map<VClock, std::set<FieldKey>, VClockLess>& deferred() const { return deferred_; }

  // The part of a map context that describes one field's nested value.
  static VClock field_context(const VClock& map_context, const FieldKey& key);

  friend bool operator==(const Map&, const Map&) = default;

  void encode(Packer& packer) const;
  static Result<Map> decode(const msgpack::object& object);
  static Result<Map> decode_at_depth(const msgpack::object& object, std::size_t depth);

 private:
  Result<Map> apply_field(const MapFieldOp& op, const Actor& actor);
  void absorb_nested(const FieldKey& key, const VClock& nested_clock);
  void drop_covered(const FieldKey& key, const VClock& clock, Map* delta);
  void apply_deferred();

  std::map<FieldKey, Field> fields_;
  DotContext context_;
  std::map<VClock, std::set<FieldKey>, VClockLess> deferred_;
};

static_assert(Crdt<Map>);

}  // namespace shoal::crdt
