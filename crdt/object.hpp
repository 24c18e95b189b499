// The stored object: the one on-disk and on-the-wire format of a key's value,
// shared by vnodes, handoff, read repair and anti-entropy. Owned by crdt/;
// values are thread-compatible. Field-by-field description: docs/data_model.md.
//
// A plain object holds siblings in a DvvSet (Almeida et al. 2013); each
// sibling carries its bytes, content type, user metadata, HLC last-modified
// and a tombstone flag (a delete writes a tombstone sibling with the causal
// context it read). A CRDT object holds the CRDT's state. `merge` is a join
// (commutative, associative, idempotent) and the encoding is canonical, so
// replicas that saw the same writes hash identically.
//
// The CRDT payload type is a template parameter: `Object` is
// `BasicObject<AnyCrdt>` (crdt/any_crdt.hpp). The payload needs ==,
// merge(const P&), reset(const VClock&), context(), encode(Packer&) and
// static Result<P> decode(const msgpack::object&).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/codec.hpp"
#include "base/result.hpp"
#include "crdt/crdt.hpp"
#include "crdt/dvvset.hpp"
#include "crdt/hlc.hpp"
#include "crdt/vclock.hpp"

namespace shoal::crdt {

// What the object holds. Values are on disk: never renumber.
enum class Datatype : std::uint8_t {
  plain = 0,
  counter = 1,
  set = 2,
  map = 3,
  register_ = 4,
  flag = 5,
  hll = 6,
  mv_register = 7,
};
inline constexpr std::uint8_t kDatatypeMax = 7;

// The encoding tag of the CRDT a datatype holds (nullopt for plain).
inline std::optional<TypeTag> crdt_type_tag(Datatype datatype) {
  switch (datatype) {
    case Datatype::counter: return TypeTag::pn_counter;
    case Datatype::set: return TypeTag::orswot;
    case Datatype::map: return TypeTag::map;
    case Datatype::register_: return TypeTag::lww_register;
    case Datatype::flag: return TypeTag::flag;
    case Datatype::hll: return TypeTag::hll;
    case Datatype::mv_register: return TypeTag::mv_register;
    case Datatype::plain: break;
  }
  return std::nullopt;
}

// Every limit is configurable per bucket type; decoders take them too.
struct ObjectLimits {
  std::size_t key_bytes_max = 64 * 1024;
  std::size_t bucket_bytes_max = 255;  // bucket and bucket type names
  std::size_t value_bytes_max = 16 * 1024 * 1024;
  std::size_t content_type_bytes_max = 255;
  std::size_t metadata_entries_max = 64;
  std::size_t metadata_bytes_max = 64 * 1024;  // one key or value of user metadata
  std::size_t siblings_max = 100;
  std::size_t actors_max = 1024;
};

inline constexpr ObjectLimits kDefaultObjectLimits{};

// The bucket type's conflict properties.
struct MergePolicy {
  bool allow_mult = true;
  bool last_write_wins = false;
  // One sibling only: it is the one with the greatest (HLC, actor, sibling).
  bool single() const { return !allow_mult || last_write_wins; }
};

struct ObjectKey {
  std::string bucket_type;
  std::string bucket;
  std::string key;
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
};

struct Sibling {
  std::string value;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_metadata;  // sorted by key, keys distinct
  HlcTimestamp last_modified;
  bool tombstone = false;

  friend bool operator==(const Sibling&, const Sibling&) = default;
  friend bool operator<(const Sibling& a, const Sibling& b) {
    return std::tie(a.last_modified, a.value, a.content_type, a.user_metadata, a.tombstone) <
           std::tie(b.last_modified, b.value, b.content_type, b.user_metadata, b.tombstone);
  }

