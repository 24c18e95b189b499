#include "storage/lmdb_engine.hpp"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "base/failpoint.hpp"
#include "storage/memory_engine.hpp"
#include "storage/segment.hpp"

namespace shoal::storage {
namespace {

constexpr std::size_t kLongStoredKeyBytes = kInlineKeyBytesMax + 16;
constexpr std::size_t kSegmentPrefixBytes = 4;
constexpr std::size_t kEngineNameBytesMax = 200;
constexpr std::uint8_t kChainVersion = 1;
constexpr std::uint8_t kMetaRecordVersion = 1;
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kEngineKeyPrefix = "engine/";
// A failed write with less free disk than this (plus twice what the commit
// carried) is reported as disk_full rather than io_error.
constexpr std::uint64_t kDiskFullSlackBytes = 1024 * 1024;
// Fewer queued submissions than this: yield once before committing.
constexpr std::size_t kGroupCoalesceBelow = 8;

MDB_val to_val(std::string_view bytes) { return MDB_val{bytes.size(), const_cast<char*>(bytes.data())}; }
std::string_view from_val(const MDB_val& val) { return {static_cast<const char*>(val.mv_data), val.mv_size}; }

Error mdb_error(int rc, std::string_view what) {
  std::string message = std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case ENOSPC:
    case EDQUOT:
      return make_error(Errc::disk_full, message + " (refusing writes; reads still work)");
    case MDB_MAP_FULL:
      return make_error(Errc::disk_full, message);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
      return make_error(Errc::corruption, message);
    case MDB_VERSION_MISMATCH:
      return make_error(Errc::unsupported_version, message);
    case EAGAIN:
    case EBUSY:
      return make_error(Errc::busy, message);
    default:
      return make_error(Errc::io_error, message);
  }
}

void append_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t read_u32(std::string_view in, std::size_t pos) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
  return v;
}
void append_be32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t read_be32(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
void append_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool is_long(std::string_view key) { return key.size() > kInlineKeyBytesMax; }
bool is_long_stored(std::string_view stored) { return stored.size() == kLongStoredKeyBytes; }

// Collision chain of the long keys sharing one stored key: full keys with values.
using Chain = std::vector<std::pair<std::string, std::string>>;

std::string encode_chain(const Chain& chain) {
  std::string out;
  out.push_back(static_cast<char>(kChainVersion));
  append_u32(out, static_cast<std::uint32_t>(chain.size()));
  for (const auto& [key, value] : chain) {
    append_u32(out, static_cast<std::uint32_t>(key.size()));
    out.append(key);
    append_u32(out, static_cast<std::uint32_t>(value.size()));
    out.append(value);
  }
  return out;
}

Result<Chain> decode_chain(std::string_view in) {
  auto bad = [] { return make_error(Errc::corruption, "long-key record is truncated or malformed"); };
  if (in.size() < 5) return bad();
  if (static_cast<std::uint8_t>(in[0]) != kChainVersion)
    return make_error(Errc::unsupported_version, "long-key record version " + std::to_string(in[0]));
  std::uint32_t count = read_u32(in, 1);
  std::size_t pos = 5;
  Chain chain;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::pair<std::string, std::string> entry;
    for (std::string* part : {&entry.first, &entry.second}) {
      if (in.size() - pos < 4) return bad();
      std::uint32_t size = read_u32(in, pos);
      pos += 4;
      if (in.size() - pos < size) return bad();
      part->assign(in.substr(pos, size));
      pos += size;
    }
    chain.push_back(std::move(entry));
  }
  if (pos != in.size()) return bad();
  return chain;
}

struct MetaRecord {
  std::uint32_t format_version = kStorageFormatVersion;
  bool clean_shutdown = false;
  bool nosync = false;
  std::string incarnation_id;
};

std::string encode_meta(const MetaRecord& record) {
  std::string out;
  out.push_back(static_cast<char>(kMetaRecordVersion));
  append_u32(out, record.format_version);
  out.push_back(static_cast<char>((record.clean_shutdown ? 1 : 0) | (record.nosync ? 2 : 0)));
  out.push_back(static_cast<char>(record.incarnation_id.size()));
  out.append(record.incarnation_id);
  return out;
}

Result<MetaRecord> decode_meta(std::string_view in, std::string_view name) {
  if (in.size() < 5)
    return make_error(Errc::corruption, "metadata record of engine " + std::string(name) + " is truncated");
  MetaRecord record;
  record.format_version = read_u32(in, 1);
  if (static_cast<std::uint8_t>(in[0]) > kMetaRecordVersion || record.format_version > kStorageFormatVersion)
    return make_error(Errc::unsupported_version, "engine " + std::string(name) + " was written by storage format " +
                                                     std::to_string(record.format_version) +
                                                     "; this build reads up to " +
                                                     std::to_string(kStorageFormatVersion));
  if (in.size() < 7)
    return make_error(Errc::corruption, "metadata record of engine " + std::string(name) + " is truncated");
  auto flags = static_cast<std::uint8_t>(in[5]);
  record.clean_shutdown = flags & 1;
  record.nosync = flags & 2;
  auto id_size = static_cast<std::uint8_t>(in[6]);
  if (in.size() != 7u + id_size)
    return make_error(Errc::corruption, "metadata record of engine " + std::string(name) + " has a bad length");
  record.incarnation_id.assign(in.substr(7));
  return record;
}

Result<void> validate_engine_name(std::string_view name) {
  if (name.empty() || name.size() > kEngineNameBytesMax || name.find('\0') != std::string_view::npos)
    return make_error(Errc::invalid_argument,
                      "engine name must be 1.." + std::to_string(kEngineNameBytesMax) + " bytes without NUL");
  return ok();
}

