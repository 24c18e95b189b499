// How shoal-bench picks random numbers and record keys, following YCSB's
// core workload so its figures compare with YCSB's:
//
// - Random: xoshiro256** (Blackman and Vigna) seeded through splitmix64.
//   One per thread (not thread-safe itself), cheap enough for the I/O thread.
// - ZipfianGenerator: Gray et al., "Quickly Generating Billion-Record
//   Synthetic Databases" (SIGMOD 1994), as YCSB's ZipfianGenerator implements
//   it: item 0 is the most popular, item i has weight 1/(i+1)^theta.
// - KeyChooser::scrambled_zipfian: YCSB's ScrambledZipfianGenerator. It draws
//   from a zipfian over 10^10 items and maps the draw to a record by FNV-1a
//   hashing it modulo the record count, so the popular records are spread
//   over the key space (and the ring) instead of being records 0, 1, 2...
//   For the constant 0.99 it uses YCSB's precomputed zeta(10^10); for another
//   constant zeta is computed (exactly up to 10^6 terms, Euler-Maclaurin for
//   the tail, where YCSB would sum all 10^10 terms).
//
// Immutable once built, so one KeyChooser serves every thread.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace shoal::bench {

class Random {
 public:
  explicit Random(std::uint64_t seed) {
    for (auto& word : state_) word = splitmix64(seed);
  }

  std::uint64_t next() {
    std::uint64_t result = std::rotl(state_[1] * 5, 7) * 9;
    std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = std::rotl(state_[3], 45);
    return result;
  }
  // Uniform in [0, 1), 53 bits.
  double next_double() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, bound) for bound > 0 (the modulo bias is below 2^-32 for
  // any bound a benchmark uses).
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }

  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_[4];
};

// YCSB's Utils.fnvhash64: FNV-1a over the 8 bytes of the value, low byte
// first, then the absolute value as a signed 64-bit number.
inline std::uint64_t fnv_hash64(std::uint64_t value) {
  constexpr std::uint64_t kOffsetBasis = 0xcbf29ce484222325ull;
  constexpr std::uint64_t kPrime = 1099511628211ull;
  std::uint64_t hash = kOffsetBasis;
  for (int i = 0; i < 8; ++i) {
    hash ^= value & 0xff;
    value >>= 8;
    hash *= kPrime;
  }
  // Math.abs on a Java long; the one value it leaves negative becomes 2^63 here.
  return (hash >> 63) != 0 ? ~hash + 1 : hash;
}

// zeta(n, theta) = sum over i = 1..n of 1 / i^theta, for 0 < theta < 1.
inline double zeta(std::uint64_t n, double theta) {
  constexpr std::uint64_t kExactTerms = 1'000'000;
  double sum = 0;
  std::uint64_t exact = n < kExactTerms ? n : kExactTerms;
  for (std::uint64_t i = 1; i <= exact; ++i) sum += std::pow(static_cast<double>(i), -theta);
  if (n == exact) return sum;
  // Euler-Maclaurin for the terms m+1..n of f(x) = x^-theta: the integral,
  // then (f(n) - f(m)) / 2 and (f'(n) - f'(m)) / 12. At m = 10^6 the next
  // correction is far below double precision.
  auto m = static_cast<double>(exact);
  auto big = static_cast<double>(n);
  auto f = [theta](double x) { return std::pow(x, -theta); };
  auto f_prime = [theta](double x) { return -theta * std::pow(x, -theta - 1); };
  sum += (std::pow(big, 1 - theta) - std::pow(m, 1 - theta)) / (1 - theta);
  sum += (f(big) - f(m)) / 2;
  sum += (f_prime(big) - f_prime(m)) / 12;
  return sum;
}

class ZipfianGenerator {
 public:
  // Items 0..items-1 with constant `theta` (0 < theta < 1) and zeta(items, theta) = zetan.
  ZipfianGenerator(std::uint64_t items, double theta, double zetan)
      : items_(items),
        theta_(theta),
        alpha_(1.0 / (1.0 - theta)),
        zetan_(zetan),
        eta_((1 - std::pow(2.0 / static_cast<double>(items), 1 - theta)) / (1 - zeta(2, theta) / zetan)),
        half_pow_theta_(std::pow(0.5, theta)) {}

  std::uint64_t next(Random& random) const {
    double u = random.next_double();
    double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + half_pow_theta_) return 1;
    auto item = static_cast<std::uint64_t>(static_cast<double>(items_) * std::pow(eta_ * u - eta_ + 1, alpha_));
    return item < items_ ? item : items_ - 1;
  }

  double theta() const { return theta_; }

 private:
  std::uint64_t items_;
  double theta_;
  double alpha_;
  double zetan_;
  double eta_;
  double half_pow_theta_;
};

// Picks a record number in [0, records).
class KeyChooser {
 public:
  // YCSB's constants: the zipfian it scrambles spans 10^10 (+1, as YCSB's
  // ZipfianGenerator(0, ITEM_COUNT) counts both ends) items.
  static constexpr std::uint64_t kScrambledItems = 10'000'000'000ull + 1;
  static constexpr double kYcsbConstant = 0.99;
  static constexpr double kYcsbZetan = 26.46902820178302;

  static KeyChooser scrambled_zipfian(std::uint64_t records, double theta) {
    double zetan = theta == kYcsbConstant ? kYcsbZetan : zeta(kScrambledItems, theta);
    return KeyChooser(records, ZipfianGenerator(kScrambledItems, theta, zetan), false);
  }
  static KeyChooser uniform(std::uint64_t records) {
    return KeyChooser(records, ZipfianGenerator(2, 0.5, zeta(2, 0.5)), true);
  }

  std::uint64_t next(Random& random) const {
    if (uniform_) return random.below(records_);
    return fnv_hash64(zipfian_.next(random)) % records_;
  }

  std::uint64_t records() const { return records_; }
  bool is_uniform() const { return uniform_; }

 private:
  KeyChooser(std::uint64_t records, ZipfianGenerator zipfian, bool uniform)
      : records_(records), zipfian_(zipfian), uniform_(uniform) {}
  std::uint64_t records_;
  ZipfianGenerator zipfian_;  // unused when uniform_
  bool uniform_;
};

}  // namespace shoal::bench
