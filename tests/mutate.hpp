// Hostile variants of a valid message, for the decoder tests of every
// library: each kind damages the bytes the way a broken or malicious peer
// would. Header-only; thread-compatible (the caller owns the generator).
#pragma once

#include <random>
#include <string>

namespace shoal::test {

// kind % 4: 0 truncated, 1 one to four bytes overwritten, 2 a byte 0xdd (a
// bogus array32 header) inserted, 3 trailing junk. Precondition: `bytes` is
// not empty.
inline std::string mutate(std::string bytes, std::mt19937_64& rng, int kind) {
  switch (kind % 4) {
    case 0:
      bytes.resize(rng() % bytes.size());
      break;
    case 1:
      for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      break;
    case 2:
      bytes.insert(rng() % bytes.size(), 1, static_cast<char>(0xdd));
      break;
    default:
      bytes += bytes.substr(0, rng() % bytes.size());
      break;
  }
  return bytes;
}

}  // namespace shoal::test