std::string data_db_name(std::string_view name) { return "d/" + std::string(name); }
std::string index_db_name(std::string_view name) { return "s/" + std::string(name); }
std::string meta_key(std::string_view name) { return std::string(kEngineKeyPrefix) + std::string(name); }

// Blocks new transactions and waits for running ones so the map can be
// resized: mdb_env_set_mapsize needs no transaction active in this process.
class TxnGate {
 public:
  void enter() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !exclusive_; });
    ++active_;
  }
  void leave() {
    std::lock_guard lock(mutex_);
    if (--active_ == 0) cv_.notify_all();
  }
  void enter_exclusive() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !exclusive_; });
    exclusive_ = true;
    cv_.wait(lock, [&] { return active_ == 0; });
  }
  void leave_exclusive() {
    std::lock_guard lock(mutex_);
    exclusive_ = false;
    cv_.notify_all();
  }

  // Reset read transactions kept for reuse: beginning one allocates and
  // zeroes a handle sized by the number of named databases (~100 KB here),
  // which a renew of a reset one avoids. A reset transaction holds no
  // snapshot, so it does not block page reuse or map resizes.
  MDB_txn* take_reader() {
    std::lock_guard lock(mutex_);
    if (readers_.empty()) return nullptr;
    MDB_txn* txn = readers_.back();
    readers_.pop_back();
    return txn;
  }
  bool keep_reader(MDB_txn* txn) {
    std::lock_guard lock(mutex_);
    if (readers_.size() >= kReadersKeptMax) return false;
    readers_.push_back(txn);
    return true;
  }
  void drop_readers() {
    std::lock_guard lock(mutex_);
    for (MDB_txn* txn : readers_) mdb_txn_abort(txn);
    readers_.clear();
  }

 private:
  static constexpr std::size_t kReadersKeptMax = 32;
  std::mutex mutex_;
  std::condition_variable cv_;
  int active_ = 0;
  bool exclusive_ = false;
  std::vector<MDB_txn*> readers_;
};

// A read transaction holding the gate for its lifetime.
class ReadTxn {
 public:
  ReadTxn(MDB_env* env, TxnGate& gate) : gate_(gate) {
    gate_.enter();
    txn_ = gate_.take_reader();
    if (txn_ && mdb_txn_renew(txn_) != 0) {
      mdb_txn_abort(txn_);
      txn_ = nullptr;
    }
    if (!txn_) {
      rc_ = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_);
      if (rc_ != 0) txn_ = nullptr;
    }
  }
  ~ReadTxn() {
    if (txn_) {
      mdb_txn_reset(txn_);
      if (!gate_.keep_reader(txn_)) mdb_txn_abort(txn_);
    }
    gate_.leave();
  }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  int rc() const { return rc_; }
  MDB_txn* get() const { return txn_; }

 private:
  TxnGate& gate_;
  MDB_txn* txn_ = nullptr;
  int rc_ = 0;
};

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &cursor_); }
  ~Cursor() {
    if (rc_ == 0) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  int rc() const { return rc_; }
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
  int rc_ = 0;
};

}  // namespace

// One unit of work for the commit thread. `apply` runs inside the group's
// write transaction and may run again if the group is retried (map growth,
// another submission failing), so it must only depend on the transaction.
// It returns an LMDB code that fails or retries the whole group, or sets
// `own` to fail just this submission (the group is then retried without it).
struct Submission {
  std::function<int(MDB_txn*, Result<void>& own)> apply;
  WriteCallback done;
  std::size_t ops = 1;
  std::size_t bytes = 0;
  bool durable = false;  // fsync before acknowledging, even in nosync mode
};

struct LmdbEnvironment::Impl {
  std::string directory;
  LmdbOptions options;
  MDB_env* env = nullptr;
  MDB_dbi meta_dbi = 0;
  TxnGate gate;

  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<Submission> queue;
  bool stopping = false;
  bool busy = false;  // a group is being committed (by the commit thread or inline)
  std::thread commit_thread;

  std::mutex engines_mutex;
  std::set<std::string, std::less<>> open_engines;

  std::atomic<std::uint64_t> commits{0}, syncs{0}, submissions{0}, map_resizes{0}, map_bytes{0};
  bool write_map = false;  // MDB_WRITEMAP: commits write into the map, no write() per page

  ~Impl() {
    {
      std::lock_guard lock(queue_mutex);
      stopping = true;
    }
    queue_cv.notify_all();
    if (commit_thread.joinable()) commit_thread.join();
    gate.drop_readers();
    if (env) mdb_env_close(env);
  }

  Hash128 long_hash(std::string_view key) const {
    return options.long_key_hash ? options.long_key_hash(key) : hash128(key);
  }
  std::string stored_key(std::string_view key) const {
    if (!is_long(key)) return std::string(key);
    std::string out(key.substr(0, kInlineKeyBytesMax));
    Hash128 h = long_hash(key);
    append_be64(out, h.high);
    append_be64(out, h.low);
    return out;
  }
  static std::string index_key(std::uint32_t segment, std::string_view stored) {
    std::string out;
    out.reserve(kSegmentPrefixBytes + stored.size());
    append_be32(out, segment);
    out.append(stored);
    return out;
  }

  void enqueue(Submission submission) {
    {
      std::lock_guard lock(queue_mutex);
      if (!stopping) {
        queue.push_back(std::move(submission));
        queue_cv.notify_one();
        return;
      }
    }
    submission.done(make_error(Errc::unavailable, "storage environment " + directory + " is closing"));
  }

