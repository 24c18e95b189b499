#include "ring/partition.hpp"

#include <bit>
#include <string>

#include "base/hash.hpp"

namespace shoal::ring {

std::uint64_t key_hash(std::string_view bucket_type, std::string_view bucket, std::string_view key) {
  return shoal::key_hash(bucket_type, bucket, key);
}

Result<void> validate_partition_count(std::uint32_t partition_count) {
  if (partition_count < kPartitionCountMin || partition_count > kPartitionCountMax ||
      !std::has_single_bit(partition_count))
    return make_error(Errc::invalid_argument,
                      "ring size (Q) " + std::to_string(partition_count) + " must be a power of two between " +
                          std::to_string(kPartitionCountMin) + " and " + std::to_string(kPartitionCountMax));
  return ok();
}

}  // namespace shoal::ring
