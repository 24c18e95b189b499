// Named, configurable maximums of the storage layer, in one place so the
// config reference can list them. Owned by whoever opens an engine; plain
// values, thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::storage {

// Shoal accepts user keys up to 64 KiB; a storage key also carries the bucket
// type and bucket (storage/key.hpp), hence the extra KiB.
inline constexpr std::size_t kUserKeyBytesMax = 64 * 1024;
inline constexpr std::size_t kStorageKeyBytesMax = kUserKeyBytesMax + 1024;

struct Limits {
  std::size_t key_bytes_max = kStorageKeyBytesMax;
  std::size_t value_bytes_max = 16 * 1024 * 1024;
  std::size_t batch_ops_max = 10'000;              // operations in one WriteBatch
  std::size_t batch_bytes_max = 64 * 1024 * 1024;  // keys + values in one WriteBatch
  // A fold copies at most this many keys (or bytes) per read transaction,
  // then reopens it: a long-lived LMDB reader stops page reuse and fills the map.
  std::size_t fold_chunk_keys = 4096;
  std::size_t fold_chunk_bytes = 8 * 1024 * 1024;
};

}  // namespace shoal::storage
