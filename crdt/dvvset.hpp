// Dotted version vector sets: the siblings of a plain (non-CRDT) object.
//
// Follows Almeida, Baquero, Gonçalves, Preguiça, Fonte, "Scalable and Accurate
// Causality Tracking for Eventually Consistent Stores" (DAIS 2014; riak_kv's
// dvvset.erl). The compact form is {[{actor, counter, [values]}], [anonymous]}:
// the values of an actor's entry carry the dots counter, counter-1, ...
// (newest first), so each sibling is tagged with exactly the event that wrote
// it. A client reads `values()` and the context `join()`; its write,
// `update(value, context, actor)`, drops exactly the siblings that context
// covers and adds one new sibling. Two clients writing alternately with stale
// contexts therefore keep at most two siblings instead of the ever-growing
// set per-actor version vectors produce ("sibling explosion"). `sync` merges
// two replicas: a sibling survives unless the other side saw its dot and no
// longer holds it. Owned by crdt/; values are thread-compatible.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/codec.hpp"
#include "base/result.hpp"
#include "crdt/crdt.hpp"
#include "crdt/vclock.hpp"

namespace shoal::crdt {

// `update` refuses to grow a set past these (the write returns too_large and
// the stored set is unchanged). `sync` never refuses: refusing a merge would
// stop replicas from converging.
struct DvvSetLimits {
  std::size_t siblings_max = 100;
  std::size_t actors_max = 1024;
};

// Hard caps on what a decoder accepts from disk or a peer: far above the
// update limits, because merges of replicas that were each under the update
// limit may legitimately exceed it.
inline constexpr std::size_t kDvvSetSiblingsDecodeMax = 1 << 16;
inline constexpr std::size_t kDvvSetActorsDecodeMax = kClockEntriesMax;
inline constexpr std::size_t kDvvSetValueBytesMax = 64 * 1024 * 1024;

// How a sibling value is encoded; specialise for types without encode/decode
// members.
template <typename V>
struct DvvValueCodec {
  static void encode(Packer& packer, const V& value) { value.encode(packer); }
  static Result<V> decode(const msgpack::object& object) { return V::decode(object); }
};

template <>
struct DvvValueCodec<std::string> {
  static void encode(Packer& packer, const std::string& value) { codec::pack_bytes(packer, value); }
  static Result<std::string> decode(const msgpack::object& object) {
    return codec::expect_bytes(object, "dvvset value", kDvvSetValueBytesMax);
  }
};

// V needs ==, < (a total order: it breaks ties deterministically) and a
// DvvValueCodec.
template <typename V>
class DvvSet {
 public:
  struct Entry {
    Actor actor;
    std::uint64_t counter = 0;  // events of `actor` this set has seen
    std::vector<V> values;      // values[i] was written by dot (actor, counter - i)
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  static constexpr TypeTag kTypeTag = TypeTag::dvvset;
  static constexpr std::uint8_t kVersion = 1;

  DvvSet() = default;

  // A value not yet written by any actor (dvvset:new/1): what a client sends.
  static DvvSet new_value(V value) {
    DvvSet set;
    set.anonymous_.push_back(std::move(value));
    return set;
  }

  // The client write: `value`, written by `actor` (the coordinating vnode),
  // replaces every sibling `context` covers (the context the client read;
  // empty for a blind write). dvvset:update/3.
  Result<void> update(V value, const VClock& context, const Actor& actor, const DvvSetLimits& limits = {}) {
    if (actor.empty() || actor.size() > kActorBytesMax)
      return make_error(Errc::invalid_argument, "dvvset update: actor must be 1.." +
                                                    std::to_string(kActorBytesMax) + " bytes");
    DvvSet result;
    result.entries_.reserve(context.size());
    for (const auto& [context_actor, counter] : context.entries())
      result.entries_.push_back(Entry{context_actor, counter, {}});
    result.sync(*this);
    // Values that were never given a dot cannot be told apart from the ones
    // the client saw; dvvset.erl keeps them, and so do we.
    result.event(actor, std::move(value));
    if (result.size() > limits.siblings_max)
      return make_error(Errc::too_large, "write would leave " + std::to_string(result.size()) +
                                             " siblings, over the limit of " +
                                             std::to_string(limits.siblings_max) +
                                             ": read the object and write back with its context to resolve them");
    if (result.entries_.size() > limits.actors_max)
      return make_error(Errc::too_large, "write would leave " + std::to_string(result.entries_.size()) +
                                             " actors in the version vector, over the limit of " +
                                             std::to_string(limits.actors_max));
    *this = std::move(result);
    return ok();
  }

