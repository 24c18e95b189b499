// An Engine wrapper for chaos and failure tests: on demand its writes (or
// reads) fail with io_error or disk_full, and it can simulate power loss by
// discarding every write since the last flush(), as a nosync engine would.
// Wraps any Engine; owned by the test or the chaos harness. Thread-safe:
// writes are serialised through the wrapper so the undo log stays exact.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/engine.hpp"

namespace shoal::storage {

class FaultEngine final : public Engine {
 public:
  explicit FaultEngine(std::unique_ptr<Engine> inner);

  // Until cleared (nullopt), every write / read fails with `code`
  // (Errc::io_error or Errc::disk_full).
  void fail_writes(std::optional<Errc> code);
  void fail_reads(std::optional<Errc> code);
  // The next `count` writes fail with `code`, later ones succeed.
  void fail_next_writes(std::size_t count, Errc code);
  // Power loss: every write acknowledged since the last flush() is undone.
  // Returns how many keys were rolled back.
  Result<std::size_t> simulate_crash();
  std::size_t unsynced_keys() const;
  Engine& inner() { return *inner_; }

  using Engine::submit;
  std::string_view name() const override { return inner_->name(); }
  const EngineMetadata& metadata() const override { return inner_->metadata(); }
  const Limits& limits() const override { return inner_->limits(); }
  Result<std::optional<std::string>> get(std::string_view key) override;
  void submit(WriteBatch batch, WriteCallback done) override;
  Result<std::optional<std::string>> read_merge_write(std::string_view key, MergeFn merge) override;
  Result<FoldStats> fold(const FoldOptions& options, const FoldFn& fn) override;
  Result<FoldStats> fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) override;
  Result<std::uint64_t> approximate_size_bytes() override;
  Result<void> flush() override;
  Result<void> close() override;

 private:
  Result<void> write_fault_locked();
  Result<void> read_fault() const;
  // Records the current value of `key` before it is overwritten.
  Result<void> remember_locked(const std::string& key);

  std::unique_ptr<Engine> inner_;
  mutable std::mutex mutex_;
  std::optional<Errc> write_fault_;
  std::optional<Errc> read_fault_;
  std::size_t write_faults_left_ = 0;  // used with write_fault_ when counting down
  bool counting_ = false;
  // (key, value before the first unsynced write); nullopt: the key was absent.
  std::vector<std::pair<std::string, std::optional<std::string>>> undo_;
};

}  // namespace shoal::storage
