// LMDB environment behaviour beyond the shared engine suite: long-key
// collisions, map growth, disk full, folds under writes, group commit,
// metadata and incarnations, engine naming, failpoints.
#include <catch2/catch.hpp>

#include <lmdb.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/failpoint.hpp"
#include "storage/key.hpp"
#include "storage/lmdb_engine.hpp"
#include "storage/segment.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace shoal;
using namespace shoal::storage;

namespace {

std::shared_ptr<LmdbEnvironment> open_env(const std::string& dir, LmdbOptions options = {}) {
  auto env = LmdbEnvironment::open(dir, std::move(options));
  if (!env) FAIL(env.error().to_string());
  return env.value();
}

std::unique_ptr<Engine> open_engine(LmdbEnvironment& env, std::string_view name) {
  auto engine = env.open_engine(name);
  if (!engine) FAIL(engine.error().to_string());
  return std::move(engine).value();
}

std::string value_of(Engine& engine, std::string_view key) {
  auto got = engine.get(key);
  REQUIRE(got);
  return got.value().value_or("<absent>");
}

}  // namespace

TEST_CASE("lmdb: long keys whose hashes collide all work", "[storage][lmdb]") {
  test::TempDir dir;
  LmdbOptions options;
  options.sync_mode = SyncMode::nosync;
  options.long_key_hash = [](std::string_view) { return Hash128{42, 42}; };  // every long key collides
  auto env = open_env(dir.path(), options);
  auto engine = open_engine(*env, "vnode/1");
  std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  // Same first 491 bytes, so they share one stored key and one collision chain.
  std::string common(600, 'p');
  std::map<std::string, std::string> model;
  for (int i = 0; i < 40; ++i) {
    std::string key = common + std::to_string(rng() % 1000);
    std::string value = "v" + std::to_string(i);
    model[key] = value;
    REQUIRE(engine->put(key, value));
  }
  std::string other(700, 'q');  // a different stored prefix, same hash
  model[other] = "other";
  REQUIRE(engine->put(other, "other"));
  for (const auto& [k, v] : model) CHECK(value_of(*engine, k) == v);
  CHECK(value_of(*engine, common + "absent") == "<absent>");

  std::vector<std::string> folded;
  FoldOptions fold_options;
  fold_options.chunk_keys = 3;
  REQUIRE(engine->fold(fold_options, [&](std::string_view k, std::string_view v) {
    CHECK(model.at(std::string(k)) == v);
    folded.emplace_back(k);
    return true;
  }));
  std::vector<std::string> expected;
  for (const auto& [k, v] : model) expected.push_back(k);
  CHECK(folded == expected);

  // Every key of the chain is found through the segment index of its own segment.
  std::set<std::string> by_segment;
  for (std::uint32_t s = 0; s < 16; ++s)
    REQUIRE(engine->fold_segment(s, 16, [&](std::string_view k, std::string_view) {
      CHECK(segment_of(k, 16) == s);
      CHECK(by_segment.insert(std::string(k)).second);
      return true;
    }));
  CHECK(by_segment.size() == model.size());

  // Erase half: the rest of the chain survives.
  int i = 0;
  for (auto it = model.begin(); it != model.end();) {
    if (i++ % 2 == 0) {
      REQUIRE(engine->erase(it->first));
      it = model.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [k, v] : model) CHECK(value_of(*engine, k) == v);
  by_segment.clear();
  for (std::uint32_t s = 0; s < 2; ++s)
    REQUIRE(engine->fold_segment(s, 2, [&](std::string_view k, std::string_view) {
      by_segment.insert(std::string(k));
      return true;
    }));
  CHECK(by_segment.size() == model.size());
}

TEST_CASE("lmdb: the map grows from 1 MiB to hold 20 MiB", "[storage][lmdb]") {
  test::TempDir dir;
  LmdbOptions options;
  options.sync_mode = SyncMode::nosync;
  options.map_bytes_initial = 1024 * 1024;
  auto env = open_env(dir.path(), options);
  auto engine = open_engine(*env, "vnode/1");
  const std::string value(1000, 'v');
  for (int b = 0; b < 20; ++b) {
    WriteBatch batch;
    for (int i = 0; i < 1000; ++i) batch.put("key" + std::to_string(b * 1000 + i), value);
    REQUIRE(engine->write(std::move(batch)));
  }
  for (int i = 0; i < 20000; i += 97) CHECK(value_of(*engine, "key" + std::to_string(i)) == value);
  CHECK(env->stats().map_resizes >= 4);
  CHECK(env->stats().map_bytes >= 20u * 1024 * 1024);
}

TEST_CASE("lmdb: a map at its maximum refuses writes with disk_full and keeps serving reads", "[storage][lmdb]") {
  test::TempDir dir;
  LmdbOptions options;
  options.sync_mode = SyncMode::nosync;
  options.map_bytes_initial = 1024 * 1024;
  options.map_bytes_max = 4 * 1024 * 1024;
  auto env = open_env(dir.path(), options);
  auto engine = open_engine(*env, "vnode/1");
  REQUIRE(engine->put("first", "still here"));
  Result<void> written = ok();
  int batches = 0;
  while (written && batches < 100) {
    WriteBatch batch;
    for (int i = 0; i < 100; ++i) batch.put("fill" + std::to_string(batches * 100 + i), std::string(1000, 'x'));
    written = engine->write(std::move(batch));
    ++batches;
  }
  REQUIRE_FALSE(written);
  CHECK(written.error().code == Errc::disk_full);
  CHECK_THAT(written.error().message, Catch::Contains("map_bytes_max"));
  CHECK(batches > 10);
  CHECK(value_of(*engine, "first") == "still here");
  CHECK(value_of(*engine, "fill0") == std::string(1000, 'x'));
  // Raising the configured maximum lets writes continue (LMDB needs free
  // pages even to delete, so a full map is fixed by growing it).
  engine.reset();
  env.reset();
  options.map_bytes_max = 64 * 1024 * 1024;
  env = open_env(dir.path(), options);
  engine = open_engine(*env, "vnode/1");
  CHECK(engine->put("after", "room again"));
  CHECK(value_of(*engine, "first") == "still here");
}

TEST_CASE("lmdb: a full disk (ENOSPC) is disk_full and reads keep working", "[storage][lmdb]") {
  test::TempDir dir;
  std::string mount_point = dir.sub("small");
  std::filesystem::create_directories(mount_point);
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=2m") != 0) {
    WARN("cannot mount a 2 MiB tmpfs (not root?): ENOSPC is covered by the fault wrapper tests only");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  {
    LmdbOptions options;
    options.map_bytes_initial = 64 * 1024 * 1024;  // larger than the disk
    auto env = open_env(mount_point, options);
    auto engine = open_engine(*env, "vnode/1");
    REQUIRE(engine->put("first", "still here"));
    Result<void> written = ok();
    for (int b = 0; b < 100 && written; ++b) {
      WriteBatch batch;
      for (int i = 0; i < 50; ++i) batch.put("fill" + std::to_string(b * 50 + i), std::string(1000, 'x'));
      written = engine->write(std::move(batch));
    }
    REQUIRE_FALSE(written);
    INFO(written.error().to_string());
    CHECK(written.error().code == Errc::disk_full);
    CHECK(value_of(*engine, "first") == "still here");
    CHECK(engine->put("more", std::string(100000, 'y')).error().code == Errc::disk_full);
    CHECK(value_of(*engine, "first") == "still here");
  }
}

TEST_CASE("lmdb: a fold under concurrent writes stays ordered and sees every untouched key", "[storage][lmdb]") {
  test::TempDir dir;
  LmdbOptions options;
  options.sync_mode = SyncMode::nosync;
  auto env = open_env(dir.path(), options);
  auto engine = open_engine(*env, "vnode/1");
  auto key = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "k%07d", i);
    return std::string(buf);
  };
  constexpr int kKeys = 50'000;
  for (int b = 0; b < kKeys; b += 5000) {
    WriteBatch batch;
    for (int i = b; i < b + 5000; ++i) batch.put(key(i), "old");
    REQUIRE(engine->write(std::move(batch)));
  }
  // The writer touches only keys divisible by 10 (overwrite or erase) and adds new ones.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    std::mt19937 rng(1);
    while (!stop) {
      WriteBatch batch;
      for (int j = 0; j < 20; ++j) {
        int i = static_cast<int>(rng() % kKeys) / 10 * 10;
        if (rng() % 2) {
          batch.erase(key(i));
        } else {
          batch.put(key(i), "new");
        }
        batch.put(key(i) + "+", "inserted");
      }
      REQUIRE(engine->write(std::move(batch)));
      ++writes;
    }
  });
  std::string previous;
  std::set<int> seen_untouched;
  FoldOptions fold_options;
  fold_options.chunk_keys = 200;
  auto stats = engine->fold(fold_options, [&](std::string_view k, std::string_view v) {
    CHECK(std::string(k) > previous);
    previous = std::string(k);
    if (k.size() == 8) {
      int i = std::stoi(std::string(k.substr(1)));
      if (i % 10 != 0) {
        CHECK(v == "old");
        seen_untouched.insert(i);
      }
    }
    return true;
  });
  stop = true;
  writer.join();
  REQUIRE(stats);
  CHECK(stats.value().chunks > 200);
  CHECK(seen_untouched.size() == kKeys / 10 * 9);
  CHECK(writes > 0);
}

