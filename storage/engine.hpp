// The storage engine of one vnode partition: bytes in, bytes out, ordered by
// storage key (storage/key.hpp). Implementations: LMDB (lmdb_engine.hpp),
// memory (memory_engine.hpp, for tests) and a fault-injecting wrapper
// (fault_engine.hpp). An engine is owned by its vnode actor; every method is
// thread-safe so a handoff or anti-entropy helper may fold while it writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "storage/limits.hpp"

namespace shoal::storage {

// The on-disk format this build writes. Opening anything newer fails with
// Errc::unsupported_version.
inline constexpr std::uint32_t kStorageFormatVersion = 1;

// Segments of the per-vnode segment index (storage/segment.hpp). Merkle trees
// with fewer segments ask for a segment of their own count: it covers a
// contiguous range of index segments.
inline constexpr std::uint32_t kSegmentIndexCount = 1u << 16;

struct WriteOp {
  enum class Kind : std::uint8_t { put, erase };
  Kind kind;
  std::string key;
  std::string value;  // empty for erase
};

// Applied atomically: all of it or none of it.
class WriteBatch {
 public:
  void put(std::string key, std::string value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(WriteOp{WriteOp::Kind::put, std::move(key), std::move(value)});
  }
  void erase(std::string key) {
    bytes_ += key.size();
    ops_.push_back(WriteOp{WriteOp::Kind::erase, std::move(key), {}});
  }
  const std::vector<WriteOp>& ops() const { return ops_; }
  std::size_t size() const { return ops_.size(); }
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return ops_.empty(); }
  void clear() {
    ops_.clear();
    bytes_ = 0;
    durable_ = false;
  }
  // A durable batch is fsynced before it is acknowledged even when the
  // engine runs in nosync mode (a write the client asked `dw` for).
  void set_durable(bool durable) { durable_ = durable; }
  bool durable() const { return durable_; }

 private:
  std::vector<WriteOp> ops_;
  std::size_t bytes_ = 0;
  bool durable_ = false;
};

// Checks a batch against the limits (empty key, key/value/batch too large).
Result<void> validate(const WriteBatch& batch, const Limits& limits);
Result<void> validate_key(std::string_view key, const Limits& limits);

// Read-merge-write: given the current value (nullopt if absent), returns the
// new value, nullopt to delete, or an error to abort without writing. Runs
// while the engine holds the key's write lock: keep it short and do not call
// back into the same engine or environment.
using MergeFn = std::function<Result<std::optional<std::string>>(const std::optional<std::string>& current)>;

// Called once per key in storage-key order; return false to stop the fold.
using FoldFn = std::function<bool(std::string_view key, std::string_view value)>;

// Called when a submitted batch is durable (per the engine's sync mode) or
// failed. Runs on the engine's commit thread: hand the result to the actor's
// mailbox, do not block.
using WriteCallback = std::function<void(Result<void>)>;

struct FoldOptions {
  std::string start;           // first key visited is >= start
  std::string prefix;          // only keys with this prefix (storage/key.hpp prefixes)
  bool keys_only = false;      // values are passed empty (cheaper key listing)
  std::size_t chunk_keys = 0;  // 0: the engine's Limits::fold_chunk_keys
};

struct FoldStats {
  std::uint64_t keys = 0;    // keys passed to the callback
  std::uint64_t chunks = 0;  // read snapshots taken
  bool stopped = false;      // the callback returned false
};

// What the engine knows about its vnode's past (see docs/storage.md).
struct EngineMetadata {
  std::uint32_t format_version = kStorageFormatVersion;
  std::string incarnation_id;           // 16 random bytes; part of the vnode's actor id
  bool created = false;                 // no metadata record existed: the data is new or gone
  bool previous_shutdown_clean = true;  // false: the last run did not close() the engine
  // The engine chose a new incarnation id because writes acknowledged in the
  // last run may be lost (created, or unclean shutdown in nosync mode).
  bool incarnation_renewed = false;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::string_view name() const = 0;
  virtual const EngineMetadata& metadata() const = 0;
  virtual const Limits& limits() const = 0;

  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;

  // Asynchronous write: returns at once; `done` runs when the batch is durable.
  virtual void submit(WriteBatch batch, WriteCallback done) = 0;
  // Atomically reads `key`, runs `merge`, writes its result; returns the new value.
  virtual Result<std::optional<std::string>> read_merge_write(std::string_view key, MergeFn merge) = 0;

  // Ordered by storage key. Each chunk of FoldOptions::chunk_keys keys is read
  // from one consistent snapshot; between chunks the snapshot is renewed, so a
  // concurrent write behind the cursor may be missed and one ahead of it seen.
  // Keys are never returned twice or out of order. The callback runs with no
  // transaction open.
  virtual Result<FoldStats> fold(const FoldOptions& options, const FoldFn& fn) = 0;
  // The keys whose segment_of(key, segment_count) == segment, in unspecified
  // order. segment_count is a power of two <= kSegmentIndexCount.
  virtual Result<FoldStats> fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) = 0;

  virtual Result<std::uint64_t> approximate_size_bytes() = 0;
  // Stored entries (keys plus the engine's own records); 0 when the engine
  // cannot tell cheaply. For progress estimates, not for logic.
  virtual Result<std::uint64_t> key_count() { return std::uint64_t{0}; }

  // Makes every completed write durable even in nosync mode.
  virtual Result<void> flush() = 0;
  // Orderly shutdown: records the clean shutdown. Further calls fail.
  virtual Result<void> close() = 0;

  // Conveniences over submit(). write() waits for durability; an engine may
  // commit on the caller's thread when nothing else is queued.
  std::future<Result<void>> submit(WriteBatch batch);
  virtual Result<void> write(WriteBatch batch);
  // Commits `batch` on the caller's thread if that needs no waiting (nothing
  // queued or committing): returns the outcome. Returns nullopt, leaving
  // `batch` untouched, when the caller would have to wait; it should then
  // submit() instead. Engines without an inline path always return nullopt.
  virtual std::optional<Result<void>> write_if_idle(WriteBatch& batch);
  Result<void> put(std::string_view key, std::string_view value);
  Result<void> erase(std::string_view key);
};

}  // namespace shoal::storage
