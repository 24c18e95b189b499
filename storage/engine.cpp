#include "storage/engine.hpp"

#include <memory>

namespace shoal::storage {

Result<void> validate_key(std::string_view key, const Limits& limits) {
  if (key.empty()) return make_error(Errc::invalid_argument, "storage key is empty");
  if (key.size() > limits.key_bytes_max)
    return make_error(Errc::too_large, "storage key of " + std::to_string(key.size()) + " bytes is over key_bytes_max (" +
                                           std::to_string(limits.key_bytes_max) + ")");
  return ok();
}

Result<void> validate(const WriteBatch& batch, const Limits& limits) {
  if (batch.size() > limits.batch_ops_max)
    return make_error(Errc::too_large, "write batch of " + std::to_string(batch.size()) +
                                           " operations is over batch_ops_max (" +
                                           std::to_string(limits.batch_ops_max) + ")");
  if (batch.bytes() > limits.batch_bytes_max)
    return make_error(Errc::too_large, "write batch of " + std::to_string(batch.bytes()) +
                                           " bytes is over batch_bytes_max (" +
                                           std::to_string(limits.batch_bytes_max) + ")");
  for (const WriteOp& op : batch.ops()) {
    SHOAL_TRYV(validate_key(op.key, limits));
    if (op.value.size() > limits.value_bytes_max)
      return make_error(Errc::too_large, "value of " + std::to_string(op.value.size()) +
                                             " bytes is over value_bytes_max (" +
                                             std::to_string(limits.value_bytes_max) + ")");
  }
  return ok();
}

std::future<Result<void>> Engine::submit(WriteBatch batch) {
  auto promise = std::make_shared<std::promise<Result<void>>>();
  auto future = promise->get_future();
  submit(std::move(batch), [promise](Result<void> result) { promise->set_value(std::move(result)); });
  return future;
}

Result<void> Engine::write(WriteBatch batch) { return submit(std::move(batch)).get(); }

std::optional<Result<void>> Engine::write_if_idle(WriteBatch&) { return std::nullopt; }

Result<void> Engine::put(std::string_view key, std::string_view value) {
  WriteBatch batch;
  batch.put(std::string(key), std::string(value));
  return write(std::move(batch));
}

Result<void> Engine::erase(std::string_view key) {
  WriteBatch batch;
  batch.erase(std::string(key));
  return write(std::move(batch));
}

}  // namespace shoal::storage
