#include "crdt/lww_register.hpp"

#include <tuple>

#include "base/codec.hpp"

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kLwwVersion = 1;

bool ranks_below(const std::pair<const Dot, LwwRegister::Entry>& a, const std::pair<const Dot, LwwRegister::Entry>& b) {
  return std::tie(a.second.timestamp, a.first.actor, a.second.value, a.first.counter) <
         std::tie(b.second.timestamp, b.first.actor, b.second.value, b.first.counter);
}
}  // namespace

Result<LwwRegister> LwwRegister::apply(const Op& op, const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "lww register: actor must be 1.." + std::to_string(kActorBytesMax) +
                                                  " bytes");
  if (op.value.size() > kRegisterValueBytesMax)
    return make_error(Errc::too_large, "lww register: value of " + std::to_string(op.value.size()) +
                                           " bytes exceeds the limit of " + std::to_string(kRegisterValueBytesMax));
  LwwRegister delta;
  for (const auto& [dot, entry] : entries_) delta.context_.add(dot);
  entries_.clear();
  Dot dot = context_.next(actor);
  delta.context_.add(dot);
  Entry entry{op.timestamp, op.value};
  delta.entries_.emplace(dot, entry);
  entries_.emplace(std::move(dot), std::move(entry));
  return delta;
}

void LwwRegister::merge(const LwwRegister& other) {
  detail::join_dot_fun(entries_, context_, other.entries_, other.context_);
  context_.merge(other.context_);
}

std::optional<std::pair<Dot, LwwRegister::Entry>> LwwRegister::winner() const {
  if (entries_.empty()) return std::nullopt;
  auto best = entries_.begin();
  for (auto it = std::next(best); it != entries_.end(); ++it)
    if (ranks_below(*best, *it)) best = it;
  return std::make_pair(best->first, best->second);
}

LwwRegister::Value LwwRegister::value() const {
  auto best = winner();
  if (!best) return std::nullopt;
  return best->second.value;
}

void LwwRegister::reset(const VClock& context) { detail::reset_dot_fun(entries_, context_, context); }

void LwwRegister::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kLwwVersion, 2);
  packer.pack_array(static_cast<std::uint32_t>(entries_.size()));
  for (const auto& [dot, entry] : entries_) {
    packer.pack_array(3);
    dot.encode(packer);
    entry.timestamp.encode_body(packer);
    codec::pack_bytes(packer, entry.value);
  }
  context_.encode_body(packer);
}

Result<LwwRegister> LwwRegister::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kLwwVersion, 2, 2,
                                         "lww register"));
  SHOAL_TRY(items, codec::expect_array(fields[0], 0, kRegisterEntriesMax, "lww register entries"));
  LwwRegister reg;
  SHOAL_TRY(context, DotContext::decode_body(fields[1]));
  reg.context_ = std::move(context);
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 3, 3, "lww register entry"));
    SHOAL_TRY(dot, Dot::decode(parts[0]));
    SHOAL_TRY(timestamp, HlcTimestamp::decode_body(parts[1]));
    SHOAL_TRY(value, codec::expect_bytes(parts[2], "lww register value", kRegisterValueBytesMax));
    if (!reg.entries_.empty() && !(reg.entries_.rbegin()->first < dot))
      return make_error(Errc::malformed, "lww register: entries not in strictly increasing dot order");
    if (!reg.context_.contains(dot))
      return make_error(Errc::malformed, "lww register: entry dot missing from its context");
    reg.entries_.emplace(std::move(dot), Entry{timestamp, std::move(value)});
  }
  return reg;
}

}  // namespace shoal::crdt
