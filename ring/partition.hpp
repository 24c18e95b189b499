// Key hashing and the fixed partition space of Shoal's consistent-hashing ring.
//
// Owned by ring/. A key (bucket type, bucket, key) hashes to 64 bits; the
// hash space is cut into Q equal slices (Q a power of two), so the partition
// of a hash is its top log2(Q) bits. Thread-safe: pure functions.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

#include "base/result.hpp"

namespace shoal::ring {

using Partition = std::uint32_t;

inline constexpr std::uint32_t kPartitionCountMin = 8;
inline constexpr std::uint32_t kPartitionCountMax = 1024;
inline constexpr std::uint32_t kPartitionCountDefault = 64;

// Stable placement hash: XXH3 of the three fields, each length-prefixed so
// ("ab", "c") and ("a", "bc") land apart. Stored and compared across nodes:
// never change it without a ring format version bump.
std::uint64_t key_hash(std::string_view bucket_type, std::string_view bucket, std::string_view key);

// Accepts a power of two in [kPartitionCountMin, kPartitionCountMax].
Result<void> validate_partition_count(std::uint32_t partition_count);

// log2 of a valid partition count.
inline unsigned partition_bits(std::uint32_t partition_count) {
  SHOAL_ASSERT(std::has_single_bit(partition_count) && partition_count >= 2, "partition count must be validated");
  return static_cast<unsigned>(std::countr_zero(partition_count));
}

// Precondition: partition_count is valid.
inline Partition partition_of(std::uint64_t hash, std::uint32_t partition_count) {
  return static_cast<Partition>(hash >> (64 - partition_bits(partition_count)));
}

// First hash of a partition's slice (the slice is [start, start + 2^64/Q)).
inline std::uint64_t partition_start(Partition partition, std::uint32_t partition_count) {
  return static_cast<std::uint64_t>(partition) << (64 - partition_bits(partition_count));
}

}  // namespace shoal::ring