TEST_CASE("lmdb: group commit makes 20 vnodes' concurrent writes durable with few fsyncs", "[storage][lmdb]") {
  test::TempDir dir;
  constexpr int kEngines = 20, kWritesPerEngine = 50;
  {
    auto env = open_env(dir.path());
    std::vector<std::unique_ptr<Engine>> engines;
    for (int e = 0; e < kEngines; ++e) engines.push_back(open_engine(*env, vnode_engine_name(e)));
    LmdbStats before = env->stats();
    std::vector<std::thread> threads;
    for (int e = 0; e < kEngines; ++e)
      threads.emplace_back([&, e] {
        for (int i = 0; i < kWritesPerEngine; ++i) {
          auto done = engines[e]->put("key" + std::to_string(i), "value" + std::to_string(e));
          if (!done) FAIL(done.error().to_string());
        }
      });
    for (auto& t : threads) t.join();
    LmdbStats after = env->stats();
    std::uint64_t writes = after.submissions - before.submissions;
    std::uint64_t commits = after.commits - before.commits;
    INFO("writes " << writes << " commits " << commits << " fsyncs " << after.syncs - before.syncs);
    CHECK(writes == kEngines * kWritesPerEngine);
    CHECK(after.syncs - before.syncs == commits);
    CHECK(commits * 2 < writes);  // grouping happened: on average 2+ writes per fsync
  }
  // Everything acknowledged is there after reopening.
  auto env = open_env(dir.path());
  for (int e = 0; e < kEngines; ++e) {
    auto engine = open_engine(*env, vnode_engine_name(e));
    CHECK(engine->metadata().previous_shutdown_clean);
    for (int i = 0; i < kWritesPerEngine; ++i)
      CHECK(value_of(*engine, "key" + std::to_string(i)) == "value" + std::to_string(e));
  }
}

