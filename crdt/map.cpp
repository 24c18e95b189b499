#include "crdt/map.hpp"

#include <algorithm>

#include "base/codec.hpp"
#include "base/hash.hpp"

namespace shoal::crdt {

namespace {

constexpr char kReservedActorByte = '\xff';
constexpr std::size_t kFieldPrefixBytes = 10;

bool reserved_actor(std::string_view actor) { return !actor.empty() && actor.front() == kReservedActorByte; }

// 0xFF, the type tag, then the name's hash: fixed length, so a field's
// entries sort together and never clash with a shorter field's.
std::string field_prefix(const FieldKey& key) {
  std::string prefix;
  prefix.reserve(kFieldPrefixBytes);
  prefix.push_back(kReservedActorByte);
  prefix.push_back(static_cast<char>(key.type));
  std::uint64_t h = hash64(key.name);
  for (int shift = 56; shift >= 0; shift -= 8) prefix.push_back(static_cast<char>((h >> shift) & 0xff));
  return prefix;
}

// The presence (real actor) part of a map context.
VClock presence_part(const VClock& clock) {
  VClock out;
  for (const auto& [actor, counter] : clock.entries())
    if (!reserved_actor(actor)) out.raise(actor, counter);
  return out;
}

template <typename Pred>
void erase_dots_if(Map::Dots& dots, Pred pred) {
  dots.erase(std::remove_if(dots.begin(), dots.end(), pred), dots.end());
}

Map::Dots merge_dots(const Map::Dots& a, const DotContext& a_seen, const Map::Dots& b, const DotContext& b_seen) {
  Map::Dots out;
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() || j != b.end()) {
    if (j == b.end() || (i != a.end() && *i < *j)) {
      if (!b_seen.contains(*i)) out.push_back(*i);
      ++i;
    } else if (i == a.end() || *j < *i) {
      if (!a_seen.contains(*j)) out.push_back(*j);
      ++j;
    } else {
      out.push_back(*i);
      ++i;
      ++j;
    }
  }
  return out;
}

std::string describe(const FieldKey& key) {
  constexpr std::size_t kShown = 64;
  std::string shown = key.name.substr(0, kShown);
  if (key.name.size() > kShown) shown += "...";
  return "'" + shown + "' (type " + std::to_string(static_cast<int>(key.type)) + ")";
}

std::size_t op_depth(const MapOp& op) {
  std::size_t deepest = 0;
  for (const auto& field : op.fields)
    if (const auto* nested = std::get_if<MapOp>(&field.op); nested && field.kind == MapFieldOp::Kind::update)
      deepest = std::max(deepest, op_depth(*nested));
  return 1 + deepest;
}

// What a replica that has seen `clock` of a field knows of it, as a value:
// no state, only the context. Merging it drops what that replica removed.
AnyCrdt known_empty(TypeTag type, const VClock& clock) {
  auto empty = AnyCrdt::make_empty(type);
  SHOAL_ASSERT(empty.has_value(), "field type is not a CRDT type");
  AnyCrdt value = std::move(empty).value();
  value.reset(clock);
  return value;
}

}  // namespace

VClock Map::field_context(const VClock& map_context, const FieldKey& key) {
  const std::string prefix = field_prefix(key);
  const auto& entries = map_context.entries();
  auto it = std::lower_bound(entries.begin(), entries.end(), prefix,
                             [](const VClock::Entry& e, const std::string& p) { return e.first < p; });
  VClock out;
  for (; it != entries.end() && it->first.starts_with(prefix); ++it)
    out.raise(it->first.substr(kFieldPrefixBytes), it->second);
  return out;
}

void Map::absorb_nested(const FieldKey& key, const VClock& nested_clock) {
  if (nested_clock.empty()) return;
  const std::string prefix = field_prefix(key);
  VClock prefixed;
  for (const auto& [actor, counter] : nested_clock.entries()) prefixed.raise(prefix + actor, counter);
  context_.absorb(prefixed);
}

void Map::drop_covered(const FieldKey& key, const VClock& clock, Map* delta) {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  erase_dots_if(it->second.dots, [&](const Dot& d) {
    if (!clock.contains(d)) return false;
    if (delta) delta->context_.add(d);
    return true;
  });
  if (it->second.dots.empty()) fields_.erase(it);
}