  // Errc::too_large / invalid_argument naming the field over its limit.
  Result<void> validate(const ObjectLimits& limits) const {
    if (value.size() > limits.value_bytes_max)
      return make_error(Errc::too_large, "value of " + std::to_string(value.size()) + " bytes exceeds the limit of " +
                                             std::to_string(limits.value_bytes_max));
    if (content_type.size() > limits.content_type_bytes_max)
      return make_error(Errc::too_large, "content type exceeds " + std::to_string(limits.content_type_bytes_max) +
                                             " bytes");
    if (user_metadata.size() > limits.metadata_entries_max)
      return make_error(Errc::too_large, std::to_string(user_metadata.size()) +
                                             " user metadata entries exceed the limit of " +
                                             std::to_string(limits.metadata_entries_max));
    for (std::size_t i = 0; i < user_metadata.size(); ++i) {
      const auto& [k, v] = user_metadata[i];
      if (k.size() > limits.metadata_bytes_max || v.size() > limits.metadata_bytes_max)
        return make_error(Errc::too_large, "user metadata entry exceeds " +
                                               std::to_string(limits.metadata_bytes_max) + " bytes");
      if (i > 0 && !(user_metadata[i - 1].first < k))
        return make_error(Errc::invalid_argument, "user metadata keys must be sorted and distinct");
    }
    return ok();
  }

  void encode(Packer& packer) const {
    packer.pack_array(5);
    codec::pack_bytes(packer, value);
    codec::pack_bytes(packer, content_type);
    packer.pack_array(static_cast<std::uint32_t>(user_metadata.size() * 2));
    for (const auto& [k, v] : user_metadata) {
      codec::pack_bytes(packer, k);
      codec::pack_bytes(packer, v);
    }
    last_modified.encode_body(packer);
    packer.pack(tombstone);
  }

  // Bounded by hard caps here; the configured ObjectLimits are checked by
  // the object decoder after.
  static Result<Sibling> decode(const msgpack::object& object) {
    SHOAL_TRY(fields, codec::expect_array(object, 5, 5, "sibling"));
    Sibling s;
    SHOAL_TRY(value, codec::expect_bytes(fields[0], "sibling value", kDvvSetValueBytesMax));
    SHOAL_TRY(content_type, codec::expect_bytes(fields[1], "sibling content type", 64 * 1024));
    SHOAL_TRY(metadata, codec::expect_array(fields[2], 0, 2 * 65536, "sibling user metadata"));
    if (metadata.size() % 2 != 0) return make_error(Errc::malformed, "sibling user metadata: odd number of fields");
    for (std::size_t i = 0; i < metadata.size(); i += 2) {
      SHOAL_TRY(k, codec::expect_bytes(metadata[i], "user metadata key", 1 << 20));
      SHOAL_TRY(v, codec::expect_bytes(metadata[i + 1], "user metadata value", 1 << 20));
      if (!s.user_metadata.empty() && !(s.user_metadata.back().first < k))
        return make_error(Errc::malformed, "sibling user metadata keys not strictly increasing");
      s.user_metadata.emplace_back(std::move(k), std::move(v));
    }
    SHOAL_TRY(last_modified, HlcTimestamp::decode_body(fields[3]));
    SHOAL_TRY(tombstone, codec::expect_bool(fields[4], "sibling tombstone"));
    s.value = std::move(value);
    s.content_type = std::move(content_type);
    s.last_modified = last_modified;
    s.tombstone = tombstone;
    return s;
  }
};

template <typename Payload>
class BasicObject {
 public:
  static constexpr TypeTag kTypeTag = TypeTag::object;
  static constexpr std::uint8_t kFormatVersion = 1;

  BasicObject() = default;

  // A new, empty object. `payload` is the CRDT's initial state (required
  // for every datatype but plain).
  static Result<BasicObject> make(ObjectKey key, Datatype datatype, std::optional<Payload> payload = std::nullopt,
                                  const ObjectLimits& limits = kDefaultObjectLimits) {
    SHOAL_TRYV(validate_key(key, limits));
    SHOAL_TRYV(check_payload(datatype, payload));
    BasicObject o;
    o.key_ = std::move(key);
    o.datatype_ = datatype;
    o.crdt_ = std::move(payload);
    return o;
  }

