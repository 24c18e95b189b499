// The generic property harness every CRDT in crdt/ plugs into (riak_dt's
// crdt_statem idea): random histories over 2-4 replicas, checked against the
// type's reference model. Owned by tests/crdt; single-threaded test code.
//
// A type plugs in by specialising `Model<T>` in its own test file:
//
//   template <> struct Model<MyType> {
//     static constexpr bool allows_reset = true;  // also issue reset(replica.context())
//     static MyType::Op random_op(const MyType& replica, std::mt19937_64& rng);
//     template <typename Events> static MyType::Value expected(const Events& events);
//     // Optional:
//     static MyType make_replica();                          // default: MyType{}
//     static std::string describe(const MyType::Op& op);     // for the printed history
//     static std::optional<VClock> op_context(const MyType::Op& op);  // an op's own context
//   };
//
// and calls `run_properties<MyType>(cases, "name", regression_seeds)`.
//
// Every case checks: merge is commutative, associative and idempotent on the
// states the run reached (and equal results encode to identical bytes); after
// a full exchange every replica is equal, and its value() equals
// Model::expected(events), the spec computed from the causal history alone;
// the join of every delta in a random (non-causal) order equals the converged
// state; encode/decode round-trips; mutated encodings never crash the decoder.
//
// Replay: SHOAL_SEED=<n> runs that one seed only. A failure prints `seed N`
// and the whole history (events, deliveries, merges).
//
// Regression seeds: every seed that ever failed is kept in the type's test
// file as a named `RegressionSeed` and passed to run_properties, which runs
// them before the random cases, every time.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/crdt.hpp"

namespace shoal::crdt::testing {

template <typename T>
struct Model;

// One operation or reset at one replica, with its causal past.
template <typename Op>
struct Event {
  std::size_t id = 0;
  std::size_t replica = 0;
  Actor actor;
  std::optional<Op> op;  // nullopt: a reset with `context`
  // For a reset: the replica's context() at that time, which the reset used.
  // For an op: the op's own context when it has one (Model::op_context),
  // otherwise the replica's context() just before the op.
  VClock context;
  // seen[j]: event j happened before this one (was integrated at this
  // replica when this event happened). Sized to the events before this one.
  std::vector<bool> seen;

  bool is_reset() const { return !op.has_value(); }
  bool saw(std::size_t other) const { return other < seen.size() && seen[other]; }
};

struct RegressionSeed {
  std::string_view name;  // what the seed once caught
  std::uint64_t seed;
};

struct HarnessLimits {
  std::size_t replicas_min = 2;
  std::size_t replicas_max = 4;
  std::size_t steps_max = 40;
  std::size_t pool_max = 10;                  // reached states kept for the merge laws
  std::size_t decoder_mutations = 40;         // per case
};

namespace detail {

template <typename T>
T make_replica() {
  if constexpr (requires { Model<T>::make_replica(); }) {
    return Model<T>::make_replica();
  } else {
    return T{};
  }
}

template <typename T>
std::string describe(const typename T::Op& op) {
  if constexpr (requires { Model<T>::describe(op); }) {
    return Model<T>::describe(op);
  } else {
    return "op";
  }
}

template <typename T>
std::optional<VClock> op_context(const typename T::Op& op) {
  if constexpr (requires { Model<T>::op_context(op); }) {
    return Model<T>::op_context(op);
  } else {
    return std::nullopt;
  }
}

template <typename V>
std::string show_value(const V& value) {
  if constexpr (requires(std::ostream& os) { os << value; }) {
    std::ostringstream os;
    os << value;
    return os.str();
  } else {
    return "(value)";
  }
}

inline std::string show_clock(const VClock& clock) {
  std::string out = "{";
  for (const auto& [actor, counter] : clock.entries()) {
    if (out.size() > 1) out += ",";
    out += actor + ":" + std::to_string(counter);
  }
  return out + "}";
}

inline std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace detail

// Mutates valid encodings (truncate, flip, insert, delete bytes) and decodes
// them. The decoder must never crash (run under the sanitizers to catch UB);
// anything it accepts must re-encode canonically: encode(decode(bytes))
// decodes to an equal value that encodes to the same bytes again, and its
// value() is computable. Returns "" or a description of the first failure.
template <typename T>
std::string check_decoder_robustness(const std::vector<std::string>& valid_encodings, std::mt19937_64& rng,
                                     std::size_t mutations = 200) {
  if (valid_encodings.empty()) return "";
  for (std::size_t i = 0; i < mutations; ++i) {
    std::string bytes = valid_encodings[rng() % valid_encodings.size()];
    std::size_t edits = 1 + rng() % 3;
    for (std::size_t e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          bytes.resize(bytes.empty() ? 0 : rng() % bytes.size());
          break;
        case 1:
          if (!bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng());
          break;
        case 2:
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(bytes.empty() ? 0 : rng() % bytes.size()),
                       static_cast<char>(rng()));
          break;
        default:
          if (!bytes.empty()) bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(rng() % bytes.size()));
          break;
      }
    }
    auto decoded = decode_from_bytes<T>(bytes);
    if (!decoded) continue;
    std::string again = encode_to_bytes(decoded.value());
    auto redecoded = decode_from_bytes<T>(again);
    if (!redecoded) return "accepted bytes re-encode to bytes it rejects: " + redecoded.error().to_string();
    if (!(redecoded.value() == decoded.value())) return "accepted bytes do not round-trip to an equal value";
    if (encode_to_bytes(redecoded.value()) != again) return "accepted bytes do not re-encode canonically";
    [[maybe_unused]] auto value = decoded.value().value();
  }
  return "";
}