void Map::apply_deferred() {
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    for (const auto& key : it->second) drop_covered(key, it->first, nullptr);
    it = context_.descends(it->first) ? deferred_.erase(it) : std::next(it);
  }
}

Result<Map> Map::apply_field(const MapFieldOp& op, const Actor& actor) {
  const FieldKey& key = op.field;
  if (key.name.size() > kMapFieldNameBytesMax)
    return make_error(Errc::too_large, "map field name of " + std::to_string(key.name.size()) +
                                           " bytes exceeds the limit of " + std::to_string(kMapFieldNameBytesMax));
  if (!AnyCrdt::is_crdt_tag(key.type))
    return make_error(Errc::invalid_argument, "map field " + describe(key) + " does not name a CRDT type");
  Map delta;
  auto it = fields_.find(key);

  if (op.kind == MapFieldOp::Kind::update) {
    if (op_type_tag(op.op) != key.type)
      return make_error(Errc::invalid_argument, "operation for map field " + describe(key) + " is for another type");
    std::optional<AnyCrdt> fresh;
    AnyCrdt* nested = nullptr;
    if (it == fields_.end()) {
      if (fields_.size() >= kMapFieldsMax)
        return make_error(Errc::too_large, "map would hold more than " + std::to_string(kMapFieldsMax) + " fields");
      // A field created again continues from what the map saw of it before.
      fresh = known_empty(key.type, field_context(context_.clock(), key));
      nested = &*fresh;
    } else {
      nested = &it->second.value;
    }
    SHOAL_TRY(nested_delta, nested->apply(op.op, actor));
    if (fresh) it = fields_.emplace(key, Field{{}, std::move(*fresh)}).first;
    Dot dot = context_.next(actor);
    for (const auto& old : it->second.dots) delta.context_.add(old);
    it->second.dots.assign(1, dot);
    delta.context_.add(dot);
    absorb_nested(key, it->second.value.context());
    delta.absorb_nested(key, nested_delta.context());
    delta.fields_.emplace(key, Field{Dots{dot}, std::move(nested_delta)});
    return delta;
  }

  if (!op.context && it == fields_.end())
    return make_error(Errc::precondition_failed, "cannot remove map field " + describe(key) + ": it is not in the map");
  const VClock clock = op.context ? *op.context : context();
  const VClock presence = presence_part(clock);
  const bool defer = !context_.descends(presence);
  if (defer && !deferred_.contains(presence) && deferred_.size() >= kMapDeferredMax)
    return make_error(Errc::too_large, "map already holds " + std::to_string(kMapDeferredMax) +
                                           " removes waiting for unseen updates; retry after anti-entropy");
  // The nested reset needs no deferral: the map context records what the
  // remove observed of this field, and merges drop it wherever it shows up.
  const VClock nested_clock = field_context(clock, key);
  if (it != fields_.end()) it->second.value.reset(nested_clock);
  drop_covered(key, presence, &delta);
  absorb_nested(key, nested_clock);
  delta.absorb_nested(key, nested_clock);
  if (defer) {
    deferred_[presence].insert(key);
    delta.deferred_[presence].insert(key);
  }
  return delta;
}

Result<Map> Map::apply(const Op& op, const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "actor must be 1.." + std::to_string(kActorBytesMax) + " bytes");
  if (reserved_actor(actor))
    return make_error(Errc::invalid_argument, "actors starting with byte 0xFF are reserved for map fields");
  if (op.fields.size() > kMapOpFieldsMax)
    return make_error(Errc::too_large, "map op has " + std::to_string(op.fields.size()) +
                                           " field operations; at most " + std::to_string(kMapOpFieldsMax));
  const std::size_t depth = op_depth(op);
  if (depth > kMapDepthMax)
    return make_error(Errc::invalid_argument, "map op nests maps deeper than " + std::to_string(kMapDepthMax));
  // Each level records nested clocks under a prefixed actor; the deepest
  // record must still be a decodable actor.
  if (actor.size() + kFieldPrefixBytes * depth > kActorBytesMax)
    return make_error(Errc::invalid_argument,
                      "actor too long for a map nested " + std::to_string(depth) + " deep (at most " +
                          std::to_string(kActorBytesMax - kFieldPrefixBytes * depth) + " bytes)");
  // All or nothing: work on a copy (an op touches one object, which is
  // decoded and re-encoded whole anyway).
  Map next = *this;
  Map delta;
  for (const auto& field_op : op.fields) {
    SHOAL_TRY(field_delta, next.apply_field(field_op, actor));
    delta.merge(field_delta);
  }
  next.apply_deferred();
  *this = std::move(next);
  return delta;
}

