#include "crdt/dot_context.hpp"

#include "base/codec.hpp"

namespace shoal::crdt {

void DotContext::add(const Dot& dot) {
  if (contains(dot)) return;
  cloud_.insert(dot);
  compact();
}

Dot DotContext::next(const Actor& actor) {
  Dot dot = clock_.increment(actor);
  SHOAL_ASSERT(!cloud_.contains(dot), "next dot already in the cloud: actor events not contiguous");
  compact();
  return dot;
}

void DotContext::merge(const DotContext& other) {
  clock_.merge(other.clock_);
  cloud_.insert(other.cloud_.begin(), other.cloud_.end());
  compact();
}

void DotContext::absorb(const VClock& clock) {
  clock_.merge(clock);
  compact();
}

bool DotContext::descends(const VClock& clock) const {
  for (const auto& [actor, counter] : clock.entries()) {
    if (clock_.get(actor) >= counter) continue;
    for (auto n = clock_.get(actor) + 1; n <= counter; ++n)
      if (!cloud_.contains(Dot{actor, n})) return false;
  }
  return true;
}

void DotContext::compact() {
  // Cloud dots are ordered by (actor, counter): one pass folds every run that
  // continues an actor's contiguous prefix and drops dots already covered.
  for (auto it = cloud_.begin(); it != cloud_.end();) {
    std::uint64_t have = clock_.get(it->actor);
    if (it->counter <= have) {
      it = cloud_.erase(it);
    } else if (it->counter == have + 1) {
      clock_.raise(it->actor, it->counter);
      it = cloud_.erase(it);
    } else {
      ++it;
    }
  }
}

void DotContext::encode_body(msgpack::packer<msgpack::sbuffer>& packer) const {
  packer.pack_array(2);
  clock_.encode_body(packer);
  packer.pack_array(static_cast<std::uint32_t>(cloud_.size()));
  for (const auto& dot : cloud_) dot.encode(packer);
}

Result<DotContext> DotContext::decode_body(const msgpack::object& object) {
  SHOAL_TRY(items, codec::expect_array(object, 2, 2, "dot context"));
  SHOAL_TRY(clock, VClock::decode_body(items[0]));
  SHOAL_TRY(cloud, codec::expect_array(items[1], 0, kDotCloudMax, "dot cloud"));
  DotContext context(std::move(clock));
  for (const auto& item : cloud) {
    SHOAL_TRY(dot, Dot::decode(item));
    if (context.clock_.contains(dot) || (!context.cloud_.empty() && !(*context.cloud_.rbegin() < dot)))
      return make_error(Errc::malformed, "dot cloud not canonical (covered or unordered dot)");
    context.cloud_.insert(std::move(dot));
  }
  // A cloud dot that would compact is not canonical either.
  DotContext compacted = context;
  compacted.compact();
  if (!(compacted == context)) return make_error(Errc::malformed, "dot cloud not compacted");
  return context;
}

}  // namespace shoal::crdt
