// Stable hashing for placement, long-key names, Merkle leaves and HyperLogLog.
//
// These values are stored on disk and compared across nodes, so the function
// (XXH3, seed 0) must never change without a format version bump.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace shoal {

struct Hash128 {
  std::uint64_t high;
  std::uint64_t low;
  friend bool operator==(const Hash128&, const Hash128&) = default;
  friend auto operator<=>(const Hash128&, const Hash128&) = default;
};

std::uint64_t hash64(std::string_view bytes);
std::uint64_t hash64(std::string_view bytes, std::uint64_t seed);
Hash128 hash128(std::string_view bytes);

// Incremental 64-bit hash over several pieces, equal to hash64 of their
// length-prefixed concatenation (lengths make ("ab","c") differ from ("a","bc")).
// The placement hash of a key: hash64 of (bucket type, bucket, key), each
// length-prefixed. The ring places keys by it and clients route by it.
std::uint64_t key_hash(std::string_view bucket_type, std::string_view bucket, std::string_view key);

class Hasher64 {
 public:
  Hasher64();
  ~Hasher64();
  Hasher64(const Hasher64&) = delete;
  Hasher64& operator=(const Hasher64&) = delete;
  void add(std::string_view piece);
  std::uint64_t digest() const;

 private:
  void* state_;  // XXH3_state_t, kept opaque so xxhash.h stays out of headers
};

}  // namespace shoal