TEST_CASE("lmdb: incarnation ids and shutdown records", "[storage][lmdb]") {
  test::TempDir dir;
  std::string first_id;
  {
    auto env = open_env(dir.path());
    auto engine = open_engine(*env, "vnode/3");
    CHECK(engine->metadata().created);
    CHECK(engine->metadata().incarnation_renewed);
    CHECK(engine->metadata().incarnation_id.size() == 16);
    CHECK(engine->metadata().format_version == kStorageFormatVersion);
    first_id = engine->metadata().incarnation_id;
    REQUIRE(engine->put("k", "v"));
    CHECK(env->open_engine("vnode/3").error().code == Errc::busy);
    REQUIRE(engine->close());
  }
  {
    auto env = open_env(dir.path());
    auto engine = open_engine(*env, "vnode/3");
    CHECK_FALSE(engine->metadata().created);
    CHECK(engine->metadata().previous_shutdown_clean);
    CHECK_FALSE(engine->metadata().incarnation_renewed);
    CHECK(engine->metadata().incarnation_id == first_id);
    // Dropping the engine deletes its data and metadata: a new incarnation next time.
    REQUIRE(engine->close());
    REQUIRE(env->drop_engine("vnode/3"));
    auto again = open_engine(*env, "vnode/3");
    CHECK(again->metadata().created);
    CHECK(again->metadata().incarnation_id != first_id);
    CHECK(value_of(*again, "k") == "<absent>");
  }
}

TEST_CASE("lmdb: an unclean shutdown renews the incarnation in nosync mode only", "[storage][lmdb]") {
  for (SyncMode mode : {SyncMode::sync, SyncMode::nosync}) {
    INFO("nosync " << (mode == SyncMode::nosync));
    test::TempDir dir;
    LmdbOptions options;
    options.sync_mode = mode;
    std::string id;
    {
      auto env = open_env(dir.path(), options);
      auto engine = open_engine(*env, "vnode/5");
      id = engine->metadata().incarnation_id;
      REQUIRE(engine->close());
    }
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Opens, writes, and dies without closing: an unclean shutdown.
      auto env = LmdbEnvironment::open(dir.path(), options);
      if (!env) _exit(2);
      auto engine = env.value()->open_engine("vnode/5");
      if (!engine || !engine.value()->put("k", "v")) _exit(3);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    auto env = open_env(dir.path(), options);
    auto engine = open_engine(*env, "vnode/5");
    CHECK_FALSE(engine->metadata().previous_shutdown_clean);
    CHECK(engine->metadata().incarnation_renewed == (mode == SyncMode::nosync));
    CHECK((engine->metadata().incarnation_id == id) == (mode == SyncMode::sync));
  }
}