  // Commits `submission` and waits for it. When nothing is queued or being
  // committed, the caller's thread commits it itself: a synchronous write then
  // costs no hand-off to the commit thread, and order is kept because the
  // queue is empty.
  Result<void> run_and_wait(Submission submission) {
    std::optional<Result<void>> result;
    WriteCallback done = std::move(submission.done);
    submission.done = [&result](Result<void> r) { result = std::move(r); };
    {
      std::unique_lock lock(queue_mutex);
      if (stopping || busy || !queue.empty()) {
        lock.unlock();
        std::promise<Result<void>> promise;
        auto future = promise.get_future();
        submission.done = [&promise](Result<void> r) { promise.set_value(std::move(r)); };
        enqueue(std::move(submission));
        Result<void> queued = future.get();
        if (done) done(queued);
        return queued;
      }
      busy = true;
    }
    std::vector<Submission> group;
    group.push_back(std::move(submission));
    commit_group(group);
    {
      std::lock_guard lock(queue_mutex);
      busy = false;
    }
    queue_cv.notify_all();
    if (done) done(*result);
    return std::move(*result);
  }

  // Claims the commit path if nothing is queued or committing; the claimer
  // must then call commit_claimed.
  bool claim_if_idle() {
    std::lock_guard lock(queue_mutex);
    if (stopping || busy || !queue.empty()) return false;
    busy = true;
    return true;
  }

  Result<void> commit_claimed(Submission submission) {
    std::optional<Result<void>> result;
    submission.done = [&result](Result<void> r) { result = std::move(r); };
    std::vector<Submission> group;
    group.push_back(std::move(submission));
    commit_group(group);
    {
      std::lock_guard lock(queue_mutex);
      busy = false;
    }
    queue_cv.notify_all();
    return std::move(*result);
  }

  Result<void> run(std::function<int(MDB_txn*, Result<void>&)> apply) {
    return run_and_wait(Submission{std::move(apply), nullptr, 1, 0});
  }

  Result<void> sync_now() {
    int rc = mdb_env_sync(env, 1);
    if (rc != 0) return mdb_error(rc, "fsync of " + directory);
    ++syncs;
    return ok();
  }

  Result<void> preallocate(std::uint64_t bytes) {
    int fd = -1;
    if (mdb_env_get_fd(env, &fd) != 0 || fd < 0)
      return make_error(Errc::io_error, "no file descriptor for " + directory);
    int rc = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (rc == ENOSPC)
      return make_error(Errc::disk_full, "no space left on the disk of " + directory + " to grow the storage map to " +
                                             std::to_string(bytes) + " bytes: refusing writes; reads still work");
    if (rc != 0) return make_error(Errc::io_error, "allocating " + directory + ": " + std::strerror(rc));
    return ok();
  }

  Result<void> grow_map() {
    std::uint64_t current = map_bytes.load();
    if (current >= options.map_bytes_max)
      return make_error(Errc::disk_full, "storage map of " + directory + " reached map_bytes_max (" +
                                             std::to_string(options.map_bytes_max) +
                                             " bytes): refusing writes; reads still work");
    std::uint64_t next = std::min<std::uint64_t>(current * 2, options.map_bytes_max);
    if (write_map) {
      // A write map over unallocated blocks would crash the process with
      // SIGBUS when the disk is full: allocate the blocks first, so a full
      // disk is an error here instead.
      if (Result<void> allocated = preallocate(next); !allocated) return allocated;
    }
    gate.enter_exclusive();
    int rc = mdb_env_set_mapsize(env, next);
    MDB_envinfo info;
    mdb_env_info(env, &info);
    gate.leave_exclusive();
    if (rc != 0) return mdb_error(rc, "growing the storage map of " + directory);
    map_bytes = info.me_mapsize;
    ++map_resizes;
    return ok();
  }

  // LMDB turns a short write into EIO, which is what a full filesystem gives
  // (the write stops at the last free block): look at the free space to tell
  // a full disk, which the node survives by refusing writes, from a failing one.
  Error commit_error(int rc, const std::vector<Submission>& group) const {
    if (rc == EIO || rc == ENOSPC) {
      std::uint64_t needed = kDiskFullSlackBytes;
      for (const Submission& s : group) needed += 2 * s.bytes;
      struct statvfs fs;
      if (statvfs(directory.c_str(), &fs) == 0 && std::uint64_t{fs.f_bavail} * fs.f_frsize < needed)
        return make_error(Errc::disk_full,
                          "no space left on the disk of " + directory + ": refusing writes; reads still work");
    }
    return mdb_error(rc, "committing writes to " + directory);
  }