  // --- plain objects -----------------------------------------------------
  //
  // A client write: `sibling` replaces every sibling `context` covers (with
  // allow_mult) or everything this replica holds (single-sibling policies,
  // where the written sibling's HLC is also raised past the one it replaces
  // so that a write never sorts before what it overwrote). The write's
  // expiry (none clears it) applies if its HLC is the greatest the object has
  // seen. Errc::too_large over a limit; the object is unchanged on error.
  Result<void> put(Sibling sibling, const VClock& context, const Actor& actor, const MergePolicy& policy,
                   std::optional<HlcTimestamp> expires_at = std::nullopt,
                   const ObjectLimits& limits = kDefaultObjectLimits) {
    if (datatype_ != Datatype::plain)
      return make_error(Errc::precondition_failed, "object holds a CRDT, not plain values");
    SHOAL_TRYV(sibling.validate(limits));
    DvvSet<Sibling> next = siblings_;
    DvvSetLimits dvv_limits{limits.siblings_max, limits.actors_max};
    if (policy.single()) {
      if (auto best = winner(); best && !(best->second.last_modified < sibling.last_modified))
        sibling.last_modified = best->second.last_modified.successor();
      SHOAL_TRYV(next.update(sibling, next.join(), actor, dvv_limits));
    } else {
      SHOAL_TRYV(next.update(sibling, context, actor, dvv_limits));
    }
    record_write(sibling.last_modified, expires_at);
    siblings_ = std::move(next);
    return ok();
  }

  // A delete: a tombstone sibling carrying the context the client read, so a
  // write concurrent with the delete survives as a sibling.
  Result<void> remove(const VClock& context, const Actor& actor, HlcTimestamp now, const MergePolicy& policy,
                      const ObjectLimits& limits = kDefaultObjectLimits) {
    Sibling tombstone;
    tombstone.last_modified = now;
    tombstone.tombstone = true;
    return put(std::move(tombstone), context, actor, policy, std::nullopt, limits);
  }

  // The siblings a client reads (deterministic order) and its context.
  std::vector<Sibling> siblings() const { return siblings_.values(); }
  VClock context() const { return datatype_ == Datatype::plain ? siblings_.join() : crdt_->context(); }
  const DvvSet<Sibling>& dvvset() const { return siblings_; }

  // The sibling that wins by (HLC, actor, sibling), with its actor.
  std::optional<std::pair<Actor, Sibling>> winner() const {
    std::optional<std::pair<Actor, Sibling>> best;
    auto consider = [&](const Actor& actor, const Sibling& s) {
      if (!best || std::tie(best->second.last_modified, best->first, best->second) <
                       std::tie(s.last_modified, actor, s))
        best = std::make_pair(actor, s);
    };
    for (const auto& entry : siblings_.entries())
      for (const auto& s : entry.values) consider(entry.actor, s);
    for (const auto& s : siblings_.anonymous()) consider(Actor{}, s);
    return best;
  }

  // --- CRDT objects --------------------------------------------------------
  //
  // The coordinator applies the op to crdt() and then records the write.
  // Precondition: datatype() != plain.
  Payload& crdt() {
    SHOAL_ASSERT(crdt_.has_value(), "crdt() on a plain object");
    return *crdt_;
  }
  const Payload& crdt() const {
    SHOAL_ASSERT(crdt_.has_value(), "crdt() on a plain object");
    return *crdt_;
  }

  // Every write (plain writes do this themselves) stamps the object: the
  // expiry of the write with the greatest HLC wins.
  void record_write(HlcTimestamp write_hlc, std::optional<HlcTimestamp> expires_at) {
    if (std::tie(modified_, expires_at_) < std::tie(write_hlc, expires_at)) {
      modified_ = write_hlc;
      expires_at_ = expires_at;
    }
  }

  // A CRDT delete: an observed reset with the context the client read, plus
  // the tombstone marker. Updates concurrent with it survive in the state.
  void remove_crdt(const VClock& context, HlcTimestamp now) {
    SHOAL_ASSERT(crdt_.has_value(), "remove_crdt on a plain object");
    crdt_->reset(context);
    deleted_at_ = std::max(deleted_at_, now);
    record_write(now, std::nullopt);
  }

  // Under a bucket type of datatype `any`: a write of another datatype
  // replaces the object wholesale and starts a new generation (see merge).
  Result<void> retype(Datatype datatype, HlcTimestamp write_hlc, std::optional<Payload> payload) {
    SHOAL_TRYV(check_payload(datatype, payload));
    datatype_ = datatype;
    generation_ = std::max(generation_.successor(), write_hlc);
    siblings_ = DvvSet<Sibling>{};
    crdt_ = std::move(payload);
    deleted_at_ = HlcTimestamp{};
    modified_ = HlcTimestamp{};
    expires_at_.reset();
    record_write(generation_, std::nullopt);
    return ok();
  }

  // --- both ----------------------------------------------------------------

