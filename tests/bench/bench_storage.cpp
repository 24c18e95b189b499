// Storage engine benchmarks, each beside raw LMDB doing the same work with the
// same environment flags in the same run. Values are 100 bytes. Run on a real
// disk (fsync cost is the point): /tmp must not be a tmpfs.
#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/lmdb_engine.hpp"
#include "storage/segment.hpp"
#include "tests/bench/bench.hpp"

namespace {

using namespace shoal;
using namespace shoal::storage;

class BenchDir {
 public:
  BenchDir() {
    std::string pattern = "/tmp/shoal-bench-storage-XXXXXX";
    path_ = mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~BenchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Keys in a scattered but reproducible order (an odd multiplier permutes 2^40).
std::string bench_key(std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key%012llx",
                static_cast<unsigned long long>((i * 0x9E3779B97Full) & ((1ull << 40) - 1)));
  return buf;
}

const std::string kValue(100, 'v');

double file_mib(const std::string& dir) {
  std::error_code ec;
  auto bytes = std::filesystem::file_size(dir + "/data.mdb", ec);
  return ec ? 0.0 : static_cast<double>(bytes) / (1024.0 * 1024.0);
}

LmdbOptions bench_options(bool nosync) {
  LmdbOptions options;
  options.sync_mode = nosync ? SyncMode::nosync : SyncMode::sync;
  options.map_bytes_initial = 1ull << 30;
  return options;
}

// args: batch size, nosync (0/1)
void BM_StoragePut(benchmark::State& state) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  const bool nosync = state.range(1) != 0;
  BenchDir dir;
  auto env = LmdbEnvironment::open(dir.path(), bench_options(nosync)).value();
  auto engine = env->open_engine(vnode_engine_name(0)).value();
  std::uint64_t next = 0;
  for (auto _ : state) {
    WriteBatch batch;
    for (std::size_t i = 0; i < batch_size; ++i) batch.put(bench_key(next++), kValue);
    auto written = engine->write(std::move(batch));
    if (!written) state.SkipWithError(written.error().to_string().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
  state.counters["file_MiB"] = file_mib(dir.path());
}
BENCHMARK(BM_StoragePut)
    ->ArgNames({"batch", "nosync"})
    ->ArgsProduct({{1, 100, 1000}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The reference: one mdb_put per key in one write transaction per batch.
// With `indexed` it also writes the segment-index entry the engine keeps, i.e.
// the same B-tree work as the engine without the engine around it.
void raw_put(benchmark::State& state, bool indexed) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  const bool nosync = state.range(1) != 0;
  BenchDir dir;
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 4);
  mdb_env_set_mapsize(env, 1ull << 30);
  // Configured as the engine configures itself: nosync environments use a
  // write map (storage/lmdb_engine.cpp), so the reference does too.
  if (mdb_env_open(env, dir.path().c_str(), MDB_NOTLS | (nosync ? MDB_NOSYNC | MDB_WRITEMAP : 0), 0644) != 0) {
    state.SkipWithError("mdb_env_open failed");
    mdb_env_close(env);
    return;
  }
  MDB_txn* txn = nullptr;
  MDB_dbi dbi, index_dbi;
  mdb_txn_begin(env, nullptr, 0, &txn);
  mdb_dbi_open(txn, "d/vnode/0", MDB_CREATE, &dbi);
  mdb_dbi_open(txn, "s/vnode/0", MDB_CREATE, &index_dbi);
  mdb_txn_commit(txn);
  std::uint64_t next = 0;
  std::string index_key;
  for (auto _ : state) {
    mdb_txn_begin(env, nullptr, 0, &txn);
    for (std::size_t i = 0; i < batch_size; ++i) {
      std::string key = bench_key(next++);
      MDB_val k{key.size(), key.data()}, v{kValue.size(), const_cast<char*>(kValue.data())};
      mdb_put(txn, dbi, &k, &v, 0);
      if (indexed) {
        std::uint32_t segment = segment_of(key, kSegmentIndexCount);
        index_key.clear();
        for (int b = 3; b >= 0; --b) index_key.push_back(static_cast<char>((segment >> (8 * b)) & 0xff));
        index_key.append(key);
        MDB_val ik{index_key.size(), index_key.data()}, empty{0, nullptr};
        mdb_put(txn, index_dbi, &ik, &empty, 0);
      }
    }
    if (mdb_txn_commit(txn) != 0) state.SkipWithError("mdb_txn_commit failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
  state.counters["file_MiB"] = file_mib(dir.path());
  mdb_env_close(env);
}

void BM_LmdbRawPut(benchmark::State& state) { raw_put(state, false); }
void BM_LmdbRawPutIndexed(benchmark::State& state) { raw_put(state, true); }
BENCHMARK(BM_LmdbRawPut)
    ->ArgNames({"batch", "nosync"})
    ->ArgsProduct({{1, 100, 1000}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_LmdbRawPutIndexed)
    ->ArgNames({"batch", "nosync"})
    ->ArgsProduct({{100, 1000}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_StorageGet(benchmark::State& state) {
  BenchDir dir;
  auto env = LmdbEnvironment::open(dir.path(), bench_options(true)).value();
  auto engine = env->open_engine(vnode_engine_name(0)).value();
  const std::size_t keys = bench::scaled(100'000, 1000);
  for (std::size_t b = 0; b < keys; b += 1000) {
    WriteBatch batch;
    for (std::size_t i = b; i < b + 1000 && i < keys; ++i) batch.put(bench_key(i), kValue);
    (void)engine->write(std::move(batch));
  }
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto got = engine->get(bench_key(rng() % keys));
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StorageGet);

void BM_LmdbRawGet(benchmark::State& state) {
  BenchDir dir;
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 4);
  mdb_env_set_mapsize(env, 1ull << 30);
  mdb_env_open(env, dir.path().c_str(), MDB_NOTLS | MDB_NOSYNC, 0644);
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  mdb_txn_begin(env, nullptr, 0, &txn);
  mdb_dbi_open(txn, "d/vnode/0", MDB_CREATE, &dbi);
  const std::size_t keys = bench::scaled(100'000, 1000);
  for (std::size_t i = 0; i < keys; ++i) {
    std::string key = bench_key(i);
    MDB_val k{key.size(), key.data()}, v{kValue.size(), const_cast<char*>(kValue.data())};
    mdb_put(txn, dbi, &k, &v, 0);
  }
  mdb_txn_commit(txn);
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    std::string key = bench_key(rng() % keys);
    mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
    MDB_val k{key.size(), key.data()}, v;
    mdb_get(txn, dbi, &k, &v);
    std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    benchmark::DoNotOptimize(value);
    mdb_txn_abort(txn);
  }
  state.SetItemsProcessed(state.iterations());
  mdb_env_close(env);
}
BENCHMARK(BM_LmdbRawGet);

// 20 vnodes, each an actor on its own thread, each keeping 5 single-put
// writes in flight (submit 5, wait for the 5 acknowledgements, repeat) with
// sync mode: 100 puts in flight across 20 vnodes. One benchmark iteration is
// 100 more puts acknowledged as durable; fsyncs_per_100_puts shows grouping.
void BM_StorageGroupCommit(benchmark::State& state) {
  constexpr int kVnodes = 20, kPutsPerVnode = 5;
  BenchDir dir;
  auto env = LmdbEnvironment::open(dir.path(), bench_options(false)).value();
  std::vector<std::unique_ptr<Engine>> engines;
  for (int v = 0; v < kVnodes; ++v) engines.push_back(env->open_engine(vnode_engine_name(v)).value());

  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t acknowledged = 0;
  std::atomic<bool> stop{false}, failed{false};
  std::vector<std::thread> vnodes;
  for (int v = 0; v < kVnodes; ++v)
    vnodes.emplace_back([&, v] {
      std::uint64_t next = 0;
      while (!stop) {
        std::vector<std::future<Result<void>>> in_flight;
        for (int p = 0; p < kPutsPerVnode; ++p) {
          WriteBatch batch;
          batch.put(bench_key(next++), kValue);
          in_flight.push_back(engines[v]->submit(std::move(batch)));
        }
        for (auto& f : in_flight)
          if (!f.get()) failed = true;
        {
          std::lock_guard lock(mutex);
          acknowledged += kPutsPerVnode;
        }
        cv.notify_all();
      }
    });
  std::uint64_t target = 0;
  LmdbStats before = env->stats();
  std::uint64_t acknowledged_before = 0;
  {
    std::lock_guard lock(mutex);
    acknowledged_before = acknowledged;
    target = acknowledged;
  }
  for (auto _ : state) {
    target += kVnodes * kPutsPerVnode;
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return acknowledged >= target; });
  }
  LmdbStats after = env->stats();
  std::uint64_t puts = 0;
  {
    std::lock_guard lock(mutex);
    puts = acknowledged - acknowledged_before;
  }
  stop = true;
  for (auto& t : vnodes) t.join();
  if (failed) state.SkipWithError("a write failed");
  state.SetItemsProcessed(state.iterations() * kVnodes * kPutsPerVnode);
  state.counters["fsyncs_per_100_puts"] =
      100.0 * static_cast<double>(after.syncs - before.syncs) / static_cast<double>(std::max<std::uint64_t>(1, puts));
}
BENCHMARK(BM_StorageGroupCommit)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
