// Preference-list lookup: hash (type, bucket, key) and compute the n_val 3
// preference list, as every request's coordinator does. Target: < 1 us.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "ring/ring.hpp"
#include "tests/bench/bench.hpp"

namespace {

shoal::ring::Ring make_ring(std::uint32_t q, std::size_t nodes) {
  std::vector<shoal::ring::ClaimNode> members;
  for (std::size_t i = 0; i < nodes; ++i)
    members.push_back({"shoal" + std::to_string(i) + "@10.0.0." + std::to_string(i) + ":7000", ""});
  return shoal::ring::Ring::new_cluster("bench", q, members).value();
}

// Args: Q, nodes, unreachable nodes (0 or 1).
void BM_RingPreflistLookup(benchmark::State& state) {
  const auto q = static_cast<std::uint32_t>(state.range(0));
  const auto nodes = static_cast<std::size_t>(state.range(1));
  const shoal::ring::Ring ring = make_ring(q, nodes);
  std::vector<std::string> reachable;
  for (const auto& m : ring.members()) reachable.push_back(m.node);
  if (state.range(2) > 0) reachable.erase(reachable.begin());
  const shoal::ring::NodeMask mask = ring.reachable_mask(reachable);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < shoal::bench::scaled(4096, 64); ++i) keys.push_back("user:" + std::to_string(i));
  std::size_t i = 0;
  std::size_t fallbacks = 0;
  for (auto _ : state) {
    const std::uint64_t hash = shoal::ring::key_hash("default", "users", keys[i]);
    shoal::ring::Preflist list = ring.preference_list(hash, 3, mask);
    fallbacks += list.entries.back().role == shoal::ring::Role::fallback;
    benchmark::DoNotOptimize(list);
    if (++i == keys.size()) i = 0;
  }
  state.counters["fallback_last"] = static_cast<double>(fallbacks);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RingPreflistLookup)
    ->ArgNames({"Q", "nodes", "unreachable"})
    ->Args({64, 5, 0})
    ->Args({64, 5, 1})
    ->Args({64, 64, 0})
    ->Args({64, 64, 1})
    ->Args({1024, 5, 0})
    ->Args({1024, 5, 1})
    ->Args({1024, 64, 0})
    ->Args({1024, 64, 1});

}  // namespace
