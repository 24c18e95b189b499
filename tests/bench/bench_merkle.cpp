// Merkle (TicTac) tree costs: the per-write update on the vnode's write
// path, comparing two trees, rebuilding from a fold, and the persistence
// encoding. All trees use the default shape (1024 x 32 segments).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "storage/merkle.hpp"
#include "tests/bench/bench.hpp"

namespace {

using shoal::storage::MerkleTree;

MerkleTree fresh_tree() { return std::move(MerkleTree::create()).value(); }

// Storage keys shaped like real ones: a type/bucket prefix and a short key.
std::vector<std::string> make_keys(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) keys.push_back("default/users/user" + std::to_string(rng()));
  return keys;
}

void BM_MerkleUpdate(benchmark::State& state) {
  auto keys = make_keys(shoal::bench::scaled(100000, 1000), 1);
  MerkleTree tree = fresh_tree();
  std::vector<std::uint64_t> hashes(keys.size(), 0);
  for (std::size_t i = 0; i < keys.size(); ++i) tree.insert(keys[i], hashes[i] = i + 1);
  std::size_t i = 0;
  for (auto _ : state) {
    // An overwrite: the old value's hash leaves, the new one's enters.
    std::uint64_t next = hashes[i] + keys.size();
    tree.update(keys[i], hashes[i], next);
    hashes[i] = next;
    if (++i == keys.size()) i = 0;
  }
  benchmark::DoNotOptimize(tree.root());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MerkleUpdate);

void BM_MerkleCompare(benchmark::State& state) {
  auto differing = static_cast<std::size_t>(state.range(0));
  auto keys = make_keys(shoal::bench::scaled(100000, 2000), 2);
  MerkleTree a = fresh_tree();
  MerkleTree b = fresh_tree();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    a.insert(keys[i], i);
    b.insert(keys[i], i < differing ? i + 1 : i);
  }
  std::size_t segments = 0;
  for (auto _ : state) {
    auto result = shoal::storage::differing_segments(a, b);
    segments = result.value().size();
    benchmark::DoNotOptimize(segments);
  }
  state.counters["segments"] = static_cast<double>(segments);
}
BENCHMARK(BM_MerkleCompare)->Arg(0)->Arg(10)->Arg(1000);

void BM_MerkleRebuild(benchmark::State& state) {
  auto keys = make_keys(shoal::bench::scaled(100000, 1000), 3);
  for (auto _ : state) {
    MerkleTree tree = fresh_tree();
    for (std::size_t i = 0; i < keys.size(); ++i) tree.insert(keys[i], i);
    benchmark::DoNotOptimize(tree.root());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(keys.size()));
  state.counters["keys"] = static_cast<double>(keys.size());
}
BENCHMARK(BM_MerkleRebuild)->Unit(benchmark::kMillisecond);

MerkleTree populated_tree() {
  auto keys = make_keys(shoal::bench::scaled(100000, 1000), 4);
  MerkleTree tree = fresh_tree();
  for (std::size_t i = 0; i < keys.size(); ++i) tree.insert(keys[i], i);
  return tree;
}

void BM_MerkleEncode(benchmark::State& state) {
  MerkleTree tree = populated_tree();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string encoded = shoal::storage::encode(tree);
    bytes = encoded.size();
    benchmark::DoNotOptimize(encoded.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_MerkleEncode)->Unit(benchmark::kMicrosecond);

void BM_MerkleDecode(benchmark::State& state) {
  std::string encoded = shoal::storage::encode(populated_tree());
  for (auto _ : state) {
    auto tree = shoal::storage::decode_tree(encoded);
    benchmark::DoNotOptimize(tree.value().root());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(encoded.size()));
}
BENCHMARK(BM_MerkleDecode)->Unit(benchmark::kMicrosecond);

}  // namespace