  // The same, taking the client's `new_value(value)`.
  Result<void> update(const DvvSet& fresh, const VClock& context, const Actor& actor,
                      const DvvSetLimits& limits = {}) {
    if (!fresh.entries_.empty() || fresh.anonymous_.size() != 1)
      return make_error(Errc::invalid_argument, "dvvset update: expected exactly one new value");
    return update(fresh.anonymous_.front(), context, actor, limits);
  }

  // Merge (dvvset:sync/2): commutative, associative, idempotent.
  void sync(const DvvSet& other) {
    // Anonymous values: a side whose clock is strictly older contributes none.
    std::vector<V> anonymous;
    VClock mine = join(), theirs = other.join();
    if (theirs.dominates(mine)) {
      anonymous = other.anonymous_;
    } else if (mine.dominates(theirs)) {
      anonymous = anonymous_;
    } else {
      anonymous = anonymous_;
      anonymous.insert(anonymous.end(), other.anonymous_.begin(), other.anonymous_.end());
      std::sort(anonymous.begin(), anonymous.end());
      anonymous.erase(std::unique(anonymous.begin(), anonymous.end()), anonymous.end());
    }
    std::vector<Entry> merged;
    merged.reserve(entries_.size() + other.entries_.size());
    auto a = entries_.begin();
    auto b = other.entries_.begin();
    while (a != entries_.end() || b != other.entries_.end()) {
      if (b == other.entries_.end() || (a != entries_.end() && a->actor < b->actor)) {
        merged.push_back(*a++);
      } else if (a == entries_.end() || b->actor < a->actor) {
        merged.push_back(*b++);
      } else {
        merged.push_back(merge_entry(*a, *b));
        ++a;
        ++b;
      }
    }
    entries_ = std::move(merged);
    anonymous_ = std::move(anonymous);
  }

  // The causal context a client reads (dvvset:join/1).
  VClock join() const {
    VClock clock;
    for (const auto& entry : entries_) clock.raise(entry.actor, entry.counter);
    return clock;
  }

  // Every sibling: entries in actor order (newest first within one), then
  // anonymous values in value order. Deterministic for equal sets.
  std::vector<V> values() const {
    std::vector<V> out;
    out.reserve(size());
    for (const auto& entry : entries_) out.insert(out.end(), entry.values.begin(), entry.values.end());
    out.insert(out.end(), anonymous_.begin(), anonymous_.end());
    return out;
  }

  std::size_t size() const {
    std::size_t n = anonymous_.size();
    for (const auto& entry : entries_) n += entry.values.size();
    return n;
  }

  const std::vector<Entry>& entries() const { return entries_; }
  const std::vector<V>& anonymous() const { return anonymous_; }

  // Keeps a single value: `clock` (which must descend this set's join) with
  // every entry emptied except `actor`'s, which holds `value` as its newest
  // event (dvvset.erl's join-and-replace, used by last-write-wins).
  void replace_all(const VClock& clock, const Actor& actor, V value) {
    entries_.clear();
    for (const auto& [clock_actor, counter] : clock.entries()) entries_.push_back(Entry{clock_actor, counter, {}});
    anonymous_.clear();
    auto it = find(actor);
    if (it == entries_.end() || it->actor != actor) it = entries_.insert(it, Entry{actor, 1, {}});
    it->values.push_back(std::move(value));
  }

  friend bool operator==(const DvvSet&, const DvvSet&) = default;

  void encode(Packer& packer) const {
    codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kVersion, 2);
    encode_body(packer);
  }