  void commit_loop() {
    std::vector<Submission> group;
    for (;;) {
      {
        std::unique_lock lock(queue_mutex);
        queue_cv.wait(lock, [&] { return (stopping && !busy) || (!queue.empty() && !busy); });
        if (queue.empty()) return;  // stopping and drained
        if (queue.size() < kGroupCoalesceBelow) {
          // Writers woken together (a coordinator fanning out to vnodes)
          // submit microseconds apart: letting them run once before taking
          // the group saves an fsync for the price of a yield.
          lock.unlock();
          std::this_thread::yield();
          lock.lock();
          queue_cv.wait(lock, [&] { return (stopping && !busy) || (!queue.empty() && !busy); });
        }
        std::size_t ops = 0, bytes = 0;
        while (!queue.empty() && (group.empty() || (ops + queue.front().ops <= options.group_ops_max &&
                                                    bytes + queue.front().bytes <= options.group_bytes_max))) {
          ops += queue.front().ops;
          bytes += queue.front().bytes;
          group.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        busy = true;
      }
      commit_group(group);
      group.clear();
      {
        std::lock_guard lock(queue_mutex);
        busy = false;
      }
      queue_cv.notify_all();
    }
  }

  void commit_group(std::vector<Submission>& group) {
    std::vector<std::optional<Result<void>>> own(group.size());
    auto finish = [&](const std::optional<Error>& group_error) {
      for (std::size_t i = 0; i < group.size(); ++i) {
        if (own[i]) {
          group[i].done(std::move(*own[i]));
        } else if (group_error) {
          group[i].done(*group_error);
        } else {
          ++submissions;
          group[i].done(ok());
        }
      }
    };
    for (;;) {
      gate.enter();
      MDB_txn* txn = nullptr;
      int rc = mdb_txn_begin(env, nullptr, 0, &txn);
      if (rc != 0) {
        gate.leave();
        return finish(mdb_error(rc, "starting a write transaction in " + directory));
      }
      bool excluded = false;
      for (std::size_t i = 0; i < group.size() && rc == 0 && !excluded; ++i) {
        if (own[i]) continue;
        Result<void> result = ok();
        rc = group[i].apply(txn, result);
        if (rc == 0 && !result) {
          own[i] = std::move(result);
          excluded = true;
        }
      }
      if (rc == 0 && !excluded) {
        if (Result<void> injected = failpoint::check("storage.commit"); !injected) {
          mdb_txn_abort(txn);
          gate.leave();
          return finish(injected.error());
        }
        rc = mdb_txn_commit(txn);
        gate.leave();
        if (rc == 0) {
          ++commits;
          if (options.sync_mode == SyncMode::sync) {
            ++syncs;
          } else if (std::any_of(group.begin(), group.end(), [](const Submission& s) { return s.durable; })) {
            if (Result<void> synced = sync_now(); !synced) return finish(synced.error());
          }
          if (failpoint::eval("storage.commit.after") == failpoint::Action::error)
            return finish(make_error(Errc::injected, "failpoint storage.commit.after fired after a durable commit"));
          return finish(std::nullopt);
        }
      } else {
        mdb_txn_abort(txn);
        gate.leave();
      }
      if (rc == MDB_MAP_FULL) {
        if (Result<void> grown = grow_map(); !grown) return finish(grown.error());
      } else if (rc != 0) {
        return finish(commit_error(rc, group));
      }
      // Retry: the map grew, or a failed submission was taken out of the group.
    }
  }

  // ---- write-side operations, run by apply functions on the commit thread ----

  static int put_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value) {
    MDB_val k = to_val(key), v = to_val(value);
    return mdb_put(txn, dbi, &k, &v, 0);
  }
  static int del_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
    MDB_val k = to_val(key);
    int rc = mdb_del(txn, dbi, &k, nullptr);
    return rc == MDB_NOTFOUND ? 0 : rc;
  }
  // Loads the chain stored under `stored` (empty if absent).
  static int load_chain(MDB_txn* txn, MDB_dbi dbi, std::string_view stored, Chain& chain, Result<void>& own) {
    MDB_val k = to_val(stored), v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    Result<Chain> decoded = decode_chain(from_val(v));
    if (!decoded) {
      own = decoded.error();
      return 0;
    }
    chain = std::move(decoded).value();
    return 0;
  }

  int apply_put(MDB_txn* txn, MDB_dbi data, MDB_dbi index, std::string_view key, std::string_view value,
                Result<void>& own) const {
    std::uint32_t segment = segment_of(key, kSegmentIndexCount);
    if (!is_long(key)) {
      if (int rc = put_raw(txn, data, key, value)) return rc;
      return put_raw(txn, index, index_key(segment, key), {});
    }
    std::string stored = stored_key(key);
    Chain chain;
    if (int rc = load_chain(txn, data, stored, chain, own); rc != 0 || !own) return rc;
    auto it = std::find_if(chain.begin(), chain.end(), [&](const auto& e) { return e.first == key; });
    if (it == chain.end()) {
      chain.emplace_back(std::string(key), std::string(value));
    } else {
      it->second.assign(value);
    }
    if (int rc = put_raw(txn, data, stored, encode_chain(chain))) return rc;
    return put_raw(txn, index, index_key(segment, stored), {});
  }

  int apply_erase(MDB_txn* txn, MDB_dbi data, MDB_dbi index, std::string_view key, Result<void>& own) const {
    std::uint32_t segment = segment_of(key, kSegmentIndexCount);
    if (!is_long(key)) {
      if (int rc = del_raw(txn, data, key)) return rc;
      return del_raw(txn, index, index_key(segment, key));
    }
    std::string stored = stored_key(key);
    Chain chain;
    if (int rc = load_chain(txn, data, stored, chain, own); rc != 0 || !own) return rc;
    auto it = std::find_if(chain.begin(), chain.end(), [&](const auto& e) { return e.first == key; });
    if (it == chain.end()) return 0;
    chain.erase(it);
    int rc = chain.empty() ? del_raw(txn, data, stored) : put_raw(txn, data, stored, encode_chain(chain));
    if (rc != 0) return rc;
    bool segment_still_used = std::any_of(
        chain.begin(), chain.end(), [&](const auto& e) { return segment_of(e.first, kSegmentIndexCount) == segment; });
    return segment_still_used ? 0 : del_raw(txn, index, index_key(segment, stored));
  }

  // Reads `key` in any transaction; nullopt if absent.
  Result<std::optional<std::string>> read(MDB_txn* txn, MDB_dbi data, std::string_view key, int& rc) const {
    std::string stored = stored_key(key);
    MDB_val k = to_val(stored), v;
    rc = mdb_get(txn, data, &k, &v);
    if (rc == MDB_NOTFOUND) {
      rc = 0;
      return std::optional<std::string>{};
    }
    if (rc != 0) return std::optional<std::string>{};
    if (!is_long(key)) return std::optional<std::string>{std::string(from_val(v))};
    SHOAL_TRY(chain, decode_chain(from_val(v)));
    for (auto& [full, value] : chain)
      if (full == key) return std::optional<std::string>{std::move(value)};
    return std::optional<std::string>{};
  }
};

