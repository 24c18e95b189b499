// AnyCrdt: one value of any Shoal CRDT, chosen at run time by its type tag,
// with the type-erased op (AnyOp) and value (AnyValue) that go with it. The
// stored object (crdt/object.hpp) and the map's fields hold CRDTs this way.
// Owned by crdt/; values are thread-compatible.
//
// The encoding of an AnyCrdt is exactly the encoding of the value it holds
// ([type_tag, version, ...]); decode dispatches on that tag. The map is held
// through a box so that the map can in turn hold AnyCrdt fields.
#pragma once

#include <compare>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "crdt/crdt.hpp"
#include "crdt/flag.hpp"
#include "crdt/hll.hpp"
#include "crdt/lww_register.hpp"
#include "crdt/mv_register.hpp"
#include "crdt/orswot.hpp"
#include "crdt/pn_counter.hpp"

namespace shoal::crdt {

class Map;  // crdt/map.hpp

// A map field is named by its bytes and the type of its value, as in
// riak_dt_map: "x" as a counter and "x" as a set are different fields.
struct FieldKey {
  std::string name;
  TypeTag type = TypeTag::pn_counter;
  friend bool operator==(const FieldKey&, const FieldKey&) = default;
  friend auto operator<=>(const FieldKey&, const FieldKey&) = default;
};

struct MapFieldOp;
// One map op: field operations applied in order, atomically (all or none).
struct MapOp {
  std::vector<MapFieldOp> fields;
};

using AnyOp = std::variant<PnCounter::Op, Orswot::Op, LwwRegister::Op, MvRegister::Op, EnableWinsFlag::Op, MapOp,
                           Hll::Op>;

// The type tag of the CRDT an op applies to.
TypeTag op_type_tag(const AnyOp& op);

struct MapFieldOp {
  enum class Kind : std::uint8_t { update, remove };
  Kind kind = Kind::update;
  FieldKey field;
  AnyOp op;                       // update only
  std::optional<VClock> context;  // remove only; the map's context() the client read

  static MapFieldOp update(std::string name, AnyOp op);
  static MapFieldOp remove(std::string name, TypeTag type, std::optional<VClock> context = std::nullopt);
};

struct AnyValue;
// A map's value: present fields in key order.
struct MapValue {
  // Defined below AnyValue: the vector's members need it complete.
  MapValue();
  MapValue(const MapValue& other);
  MapValue(MapValue&& other) noexcept;
  MapValue& operator=(const MapValue& other);
  MapValue& operator=(MapValue&& other) noexcept;
  ~MapValue();

  std::vector<std::pair<FieldKey, AnyValue>> fields;
  const AnyValue* find(std::string_view name, TypeTag type) const;
  friend bool operator==(const MapValue&, const MapValue&);
};

struct AnyValue {
  std::variant<PnCounter::Value, Orswot::Value, LwwRegister::Value, MvRegister::Value, EnableWinsFlag::Value,
               MapValue, Hll::Value>
      value;
  friend bool operator==(const AnyValue&, const AnyValue&) = default;
};

inline MapValue::MapValue() = default;
inline MapValue::MapValue(const MapValue& other) = default;
inline MapValue::MapValue(MapValue&& other) noexcept = default;
inline MapValue& MapValue::operator=(const MapValue& other) = default;
inline MapValue& MapValue::operator=(MapValue&& other) noexcept = default;
inline MapValue::~MapValue() = default;

// Owns a Map on the heap with value semantics (deep copy).
class MapBox {
 public:
  explicit MapBox(Map map);
  MapBox(const MapBox& other);
  MapBox(MapBox&& other) noexcept;
  MapBox& operator=(const MapBox& other);
  MapBox& operator=(MapBox&& other) noexcept;
  ~MapBox();

  Map& get() { return *map_; }
  const Map& get() const { return *map_; }
  friend bool operator==(const MapBox& a, const MapBox& b);

 private:
  std::unique_ptr<Map> map_;  // never null
};

class AnyCrdt {
 public:
  using Variant = std::variant<PnCounter, Orswot, LwwRegister, MvRegister, EnableWinsFlag, MapBox, Hll>;

  AnyCrdt(PnCounter value) : value_(std::move(value)) {}
  AnyCrdt(Orswot value) : value_(std::move(value)) {}
  AnyCrdt(LwwRegister value) : value_(std::move(value)) {}
  AnyCrdt(MvRegister value) : value_(std::move(value)) {}
  AnyCrdt(EnableWinsFlag value) : value_(std::move(value)) {}
  AnyCrdt(Hll value) : value_(std::move(value)) {}
  AnyCrdt(Map value);

  // The empty value of a CRDT type; invalid_argument for a tag that is not
  // one of the seven CRDTs.
  static Result<AnyCrdt> make_empty(TypeTag type);
  static bool is_crdt_tag(TypeTag type);

  TypeTag type_tag() const;

  // The held value, or nullptr if it is another type.
  template <typename T>
  const T* get_if() const {
    if constexpr (std::is_same_v<T, Map>) {
      const auto* box = std::get_if<MapBox>(&value_);
      return box ? &box->get() : nullptr;
    } else {
      return std::get_if<T>(&value_);
    }
  }
  template <typename T>
  T* get_if() {
    return const_cast<T*>(std::as_const(*this).get_if<T>());
  }

  // Applies `op` (which must be for this type: else invalid_argument) and
  // returns the delta, as T::apply does.
  Result<AnyCrdt> apply(const AnyOp& op, const Actor& actor);
  // Same-type merge. Two different types do not merge: precondition_failed,
  // nothing changed (the stored object decides which side wins).
  Result<void> merge(const AnyCrdt& other);
  AnyValue value() const;
  void reset(const VClock& context);
  VClock context() const;

  friend bool operator==(const AnyCrdt&, const AnyCrdt&) = default;

  void encode(Packer& packer) const;
  static Result<AnyCrdt> decode(const msgpack::object& object);
  // For a map nested `depth` levels deep (bounded by kMapDepthMax).
  static Result<AnyCrdt> decode_at_depth(const msgpack::object& object, std::size_t depth);

  const Variant& variant() const { return value_; }

 private:
  Variant value_;
};

}  // namespace shoal::crdt
