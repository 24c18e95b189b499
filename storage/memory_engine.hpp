// An Engine kept in memory: for tests and for code that wants an engine with
// no disk. Every completed write is "durable" (there is nothing to lose but
// the process). Owned by its vnode; thread-safe (one reader-writer lock).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <shared_mutex>
#include <string>
#include <utility>

#include "storage/engine.hpp"

namespace shoal::storage {

class MemoryEngine final : public Engine {
 public:
  explicit MemoryEngine(std::string name = "memory", Limits limits = {});

  using Engine::submit;
  std::string_view name() const override { return name_; }
  const EngineMetadata& metadata() const override { return metadata_; }
  const Limits& limits() const override { return limits_; }
  Result<std::optional<std::string>> get(std::string_view key) override;
  void submit(WriteBatch batch, WriteCallback done) override;
  Result<std::optional<std::string>> read_merge_write(std::string_view key, MergeFn merge) override;
  Result<FoldStats> fold(const FoldOptions& options, const FoldFn& fn) override;
  Result<FoldStats> fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) override;
  Result<std::uint64_t> approximate_size_bytes() override;
  Result<void> flush() override;
  Result<void> close() override;

 private:
  void put_locked(const std::string& key, std::string value);
  void erase_locked(const std::string& key);

  std::string name_;
  Limits limits_;
  EngineMetadata metadata_;
  std::shared_mutex mutex_;
  bool closed_ = false;
  std::map<std::string, std::string, std::less<>> data_;
  std::set<std::pair<std::uint32_t, std::string>> segment_index_;
  std::uint64_t bytes_ = 0;
};

// 16 random bytes for an incarnation id.
std::string new_incarnation_id();

// Checks segment/segment_count for fold_segment and returns the range of
// index segments [first, last) they cover.
Result<std::pair<std::uint32_t, std::uint32_t>> index_segment_range(std::uint32_t segment,
                                                                    std::uint32_t segment_count);

}  // namespace shoal::storage
