// DvvSet client writes and plain-object merges: the per-write and per-repair
// costs of siblings. Each iteration copies the stored set/object first (so
// the state does not grow across iterations); the copy is part of the figure.
#include <benchmark/benchmark.h>

#include "crdt/dvvset.hpp"
#include "crdt/mv_register.hpp"
#include "crdt/object.hpp"
#include "tests/bench/bench.hpp"

namespace {

using shoal::crdt::Actor;
using shoal::crdt::DvvSet;
using shoal::crdt::HlcTimestamp;
using shoal::crdt::MergePolicy;
using shoal::crdt::Sibling;
using shoal::crdt::VClock;

Sibling make_sibling(std::size_t i, std::size_t value_bytes) {
  Sibling s;
  s.value = std::string(value_bytes, static_cast<char>('a' + i % 26));
  s.content_type = "application/octet-stream";
  s.user_metadata = {{"owner", "bench"}};
  s.last_modified = HlcTimestamp{static_cast<std::int64_t>(1'000 + i), 0};
  return s;
}

// A client that read the object before the last `siblings` concurrent
// writes writes back: its context covers none of them, so the result keeps
// them all and adds one.
void BM_DvvUpdate(benchmark::State& state) {
  const auto siblings = static_cast<std::size_t>(state.range(0));
  DvvSet<Sibling> stored;
  for (std::size_t i = 0; i < siblings; ++i) {
    if (!stored.update(make_sibling(i, 100), VClock{}, "vnode-" + std::to_string(i % 3)).has_value())
      state.SkipWithError("setup write failed");
  }
  const Sibling write = make_sibling(99, 100);
  for (auto _ : state) {
    DvvSet<Sibling> copy = stored;
    auto r = copy.update(write, VClock{}, "vnode-0");
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DvvUpdate)->Arg(1)->Arg(3)->Arg(10);

// A client write with the context it read (replaces what it saw).
void BM_DvvUpdateWithContext(benchmark::State& state) {
  const auto siblings = static_cast<std::size_t>(state.range(0));
  DvvSet<Sibling> stored;
  for (std::size_t i = 0; i < siblings; ++i)
    if (!stored.update(make_sibling(i, 100), VClock{}, "vnode-" + std::to_string(i % 3)).has_value())
      state.SkipWithError("setup write failed");
  const VClock context = stored.join();
  const Sibling write = make_sibling(99, 100);
  for (auto _ : state) {
    DvvSet<Sibling> copy = stored;
    auto r = copy.update(write, context, "vnode-1");
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_DvvUpdateWithContext)->Arg(1)->Arg(3)->Arg(10);

// Read repair / anti-entropy of a plain object: two replicas that share a
// history and each took concurrent writes. (The CRDT payload type does not
// take part in a plain merge; MvRegister stands in for AnyCrdt.)
void BM_ObjectMergePlain(benchmark::State& state) {
  using ObjectType = shoal::crdt::BasicObject<shoal::crdt::MvRegister>;
  const auto concurrent = static_cast<std::size_t>(state.range(0));
  const std::size_t value_bytes = shoal::bench::scaled(1024, 16);
  auto base = ObjectType::make({"default", "users", "user-123"}, shoal::crdt::Datatype::plain);
  if (!base) {
    state.SkipWithError("make failed");
    return;
  }
  ObjectType a = base.value();
  const MergePolicy policy{true, false};
  if (!a.put(make_sibling(0, value_bytes), VClock{}, "vnode-0", policy).has_value()) state.SkipWithError("put");
  ObjectType b = a;
  VClock read = a.context();
  for (std::size_t i = 0; i < concurrent; ++i) {
    (void)a.put(make_sibling(10 + i, value_bytes), read, "vnode-1", policy);
    (void)b.put(make_sibling(20 + i, value_bytes), read, "vnode-2", policy);
  }
  for (auto _ : state) {
    ObjectType copy = a;
    copy.merge(b, policy);
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_ObjectMergePlain)->Arg(1)->Arg(3);

}  // namespace
