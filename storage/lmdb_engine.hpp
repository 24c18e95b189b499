// The LMDB storage of one node: ONE environment (a directory) holding a named
// database per vnode engine plus its segment index, and ONE commit thread that
// groups every engine's pending writes into a single transaction, so one
// fsync makes everything that arrived together durable (group commit).
// Layout, map growth and fold semantics: docs/storage.md.
// Owned by the node; LmdbEnvironment and the engines it opens are thread-safe.
// Engines keep their environment alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash.hpp"
#include "base/result.hpp"
#include "storage/engine.hpp"

namespace shoal::storage {

enum class SyncMode {
  sync,    // every group commit is fsynced before its writes are acknowledged
  nosync,  // MDB_NOSYNC: the OS flushes; flush() forces an fsync
};

struct LmdbOptions {
  SyncMode sync_mode = SyncMode::sync;
  // The map grows (doubling) when full, up to map_bytes_max; past it writes
  // fail with Errc::disk_full while reads keep working.
  std::size_t map_bytes_initial = 64ull * 1024 * 1024;
  std::size_t map_bytes_max = 256ull * 1024 * 1024 * 1024;
  std::uint32_t engines_max = 1024;  // each engine uses two named databases
  std::uint32_t readers_max = 512;   // concurrent read transactions (gets, fold chunks)
  // One group commit takes at most this much queued work.
  // nosync mode only: write commits into a writable memory map when its
  // blocks can be preallocated (a full disk is then an error at map growth,
  // never a SIGBUS). Falls back to write() commits otherwise.
  bool write_map = true;
  std::size_t group_ops_max = 100'000;
  std::size_t group_bytes_max = 64ull * 1024 * 1024;
  Limits limits;
  // Names long keys (over kInlineKeyBytesMax). Tests inject a colliding hash;
  // anything else must keep the default, it is on disk.
  std::function<Hash128(std::string_view)> long_key_hash;
};

struct LmdbStats {
  std::uint64_t commits = 0;      // write transactions committed by the commit thread
  std::uint64_t syncs = 0;        // fsyncs (one per commit in sync mode, one per flush)
  std::uint64_t submissions = 0;  // batches and merges acknowledged
  std::uint64_t map_resizes = 0;
  std::uint64_t map_bytes = 0;    // current map size
  bool write_map = false;         // commits write into the map (nosync mode with preallocated blocks)
};

// Keys up to this size are LMDB keys as they are; longer ones are stored as
// their first kInlineKeyBytesMax bytes + a 128-bit hash, the full key inside
// the value (a collision chain). Leaves room for the 4-byte segment prefix of
// the index within LMDB's 511-byte key limit.
inline constexpr std::size_t kInlineKeyBytesMax = 491;

// Engine names that keep owned and hinted (fallback) data apart.
std::string vnode_engine_name(std::uint64_t partition);
std::string hint_engine_name(std::uint64_t primary_partition, std::uint64_t partition);

// The named database holding the environment's format version and each
// engine's metadata record.
inline constexpr std::string_view kMetaDatabaseName = "shoal.meta";

class LmdbEnvironment {
 public:
  struct Impl;

  // Creates the directory if needed. Fails with unsupported_version if the
  // environment was written by a newer Shoal, busy if another process holds it.
  static Result<std::shared_ptr<LmdbEnvironment>> open(const std::string& directory, LmdbOptions options = {});
  ~LmdbEnvironment();
  LmdbEnvironment(const LmdbEnvironment&) = delete;
  LmdbEnvironment& operator=(const LmdbEnvironment&) = delete;

  // Opens (creating if absent) the engine `name`, e.g. vnode_engine_name(p).
  // An engine name is open at most once at a time (busy otherwise).
  Result<std::unique_ptr<Engine>> open_engine(std::string_view name);
  // Deletes an engine's data and metadata (after handoff). It must not be open.
  Result<void> drop_engine(std::string_view name);
  Result<std::vector<std::string>> list_engines();

  // Forces an fsync of everything committed (useful in nosync mode).
  Result<void> flush();
  LmdbStats stats() const;
  const LmdbOptions& options() const;
  const std::string& directory() const;

 private:
  explicit LmdbEnvironment(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shoal::storage
