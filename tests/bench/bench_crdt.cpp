// CRDT benchmarks: ORSWOT merge of diverged replicas, counter apply/merge,
// HyperLogLog add/merge.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crdt/hll.hpp"
#include "crdt/orswot.hpp"
#include "crdt/pn_counter.hpp"
#include "tests/bench/bench.hpp"

namespace {

using namespace shoal::crdt;

[[noreturn]] void state_error(const std::string& what) {
  std::fprintf(stderr, "bench_crdt: setup failed: %s\n", what.c_str());
  std::abort();
}

void BM_CounterApply(benchmark::State& state) {
  PnCounter counter;
  for (int a = 0; a < 8; ++a) (void)counter.apply(PnCounter::Op::increment(1), "vnode-" + std::to_string(a));
  const Actor actor = "vnode-3";
  for (auto _ : state) {
    auto delta = counter.apply(PnCounter::Op::increment(1), actor);
    benchmark::DoNotOptimize(delta);
  }
}
BENCHMARK(BM_CounterApply);

// Two replicas with `actors` entries each, half of them newer on each side.
void BM_CounterMerge(benchmark::State& state) {
  const auto actors = shoal::bench::scaled(static_cast<std::size_t>(state.range(0)), 8);
  PnCounter a;
  for (std::size_t i = 0; i < actors; ++i) (void)a.apply(PnCounter::Op::increment(1), "vnode-" + std::to_string(i));
  PnCounter b = a;
  for (std::size_t i = 0; i < actors; ++i)
    (void)(i % 2 == 0 ? a : b).apply(PnCounter::Op::increment(2), "vnode-" + std::to_string(i));
  for (auto _ : state) {
    PnCounter merged = a;
    merged.merge(b);
    benchmark::DoNotOptimize(merged);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * actors));
}
BENCHMARK(BM_CounterMerge)->Arg(16)->Arg(1024);

// Bulk add (no delta), the path of a sketch built locally.
void BM_HllAdd(benchmark::State& state) {
  Hll hll;
  std::vector<std::string> elements;
  for (int i = 0; i < 4096; ++i) elements.push_back("element-" + std::to_string(i));
  std::size_t i = 0;
  for (auto _ : state) {
    auto added = hll.add(elements[i++ % elements.size()], "vnode-1");
    benchmark::DoNotOptimize(added);
  }
}
BENCHMARK(BM_HllAdd);

// An op through apply: includes building the delta (a full p14 sketch).
void BM_HllApply(benchmark::State& state) {
  Hll hll;
  std::size_t i = 0;
  for (auto _ : state) {
    auto delta = hll.apply(Hll::Op::add("element-" + std::to_string(i++ % 4096)), "vnode-1");
    benchmark::DoNotOptimize(delta);
  }
}
BENCHMARK(BM_HllApply);

// Register-wise max of two p14 sketches of 100k elements each (half shared),
// and of a p14 into a p12 sketch (folding).
void BM_HllMerge(benchmark::State& state) {
  const auto n = shoal::bench::scaled(100'000, 1'000);
  const bool fold = state.range(0) != 0;
  Hll a = fold ? Hll::with_precision(12).value() : Hll();
  Hll b;
  for (std::size_t i = 0; i < n; ++i) {
    (void)a.add("element-" + std::to_string(i), "a");
    (void)b.add("element-" + std::to_string(i + n / 2), "b");
  }
  for (auto _ : state) {
    Hll merged = a;
    merged.merge(b);
    benchmark::DoNotOptimize(merged);
  }
}
BENCHMARK(BM_HllMerge)->Arg(0)->Arg(1)->ArgName("fold");

// Adds `count` elements "<prefix><i>" to `set` in ops within the op limit.
void add_elements(Orswot& set, const std::string& prefix, std::size_t from, std::size_t count, const Actor& actor) {
  std::vector<std::string> chunk;
  for (std::size_t i = from; i < from + count; ++i) {
    chunk.push_back(prefix + std::to_string(i));
    if (chunk.size() == kSetOpElementsMax || i + 1 == from + count) {
      auto delta = set.apply(Orswot::Op::add_all(std::move(chunk)), actor);
      if (!delta) state_error(delta.error().to_string());
      chunk.clear();
    }
  }
}

// Two replicas of an n-element set that diverged by about 3%: each added 1%
// new elements and removed 0.5% of the shared ones. Measures one full-state
// merge (the copy that keeps the inputs intact is not timed).
void BM_OrswotMerge(benchmark::State& state) {
  const auto n = shoal::bench::scaled(static_cast<std::size_t>(state.range(0)), 100);
  Orswot a;
  add_elements(a, "key-", 0, n, "vnode-a");
  Orswot b = a;
  add_elements(a, "new-a-", 0, n / 100 + 1, "vnode-a");
  add_elements(b, "new-b-", 0, n / 100 + 1, "vnode-b");
  for (std::size_t i = 0; i < n / 200 + 1; ++i) {
    (void)a.apply(Orswot::Op::remove("key-" + std::to_string(2 * i)), "vnode-a");
    (void)b.apply(Orswot::Op::remove("key-" + std::to_string(2 * i + 1)), "vnode-b");
  }
  for (auto _ : state) {
    state.PauseTiming();
    Orswot merged = a;
    state.ResumeTiming();
    merged.merge(b);
    benchmark::DoNotOptimize(merged);
  }
  state.counters["elements"] = static_cast<double>(n);
}
BENCHMARK(BM_OrswotMerge)->Arg(1000)->Arg(100'000)->Unit(benchmark::kMicrosecond);

}  // namespace
