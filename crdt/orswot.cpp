#include "crdt/orswot.hpp"

#include <algorithm>

#include "base/codec.hpp"

namespace shoal::crdt {

namespace {

// Keeps the dots of `dots` that `seen` has not seen: the survivors of a
// merge with a side that does not hold them.
template <typename Pred>
void erase_dots_if(Orswot::Dots& dots, Pred pred) {
  dots.erase(std::remove_if(dots.begin(), dots.end(), pred), dots.end());
}

void keep_unseen(Orswot::Dots& dots, const DotContext& seen) {
  erase_dots_if(dots, [&](const Dot& d) { return seen.contains(d); });
}

// Dots on both sides, plus dots on one side the other has never seen
// (sorted inputs, sorted output).
Orswot::Dots merge_dots(const Orswot::Dots& a, const DotContext& a_seen, const Orswot::Dots& b,
                        const DotContext& b_seen) {
  Orswot::Dots out;
  out.reserve(std::max(a.size(), b.size()));
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

std::string describe(std::string_view element) {
  constexpr std::size_t kShown = 64;
  std::string shown(element.substr(0, kShown));
  if (element.size() > kShown) shown += "...";
  return "'" + shown + "'";
}

}  // namespace

Orswot::Op Orswot::Op::add(std::string element) { return Op{Kind::add, {std::move(element)}, std::nullopt}; }

Orswot::Op Orswot::Op::add_all(std::vector<std::string> elements) {
  return Op{Kind::add, std::move(elements), std::nullopt};
}

Orswot::Op Orswot::Op::remove(std::string element, std::optional<VClock> context) {
  return Op{Kind::remove, {std::move(element)}, std::move(context)};
}

Orswot::Op Orswot::Op::remove_all(std::vector<std::string> elements, std::optional<VClock> context) {
  return Op{Kind::remove, std::move(elements), std::move(context)};
}

Result<void> Orswot::check_op(const Op& op) const {
  if (op.elements.size() > kSetOpElementsMax)
    return make_error(Errc::too_large, "set op names " + std::to_string(op.elements.size()) +
                                           " elements; at most " + std::to_string(kSetOpElementsMax) + " per op");
  std::size_t added = 0;
  for (const auto& element : op.elements) {
    if (element.size() > kSetElementBytesMax)
      return make_error(Errc::too_large, "set element of " + std::to_string(element.size()) +
                                             " bytes exceeds the limit of " + std::to_string(kSetElementBytesMax));
    if (op.kind == Op::Kind::add && !contains(element)) ++added;
    if (op.kind == Op::Kind::remove && !op.context && !contains(element))
      return make_error(Errc::precondition_failed,
                        "cannot remove element " + describe(element) + ": it is not in the set");
  }
  if (op.kind == Op::Kind::add && entries_.size() + added > kSetElementsMax)
    return make_error(Errc::too_large, "set would hold more than " + std::to_string(kSetElementsMax) + " elements");
  if (op.kind == Op::Kind::remove && op.context && !context_.descends(*op.context) &&
      !deferred_.contains(*op.context) && deferred_.size() >= kSetDeferredMax)
    return make_error(Errc::too_large, "set already holds " + std::to_string(kSetDeferredMax) +
                                           " removes waiting for unseen updates; retry after anti-entropy");
  return ok();
}

void Orswot::add_elements(const std::vector<std::string>& elements, const Actor& actor, Orswot& delta) {
  for (const auto& element : elements) {
    Dot dot = context_.next(actor);
    auto [it, inserted] = entries_.try_emplace(element);
    // The add observed the element's current dots: the delta carries them in
    // its context so that merging it drops them everywhere, as here.
    for (const auto& old : it->second) delta.context_.add(old);
    it->second.assign(1, dot);
    delta.context_.add(dot);
    delta.entries_[element] = Dots{dot};
  }
}

void Orswot::remove_covered(const std::string& element, const VClock& clock, Orswot* delta) {
  auto it = entries_.find(element);
  if (it == entries_.end()) return;
  erase_dots_if(it->second, [&](const Dot& d) {
    if (!clock.contains(d)) return false;
    if (delta) delta->context_.add(d);
    return true;
  });
  if (it->second.empty()) entries_.erase(it);
}

void Orswot::apply_deferred() {
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    for (const auto& element : it->second) remove_covered(element, it->first, nullptr);
    it = context_.descends(it->first) ? deferred_.erase(it) : std::next(it);
  }
}

Result<Orswot> Orswot::apply(const Op& op, const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "actor must be 1.." + std::to_string(kActorBytesMax) + " bytes");
  SHOAL_TRYV(check_op(op));
  // Naming an element twice in one op means the same as naming it once.
  std::vector<std::string> elements = op.elements;
  std::sort(elements.begin(), elements.end());
  elements.erase(std::unique(elements.begin(), elements.end()), elements.end());

  Orswot delta;
  if (op.kind == Op::Kind::add) {
    add_elements(elements, actor, delta);
  } else if (!op.context) {
    for (const auto& element : elements) {
      auto it = entries_.find(element);
      for (const auto& d : it->second) delta.context_.add(d);
      entries_.erase(it);
    }
  } else {
    const VClock& clock = *op.context;
    for (const auto& element : elements) remove_covered(element, clock, &delta);
    if (!context_.descends(clock)) {
      deferred_[clock].insert(elements.begin(), elements.end());
      delta.deferred_[clock].insert(elements.begin(), elements.end());
    }
  }
  apply_deferred();
  return delta;
}

