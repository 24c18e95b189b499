#include "storage/fault_engine.hpp"

namespace shoal::storage {
namespace {
Error injected_error(Errc code, std::string_view what) {
  return make_error(code, std::string(what) + " failed: injected " + std::string(errc_name(code)));
}
}  // namespace

FaultEngine::FaultEngine(std::unique_ptr<Engine> inner) : inner_(std::move(inner)) {
  SHOAL_ASSERT(inner_ != nullptr, "FaultEngine needs an engine to wrap");
}

void FaultEngine::fail_writes(std::optional<Errc> code) {
  std::lock_guard lock(mutex_);
  write_fault_ = code;
  counting_ = false;
}

void FaultEngine::fail_reads(std::optional<Errc> code) {
  std::lock_guard lock(mutex_);
  read_fault_ = code;
}

void FaultEngine::fail_next_writes(std::size_t count, Errc code) {
  std::lock_guard lock(mutex_);
  write_fault_ = count ? std::optional<Errc>(code) : std::nullopt;
  write_faults_left_ = count;
  counting_ = true;
}

Result<void> FaultEngine::write_fault_locked() {
  if (!write_fault_) return ok();
  Errc code = *write_fault_;
  if (counting_ && --write_faults_left_ == 0) write_fault_.reset();
  return injected_error(code, "write");
}

Result<void> FaultEngine::read_fault() const {
  std::lock_guard lock(mutex_);
  if (read_fault_) return injected_error(*read_fault_, "read");
  return ok();
}

Result<void> FaultEngine::remember_locked(const std::string& key) {
  SHOAL_TRY(current, inner_->get(key));
  undo_.emplace_back(key, std::move(current));
  return ok();
}

Result<std::optional<std::string>> FaultEngine::get(std::string_view key) {
  SHOAL_TRYV(read_fault());
  return inner_->get(key);
}

void FaultEngine::submit(WriteBatch batch, WriteCallback done) {
  Result<void> result = ok();
  {
    std::lock_guard lock(mutex_);
    result = write_fault_locked();
    if (result) result = validate(batch, inner_->limits());
    std::size_t undo_size = undo_.size();
    for (const WriteOp& op : batch.ops()) {
      if (!result) break;
      result = remember_locked(op.key);
    }
    if (result) result = inner_->write(std::move(batch));
    if (!result) undo_.resize(undo_size);
  }
  done(std::move(result));
}

Result<std::optional<std::string>> FaultEngine::read_merge_write(std::string_view key, MergeFn merge) {
  std::lock_guard lock(mutex_);
  SHOAL_TRYV(write_fault_locked());
  std::size_t undo_size = undo_.size();
  SHOAL_TRYV(remember_locked(std::string(key)));
  auto result = inner_->read_merge_write(key, std::move(merge));
  if (!result) undo_.resize(undo_size);
  return result;
}

Result<FoldStats> FaultEngine::fold(const FoldOptions& options, const FoldFn& fn) {
  SHOAL_TRYV(read_fault());
  return inner_->fold(options, fn);
}

Result<FoldStats> FaultEngine::fold_segment(std::uint32_t segment, std::uint32_t segment_count, const FoldFn& fn) {
  SHOAL_TRYV(read_fault());
  return inner_->fold_segment(segment, segment_count, fn);
}

Result<std::uint64_t> FaultEngine::approximate_size_bytes() { return inner_->approximate_size_bytes(); }

Result<void> FaultEngine::flush() {
  std::lock_guard lock(mutex_);
  SHOAL_TRYV(write_fault_locked());
  SHOAL_TRYV(inner_->flush());
  undo_.clear();
  return ok();
}

Result<std::size_t> FaultEngine::simulate_crash() {
  std::lock_guard lock(mutex_);
  // Newest first, so each key ends at its value before its first unsynced write.
  // Written in batches within the inner engine's limits.
  std::size_t rolled_back = undo_.size();
  WriteBatch rollback;
  auto flush_batch = [&]() -> Result<void> {
    if (rollback.empty()) return ok();
    WriteBatch full;
    std::swap(full, rollback);
    return inner_->write(std::move(full));
  };
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    std::size_t bytes = it->first.size() + (it->second ? it->second->size() : 0);
    if (rollback.size() + 1 > inner_->limits().batch_ops_max ||
        rollback.bytes() + bytes > inner_->limits().batch_bytes_max)
      SHOAL_TRYV(flush_batch());
    if (it->second) {
      rollback.put(it->first, *it->second);
    } else {
      rollback.erase(it->first);
    }
  }
  SHOAL_TRYV(flush_batch());
  undo_.clear();
  return rolled_back;
}

std::size_t FaultEngine::unsynced_keys() const {
  std::lock_guard lock(mutex_);
  return undo_.size();
}

Result<void> FaultEngine::close() { return inner_->close(); }

}  // namespace shoal::storage