namespace {

class LmdbEngine final : public Engine {
 public:
  LmdbEngine(std::shared_ptr<LmdbEnvironment::Impl> env, std::string name, MDB_dbi data, MDB_dbi index,
             EngineMetadata metadata)
      : env_(std::move(env)), name_(std::move(name)), data_(data), index_(index), metadata_(std::move(metadata)) {}

  ~LmdbEngine() override {
    if (!closed_) (void)close();
  }

  using Engine::submit;
  std::string_view name() const override { return name_; }
  const EngineMetadata& metadata() const override { return metadata_; }
  const Limits& limits() const override { return env_->options.limits; }

  Result<void> check_open() const {
    if (closed_) return make_error(Errc::precondition_failed, "engine " + name_ + " is closed");
    return ok();
  }

  Result<std::optional<std::string>> get(std::string_view key) override {
    SHOAL_TRYV(check_open());
    SHOAL_TRYV(validate_key(key, limits()));
    ReadTxn txn(env_->env, env_->gate);
    if (txn.rc() != 0) return mdb_error(txn.rc(), "starting a read transaction");
    int rc = 0;
    auto value = env_->read(txn.get(), data_, key, rc);
    if (rc != 0) return mdb_error(rc, "reading from engine " + name_);
    return value;
  }

  void submit(WriteBatch batch, WriteCallback done) override {
    if (Result<void> checked = check_open(); !checked) return done(std::move(checked));
    if (Result<void> valid = validate(batch, limits()); !valid) return done(std::move(valid));
    env_->enqueue(make_submission(std::move(batch), std::move(done)));
  }

  Result<void> write(WriteBatch batch) override {
    SHOAL_TRYV(check_open());
    SHOAL_TRYV(validate(batch, limits()));
    return env_->run_and_wait(make_submission(std::move(batch), nullptr));
  }

  std::optional<Result<void>> write_if_idle(WriteBatch& batch) override {
    if (Result<void> checked = check_open(); !checked) return checked;
    if (Result<void> valid = validate(batch, limits()); !valid) return valid;
    if (!env_->claim_if_idle()) return std::nullopt;
    Result<void> result = env_->commit_claimed(make_submission(std::move(batch), nullptr));
    batch.clear();
    return result;
  }

  Submission make_submission(WriteBatch batch, WriteCallback done) {
    Submission submission;
    submission.ops = batch.size();
    submission.bytes = batch.bytes();
    submission.durable = batch.durable();
    submission.done = std::move(done);
    submission.apply = [env = env_.get(), data = data_, index = index_, batch = std::move(batch)](
                           MDB_txn* txn, Result<void>& own) -> int {
      for (const WriteOp& op : batch.ops()) {
        int rc = op.kind == WriteOp::Kind::put ? env->apply_put(txn, data, index, op.key, op.value, own)
                                               : env->apply_erase(txn, data, index, op.key, own);
        if (rc != 0 || !own) return rc;
      }
      return 0;
    };
    return submission;
  }

  Result<std::optional<std::string>> read_merge_write(std::string_view key, MergeFn merge) override {
    SHOAL_TRYV(check_open());
    SHOAL_TRYV(validate_key(key, limits()));
    std::optional<std::string> merged;
    std::size_t value_bytes_max = limits().value_bytes_max;
    SHOAL_TRYV(env_->run([&, env = env_.get()](MDB_txn* txn, Result<void>& own) -> int {
      int rc = 0;
      auto current = env->read(txn, data_, key, rc);
      if (rc != 0) return rc;
      if (!current) {
        own = current.error();
        return 0;
      }
      auto next = merge(current.value());
      if (!next) {
        own = next.error();
        return 0;
      }
      merged = std::move(next).value();
      if (merged && merged->size() > value_bytes_max) {
        own =
            make_error(Errc::too_large, "merged value of " + std::to_string(merged->size()) +
                                            " bytes is over value_bytes_max (" + std::to_string(value_bytes_max) + ")");
        return 0;
      }
      return merged ? env->apply_put(txn, data_, index_, key, *merged, own)
                    : env->apply_erase(txn, data_, index_, key, own);
    }));
    return merged;
  }

  Result<FoldStats> fold(const FoldOptions& options, const FoldFn& fn) override;
  Result<FoldStats> fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) override;

  Result<std::uint64_t> key_count() override {
    SHOAL_TRYV(check_open());
    ReadTxn txn(env_->env, env_->gate);
    if (txn.rc() != 0) return mdb_error(txn.rc(), "starting a read transaction");
    MDB_stat stat;
    if (int rc = mdb_stat(txn.get(), data_, &stat)) return mdb_error(rc, "counting engine " + name_);
    return std::uint64_t{stat.ms_entries};
  }

  Result<std::uint64_t> approximate_size_bytes() override {
    SHOAL_TRYV(check_open());
    ReadTxn txn(env_->env, env_->gate);
    if (txn.rc() != 0) return mdb_error(txn.rc(), "starting a read transaction");
    std::uint64_t bytes = 0;
    for (MDB_dbi dbi : {data_, index_}) {
      MDB_stat stat;
      if (int rc = mdb_stat(txn.get(), dbi, &stat)) return mdb_error(rc, "sizing engine " + name_);
      bytes += (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) * std::uint64_t{stat.ms_psize};
    }
    return bytes;
  }

  Result<void> flush() override {
    SHOAL_TRYV(check_open());
    return env_->sync_now();
  }