void Orswot::merge(const Orswot& other) {
  // One ordered pass over both element maps; elements only here are filtered
  // in place, elements only there are copied in with a position hint, so a
  // merge is O(n + m) with allocations only for what is new.
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.end() || b != other.entries_.end()) {
    if (b == other.entries_.end() || (a != entries_.end() && a->first < b->first)) {
      keep_unseen(a->second, other.context_);
      a = a->second.empty() ? entries_.erase(a) : std::next(a);
    } else if (a == entries_.end() || b->first < a->first) {
      Dots dots;
      for (const auto& d : b->second)
        if (!context_.contains(d)) dots.push_back(d);
      if (!dots.empty()) entries_.emplace_hint(a, b->first, std::move(dots));
      ++b;
    } else {
      if (a->second != b->second) a->second = merge_dots(a->second, context_, b->second, other.context_);
      a = a->second.empty() ? entries_.erase(a) : std::next(a);
      ++b;
    }
  }
  context_.merge(other.context_);
  for (const auto& [clock, elements] : other.deferred_) deferred_[clock].insert(elements.begin(), elements.end());
  apply_deferred();
}

Orswot::Value Orswot::value() const {
  Value out;
  for (const auto& entry : entries_) out.insert(out.end(), entry.first);
  return out;
}

void Orswot::reset(const VClock& context) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    erase_dots_if(it->second, [&](const Dot& d) { return context.contains(d); });
    it = it->second.empty() ? entries_.erase(it) : std::next(it);
  }
  context_.absorb(context);
  apply_deferred();
}

void Orswot::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kVersion, 3);
  packer.pack_array(static_cast<std::uint32_t>(entries_.size()));
  for (const auto& [element, dots] : entries_) {
    packer.pack_array(2);
    codec::pack_bytes(packer, element);
    packer.pack_array(static_cast<std::uint32_t>(dots.size()));
    for (const auto& d : dots) d.encode(packer);
  }
  context_.encode_body(packer);
  packer.pack_array(static_cast<std::uint32_t>(deferred_.size()));
  for (const auto& [clock, elements] : deferred_) {
    packer.pack_array(2);
    clock.encode_body(packer);
    packer.pack_array(static_cast<std::uint32_t>(elements.size()));
    for (const auto& element : elements) codec::pack_bytes(packer, element);
  }
}

Result<Orswot> Orswot::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kVersion, 3, 3, "orswot"));
  Orswot set;
  SHOAL_TRY(context, DotContext::decode_body(fields[1]));
  set.context_ = std::move(context);

  SHOAL_TRY(entries, codec::expect_array(fields[0], 0, kSetElementsMax, "orswot elements"));
  auto hint = set.entries_.end();
  for (const auto& entry : entries) {
    SHOAL_TRY(pair, codec::expect_array(entry, 2, 2, "orswot element"));
    SHOAL_TRY(element, codec::expect_bytes(pair[0], "orswot element", kSetElementBytesMax));
    if (!set.entries_.empty() && !(set.entries_.rbegin()->first < element))
      return make_error(Errc::malformed, "orswot: elements not strictly increasing");
    SHOAL_TRY(dot_items, codec::expect_array(pair[1], 1, kClockEntriesMax, "orswot element dots"));
    Dots dots;
    dots.reserve(dot_items.size());
    for (const auto& item : dot_items) {
      SHOAL_TRY(d, Dot::decode(item));
      if (!dots.empty() && !(dots.back() < d)) return make_error(Errc::malformed, "orswot: dots not strictly increasing");
      // A held dot the context has not seen breaks merge (it could never be
      // recognised as removed): corrupt or forged.
      if (!set.context_.contains(d)) return make_error(Errc::malformed, "orswot: element dot outside the context");
      dots.push_back(std::move(d));
    }
    hint = set.entries_.emplace_hint(hint, std::move(element), std::move(dots));
  }

  SHOAL_TRY(deferred, codec::expect_array(fields[2], 0, kSetDeferredMax, "orswot deferred removes"));
  for (const auto& entry : deferred) {
    SHOAL_TRY(pair, codec::expect_array(entry, 2, 2, "orswot deferred remove"));
    SHOAL_TRY(clock, VClock::decode_body(pair[0]));
    if (clock.empty() || set.context_.descends(clock))
      return make_error(Errc::malformed, "orswot: deferred remove whose context is already seen");
    if (!set.deferred_.empty() && !VClockLess{}(set.deferred_.rbegin()->first, clock))
      return make_error(Errc::malformed, "orswot: deferred removes not strictly increasing");
    SHOAL_TRY(element_items, codec::expect_array(pair[1], 1, kSetElementsMax, "orswot deferred elements"));
    std::set<std::string> elements;
    for (const auto& item : element_items) {
      SHOAL_TRY(element, codec::expect_bytes(item, "orswot deferred element", kSetElementBytesMax));
      if (!elements.empty() && !(*elements.rbegin() < element))
        return make_error(Errc::malformed, "orswot: deferred elements not strictly increasing");
      auto it = set.entries_.find(element);
      if (it != set.entries_.end() &&
          std::any_of(it->second.begin(), it->second.end(), [&](const Dot& d) { return clock.contains(d); }))
        return make_error(Errc::malformed, "orswot: element holds a dot its deferred remove covers");
      elements.insert(elements.end(), std::move(element));
    }
    set.deferred_.emplace_hint(set.deferred_.end(), std::move(clock), std::move(elements));
  }
  return set;
}

}  // namespace shoal::crdt
