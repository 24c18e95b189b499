#include "crdt/flag.hpp"

#include <algorithm>
#include <iterator>

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kFlagVersion = 1;
}

Result<EnableWinsFlag> EnableWinsFlag::apply(Op op, const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "flag: actor must be 1.." + std::to_string(kActorBytesMax) + " bytes");
  if (op != Op::enable && op != Op::disable) return make_error(Errc::invalid_argument, "flag: unknown op");
  // The delta's context names the dots it removes, so a replica merging it
  // drops exactly those and keeps enables it has but this replica had not seen.
  EnableWinsFlag delta;
  for (const auto& dot : dots_) delta.context_.add(dot);
  dots_.clear();
  if (op == Op::enable) {
    Dot dot = context_.next(actor);
    dots_.insert(dot);
    delta.dots_.insert(dot);
    delta.context_.add(dot);
  }
  return delta;
}

void EnableWinsFlag::merge(const EnableWinsFlag& other) {
  std::set<Dot> merged;
  for (const auto& dot : dots_)
    if (other.dots_.contains(dot) || !other.context_.contains(dot)) merged.insert(merged.end(), dot);
  for (const auto& dot : other.dots_)
    if (!dots_.contains(dot) && !context_.contains(dot)) merged.insert(dot);
  dots_ = std::move(merged);
  context_.merge(other.context_);
}

void EnableWinsFlag::reset(const VClock& context) {
  std::erase_if(dots_, [&](const Dot& dot) { return context.contains(dot); });
  context_.absorb(context);
}

void EnableWinsFlag::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kFlagVersion, 2);
  packer.pack_array(static_cast<std::uint32_t>(dots_.size()));
  for (const auto& dot : dots_) dot.encode(packer);
  context_.encode_body(packer);
}

Result<EnableWinsFlag> EnableWinsFlag::decode(const msgpack::object& object) {
  SHOAL_TRY(fields,
            codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kFlagVersion, 2, 2, "flag"));
  SHOAL_TRY(items, codec::expect_array(fields[0], 0, kFlagDotsMax, "flag dots"));
  EnableWinsFlag flag;
  SHOAL_TRY(context, DotContext::decode_body(fields[1]));
  flag.context_ = std::move(context);
  for (const auto& item : items) {
    SHOAL_TRY(dot, Dot::decode(item));
    if (!flag.dots_.empty() && !(*flag.dots_.rbegin() < dot))
      return make_error(Errc::malformed, "flag: dots not strictly sorted");
    if (!flag.context_.contains(dot)) return make_error(Errc::malformed, "flag: dot not in the context");
    flag.dots_.insert(flag.dots_.end(), std::move(dot));
  }
  return flag;
}

}  // namespace shoal::crdt