void Map::merge(const Map& other) {
  auto a = fields_.begin();
  auto b = other.fields_.begin();
  while (a != fields_.end() || b != other.fields_.end()) {
    if (b == other.fields_.end() || (a != fields_.end() && a->first < b->first)) {
      erase_dots_if(a->second.dots, [&](const Dot& d) { return other.context_.contains(d); });
      if (!a->second.dots.empty()) {
        auto merged =
            a->second.value.merge(known_empty(a->first.type, field_context(other.context_.clock(), a->first)));
        SHOAL_ASSERT(merged.has_value(), "map field value has the wrong type");
        absorb_nested(a->first, a->second.value.context());
      }
      a = a->second.dots.empty() ? fields_.erase(a) : std::next(a);
    } else if (a == fields_.end() || b->first < a->first) {
      Dots dots;
      for (const auto& d : b->second.dots)
        if (!context_.contains(d)) dots.push_back(d);
      if (!dots.empty()) {
        AnyCrdt value = b->second.value;
        auto merged = value.merge(known_empty(b->first.type, field_context(context_.clock(), b->first)));
        SHOAL_ASSERT(merged.has_value(), "map field value has the wrong type");
        absorb_nested(b->first, value.context());
        fields_.emplace_hint(a, b->first, Field{std::move(dots), std::move(value)});
      }
      ++b;
    } else {
      if (a->second.dots != b->second.dots)
        a->second.dots = merge_dots(a->second.dots, context_, b->second.dots, other.context_);
      auto merged = a->second.value.merge(b->second.value);
      SHOAL_ASSERT(merged.has_value(), "map field value has the wrong type");
      // Dots that arrived out of order may now be contiguous in the nested
      // context: the map's record of the field must keep up with it.
      absorb_nested(a->first, a->second.value.context());
      a = a->second.dots.empty() ? fields_.erase(a) : std::next(a);
      ++b;
    }
  }
  context_.merge(other.context_);
  for (const auto& [clock, keys] : other.deferred_) deferred_[clock].insert(keys.begin(), keys.end());
  apply_deferred();
}

Map::Value Map::value() const {
  Value out;
  out.fields.reserve(fields_.size());
  for (const auto& [key, field] : fields_) out.fields.emplace_back(key, field.value.value());
  return out;
}

void Map::reset(const VClock& context) {
  for (auto it = fields_.begin(); it != fields_.end();) {
    erase_dots_if(it->second.dots, [&](const Dot& d) { return context.contains(d); });
    if (it->second.dots.empty()) {
      it = fields_.erase(it);
    } else {
      it->second.value.reset(field_context(context, it->first));
      ++it;
    }
  }
  context_.absorb(context);
  apply_deferred();
}

const AnyCrdt* Map::find(std::string_view name, TypeTag type) const {
  auto it = fields_.find(FieldKey{std::string(name), type});
  return it == fields_.end() ? nullptr : &it->second.value;
}

void Map::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kVersion, 3);
  packer.pack_array(static_cast<std::uint32_t>(fields_.size()));
  for (const auto& [key, field] : fields_) {
    packer.pack_array(4);
    codec::pack_bytes(packer, key.name);
    packer.pack_uint8(static_cast<std::uint8_t>(key.type));
    packer.pack_array(static_cast<std::uint32_t>(field.dots.size()));
    for (const auto& d : field.dots) d.encode(packer);
    field.value.encode(packer);
  }
  context_.encode_body(packer);
  packer.pack_array(static_cast<std::uint32_t>(deferred_.size()));
  for (const auto& [clock, keys] : deferred_) {
    packer.pack_array(2);
    clock.encode_body(packer);
    packer.pack_array(static_cast<std::uint32_t>(keys.size()));
    for (const auto& key : keys) {
      packer.pack_array(2);
      codec::pack_bytes(packer, key.name);
      packer.pack_uint8(static_cast<std::uint8_t>(key.type));
    }
  }
}

