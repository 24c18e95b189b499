#include "base/hash.hpp"

#include <xxhash.h>

#include <array>
#include <cstring>
#include <string>

#include "base/result.hpp"

namespace shoal {

std::uint64_t hash64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::uint64_t hash64(std::string_view bytes, std::uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

Hash128 hash128(std::string_view bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Hash128{h.high64, h.low64};
}

Hasher64::Hasher64() : state_(XXH3_createState()) {
  SHOAL_ASSERT(state_ != nullptr, "out of memory creating hash state");
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}

Hasher64::~Hasher64() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Hasher64::add(std::string_view piece) {
  std::array<unsigned char, 8> length{};
  std::uint64_t n = piece.size();
  for (auto& b : length) {
    b = static_cast<unsigned char>(n & 0xff);
    n >>= 8;
  }
  auto* state = static_cast<XXH3_state_t*>(state_);
  XXH3_64bits_update(state, length.data(), length.size());
  XXH3_64bits_update(state, piece.data(), piece.size());
}

std::uint64_t key_hash(std::string_view bucket_type, std::string_view bucket, std::string_view key) {
  // Equal to Hasher64 over the three pieces (XXH3 streaming equals one-shot
  // over the same bytes), without its heap-allocated state.
  std::size_t size = 24 + bucket_type.size() + bucket.size() + key.size();
  std::array<char, 512> stack;
  std::string heap;
  char* out = stack.data();
  if (size > stack.size()) {
    heap.resize(size);
    out = heap.data();
  }
  char* p = out;
  for (std::string_view piece : {bucket_type, bucket, key}) {
    std::uint64_t n = piece.size();
    for (int i = 0; i < 8; ++i) {
      *p++ = static_cast<char>(n & 0xff);
      n >>= 8;
    }
    std::memcpy(p, piece.data(), piece.size());
    p += piece.size();
  }
  return XXH3_64bits(out, size);
}

std::uint64_t Hasher64::digest() const { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_)); }

}  // namespace shoal
