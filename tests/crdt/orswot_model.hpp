// The add-wins reference model of Orswot for the property harness, shared by
// the set's own test and the map's (whose set fields use it). Test code.
#pragma once

#include <algorithm>
#include <map>
#include <set>

#include "crdt/orswot.hpp"
#include "tests/crdt/harness.hpp"

namespace shoal::crdt::testing {

// Removes and adds name elements from a small universe so that concurrent
// adds and removes of the same element are common. Remove contexts are the
// replica's own clock, sometimes raised past it (a client that read a replica
// which had seen more), which exercises deferred removes.
template <>
struct Model<Orswot> {
  static constexpr bool allows_reset = true;

  static std::string random_element(std::mt19937_64& rng) { return std::string(1, static_cast<char>('a' + rng() % 5)); }

  static Orswot::Op random_op(const Orswot& replica, std::mt19937_64& rng) {
    auto roll = rng() % 10;
    if (roll < 4) return Orswot::Op::add(random_element(rng));
    if (roll < 5) return Orswot::Op::add_all({random_element(rng), random_element(rng)});
    std::optional<VClock> context;
    if (rng() % 2 == 0) {
      context = replica.context();
      if (rng() % 2 == 0) context->raise("r" + std::to_string(rng() % 4), context->get("r0") + 1 + rng() % 3);
    }
    if (roll < 8) {
      // Mostly elements that are present, sometimes any element.
      auto value = replica.value();
      std::string element = random_element(rng);
      if (!value.empty() && rng() % 4 != 0) {
        auto it = value.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng() % value.size()));
        element = *it;
      }
      return Orswot::Op::remove(element, context);
    }
    return Orswot::Op::remove_all({random_element(rng), random_element(rng)}, context);
  }

  static std::optional<VClock> op_context(const Orswot::Op& op) { return op.context; }

  static std::string describe(const Orswot::Op& op) {
    std::string out = op.kind == Orswot::Op::Kind::add ? "add" : "remove";
    for (const auto& e : op.elements) out += " " + e;
    if (op.context) out += " ctx=" + detail::show_clock(*op.context);
    return out;
  }

  // The spec from the causal history alone: each add gives every distinct
  // element it names one dot, in element order, numbered per actor; an add
  // of element e is live unless a later add of e saw it, a remove of e's
  // context covers its dot, or a reset's context covers its dot.
  template <typename Events>
  static Orswot::Value expected(const Events& events) {
    struct Add {
      std::size_t event;
      std::string element;
      Dot dot;
    };
    std::vector<Add> adds;
    std::map<Actor, std::uint64_t> counters;
    for (const auto& e : events) {
      if (e.is_reset() || e.op->kind != Orswot::Op::Kind::add) continue;
      std::set<std::string> distinct(e.op->elements.begin(), e.op->elements.end());
      for (const auto& element : distinct) adds.push_back(Add{e.id, element, Dot{e.actor, ++counters[e.actor]}});
    }
    Orswot::Value out;
    for (const auto& add : adds) {
      bool live = true;
      for (const auto& e : events) {
        if (e.is_reset()) {
          live = live && !e.context.contains(add.dot);
          continue;
        }
        bool names = std::find(e.op->elements.begin(), e.op->elements.end(), add.element) != e.op->elements.end();
        if (!names) continue;
        if (e.op->kind == Orswot::Op::Kind::add) {
          live = live && !e.saw(add.event);
        } else {
          live = live && !e.context.contains(add.dot);
        }
      }
      if (live) out.insert(add.element);
    }
    return out;
  }
};

}  // namespace shoal::crdt::testing