  Result<void> close() override {
    if (closed_.exchange(true)) return make_error(Errc::precondition_failed, "engine " + name_ + " is already closed");
    MetaRecord record;
    record.clean_shutdown = true;
    record.nosync = env_->options.sync_mode == SyncMode::nosync;
    record.incarnation_id = metadata_.incarnation_id;
    std::string key = meta_key(name_), value = encode_meta(record);
    // FIFO: this commits after every write submitted before close().
    Result<void> written =
        env_->run([&, meta = env_->meta_dbi](MDB_txn* txn, Result<void>&) { return put_raw(txn, meta, key, value); });
    if (written && record.nosync) written = env_->sync_now();
    std::lock_guard lock(env_->engines_mutex);
    env_->open_engines.erase(name_);
    return written;
  }

  static int put_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value) {
    return LmdbEnvironment::Impl::put_raw(txn, dbi, key, value);
  }

 private:
  // One entry met by a fold, with its full key.
  using Entries = std::vector<std::pair<std::string, std::string>>;

  std::shared_ptr<LmdbEnvironment::Impl> env_;
  std::string name_;
  MDB_dbi data_;
  MDB_dbi index_;
  EngineMetadata metadata_;
  std::atomic<bool> closed_{false};
};

Result<FoldStats> LmdbEngine::fold(const FoldOptions& options, const FoldFn& fn) {
  SHOAL_TRYV(check_open());
  const std::size_t chunk_keys =
      std::max<std::size_t>(1, options.chunk_keys ? options.chunk_keys : limits().fold_chunk_keys);
  const std::size_t chunk_bytes = limits().fold_chunk_bytes;
  FoldStats stats;
  // Every key passed on is > `after` (or >= `from` in the first chunk), which
  // is what keeps keys unique and ordered across snapshots.
  std::string from = std::max(options.start, options.prefix);
  std::optional<std::string> after;
  Entries chunk;
  for (;;) {
    chunk.clear();
    bool more = false, past_end = false;
    {
      ReadTxn txn(env_->env, env_->gate);
      if (txn.rc() != 0) return mdb_error(txn.rc(), "starting a read transaction");
      Cursor cursor(txn.get(), data_);
      if (cursor.rc() != 0) return mdb_error(cursor.rc(), "opening a cursor");
      const std::string& bound = after ? *after : from;
      std::string seek = bound.substr(0, std::min(bound.size(), kInlineKeyBytesMax));
      MDB_val k = to_val(seek), v;
      int rc = seek.empty() ? mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST)
                            : mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
      std::size_t bytes = 0;
      Entries group;
      // Accepts one full key in order; false once the prefix range is passed.
      auto accept = [&](std::string key, std::string_view value) {
        if (after ? key <= *after : key < from) return true;
        if (!key.starts_with(options.prefix)) {
          if (key > options.prefix) {
            past_end = true;
            return false;
          }
          return true;
        }
        bytes += key.size() + (options.keys_only ? 0 : value.size());
        chunk.emplace_back(std::move(key), options.keys_only ? std::string() : std::string(value));
        return true;
      };
      while (rc == 0 && !past_end) {
        if (chunk.size() >= chunk_keys || (bytes >= chunk_bytes && !chunk.empty())) {
          more = true;
          break;
        }
        std::string_view stored = from_val(k);
        if (!is_long_stored(stored)) {
          accept(std::string(stored), from_val(v));
          rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
          continue;
        }
        // Long keys sharing their first kInlineKeyBytesMax bytes are adjacent
        // but ordered by hash: collect the run and sort it by full key.
        std::string run_prefix(stored.substr(0, kInlineKeyBytesMax));
        group.clear();
        while (rc == 0 && is_long_stored(from_val(k)) && from_val(k).starts_with(run_prefix)) {
          SHOAL_TRY(entries, decode_chain(from_val(v)));
          for (auto& e : entries) group.push_back(std::move(e));
          rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
        }
        std::sort(group.begin(), group.end());
        for (auto& [key, value] : group)
          if (!accept(std::move(key), value)) break;
      }
      if (rc != 0 && rc != MDB_NOTFOUND) return mdb_error(rc, "folding engine " + name_);
    }
    ++stats.chunks;
    for (auto& [key, value] : chunk) {
      ++stats.keys;
      if (!fn(key, value)) {
        stats.stopped = true;
        return stats;
      }
    }
    if (!more || chunk.empty()) return stats;
    after = std::move(chunk.back().first);
  }
}

