#include "storage/memory_engine.hpp"

#include <bit>
#include <mutex>
#include <random>
#include <vector>

#include "storage/segment.hpp"

namespace shoal::storage {

std::string new_incarnation_id() {
  std::random_device device;
  std::string id(16, '\0');
  for (std::size_t i = 0; i < id.size(); i += 4) {
    std::uint32_t word = device();
    for (std::size_t j = 0; j < 4; ++j) id[i + j] = static_cast<char>((word >> (8 * j)) & 0xff);
  }
  return id;
}

Result<std::pair<std::uint32_t, std::uint32_t>> index_segment_range(std::uint32_t segment,
                                                                    std::uint32_t segment_count) {
  if (!std::has_single_bit(segment_count) || segment_count < 2 || segment_count > kSegmentIndexCount)
    return make_error(Errc::invalid_argument, "segment count " + std::to_string(segment_count) +
                                                  " must be a power of two in [2, " +
                                                  std::to_string(kSegmentIndexCount) + "]");
  if (segment >= segment_count)
    return make_error(Errc::invalid_argument, "segment " + std::to_string(segment) + " is not below the segment count " +
                                                  std::to_string(segment_count));
  std::uint32_t width = kSegmentIndexCount / segment_count;
  return std::pair{segment * width, (segment + 1) * width};
}

MemoryEngine::MemoryEngine(std::string name, Limits limits) : name_(std::move(name)), limits_(limits) {
  metadata_.incarnation_id = new_incarnation_id();
  metadata_.created = true;
  metadata_.incarnation_renewed = true;
}

Result<std::optional<std::string>> MemoryEngine::get(std::string_view key) {
  SHOAL_TRYV(validate_key(key, limits_));
  std::shared_lock lock(mutex_);
  if (closed_) return make_error(Errc::precondition_failed, "engine " + name_ + " is closed");
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>{};
  return std::optional<std::string>{it->second};
}

void MemoryEngine::put_locked(const std::string& key, std::string value) {
  auto [it, inserted] = data_.try_emplace(key);
  if (inserted) {
    bytes_ += key.size();
    segment_index_.emplace(segment_of(key, kSegmentIndexCount), key);
  } else {
    bytes_ -= it->second.size();
  }
  bytes_ += value.size();
  it->second = std::move(value);
}

void MemoryEngine::erase_locked(const std::string& key) {
  auto it = data_.find(key);
  if (it == data_.end()) return;
  bytes_ -= key.size() + it->second.size();
  segment_index_.erase({segment_of(key, kSegmentIndexCount), key});
  data_.erase(it);
}

void MemoryEngine::submit(WriteBatch batch, WriteCallback done) {
  Result<void> result = validate(batch, limits_);
  if (result) {
    std::unique_lock lock(mutex_);
    if (closed_) {
      result = make_error(Errc::precondition_failed, "engine " + name_ + " is closed");
    } else {
      for (const WriteOp& op : batch.ops()) {
        if (op.kind == WriteOp::Kind::put) {
          put_locked(op.key, op.value);
        } else {
          erase_locked(op.key);
        }
      }
    }
  }
  done(std::move(result));
}

Result<std::optional<std::string>> MemoryEngine::read_merge_write(std::string_view key, MergeFn merge) {
  SHOAL_TRYV(validate_key(key, limits_));
  std::unique_lock lock(mutex_);
  if (closed_) return make_error(Errc::precondition_failed, "engine " + name_ + " is closed");
  std::string k(key);
  auto it = data_.find(k);
  std::optional<std::string> current;
  if (it != data_.end()) current = it->second;
  SHOAL_TRY(next, merge(current));
  if (next) {
    if (next->size() > limits_.value_bytes_max)
      return make_error(Errc::too_large, "merged value of " + std::to_string(next->size()) +
                                             " bytes is over value_bytes_max");
    put_locked(k, *next);
  } else {
    erase_locked(k);
  }
  return next;
}

Result<FoldStats> MemoryEngine::fold(const FoldOptions& options, const FoldFn& fn) {
  FoldStats stats;
  std::size_t chunk_keys = options.chunk_keys ? options.chunk_keys : limits_.fold_chunk_keys;
  std::string resume = std::max(options.start, options.prefix);
  bool first = true;
  std::vector<std::pair<std::string, std::string>> chunk;
  for (;;) {
    chunk.clear();
    bool more = false;
    {
      std::shared_lock lock(mutex_);
      if (closed_) return make_error(Errc::precondition_failed, "engine " + name_ + " is closed");
      auto it = first ? data_.lower_bound(resume) : data_.upper_bound(resume);
      std::size_t bytes = 0;
      for (; it != data_.end(); ++it) {
        if (!it->first.starts_with(options.prefix)) break;
        if (chunk.size() >= chunk_keys || (bytes >= limits_.fold_chunk_bytes && !chunk.empty())) {
          more = true;
          break;
        }
        bytes += it->first.size() + (options.keys_only ? 0 : it->second.size());
        chunk.emplace_back(it->first, options.keys_only ? std::string() : it->second);
      }
    }
    ++stats.chunks;
    first = false;
    for (auto& [key, value] : chunk) {
      ++stats.keys;
      if (!fn(key, value)) {
        stats.stopped = true;
        return stats;
      }
    }
    if (!more) return stats;
    resume = chunk.back().first;
  }
}

Result<FoldStats> MemoryEngine::fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) {
  SHOAL_TRY(range, index_segment_range(segment, segment_count));
  FoldStats stats;
  std::pair<std::uint32_t, std::string> resume{range.first, std::string()};
  bool first = true;
  std::vector<std::pair<std::string, std::string>> chunk;
  for (;;) {
    chunk.clear();
    bool more = false;
    std::pair<std::uint32_t, std::string> last;
    {
      std::shared_lock lock(mutex_);
      if (closed_) return make_error(Errc::precondition_failed, "engine " + name_ + " is closed");
      auto it = first ? segment_index_.lower_bound(resume) : segment_index_.upper_bound(resume);
      for (; it != segment_index_.end() && it->first < range.second; ++it) {
        if (chunk.size() >= limits_.fold_chunk_keys) {
          more = true;
          break;
        }
        chunk.emplace_back(it->second, data_.find(it->second)->second);
        last = *it;
      }
    }
    ++stats.chunks;
    first = false;
    for (auto& [key, value] : chunk) {
      ++stats.keys;
      if (!fn(key, value)) {
        stats.stopped = true;
        return stats;
      }
    }
    if (!more) return stats;
    resume = last;
  }
}

Result<std::uint64_t> MemoryEngine::approximate_size_bytes() {
  std::shared_lock lock(mutex_);
  return bytes_;
}

Result<void> MemoryEngine::flush() { return ok(); }

Result<void> MemoryEngine::close() {
  std::unique_lock lock(mutex_);
  if (closed_) return make_error(Errc::precondition_failed, "engine " + name_ + " is already closed");
  closed_ = true;
  return ok();
}

}  // namespace shoal::storage