// One random case. Returns "" on success, else the failure and the history.
template <typename T>
std::string run_case(std::uint64_t seed, const HarnessLimits& limits = {}) {
  using Op = typename T::Op;
  using M = Model<T>;
  std::mt19937_64 rng(seed);
  const std::size_t n = limits.replicas_min + rng() % (limits.replicas_max - limits.replicas_min + 1);
  std::vector<T> replicas;
  std::vector<std::vector<bool>> known(n);  // known[r][e]: event e integrated at replica r
  for (std::size_t r = 0; r < n; ++r) replicas.push_back(detail::make_replica<T>());
  std::vector<Event<Op>> events;
  std::vector<T> deltas;
  std::vector<T> pool;
  std::ostringstream history;

  auto actor_of = [](std::size_t r) { return "r" + std::to_string(r); };
  auto fail = [&](const std::string& what) {
    return what + "\nhistory (" + std::to_string(n) + " replicas):\n" + history.str();
  };
  auto grow = [&](std::vector<bool>& bits) { bits.resize(events.size(), false); };

  const std::size_t steps = 1 + rng() % limits.steps_max;
  for (std::size_t step = 0; step < steps; ++step) {
    auto roll = rng() % 100;
    if (roll < 55) {
      std::size_t r = rng() % n;
      Event<Op> event;
      event.id = events.size();
      event.replica = r;
      event.actor = actor_of(r);
      grow(known[r]);
      event.seen = known[r];
      T delta = detail::make_replica<T>();
      if (M::allows_reset && rng() % 7 == 0) {
        event.context = replicas[r].context();
        replicas[r].reset(event.context);
        delta.reset(event.context);
        history << "  e" << event.id << " @r" << r << " reset " << detail::show_clock(event.context) << "\n";
      } else {
        Op op = M::random_op(replicas[r], rng);
        event.context = detail::op_context<T>(op).value_or(replicas[r].context());
        auto result = replicas[r].apply(op, event.actor);
        if (!result) {
          history << "  (r" << r << " " << detail::describe<T>(op) << " refused: " << result.error().to_string()
                  << ")\n";
          continue;
        }
        delta = std::move(result).value();
        history << "  e" << event.id << " @r" << r << " " << detail::describe<T>(op) << "\n";
        event.op = std::move(op);
      }
      events.push_back(std::move(event));
      deltas.push_back(std::move(delta));
      grow(known[r]);
      known[r][events.back().id] = true;
    } else if (roll < 80 && !events.empty()) {
      // Causal delivery: a delta whose causal past the receiver already has.
      std::size_t r = rng() % n;
      grow(known[r]);
      std::vector<std::size_t> ready;
      for (const auto& e : events) {
        if (known[r][e.id]) continue;
        bool causal = true;
        for (std::size_t j = 0; j < e.seen.size() && causal; ++j) causal = !e.seen[j] || known[r][j];
        if (causal) ready.push_back(e.id);
      }
      if (ready.empty()) continue;
      std::size_t id = ready[rng() % ready.size()];
      replicas[r].merge(deltas[id]);
      known[r][id] = true;
      history << "  deliver delta e" << id << " -> r" << r << "\n";
    } else if (n > 1) {
      std::size_t to = rng() % n, from = (to + 1 + rng() % (n - 1)) % n;
      replicas[to].merge(replicas[from]);
      grow(known[to]);
      grow(known[from]);
      for (std::size_t j = 0; j < events.size(); ++j) known[to][j] = known[to][j] || known[from][j];
      history << "  merge state r" << from << " -> r" << to << "\n";
    }
    if (rng() % 3 == 0) {
      const T& reached = replicas[rng() % n];
      if (pool.size() < limits.pool_max) {
        pool.push_back(reached);
      } else {
        pool[rng() % pool.size()] = reached;
      }
    }
  }

  // Merge laws on reached states.
  for (const auto& r : replicas) pool.push_back(r);
  for (std::size_t i = 0; i < 2 * pool.size(); ++i) {
    const T& a = pool[rng() % pool.size()];
    const T& b = pool[rng() % pool.size()];
    const T& c = pool[rng() % pool.size()];
    T ab = a, ba = b;
    ab.merge(b);
    ba.merge(a);
    if (!(ab == ba)) return fail("merge not commutative");
    if (encode_to_bytes(ab) != encode_to_bytes(ba)) return fail("equal merges encode differently (a+b vs b+a)");
    T ab_c = ab, bc = b;
    ab_c.merge(c);
    bc.merge(c);
    T a_bc = a;
    a_bc.merge(bc);
    if (!(ab_c == a_bc)) return fail("merge not associative");
    if (encode_to_bytes(ab_c) != encode_to_bytes(a_bc))
      return fail("equal merges encode differently ((a+b)+c vs a+(b+c))");
    T aa = a;
    aa.merge(a);
    if (!(aa == a)) return fail("merge not idempotent");
  }

  // Full exchange in two different orders.
  std::vector<T> before = replicas;
  for (std::size_t r = 1; r < n; ++r) replicas[0].merge(replicas[r]);
  for (std::size_t r = 1; r < n; ++r) replicas[r].merge(replicas[0]);
  for (std::size_t r = 1; r < n; ++r)
    if (!(replicas[r] == replicas[0])) return fail("replica r" + std::to_string(r) + " differs after full exchange");
  T reverse = before[n - 1];
  for (std::size_t r = n - 1; r-- > 0;) reverse.merge(before[r]);
  if (!(reverse == replicas[0])) return fail("full exchange in reverse order converges to a different state");
  const std::string converged_bytes = encode_to_bytes(replicas[0]);
  if (encode_to_bytes(reverse) != converged_bytes) return fail("converged states encode differently");

  auto want = M::expected(events);
  auto got = replicas[0].value();
  if (!(got == want))
    return fail("value " + detail::show_value(got) + " but the model expects " + detail::show_value(want));

  // Deltas joined in a random, non-causal order give the same state.
  std::vector<std::size_t> order(deltas.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  T joined = detail::make_replica<T>();
  for (auto i : order) joined.merge(deltas[i]);
  if (!(joined == replicas[0])) return fail("join of all deltas differs from the converged state");

  // Round trips.
  std::vector<std::string> encodings{converged_bytes};
  for (const auto& s : pool) encodings.push_back(encode_to_bytes(s));
  for (const auto& d : deltas) encodings.push_back(encode_to_bytes(d));
  for (const auto& bytes : encodings) {
    auto decoded = decode_from_bytes<T>(bytes);
    if (!decoded) return fail("a reached state does not decode: " + decoded.error().to_string());
    if (encode_to_bytes(decoded.value()) != bytes) return fail("decode/encode does not round-trip");
  }
  auto decoded = decode_from_bytes<T>(converged_bytes);
  if (!(decoded.value() == replicas[0])) return fail("decoded state differs from the original");

  std::string robustness = check_decoder_robustness<T>(encodings, rng, limits.decoder_mutations);
  if (!robustness.empty()) return fail(robustness);
  return "";
}

// Runs the regression seeds, then `cases` random seeds; SHOAL_SEED=<n>
// replays seed n only.
template <typename T>
void run_properties(std::size_t cases, std::string_view name, const std::vector<RegressionSeed>& regression = {},
                    const HarnessLimits& limits = {}) {
  auto check = [&](std::uint64_t seed, std::string_view label) {
    std::string failure = run_case<T>(seed, limits);
    INFO(name << ": seed " << seed << " (" << label << "); replay with SHOAL_SEED=" << seed << "\n" << failure);
    REQUIRE(failure.empty());
  };
  if (const char* env = std::getenv("SHOAL_SEED"); env != nullptr && *env != '\0') {
    check(std::strtoull(env, nullptr, 10), "SHOAL_SEED");
    return;
  }
  for (const auto& r : regression) check(r.seed, r.name);
  std::uint64_t base = std::random_device{}();
  base = (base << 32) ^ std::random_device{}();
  for (std::size_t i = 0; i < cases; ++i) check(detail::splitmix(base + i), "random");
}

}  // namespace shoal::crdt::testing