Result<FoldStats> LmdbEngine::fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) {
  SHOAL_TRYV(check_open());
  SHOAL_TRY(range, index_segment_range(segment, segment_count));
  const std::size_t chunk_keys = std::max<std::size_t>(1, limits().fold_chunk_keys);
  const std::size_t chunk_bytes = limits().fold_chunk_bytes;
  FoldStats stats;
  std::string resume = LmdbEnvironment::Impl::index_key(range.first, {});
  std::string end;
  if (range.second < kSegmentIndexCount) end = LmdbEnvironment::Impl::index_key(range.second, {});
  Entries chunk;
  for (;;) {
    chunk.clear();
    bool more = false;
    std::string last_index_key;
    {
      ReadTxn txn(env_->env, env_->gate);
      if (txn.rc() != 0) return mdb_error(txn.rc(), "starting a read transaction");
      Cursor cursor(txn.get(), index_);
      if (cursor.rc() != 0) return mdb_error(cursor.rc(), "opening a cursor");
      MDB_val k = to_val(resume), v;
      int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
      std::size_t bytes = 0;
      for (; rc == 0; rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
        std::string_view index_key = from_val(k);
        if (!end.empty() && index_key >= end) break;
        if (chunk.size() >= chunk_keys || (bytes >= chunk_bytes && !chunk.empty())) {
          more = true;
          break;
        }
        std::uint32_t key_segment = read_be32(index_key);
        std::string_view stored = index_key.substr(kSegmentPrefixBytes);
        MDB_val dk = to_val(stored), dv;
        int get_rc = mdb_get(txn.get(), data_, &dk, &dv);
        if (get_rc == MDB_NOTFOUND)
          return make_error(Errc::corruption, "segment index of engine " + name_ + " names a missing key");
        if (get_rc != 0) return mdb_error(get_rc, "folding a segment of engine " + name_);
        if (!is_long_stored(stored)) {
          chunk.emplace_back(std::string(stored), std::string(from_val(dv)));
        } else {
          SHOAL_TRY(entries, decode_chain(from_val(dv)));
          for (auto& e : entries)
            if (segment_of(e.first, kSegmentIndexCount) == key_segment) chunk.push_back(std::move(e));
        }
        bytes += stored.size() + dv.mv_size;
        last_index_key.assign(index_key);
      }
      if (rc != 0 && rc != MDB_NOTFOUND) return mdb_error(rc, "folding a segment of engine " + name_);
    }
    ++stats.chunks;
    for (auto& [key, value] : chunk) {
      ++stats.keys;
      if (!fn(key, value)) {
        stats.stopped = true;
        return stats;
      }
    }
    if (!more) return stats;
    resume = last_index_key + '\0';  // the smallest index key after the last one seen
  }
}

}  // namespace

std::string vnode_engine_name(std::uint64_t partition) { return "vnode/" + std::to_string(partition); }
std::string hint_engine_name(std::uint64_t primary_partition, std::uint64_t partition) {
  return "hint/" + std::to_string(primary_partition) + "/" + std::to_string(partition);
}

LmdbEnvironment::LmdbEnvironment(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
LmdbEnvironment::~LmdbEnvironment() = default;

Result<std::shared_ptr<LmdbEnvironment>> LmdbEnvironment::open(const std::string& directory, LmdbOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return make_error(Errc::io_error, "creating storage directory " + directory + ": " + ec.message());
  if (options.map_bytes_initial == 0 || options.map_bytes_max < options.map_bytes_initial)
    return make_error(Errc::invalid_argument, "storage map sizes: need 0 < map_bytes_initial <= map_bytes_max");
  auto impl = std::make_shared<Impl>();
  impl->directory = directory;
  impl->options = std::move(options);
  const LmdbOptions& o = impl->options;
  if (int rc = mdb_env_create(&impl->env)) {
    impl->env = nullptr;
    return mdb_error(rc, "creating an LMDB environment");
  }
  SHOAL_ASSERT(mdb_env_get_maxkeysize(impl->env) >= static_cast<int>(kSegmentPrefixBytes + kLongStoredKeyBytes),
               "LMDB built with a key size limit below 511 bytes");
  int rc = mdb_env_set_maxdbs(impl->env, 2 * o.engines_max + 1);
  if (rc == 0) rc = mdb_env_set_maxreaders(impl->env, o.readers_max);
  if (rc == 0) rc = mdb_env_set_mapsize(impl->env, o.map_bytes_initial);
  unsigned flags = MDB_NOTLS | (o.sync_mode == SyncMode::nosync ? MDB_NOSYNC : 0);
  // In nosync mode commits write straight into a writable map (measured:
  // about a third more YCSB-A throughput than a write() per dirty page),
  // provided the map's blocks can be allocated up front (see preallocate);
  // otherwise the environment is reopened without it.
  bool try_write_map = o.sync_mode == SyncMode::nosync && o.write_map;
  if (rc == 0) rc = mdb_env_open(impl->env, directory.c_str(), flags | (try_write_map ? MDB_WRITEMAP : 0), 0644);
  if (rc == 0 && try_write_map) {
    MDB_envinfo opened;
    mdb_env_info(impl->env, &opened);
    if (impl->preallocate(opened.me_mapsize)) {
      impl->write_map = true;
    } else {
      mdb_env_close(impl->env);
      impl->env = nullptr;
      rc = mdb_env_create(&impl->env);
      if (rc == 0) rc = mdb_env_set_maxdbs(impl->env, 2 * o.engines_max + 1);
      if (rc == 0) rc = mdb_env_set_maxreaders(impl->env, o.readers_max);
      if (rc == 0) rc = mdb_env_set_mapsize(impl->env, o.map_bytes_initial);
      if (rc == 0) rc = mdb_env_open(impl->env, directory.c_str(), flags, 0644);
    }
  }
  if (rc != 0) return mdb_error(rc, "opening storage environment " + directory);
  MDB_envinfo info;
  mdb_env_info(impl->env, &info);
  impl->map_bytes = info.me_mapsize;

  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(impl->env, nullptr, 0, &txn))) return mdb_error(rc, "opening " + directory);
  std::string meta_name(kMetaDatabaseName);
  rc = mdb_dbi_open(txn, meta_name.c_str(), MDB_CREATE, &impl->meta_dbi);
  MDB_val k = to_val(kFormatKey), v;
  if (rc == 0) rc = mdb_get(txn, impl->meta_dbi, &k, &v);
  if (rc == 0) {
    std::uint32_t format = v.mv_size == 4 ? read_u32(from_val(v), 0) : UINT32_MAX;
    if (format > kStorageFormatVersion) {
      mdb_txn_abort(txn);
      return make_error(Errc::unsupported_version, "storage environment " + directory + " has format version " +
                                                       std::to_string(format) + "; this build reads up to " +
                                                       std::to_string(kStorageFormatVersion) +
                                                       " (upgrade Shoal or restore a matching data directory)");
    }
  } else if (rc == MDB_NOTFOUND) {
    std::string format;
    append_u32(format, kStorageFormatVersion);
    rc = Impl::put_raw(txn, impl->meta_dbi, kFormatKey, format);
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return mdb_error(rc, "reading the format of " + directory);
  }
  if ((rc = mdb_txn_commit(txn))) return mdb_error(rc, "initialising " + directory);
  impl->commit_thread = std::thread([raw = impl.get()] { raw->commit_loop(); });
  return std::shared_ptr<LmdbEnvironment>(new LmdbEnvironment(std::move(impl)));
}

