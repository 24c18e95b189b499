#include "crdt/mv_register.hpp"

#include <algorithm>

#include "base/codec.hpp"

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kMvVersion = 1;
}  // namespace

Result<MvRegister> MvRegister::apply(const Op& op, const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "mv register: actor must be 1.." + std::to_string(kActorBytesMax) +
                                                  " bytes");
  if (op.value.size() > kRegisterValueBytesMax)
    return make_error(Errc::too_large, "mv register: value of " + std::to_string(op.value.size()) +
                                           " bytes exceeds the limit of " + std::to_string(kRegisterValueBytesMax));
  MvRegister delta;
  for (const auto& [dot, value] : entries_) delta.context_.add(dot);
  entries_.clear();
  Dot dot = context_.next(actor);
  delta.context_.add(dot);
  delta.entries_.emplace(dot, op.value);
  entries_.emplace(std::move(dot), op.value);
  return delta;
}

void MvRegister::merge(const MvRegister& other) {
  detail::join_dot_fun(entries_, context_, other.entries_, other.context_);
  context_.merge(other.context_);
}

MvRegister::Value MvRegister::value() const {
  Value out;
  out.reserve(entries_.size());
  for (const auto& [dot, value] : entries_) out.push_back(value);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void MvRegister::reset(const VClock& context) { detail::reset_dot_fun(entries_, context_, context); }

void MvRegister::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kMvVersion, 2);
  packer.pack_array(static_cast<std::uint32_t>(entries_.size()));
  for (const auto& [dot, value] : entries_) {
    packer.pack_array(2);
    dot.encode(packer);
    codec::pack_bytes(packer, value);
  }
  context_.encode_body(packer);
}

Result<MvRegister> MvRegister::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kMvVersion, 2, 2,
                                         "mv register"));
  SHOAL_TRY(items, codec::expect_array(fields[0], 0, kRegisterEntriesMax, "mv register entries"));
  MvRegister reg;
  SHOAL_TRY(context, DotContext::decode_body(fields[1]));
  reg.context_ = std::move(context);
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 2, 2, "mv register entry"));
    SHOAL_TRY(dot, Dot::decode(parts[0]));
    SHOAL_TRY(value, codec::expect_bytes(parts[1], "mv register value", kRegisterValueBytesMax));
    if (!reg.entries_.empty() && !(reg.entries_.rbegin()->first < dot))
      return make_error(Errc::malformed, "mv register: entries not in strictly increasing dot order");
    if (!reg.context_.contains(dot))
      return make_error(Errc::malformed, "mv register: entry dot missing from its context");
    reg.entries_.emplace(std::move(dot), std::move(value));
  }
  return reg;
}

}  // namespace shoal::crdt