TEST_CASE("lmdb: engines are listed, named apart and dropped", "[storage][lmdb]") {
  test::TempDir dir;
  auto env = open_env(dir.path());
  {
    auto owned = open_engine(*env, vnode_engine_name(12));
    auto hinted = open_engine(*env, hint_engine_name(12, 40));
    REQUIRE(owned->put("k", "owned"));
    REQUIRE(hinted->put("k", "hinted"));
    CHECK(value_of(*owned, "k") == "owned");
    CHECK(value_of(*hinted, "k") == "hinted");
    CHECK(env->drop_engine(vnode_engine_name(12)).error().code == Errc::busy);
  }
  auto names = env->list_engines();
  REQUIRE(names);
  CHECK(names.value() == std::vector<std::string>{"hint/12/40", "vnode/12"});
  REQUIRE(env->drop_engine(hint_engine_name(12, 40)));
  CHECK(env->list_engines().value() == std::vector<std::string>{"vnode/12"});
  CHECK(env->drop_engine("hint/1/2").error().code == Errc::not_found);
  CHECK(env->open_engine("").error().code == Errc::invalid_argument);
  auto owned = open_engine(*env, vnode_engine_name(12));
  CHECK(value_of(*owned, "k") == "owned");
}

TEST_CASE("lmdb: an environment from a newer Shoal is refused", "[storage][lmdb]") {
  test::TempDir dir;
  { open_env(dir.path()); }
  {
    // Rewrite the format version as a future build would.
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 4);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, std::string(kMetaDatabaseName).c_str(), 0, &dbi) == 0);
    std::string key = "format", value("\x63\0\0\0", 4);
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto reopened = LmdbEnvironment::open(dir.path());
  REQUIRE_FALSE(reopened);
  CHECK(reopened.error().code == Errc::unsupported_version);
  CHECK_THAT(reopened.error().message, Catch::Contains("99"));
}

TEST_CASE("lmdb: the storage.commit failpoint fails a commit without writing", "[storage][lmdb]") {
  failpoint::enable();
  test::TempDir dir;
  auto env = open_env(dir.path());
  auto engine = open_engine(*env, "vnode/1");
  REQUIRE(failpoint::set("storage.commit", "1*error"));
  auto failed = engine->put("k", "v");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == Errc::injected);
  CHECK(value_of(*engine, "k") == "<absent>");
  REQUIRE(engine->put("k", "v"));
  CHECK(value_of(*engine, "k") == "v");
  failpoint::clear_all();
}

TEST_CASE("lmdb: nosync mode fsyncs only on flush", "[storage][lmdb]") {
  test::TempDir dir;
  LmdbOptions options;
  options.sync_mode = SyncMode::nosync;
  auto env = open_env(dir.path(), options);
  auto engine = open_engine(*env, "vnode/1");
  LmdbStats before = env->stats();
  for (int i = 0; i < 20; ++i) REQUIRE(engine->put("k" + std::to_string(i), "v"));
  CHECK(env->stats().syncs == before.syncs);
  CHECK(env->stats().commits >= before.commits + 20);
  REQUIRE(engine->flush());
  CHECK(env->stats().syncs == before.syncs + 1);
}

TEST_CASE("lmdb: nosync mode commits into a preallocated write map; sync mode does not", "[storage][lmdb]") {
  test::TempDir dir;
  LmdbOptions nosync;
  nosync.sync_mode = SyncMode::nosync;
  nosync.map_bytes_initial = 8 * 1024 * 1024;
  {
    auto env = open_env(dir.sub("nosync"), nosync);
    CHECK(env->stats().write_map);
    auto engine = open_engine(*env, "vnode/1");
    REQUIRE(engine->put("k", "v"));
    // The map's blocks are allocated, not a sparse hole a full disk could turn into SIGBUS.
    struct stat st {};
    REQUIRE(::stat(dir.sub("nosync/data.mdb").c_str(), &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 >= nosync.map_bytes_initial);
    REQUIRE(engine->close());
  }
  auto reopened = open_env(dir.sub("nosync"), nosync);
  CHECK(value_of(*open_engine(*reopened, "vnode/1"), "k") == "v");
  LmdbOptions sync;
  auto synced = open_env(dir.sub("sync"), sync);
  CHECK_FALSE(synced->stats().write_map);
}
