// Which anti-entropy segment a stored key falls in. The storage engine's
// segment index and the Merkle trees must agree on it, and it is on disk, so
// it never changes without a storage format version bump.
// Thread-safe: pure function.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

#include "base/hash.hpp"
#include "base/result.hpp"

namespace shoal::storage {

// Segment counts are powers of two; a key's segment is the top bits of the
// 64-bit hash of its storage key, so a tree with fewer segments groups whole
// segments of a larger one.
inline std::uint32_t segment_of(std::uint64_t key_hash, std::uint32_t segment_count) {
  SHOAL_ASSERT(std::has_single_bit(segment_count) && segment_count >= 2, "segment count must be a power of two >= 2");
  return static_cast<std::uint32_t>(key_hash >> (64 - std::countr_zero(segment_count)));
}

inline std::uint32_t segment_of(std::string_view storage_key, std::uint32_t segment_count) {
  return segment_of(hash64(storage_key), segment_count);
}

}  // namespace shoal::storage
