#include "crdt/any_crdt.hpp"

#include <type_traits>

#include "base/codec.hpp"
#include "crdt/map.hpp"

namespace shoal::crdt {

namespace {

std::string tag_name(TypeTag tag) {
  switch (tag) {
    case TypeTag::pn_counter: return "counter";
    case TypeTag::orswot: return "set";
    case TypeTag::lww_register: return "lww register";
    case TypeTag::mv_register: return "mv register";
    case TypeTag::flag: return "flag";
    case TypeTag::map: return "map";
    case TypeTag::hll: return "hll";
    default: return "type " + std::to_string(static_cast<int>(tag));
  }
}

template <typename Held>
struct OpOf {
  using type = typename Held::Op;
};
template <>
struct OpOf<MapBox> {
  using type = MapOp;
};
template <typename Held>
using OpFor = typename OpOf<Held>::type;

}  // namespace

TypeTag op_type_tag(const AnyOp& op) {
  return std::visit(
      [](const auto& typed) {
        using O = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<O, PnCounter::Op>) {
          return TypeTag::pn_counter;
        } else if constexpr (std::is_same_v<O, Orswot::Op>) {
          return TypeTag::orswot;
        } else if constexpr (std::is_same_v<O, LwwRegister::Op>) {
          return TypeTag::lww_register;
        } else if constexpr (std::is_same_v<O, MvRegister::Op>) {
          return TypeTag::mv_register;
        } else if constexpr (std::is_same_v<O, EnableWinsFlag::Op>) {
          return TypeTag::flag;
        } else if constexpr (std::is_same_v<O, MapOp>) {
          return TypeTag::map;
        } else {
          static_assert(std::is_same_v<O, Hll::Op>);
          return TypeTag::hll;
        }
      },
      op);
}

MapFieldOp MapFieldOp::update(std::string name, AnyOp op) {
  TypeTag type = op_type_tag(op);
  return MapFieldOp{Kind::update, FieldKey{std::move(name), type}, std::move(op), std::nullopt};
}

MapFieldOp MapFieldOp::remove(std::string name, TypeTag type, std::optional<VClock> context) {
  return MapFieldOp{Kind::remove, FieldKey{std::move(name), type}, PnCounter::Op{}, std::move(context)};
}

const AnyValue* MapValue::find(std::string_view name, TypeTag type) const {
  for (const auto& [key, value] : fields)
    if (key.name == name && key.type == type) return &value;
  return nullptr;
}

bool operator==(const MapValue& a, const MapValue& b) { return a.fields == b.fields; }

MapBox::MapBox(Map map) : map_(std::make_unique<Map>(std::move(map))) {}
MapBox::MapBox(const MapBox& other) : map_(std::make_unique<Map>(*other.map_)) {}
MapBox::MapBox(MapBox&& other) noexcept : map_(std::make_unique<Map>()) { map_.swap(other.map_); }
MapBox& MapBox::operator=(const MapBox& other) {
  if (this != &other) *map_ = *other.map_;
  return *this;
}
MapBox& MapBox::operator=(MapBox&& other) noexcept {
  map_.swap(other.map_);
  return *this;
}
MapBox::~MapBox() = default;
bool operator==(const MapBox& a, const MapBox& b) { return *a.map_ == *b.map_; }

AnyCrdt::AnyCrdt(Map value) : value_(MapBox(std::move(value))) {}

bool AnyCrdt::is_crdt_tag(TypeTag type) {
  switch (type) {
    case TypeTag::pn_counter:
    case TypeTag::orswot:
    case TypeTag::lww_register:
    case TypeTag::mv_register:
    case TypeTag::flag:
    case TypeTag::map:
    case TypeTag::hll:
      return true;
    default:
      return false;
  }
}

Result<AnyCrdt> AnyCrdt::make_empty(TypeTag type) {
  switch (type) {
    case TypeTag::pn_counter: return AnyCrdt(PnCounter{});
    case TypeTag::orswot: return AnyCrdt(Orswot{});
    case TypeTag::lww_register: return AnyCrdt(LwwRegister{});
    case TypeTag::mv_register: return AnyCrdt(MvRegister{});
    case TypeTag::flag: return AnyCrdt(EnableWinsFlag{});
    case TypeTag::map: return AnyCrdt(Map{});
    case TypeTag::hll: return AnyCrdt(Hll{});
    default:
      return make_error(Errc::invalid_argument, "type tag " + std::to_string(static_cast<int>(type)) +
                                                    " is not a CRDT type");
  }
}