  // The join of two replicas of the same key. Objects of different
  // generations or datatypes (possible only under `any`): the greater
  // (generation, datatype) wins wholesale. A retype starts a generation at
  // its write's HLC, so the latest retype wins everywhere; concurrent creates
  // of different datatypes (generation zero) resolve by datatype number.
  // This ranking, unlike comparing last-write HLCs, keeps merge associative.
  void merge(const BasicObject& other, const MergePolicy& policy) {
    SHOAL_ASSERT(key_ == other.key_, "merging objects of different keys");
    auto rank = [](const BasicObject& o) { return std::make_tuple(o.generation_, o.datatype_); };
    if (rank(*this) < rank(other)) {
      *this = other;
      if (datatype_ == Datatype::plain && policy.single()) collapse();
      return;
    }
    if (rank(other) < rank(*this)) {
      if (datatype_ == Datatype::plain && policy.single()) collapse();
      return;
    }
    record_write(other.modified_, other.expires_at_);
    deleted_at_ = std::max(deleted_at_, other.deleted_at_);
    if (datatype_ == Datatype::plain) {
      if (policy.single()) {
        merge_single(other);
      } else {
        siblings_.sync(other.siblings_);
      }
    } else {
      SHOAL_ASSERT(crdt_.has_value() && other.crdt_.has_value(), "CRDT object without state");
      if constexpr (std::is_void_v<decltype(crdt_->merge(*other.crdt_))>) {
        crdt_->merge(*other.crdt_);
      } else {
        auto merged = crdt_->merge(*other.crdt_);
        SHOAL_ASSERT(merged.has_value(), "CRDT payloads of one datatype refused to merge");
      }
    }
  }

  // Reads at `at` treat the object as absent from its deadline on.
  bool expired(HlcTimestamp at) const { return expires_at_.has_value() && !(at < *expires_at_); }

  // A tombstone: every sibling is one (plain), or the latest write was a
  // delete (CRDT). Reaping is decided elsewhere.
  bool is_tombstone() const {
    if (datatype_ == Datatype::plain) {
      auto values = siblings_.values();
      return !values.empty() && std::all_of(values.begin(), values.end(), [](const Sibling& s) { return s.tombstone; });
    }
    return !deleted_at_.is_zero() && !(deleted_at_ < modified_);
  }

  const ObjectKey& key() const { return key_; }
  Datatype datatype() const { return datatype_; }
  HlcTimestamp generation() const { return generation_; }
  HlcTimestamp modified() const { return modified_; }
  std::optional<HlcTimestamp> expires_at() const { return expires_at_; }
  HlcTimestamp deleted_at() const { return deleted_at_; }

  friend bool operator==(const BasicObject&, const BasicObject&) = default;

  void encode(Packer& packer) const {
    codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kFormatVersion, 9);
    codec::pack_bytes(packer, key_.bucket_type);
    codec::pack_bytes(packer, key_.bucket);
    codec::pack_bytes(packer, key_.key);
    packer.pack_uint8(static_cast<std::uint8_t>(datatype_));
    generation_.encode_body(packer);
    modified_.encode_body(packer);
    if (expires_at_) {
      expires_at_->encode_body(packer);
    } else {
      packer.pack_nil();
    }
    deleted_at_.encode_body(packer);
    if (datatype_ == Datatype::plain) {
      packer.pack_array(2);
      siblings_.encode_body(packer);
    } else {
      crdt_->encode(packer);
    }
  }

  static Result<BasicObject> decode(const msgpack::object& object) { return decode(object, kDefaultObjectLimits); }

