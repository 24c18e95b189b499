#include "base/hash.hpp"

#include <xxhash.h>

#include <array>

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

std::uint64_t Hasher64::digest() const { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_)); }

}  // namespace shoal
