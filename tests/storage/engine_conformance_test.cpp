// One behavioural suite every Engine must pass: memory and LMDB run the same
// assertions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/key.hpp"
#include "storage/lmdb_engine.hpp"
#include "storage/memory_engine.hpp"
#include "storage/segment.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace shoal;
using namespace shoal::storage;

namespace {

struct MemoryFixture {
  MemoryEngine engine_{"memory/test"};
  Engine& engine() { return engine_; }
};

struct LmdbFixture {
  test::TempDir dir;
  std::shared_ptr<LmdbEnvironment> env;
  std::unique_ptr<Engine> engine_;
  LmdbFixture() {
    LmdbOptions options;
    options.sync_mode = SyncMode::nosync;  // durability has its own tests; keep this suite fast
    options.map_bytes_initial = 4 * 1024 * 1024;
    env = LmdbEnvironment::open(dir.path(), options).value();
    engine_ = env->open_engine(vnode_engine_name(7)).value();
  }
  Engine& engine() { return *engine_; }
};

std::string value_of(Engine& engine, std::string_view key) {
  auto got = engine.get(key);
  REQUIRE(got);
  return got.value().value_or("<absent>");
}

std::vector<std::string> fold_keys(Engine& engine, const FoldOptions& options) {
  std::vector<std::string> keys;
  auto stats = engine.fold(options, [&](std::string_view key, std::string_view) {
    keys.emplace_back(key);
    return true;
  });
  REQUIRE(stats);
  return keys;
}

std::string random_key(std::mt19937_64& rng) {
  std::string bucket = "b" + std::to_string(rng() % 4);
  std::string key(1 + rng() % 12, 'a');
  for (char& c : key) c = static_cast<char>(rng() % 256);
  return encode_storage_key("default", bucket, key);
}

}  // namespace

TEMPLATE_TEST_CASE("engine: put, get, erase", "[storage][engine]", MemoryFixture, LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  CHECK(value_of(engine, "k1") == "<absent>");
  REQUIRE(engine.put("k1", "v1"));
  CHECK(value_of(engine, "k1") == "v1");
  REQUIRE(engine.put("k1", "v2"));
  CHECK(value_of(engine, "k1") == "v2");
  REQUIRE(engine.put("k2", ""));
  CHECK(value_of(engine, "k2") == "");
  REQUIRE(engine.erase("k1"));
  CHECK(value_of(engine, "k1") == "<absent>");
  REQUIRE(engine.erase("never-written"));
  CHECK(engine.put("", "v").error().code == Errc::invalid_argument);
  CHECK(engine.get("").error().code == Errc::invalid_argument);
}

