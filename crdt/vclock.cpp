#include "crdt/vclock.hpp"

#include <algorithm>

#include "base/codec.hpp"
#include "crdt/crdt.hpp"

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kVClockVersion = 1;

auto find_actor(const std::vector<VClock::Entry>& entries, std::string_view actor) {
  return std::lower_bound(entries.begin(), entries.end(), actor,
                          [](const VClock::Entry& e, std::string_view a) { return e.first < a; });
}
}  // namespace

void Dot::encode(msgpack::packer<msgpack::sbuffer>& packer) const {
  packer.pack_array(2);
  codec::pack_bytes(packer, actor);
  packer.pack_uint64(counter);
}

Result<Dot> Dot::decode(const msgpack::object& object) {
  SHOAL_TRY(items, codec::expect_array(object, 2, 2, "dot"));
  SHOAL_TRY(actor, codec::expect_bytes(items[0], "dot actor", kActorBytesMax));
  SHOAL_TRY(counter, codec::expect_uint(items[1], "dot counter"));
  if (counter == 0) return make_error(Errc::malformed, "dot counter is zero");
  return Dot{std::move(actor), counter};
}

std::uint64_t VClock::get(std::string_view actor) const {
  auto it = find_actor(entries_, actor);
  return it != entries_.end() && it->first == actor ? it->second : 0;
}

Dot VClock::increment(const Actor& actor) {
  auto it = find_actor(entries_, actor);
  if (it != entries_.end() && it->first == actor) {
    SHOAL_ASSERT(it->second < UINT64_MAX, "vector clock counter overflow");
    return Dot{actor, ++entries_[static_cast<std::size_t>(it - entries_.begin())].second};
  }
  entries_.insert(it, Entry{actor, 1});
  return Dot{actor, 1};
}

void VClock::raise(const Actor& actor, std::uint64_t counter) {
  if (counter == 0) return;
  auto index = static_cast<std::size_t>(find_actor(entries_, actor) - entries_.begin());
  if (index < entries_.size() && entries_[index].first == actor) {
    entries_[index].second = std::max(entries_[index].second, counter);
  } else {
    entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(index), Entry{actor, counter});
  }
}

void VClock::merge(const VClock& other) {
  std::vector<Entry> merged;
  merged.reserve(entries_.size() + other.entries_.size());
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.end() || b != other.entries_.end()) {
    if (b == other.entries_.end() || (a != entries_.end() && a->first < b->first)) {
      merged.push_back(*a++);
    } else if (a == entries_.end() || b->first < a->first) {
      merged.push_back(*b++);
    } else {
      merged.emplace_back(a->first, std::max(a->second, b->second));
      ++a;
      ++b;
    }
  }
  entries_ = std::move(merged);
}

VClock VClock::intersection(const VClock& a, const VClock& b) {
  VClock result;
  for (const auto& [actor, counter] : a.entries_) {
    auto other = b.get(actor);
    if (other > 0) result.entries_.emplace_back(actor, std::min(counter, other));
  }
  return result;
}

bool VClock::descends(const VClock& other) const {
  return std::all_of(other.entries_.begin(), other.entries_.end(),
                     [this](const Entry& e) { return get(e.first) >= e.second; });
}

void VClock::encode_body(msgpack::packer<msgpack::sbuffer>& packer) const {
  packer.pack_array(static_cast<std::uint32_t>(entries_.size() * 2));
  for (const auto& [actor, counter] : entries_) {
    codec::pack_bytes(packer, actor);
    packer.pack_uint64(counter);
  }
}

Result<VClock> VClock::decode_body(const msgpack::object& object) {
  SHOAL_TRY(items, codec::expect_array(object, 0, 2 * kClockEntriesMax, "vclock"));
  if (items.size() % 2 != 0) return make_error(Errc::malformed, "vclock: odd number of fields");
  VClock clock;
  clock.entries_.reserve(items.size() / 2);
  for (std::size_t i = 0; i < items.size(); i += 2) {
    SHOAL_TRY(actor, codec::expect_bytes(items[i], "vclock actor", kActorBytesMax));
    SHOAL_TRY(counter, codec::expect_uint(items[i + 1], "vclock counter"));
    if (counter == 0) return make_error(Errc::malformed, "vclock: zero counter");
    // Canonical form only: strictly increasing actors. Anything else is
    // either corrupt or from a buggy peer, and accepting it would make equal
    // clocks encode differently.
    if (!clock.entries_.empty() && !(clock.entries_.back().first < actor))
      return make_error(Errc::malformed, "vclock: actors not strictly increasing");
    clock.entries_.emplace_back(std::move(actor), counter);
  }
  return clock;
}

void VClock::encode(msgpack::packer<msgpack::sbuffer>& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(TypeTag::vclock), kVClockVersion, 1);
  encode_body(packer);
}

Result<VClock> VClock::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(TypeTag::vclock), kVClockVersion, 1, 1,
                                         "vclock"));
  return decode_body(fields[0]);
}

}  // namespace shoal::crdt