  static Result<BasicObject> decode(const msgpack::object& object, const ObjectLimits& limits) {
    SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kFormatVersion, 9, 9,
                                           "object"));
    BasicObject o;
    SHOAL_TRY(bucket_type, codec::expect_bytes(fields[0], "object bucket type", limits.bucket_bytes_max));
    SHOAL_TRY(bucket, codec::expect_bytes(fields[1], "object bucket", limits.bucket_bytes_max));
    SHOAL_TRY(key, codec::expect_bytes(fields[2], "object key", limits.key_bytes_max));
    o.key_ = ObjectKey{std::move(bucket_type), std::move(bucket), std::move(key)};
    SHOAL_TRY(datatype, codec::expect_uint(fields[3], "object datatype", kDatatypeMax));
    o.datatype_ = static_cast<Datatype>(datatype);
    SHOAL_TRY(generation, HlcTimestamp::decode_body(fields[4]));
    SHOAL_TRY(modified, HlcTimestamp::decode_body(fields[5]));
    o.generation_ = generation;
    o.modified_ = modified;
    if (fields[6].type != msgpack::type::NIL) {
      SHOAL_TRY(expires_at, HlcTimestamp::decode_body(fields[6]));
      o.expires_at_ = expires_at;
    }
    SHOAL_TRY(deleted_at, HlcTimestamp::decode_body(fields[7]));
    o.deleted_at_ = deleted_at;
    if (o.datatype_ == Datatype::plain) {
      if (!o.deleted_at_.is_zero()) return make_error(Errc::malformed, "object: plain object with a CRDT delete mark");
      SHOAL_TRY(parts, codec::expect_array(fields[8], 2, 2, "object siblings"));
      SHOAL_TRY(siblings, DvvSet<Sibling>::decode_fields(parts[0], parts[1]));
      for (const auto& s : siblings.values()) {
        auto valid = s.validate(limits);
        if (!valid)
          return make_error(valid.error().code == Errc::too_large ? Errc::too_large : Errc::malformed,
                            "object sibling: " + valid.error().message);
      }
      o.siblings_ = std::move(siblings);
    } else {
      SHOAL_TRY(payload, Payload::decode(fields[8]));
      auto matches = check_payload(o.datatype_, payload);
      if (!matches) return make_error(Errc::malformed, "object: " + matches.error().message);
      o.crdt_ = std::move(payload);
    }
    return o;
  }

 private:
  static Result<void> check_payload(Datatype datatype, const std::optional<Payload>& payload) {
    if ((datatype == Datatype::plain) != !payload.has_value())
      return make_error(Errc::invalid_argument, "a CRDT object needs its initial state, a plain object none");
    if constexpr (requires(const Payload& p) {
                    { p.type_tag() } -> std::convertible_to<TypeTag>;
                  }) {
      if (payload && payload->type_tag() != *crdt_type_tag(datatype))
        return make_error(Errc::invalid_argument, "CRDT state does not match the object's datatype");
    }
    return ok();
  }

  static Result<void> validate_key(const ObjectKey& key, const ObjectLimits& limits) {
    if (key.bucket_type.size() > limits.bucket_bytes_max || key.bucket.size() > limits.bucket_bytes_max)
      return make_error(Errc::too_large, "bucket and bucket type names are limited to " +
                                             std::to_string(limits.bucket_bytes_max) + " bytes");
    if (key.key.size() > limits.key_bytes_max)
      return make_error(Errc::too_large, "key of " + std::to_string(key.key.size()) + " bytes exceeds the limit of " +
                                             std::to_string(limits.key_bytes_max));
    return ok();
  }

  // Single-sibling join: the clocks join and the greatest sibling of either
  // side survives, whatever each side saw (last-write-wins ignores
  // causality, as riak_kv's does); a max over a total order, hence a join.
  void merge_single(const BasicObject& other) {
    auto mine = winner(), theirs = other.winner();
    VClock clock = siblings_.join();
    clock.merge(other.siblings_.join());
    std::optional<std::pair<Actor, Sibling>> best = mine;
    if (theirs && (!best || std::tie(best->second.last_modified, best->first, best->second) <
                                std::tie(theirs->second.last_modified, theirs->first, theirs->second)))
      best = theirs;
    if (!best) {
      siblings_.sync(other.siblings_);
    } else {
      siblings_.replace_all(clock, best->first, std::move(best->second));
    }
  }

  void collapse() { merge_single(BasicObject{}); }

  ObjectKey key_;
  Datatype datatype_ = Datatype::plain;
  HlcTimestamp generation_;  // zero until a retype under `any`
  HlcTimestamp modified_;    // greatest HLC of any write merged in
  std::optional<HlcTimestamp> expires_at_;  // of the write that set modified_
  HlcTimestamp deleted_at_;  // CRDT objects: greatest HLC of a delete
  DvvSet<Sibling> siblings_;  // plain objects
  std::optional<Payload> crdt_;  // CRDT objects
};

}  // namespace shoal::crdt

#if __has_include("crdt/any_crdt.hpp")
#include "crdt/any_crdt.hpp"
namespace shoal::crdt {
using Object = BasicObject<AnyCrdt>;
}  // namespace shoal::crdt
#endif
