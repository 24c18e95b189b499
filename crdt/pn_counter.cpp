#include "crdt/pn_counter.hpp"

#include <limits>

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kPnCounterVersion = 1;

// Sums of up to kCounterEntriesMax uint64 values fit comfortably.
__extension__ using Wide = __int128;

Wide total(const std::map<Actor, PnCounter::Entry>& entries) {
  Wide sum = 0;
  for (const auto& [actor, entry] : entries) sum += static_cast<Wide>(entry.increments) - entry.decrements;
  return sum;
}

bool fits_int64(Wide v) {
  return v >= std::numeric_limits<std::int64_t>::min() && v <= std::numeric_limits<std::int64_t>::max();
}
}  // namespace

Result<PnCounter> PnCounter::apply(const Op& op, const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "counter: actor must be 1.." + std::to_string(kActorBytesMax) + " bytes");
  auto it = entries_.find(actor);
  if (it == entries_.end() && entries_.size() >= kCounterEntriesMax)
    return make_error(Errc::too_large, "counter: more than " + std::to_string(kCounterEntriesMax) + " actors");
  Entry entry = it == entries_.end() ? Entry{} : it->second;
  // The magnitude of INT64_MIN does not fit int64, so compute it unsigned.
  const std::uint64_t magnitude = op.delta < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(op.delta)
                                               : static_cast<std::uint64_t>(op.delta);
  std::uint64_t& side = op.delta < 0 ? entry.decrements : entry.increments;
  if (side > std::numeric_limits<std::uint64_t>::max() - magnitude)
    return make_error(Errc::too_large, "counter: actor " + actor + "'s cumulative count would overflow 64 bits");
  // Concurrent increments may already have pushed the value out of range;
  // then only ops that move it back are accepted.
  const Wide before = total(entries_);
  const Wide after = before + op.delta;
  if (!fits_int64(after) && (fits_int64(before) || (after > before) == (before > 0)))
    return make_error(Errc::too_large, "counter: value would leave the int64 range");
  side += magnitude;
  Dot dot = context_.next(actor);
  entry.counter = dot.counter;
  entries_[actor] = entry;

  PnCounter delta;
  delta.entries_.emplace(actor, entry);
  delta.context_.add(dot);
  return delta;
}

void PnCounter::merge(const PnCounter& other) {
  std::map<Actor, Entry> merged;
  auto mine = entries_.begin();
  auto theirs = other.entries_.begin();
  // A side's entry survives unless the other side saw its dot and no longer
  // has it (reset there, or replaced by a later dot there).
  auto survives = [](const Actor& actor, const Entry& entry, const PnCounter& opposite) {
    return !opposite.context_.contains(Dot{actor, entry.counter});
  };
  while (mine != entries_.end() || theirs != other.entries_.end()) {
    if (theirs == other.entries_.end() || (mine != entries_.end() && mine->first < theirs->first)) {
      if (survives(mine->first, mine->second, other)) merged.emplace_hint(merged.end(), *mine);
      ++mine;
    } else if (mine == entries_.end() || theirs->first < mine->first) {
      if (survives(theirs->first, theirs->second, *this)) merged.emplace_hint(merged.end(), *theirs);
      ++theirs;
    } else {
      const Entry& a = mine->second;
      const Entry& b = theirs->second;
      if (a.counter == b.counter) {
        merged.emplace_hint(merged.end(), *mine);
      } else {
        bool keep_a = survives(mine->first, a, other);
        bool keep_b = survives(theirs->first, b, *this);
        if (keep_a && keep_b) {
          merged.emplace_hint(merged.end(), a.counter > b.counter ? *mine : *theirs);
        } else if (keep_a) {
          merged.emplace_hint(merged.end(), *mine);
        } else if (keep_b) {
          merged.emplace_hint(merged.end(), *theirs);
        }
      }
      ++mine;
      ++theirs;
    }
  }
  entries_ = std::move(merged);
  context_.merge(other.context_);
}

PnCounter::Value PnCounter::value() const {
  Wide sum = total(entries_);
  if (sum > std::numeric_limits<std::int64_t>::max()) return std::numeric_limits<std::int64_t>::max();
  if (sum < std::numeric_limits<std::int64_t>::min()) return std::numeric_limits<std::int64_t>::min();
  return static_cast<Value>(sum);
}

Result<PnCounter::Value> PnCounter::checked_value() const {
  Wide sum = total(entries_);
  if (!fits_int64(sum)) return make_error(Errc::too_large, "counter: value is outside the int64 range");
  return static_cast<Value>(sum);
}

void PnCounter::reset(const VClock& context) {
  std::erase_if(entries_, [&](const auto& item) { return context.contains(Dot{item.first, item.second.counter}); });
  context_.absorb(context);
}

void PnCounter::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kPnCounterVersion, 2);
  packer.pack_array(static_cast<std::uint32_t>(entries_.size()));
  for (const auto& [actor, entry] : entries_) {
    packer.pack_array(4);
    codec::pack_bytes(packer, actor);
    packer.pack_uint64(entry.counter);
    packer.pack_uint64(entry.increments);
    packer.pack_uint64(entry.decrements);
  }
  context_.encode_body(packer);
}

Result<PnCounter> PnCounter::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kPnCounterVersion, 2, 2,
                                         "pn_counter"));
  SHOAL_TRY(items, codec::expect_array(fields[0], 0, kCounterEntriesMax, "counter entries"));
  PnCounter counter;
  SHOAL_TRY(context, DotContext::decode_body(fields[1]));
  counter.context_ = std::move(context);
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 4, 4, "counter entry"));
    SHOAL_TRY(actor, codec::expect_bytes(parts[0], "counter actor", kActorBytesMax));
    SHOAL_TRY(dot_counter, codec::expect_uint(parts[1], "counter entry dot"));
    SHOAL_TRY(increments, codec::expect_uint(parts[2], "counter increments"));
    SHOAL_TRY(decrements, codec::expect_uint(parts[3], "counter decrements"));
    if (actor.empty()) return make_error(Errc::malformed, "counter: empty actor");
    if (dot_counter == 0) return make_error(Errc::malformed, "counter: entry dot is zero");
    if (!counter.entries_.empty() && !(counter.entries_.rbegin()->first < actor))
      return make_error(Errc::malformed, "counter: entries not strictly sorted by actor");
    // Every entry's dot is in the context (apply and merge keep it so); an
    // entry outside it would be dropped or resurrected arbitrarily by merges.
    if (!counter.context_.contains(Dot{actor, dot_counter}))
      return make_error(Errc::malformed, "counter: entry dot not in the context");
    counter.entries_.emplace_hint(counter.entries_.end(), std::move(actor), Entry{dot_counter, increments, decrements});
  }
  return counter;
}

}  // namespace shoal::crdt