TypeTag AnyCrdt::type_tag() const {
  return std::visit(
      [](const auto& held) {
        using H = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<H, MapBox>) {
          return TypeTag::map;
        } else {
          return static_cast<TypeTag>(H::kTypeTag);
        }
      },
      value_);
}

Result<AnyCrdt> AnyCrdt::apply(const AnyOp& op, const Actor& actor) {
  return std::visit(
      [&](auto& held) -> Result<AnyCrdt> {
        using H = std::decay_t<decltype(held)>;
        const auto* typed = std::get_if<OpFor<H>>(&op);
        if (typed == nullptr)
          return make_error(Errc::invalid_argument, "a " + tag_name(op_type_tag(op)) + " operation cannot apply to a " +
                                                        tag_name(type_tag()));
        if constexpr (std::is_same_v<H, MapBox>) {
          SHOAL_TRY(delta, held.get().apply(*typed, actor));
          return AnyCrdt(std::move(delta));
        } else {
          SHOAL_TRY(delta, held.apply(*typed, actor));
          return AnyCrdt(std::move(delta));
        }
      },
      value_);
}

Result<void> AnyCrdt::merge(const AnyCrdt& other) {
  if (value_.index() != other.value_.index())
    return make_error(Errc::precondition_failed, "cannot merge a " + tag_name(other.type_tag()) + " into a " +
                                                     tag_name(type_tag()));
  std::visit(
      [&](auto& held) {
        using H = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<H, MapBox>) {
          held.get().merge(std::get<MapBox>(other.value_).get());
        } else {
          held.merge(std::get<H>(other.value_));
        }
      },
      value_);
  return ok();
}

AnyValue AnyCrdt::value() const {
  return std::visit(
      [](const auto& held) {
        using H = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<H, MapBox>) {
          return AnyValue{held.get().value()};
        } else {
          return AnyValue{held.value()};
        }
      },
      value_);
}

void AnyCrdt::reset(const VClock& context) {
  std::visit(
      [&](auto& held) {
        using H = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<H, MapBox>) {
          held.get().reset(context);
        } else {
          held.reset(context);
        }
      },
      value_);
}

VClock AnyCrdt::context() const {
  return std::visit(
      [](const auto& held) {
        using H = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<H, MapBox>) {
          return held.get().context();
        } else {
          return VClock(held.context());
        }
      },
      value_);
}

void AnyCrdt::encode(Packer& packer) const {
  std::visit(
      [&](const auto& held) {
        using H = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<H, MapBox>) {
          held.get().encode(packer);
        } else {
          held.encode(packer);
        }
      },
      value_);
}

Result<AnyCrdt> AnyCrdt::decode(const msgpack::object& object) { return decode_at_depth(object, 1); }

Result<AnyCrdt> AnyCrdt::decode_at_depth(const msgpack::object& object, std::size_t depth) {
  SHOAL_TRY(items, codec::expect_array(object, 2, SIZE_MAX, "crdt"));
  SHOAL_TRY(tag, codec::expect_uint(items[0], "crdt type tag", 255));
  switch (static_cast<TypeTag>(tag)) {
    case TypeTag::pn_counter: {
      SHOAL_TRY(value, PnCounter::decode(object));
      return AnyCrdt(std::move(value));
    }
    case TypeTag::orswot: {
      SHOAL_TRY(value, Orswot::decode(object));
      return AnyCrdt(std::move(value));
    }
    case TypeTag::lww_register: {
      SHOAL_TRY(value, LwwRegister::decode(object));
      return AnyCrdt(std::move(value));
    }
    case TypeTag::mv_register: {
      SHOAL_TRY(value, MvRegister::decode(object));
      return AnyCrdt(std::move(value));
    }
    case TypeTag::flag: {
      SHOAL_TRY(value, EnableWinsFlag::decode(object));
      return AnyCrdt(std::move(value));
    }
    case TypeTag::map: {
      SHOAL_TRY(value, Map::decode_at_depth(object, depth));
      return AnyCrdt(std::move(value));
    }
    case TypeTag::hll: {
      SHOAL_TRY(value, Hll::decode(object));
      return AnyCrdt(std::move(value));
    }
    default:
      return make_error(Errc::malformed, "crdt: type tag " + std::to_string(tag) + " is not a CRDT type");
  }
}

}  // namespace shoal::crdt