  static Result<DvvSet> decode(const msgpack::object& object) {
    SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kVersion, 2, 2, "dvvset"));
    return decode_fields(fields[0], fields[1]);
  }

  // Without the type header, for embedding (the stored object).
  void encode_body(Packer& packer) const {
    packer.pack_array(static_cast<std::uint32_t>(entries_.size()));
    for (const auto& entry : entries_) {
      packer.pack_array(3);
      codec::pack_bytes(packer, entry.actor);
      packer.pack_uint64(entry.counter);
      packer.pack_array(static_cast<std::uint32_t>(entry.values.size()));
      for (const auto& value : entry.values) DvvValueCodec<V>::encode(packer, value);
    }
    packer.pack_array(static_cast<std::uint32_t>(anonymous_.size()));
    for (const auto& value : anonymous_) DvvValueCodec<V>::encode(packer, value);
  }

  static Result<DvvSet> decode_fields(const msgpack::object& entries_object, const msgpack::object& anonymous_object) {
    SHOAL_TRY(entries, codec::expect_array(entries_object, 0, kDvvSetActorsDecodeMax, "dvvset entries"));
    DvvSet set;
    std::size_t siblings = 0;
    set.entries_.reserve(entries.size());
    for (const auto& item : entries) {
      SHOAL_TRY(fields, codec::expect_array(item, 3, 3, "dvvset entry"));
      SHOAL_TRY(actor, codec::expect_bytes(fields[0], "dvvset actor", kActorBytesMax));
      SHOAL_TRY(counter, codec::expect_uint(fields[1], "dvvset counter"));
      SHOAL_TRY(values, codec::expect_array(fields[2], 0, kDvvSetSiblingsDecodeMax, "dvvset entry values"));
      if (counter == 0) return make_error(Errc::malformed, "dvvset: zero counter");
      if (values.size() > counter) return make_error(Errc::malformed, "dvvset: more values than events");
      if (!set.entries_.empty() && !(set.entries_.back().actor < actor))
        return make_error(Errc::malformed, "dvvset: actors not strictly increasing");
      siblings += values.size();
      if (siblings > kDvvSetSiblingsDecodeMax) return make_error(Errc::too_large, "dvvset: too many siblings");
      Entry entry{std::move(actor), counter, {}};
      entry.values.reserve(values.size());
      for (const auto& value_object : values) {
        SHOAL_TRY(value, DvvValueCodec<V>::decode(value_object));
        entry.values.push_back(std::move(value));
      }
      set.entries_.push_back(std::move(entry));
    }
    SHOAL_TRY(anonymous, codec::expect_array(anonymous_object, 0, kDvvSetSiblingsDecodeMax, "dvvset anonymous"));
    if (siblings + anonymous.size() > kDvvSetSiblingsDecodeMax)
      return make_error(Errc::too_large, "dvvset: too many siblings");
    for (const auto& value_object : anonymous) {
      SHOAL_TRY(value, DvvValueCodec<V>::decode(value_object));
      if (!set.anonymous_.empty() && !(set.anonymous_.back() < value))
        return make_error(Errc::malformed, "dvvset: anonymous values not strictly increasing");
      set.anonymous_.push_back(std::move(value));
    }
    return set;
  }

 private:
  typename std::vector<Entry>::iterator find(const Actor& actor) {
    return std::lower_bound(entries_.begin(), entries_.end(), actor,
                            [](const Entry& e, const Actor& a) { return e.actor < a; });
  }

  // dvvset:event/3: the actor's next dot carries `value`.
  void event(const Actor& actor, V value) {
    auto it = find(actor);
    if (it == entries_.end() || it->actor != actor) {
      entries_.insert(it, Entry{actor, 1, {std::move(value)}});
      return;
    }
    SHOAL_ASSERT(it->counter < UINT64_MAX, "dvvset counter overflow");
    ++it->counter;
    it->values.insert(it->values.begin(), std::move(value));
  }

  // dvvset:merge/5. Each side keeps the values whose dots the other has not
  // seen; the side with the higher counter saw everything the other's values
  // below its own range. Equal ranges with different values cannot come from
  // correct replicas (a dot names one write); the larger list wins so that the
  // merge stays commutative even then.
  static Entry merge_entry(const Entry& a, const Entry& b) {
    if (a.counter < b.counter) return merge_entry(b, a);
    // a.counter >= b.counter
    std::uint64_t a_floor = a.counter - a.values.size();  // dots above this are held by a
    std::uint64_t b_floor = b.counter - b.values.size();
    if (a.counter == b.counter && a_floor == b_floor) return a.values < b.values ? b : a;
    if (a_floor >= b_floor) return a;
    // b discarded the values at or below its floor: a keeps only its values
    // above b's floor (fewer than it has, since a_floor < b_floor).
    Entry out{a.actor, a.counter, {}};
    std::size_t keep = static_cast<std::size_t>(a.counter - b_floor);
    out.values.assign(a.values.begin(), a.values.begin() + static_cast<std::ptrdiff_t>(keep));
    return out;
  }

  std::vector<Entry> entries_;  // sorted by actor
  std::vector<V> anonymous_;    // sorted, unique
};

}  // namespace shoal::crdt