namespace {

Result<FieldKey> decode_key(const msgpack::object& name_object, const msgpack::object& tag_object) {
  SHOAL_TRY(name, codec::expect_bytes(name_object, "map field name", kMapFieldNameBytesMax));
  SHOAL_TRY(tag, codec::expect_uint(tag_object, "map field type", 255));
  FieldKey key{std::move(name), static_cast<TypeTag>(tag)};
  if (!AnyCrdt::is_crdt_tag(key.type)) return make_error(Errc::malformed, "map: field type is not a CRDT type");
  return key;
}

}  // namespace

Result<Map> Map::decode(const msgpack::object& object) { return decode_at_depth(object, 1); }

Result<Map> Map::decode_at_depth(const msgpack::object& object, std::size_t depth) {
  if (depth > kMapDepthMax)
    return make_error(Errc::malformed, "map: nested deeper than " + std::to_string(kMapDepthMax));
  SHOAL_TRY(items, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kVersion, 3, 3, "map"));
  Map map;
  SHOAL_TRY(context, DotContext::decode_body(items[1]));
  map.context_ = std::move(context);

  SHOAL_TRY(fields, codec::expect_array(items[0], 0, kMapFieldsMax, "map fields"));
  for (const auto& entry : fields) {
    SHOAL_TRY(parts, codec::expect_array(entry, 4, 4, "map field"));
    SHOAL_TRY(key, decode_key(parts[0], parts[1]));
    if (!map.fields_.empty() && !(map.fields_.rbegin()->first < key))
      return make_error(Errc::malformed, "map: fields not strictly increasing");
    SHOAL_TRY(dot_items, codec::expect_array(parts[2], 1, kClockEntriesMax, "map field dots"));
    Dots dots;
    for (const auto& item : dot_items) {
      SHOAL_TRY(d, Dot::decode(item));
      if (reserved_actor(d.actor)) return make_error(Errc::malformed, "map: presence dot of a reserved actor");
      if (!dots.empty() && !(dots.back() < d)) return make_error(Errc::malformed, "map: dots not strictly increasing");
      if (!map.context_.contains(d)) return make_error(Errc::malformed, "map: field dot outside the context");
      dots.push_back(std::move(d));
    }
    SHOAL_TRY(value, AnyCrdt::decode_at_depth(parts[3], depth + 1));
    if (value.type_tag() != key.type) return make_error(Errc::malformed, "map: field value of the wrong type");
    if (!field_context(map.context_.clock(), key).descends(value.context()))
      return make_error(Errc::malformed, "map: field value has seen more than the map");
    map.fields_.emplace_hint(map.fields_.end(), std::move(key), Field{std::move(dots), std::move(value)});
  }

  SHOAL_TRY(deferred, codec::expect_array(items[2], 0, kMapDeferredMax, "map deferred removes"));
  for (const auto& entry : deferred) {
    SHOAL_TRY(pair, codec::expect_array(entry, 2, 2, "map deferred remove"));
    SHOAL_TRY(clock, VClock::decode_body(pair[0]));
    if (clock.empty() || map.context_.descends(clock) || !(presence_part(clock) == clock))
      return make_error(Errc::malformed, "map: deferred remove already seen or naming reserved actors");
    if (!map.deferred_.empty() && !VClockLess{}(map.deferred_.rbegin()->first, clock))
      return make_error(Errc::malformed, "map: deferred removes not strictly increasing");
    SHOAL_TRY(key_items, codec::expect_array(pair[1], 1, kMapFieldsMax, "map deferred fields"));
    std::set<FieldKey> keys;
    for (const auto& item : key_items) {
      SHOAL_TRY(key_parts, codec::expect_array(item, 2, 2, "map deferred field"));
      SHOAL_TRY(key, decode_key(key_parts[0], key_parts[1]));
      if (!keys.empty() && !(*keys.rbegin() < key))
        return make_error(Errc::malformed, "map: deferred fields not strictly increasing");
      auto it = map.fields_.find(key);
      if (it != map.fields_.end() &&
          std::any_of(it->second.dots.begin(), it->second.dots.end(), [&](const Dot& d) { return clock.contains(d); }))
        return make_error(Errc::malformed, "map: field holds a dot its deferred remove covers");
      keys.insert(keys.end(), std::move(key));
    }
    map.deferred_.emplace_hint(map.deferred_.end(), std::move(clock), std::move(keys));
  }
  return map;
}

}  // namespace shoal::crdt
