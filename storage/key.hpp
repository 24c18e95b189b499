// The canonical storage key of an object: (bucket type, bucket, key) encoded
// so that byte order sorts by type, then bucket, then key, and so that "every
// key of a bucket" is a prefix. Stored on disk: changing it needs a storage
// format version bump. Thread-safe: pure functions.
//
// Layout: kObjectKeyTag, escaped(type), escaped(bucket), key. escaped(x)
// writes 0x00 as 0x00 0xFF and ends with 0x00 0x01 (the FoundationDB tuple
// trick), which keeps order and makes a shorter name sort first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace shoal::storage {

// First byte of every object storage key; other tags are free for future
// key spaces in the same engine.
inline constexpr char kObjectKeyTag = 0x10;

struct StorageKeyParts {
  std::string bucket_type;
  std::string bucket;
  std::string key;
  friend bool operator==(const StorageKeyParts&, const StorageKeyParts&) = default;
};

std::string encode_storage_key(std::string_view bucket_type, std::string_view bucket, std::string_view key);
Result<StorageKeyParts> decode_storage_key(std::string_view storage_key);

// Prefix of every storage key of one bucket type / of one bucket.
std::string bucket_type_prefix(std::string_view bucket_type);
std::string bucket_prefix(std::string_view bucket_type, std::string_view bucket);

// The smallest string greater than every string with `prefix` (empty if none
// exists, i.e. the prefix is all 0xFF): the exclusive end of a prefix range.
std::string prefix_end(std::string_view prefix);

}  // namespace shoal::storage