TEMPLATE_TEST_CASE("engine: read-merge-write is atomic", "[storage][engine]", MemoryFixture, LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  auto increment = [](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
    long n = current ? std::stol(*current) : 0;
    return std::optional<std::string>(std::to_string(n + 1));
  };
  auto worker = [&] {
    for (int i = 0; i < 1000; ++i) REQUIRE(engine.read_merge_write("counter", increment));
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  CHECK(value_of(engine, "counter") == "2000");

  // A merge that fails writes nothing; a merge returning nullopt deletes.
  auto failed = engine.read_merge_write("counter", [](const std::optional<std::string>&) -> Result<std::optional<std::string>> {
    return make_error(Errc::precondition_failed, "no");
  });
  CHECK(failed.error().code == Errc::precondition_failed);
  CHECK(value_of(engine, "counter") == "2000");
  auto deleted = engine.read_merge_write("counter", [](const std::optional<std::string>&) -> Result<std::optional<std::string>> {
    return std::optional<std::string>{};
  });
  REQUIRE(deleted);
  CHECK_FALSE(deleted.value().has_value());
  CHECK(value_of(engine, "counter") == "<absent>");
}

TEMPLATE_TEST_CASE("engine: batches apply whole or not at all", "[storage][engine]", MemoryFixture, LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  REQUIRE(engine.put("gone", "x"));
  WriteBatch batch;
  for (int i = 0; i < 100; ++i) batch.put("key" + std::to_string(i), "value" + std::to_string(i));
  batch.erase("gone");
  batch.put("key0", "last write in the batch wins");
  REQUIRE(engine.write(std::move(batch)));
  CHECK(value_of(engine, "key0") == "last write in the batch wins");
  CHECK(value_of(engine, "key99") == "value99");
  CHECK(value_of(engine, "gone") == "<absent>");

  WriteBatch too_big;
  too_big.put("ok-key", "fine");
  too_big.put("big", std::string(engine.limits().value_bytes_max + 1, 'x'));
  CHECK(engine.write(std::move(too_big)).error().code == Errc::too_large);
  CHECK(value_of(engine, "ok-key") == "<absent>");

  WriteBatch too_many;
  for (std::size_t i = 0; i <= engine.limits().batch_ops_max; ++i) too_many.put("m" + std::to_string(i), "v");
  CHECK(engine.write(std::move(too_many)).error().code == Errc::too_large);
  CHECK(value_of(engine, "m0") == "<absent>");

  // The asynchronous form completes through its callback.
  WriteBatch async;
  async.put("async", "yes");
  auto future = engine.submit(std::move(async));
  REQUIRE(future.get());
  CHECK(value_of(engine, "async") == "yes");
}

TEMPLATE_TEST_CASE("engine: keys and values at the limits", "[storage][engine]", MemoryFixture, LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  std::vector<std::string> keys;
  for (std::size_t size : {std::size_t{490}, std::size_t{491}, std::size_t{492}, std::size_t{511}, std::size_t{512},
                           std::size_t{4096}, kUserKeyBytesMax, engine.limits().key_bytes_max}) {
    keys.push_back(std::string(size, 'k'));
    keys.push_back(std::string(size - 1, 'k') + 'z');
  }
  for (const auto& key : keys) REQUIRE(engine.put(key, "v" + std::to_string(key.size()) + key.back()));
  for (const auto& key : keys) CHECK(value_of(engine, key) == "v" + std::to_string(key.size()) + key.back());
  std::string too_long(engine.limits().key_bytes_max + 1, 'k');
  CHECK(engine.put(too_long, "v").error().code == Errc::too_large);
  CHECK(engine.get(too_long).error().code == Errc::too_large);
  REQUIRE(engine.put("big-value", std::string(engine.limits().value_bytes_max, 'v')));
  CHECK(value_of(engine, "big-value").size() == engine.limits().value_bytes_max);
  CHECK(engine.put("too-big", std::string(engine.limits().value_bytes_max + 1, 'v')).error().code == Errc::too_large);

  // Long keys fold in key order like any other.
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  FoldOptions options;
  options.prefix = "k";
  CHECK(fold_keys(engine, options) == keys);
  for (const auto& key : keys) REQUIRE(engine.erase(key));
  CHECK(fold_keys(engine, options).empty());
}

TEMPLATE_TEST_CASE("engine: fold order, prefix, start, early stop, chunks", "[storage][engine]", MemoryFixture,
                   LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::map<std::string, std::string> model;
  WriteBatch batch;
  for (int i = 0; i < 3000; ++i) {
    std::string key = random_key(rng);
    model[key] = std::to_string(i);
    batch.put(key, std::to_string(i));
  }
  REQUIRE(engine.write(std::move(batch)));

  std::vector<std::pair<std::string, std::string>> seen;
  FoldOptions all;
  all.chunk_keys = 128;
  auto stats = engine.fold(all, [&](std::string_view k, std::string_view v) {
    seen.emplace_back(k, v);
    return true;
  });
  REQUIRE(stats);
  CHECK(stats.value().keys == model.size());
  CHECK(stats.value().chunks >= model.size() / 128);
  CHECK(seen == std::vector<std::pair<std::string, std::string>>(model.begin(), model.end()));

  // One bucket, by prefix.
  FoldOptions bucket;
  bucket.prefix = bucket_prefix("default", "b2");
  bucket.chunk_keys = 50;
  std::vector<std::string> expected;
  for (const auto& [k, v] : model)
    if (k.starts_with(bucket.prefix)) expected.push_back(k);
  CHECK(fold_keys(engine, bucket) == expected);

  // From a start key inside the range.
  FoldOptions from = bucket;
  from.start = expected[expected.size() / 2];
  CHECK(fold_keys(engine, from) == std::vector<std::string>(expected.begin() + expected.size() / 2, expected.end()));

  // Keys only.
  FoldOptions keys_only;
  keys_only.keys_only = true;
  bool values_empty = true;
  REQUIRE(engine.fold(keys_only, [&](std::string_view, std::string_view v) {
    values_empty = values_empty && v.empty();
    return true;
  }));
  CHECK(values_empty);

  // Stop early.
  std::size_t calls = 0;
  auto stopped = engine.fold(all, [&](std::string_view, std::string_view) { return ++calls < 10; });
  REQUIRE(stopped);
  CHECK(stopped.value().stopped);
  CHECK(calls == 10);
}

TEMPLATE_TEST_CASE("engine: fold_segment returns exactly the keys of a segment", "[storage][engine]", MemoryFixture,
                   LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::set<std::string> keys;
  WriteBatch batch;
  for (int i = 0; i < 2000; ++i) {
    std::string key = random_key(rng);
    if (i % 100 == 0) key += std::string(600, 'L');  // some long keys
    keys.insert(key);
    batch.put(key, "v");
  }
  REQUIRE(engine.write(std::move(batch)));
  for (std::uint32_t count : {2u, 16u, kSegmentIndexCount}) {
    INFO("segment count " << count);
    std::set<std::string> seen;
    std::uint32_t segments = std::min(count, 64u);  // all of a small count, a sample of the full one
    for (std::uint32_t segment = 0; segment < segments; ++segment) {
      std::uint32_t s = count == kSegmentIndexCount ? segment_of(*std::next(keys.begin(), segment * 7), count) : segment;
      std::set<std::string> in_segment;
      auto stats = engine.fold_segment(s, count, [&](std::string_view k, std::string_view) {
        CHECK(segment_of(k, count) == s);
        CHECK(in_segment.insert(std::string(k)).second);
        return true;
      });
      REQUIRE(stats);
      std::size_t expected = 0;
      for (const auto& k : keys) expected += segment_of(k, count) == s;
      CHECK(in_segment.size() == expected);
      seen.insert(in_segment.begin(), in_segment.end());
    }
    if (count != kSegmentIndexCount) CHECK(seen == keys);
  }
  REQUIRE(engine.erase(*keys.begin()));
  std::uint32_t s = segment_of(*keys.begin(), 16);
  bool found = false;
  REQUIRE(engine.fold_segment(s, 16, [&](std::string_view k, std::string_view) {
    found = found || k == *keys.begin();
    return true;
  }));
  CHECK_FALSE(found);
  CHECK(engine.fold_segment(16, 16, [](std::string_view, std::string_view) { return true; }).error().code ==
        Errc::invalid_argument);
  CHECK(engine.fold_segment(0, 3, [](std::string_view, std::string_view) { return true; }).error().code ==
        Errc::invalid_argument);
}

TEMPLATE_TEST_CASE("engine: approximate size grows with data", "[storage][engine]", MemoryFixture, LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  auto before = engine.approximate_size_bytes();
  REQUIRE(before);
  WriteBatch batch;
  for (int i = 0; i < 2000; ++i) batch.put("key" + std::to_string(i), std::string(100, 'v'));
  REQUIRE(engine.write(std::move(batch)));
  auto after = engine.approximate_size_bytes();
  REQUIRE(after);
  CHECK(after.value() >= before.value() + 2000 * 100);
}

TEMPLATE_TEST_CASE("engine: a closed engine refuses work", "[storage][engine]", MemoryFixture, LmdbFixture) {
  TestType fixture;
  Engine& engine = fixture.engine();
  REQUIRE(engine.put("k", "v"));
  REQUIRE(engine.close());
  CHECK(engine.put("k", "v").error().code == Errc::precondition_failed);
  CHECK(engine.get("k").error().code == Errc::precondition_failed);
  CHECK(engine.close().error().code == Errc::precondition_failed);
}