Result<std::unique_ptr<Engine>> LmdbEnvironment::open_engine(std::string_view name) {
  SHOAL_TRYV(validate_engine_name(name));
  {
    std::lock_guard lock(impl_->engines_mutex);
    if (!impl_->open_engines.emplace(name).second)
      return make_error(Errc::busy, "engine " + std::string(name) + " is already open");
  }
  const bool nosync = impl_->options.sync_mode == SyncMode::nosync;
  MDB_dbi data = 0, index = 0;
  EngineMetadata metadata;
  std::string data_name = data_db_name(name), index_name = index_db_name(name), key = meta_key(name);
  std::string fresh_id = new_incarnation_id();
  Result<void> opened = impl_->run([&, meta = impl_->meta_dbi](MDB_txn* txn, Result<void>& own) -> int {
    if (int rc = mdb_dbi_open(txn, data_name.c_str(), MDB_CREATE, &data)) return rc;
    if (int rc = mdb_dbi_open(txn, index_name.c_str(), MDB_CREATE, &index)) return rc;
    metadata = EngineMetadata{};
    MetaRecord record;
    MDB_val k = to_val(key), v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
      metadata.created = true;
      metadata.incarnation_renewed = true;
      record.incarnation_id = fresh_id;
    } else if (rc != 0) {
      return rc;
    } else {
      Result<MetaRecord> decoded = decode_meta(from_val(v), name);
      if (!decoded) {
        own = decoded.error();
        return 0;
      }
      record = std::move(decoded).value();
      metadata.previous_shutdown_clean = record.clean_shutdown;
      // In nosync mode an unclean shutdown may have lost acknowledged writes,
      // so the vnode must not reuse its dots: it becomes a new incarnation.
      if (!record.clean_shutdown && record.nosync) {
        metadata.incarnation_renewed = true;
        record.incarnation_id = fresh_id;
      }
    }
    metadata.incarnation_id = record.incarnation_id;
    record.format_version = kStorageFormatVersion;
    record.clean_shutdown = false;
    record.nosync = nosync;
    return Impl::put_raw(txn, meta, key, encode_meta(record));
  });
  // The "not shut down cleanly" mark must be on disk before any write of this run.
  if (opened && nosync) opened = impl_->sync_now();
  if (!opened) {
    std::lock_guard lock(impl_->engines_mutex);
    impl_->open_engines.erase(std::string(name));
    return opened.error();
  }
  return std::unique_ptr<Engine>(new LmdbEngine(impl_, std::string(name), data, index, std::move(metadata)));
}

Result<void> LmdbEnvironment::drop_engine(std::string_view name) {
  SHOAL_TRYV(validate_engine_name(name));
  {
    std::lock_guard lock(impl_->engines_mutex);
    if (impl_->open_engines.contains(name))
      return make_error(Errc::busy, "engine " + std::string(name) + " is open; close it before dropping it");
  }
  std::string data_name = data_db_name(name), index_name = index_db_name(name), key = meta_key(name);
  return impl_->run([&, meta = impl_->meta_dbi](MDB_txn* txn, Result<void>& own) -> int {
    MDB_val k = to_val(key), v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
      own = make_error(Errc::not_found, "no engine named " + std::string(name));
      return 0;
    }
    if (rc != 0) return rc;
    for (const std::string* db : {&data_name, &index_name}) {
      MDB_dbi dbi;
      rc = mdb_dbi_open(txn, db->c_str(), 0, &dbi);
      if (rc == MDB_NOTFOUND) continue;
      if (rc != 0) return rc;
      if ((rc = mdb_drop(txn, dbi, 1))) return rc;
    }
    return Impl::del_raw(txn, meta, key);
  });
}

Result<std::vector<std::string>> LmdbEnvironment::list_engines() {
  ReadTxn txn(impl_->env, impl_->gate);
  if (txn.rc() != 0) return mdb_error(txn.rc(), "starting a read transaction");
  Cursor cursor(txn.get(), impl_->meta_dbi);
  if (cursor.rc() != 0) return mdb_error(cursor.rc(), "opening a cursor");
  std::vector<std::string> names;
  MDB_val k = to_val(kEngineKeyPrefix), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  for (; rc == 0 && from_val(k).starts_with(kEngineKeyPrefix); rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT))
    names.emplace_back(from_val(k).substr(kEngineKeyPrefix.size()));
  if (rc != 0 && rc != MDB_NOTFOUND) return mdb_error(rc, "listing engines");
  return names;
}

Result<void> LmdbEnvironment::flush() { return impl_->sync_now(); }

LmdbStats LmdbEnvironment::stats() const {
  return LmdbStats{impl_->commits.load(),     impl_->syncs.load(),     impl_->submissions.load(),
                   impl_->map_resizes.load(), impl_->map_bytes.load(), impl_->write_map};
}

const LmdbOptions& LmdbEnvironment::options() const { return impl_->options; }
const std::string& LmdbEnvironment::directory() const { return impl_->directory; }

}  // namespace shoal::storage
