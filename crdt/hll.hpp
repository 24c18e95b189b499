// Hll: a HyperLogLog sketch of the number of distinct elements added.
// Owned by crdt/; values are thread-compatible.
//
// Design: Flajolet et al. 2007 with 64-bit hashes (base/hash.hpp hash64, so
// no large-range correction) and linear counting for the small range chosen
// on the linear-counting estimate itself (Heule et al. 2013), as riak_kv's
// hll does; no empirical bias tables, so the error between 2.5 and 5 times the
// register count is somewhat above the textbook 1.04/sqrt(m).
// Concurrency: adds commute; merge is the register-wise max, trivially
// commutative, associative and idempotent. Sketches of different precision
// merge at the coarser one: the finer registers are folded (exact: folding a
// sketch equals building it at the lower precision), so a merge never fails.
// Reset: a sketch cannot forget single elements, so reset(ctx) clears the
// registers and starts a new epoch; merge keeps the registers of the highest
// epoch only (a lexicographic join). This is RESET-WINS: adds concurrent with
// a reset are lost with everything else, unlike the update-wins reset of the
// causal types. `context()` is the clock of adds (and absorbed resets) so a
// client can tell which adds a read saw.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/crdt.hpp"

namespace shoal::crdt {

inline constexpr unsigned kHllPrecisionMin = 4;
inline constexpr unsigned kHllPrecisionMax = 16;
inline constexpr unsigned kHllPrecisionDefault = 14;  // 16 KiB of registers, ~0.8% standard error
inline constexpr std::size_t kHllElementBytesMax = 1 << 20;

class Hll {
 public:
  // Adds one element, or (with `registers`) merges a whole sketch of the
  // given precision: PFMERGE's union of other keys' sketches.
  struct Op {
    std::string element;
    std::vector<std::uint8_t> registers;  // empty: an add of `element`
    unsigned precision = 0;
    static Op add(std::string element) { return Op{std::move(element), {}, 0}; }
    static Op merge_sketch(const Hll& sketch) { return Op{{}, sketch.registers(), sketch.precision()}; }
  };
  using Value = std::uint64_t;  // the estimated number of distinct elements
  static constexpr TypeTag kTypeTag = TypeTag::hll;

  Hll() : Hll(kHllPrecisionDefault) {}
  // Errc::invalid_argument unless kHllPrecisionMin <= precision <= kHllPrecisionMax.
  static Result<Hll> with_precision(unsigned precision);

  // A sketch of `precision` with these registers (no adds recorded);
  // invalid_argument for a precision out of range, a register count other
  // than 2^precision, or a rank out of range.
  static Result<Hll> from_registers(unsigned precision, std::vector<std::uint8_t> registers);

  // Adds op.element (the delta holds that one register, as a full sketch),
  // or merges op's sketch (the delta is that sketch).
  Result<Hll> apply(const Op& op, const Actor& actor);
  // The same without building a delta, for bulk loads.
  Result<void> add(std::string_view element, const Actor& actor);
  void merge(const Hll& other);
  Value value() const;
  void reset(const VClock& context);
  VClock context() const { return adds_; }

  unsigned precision() const { return precision_; }
  std::uint64_t epoch() const { return epoch_; }
  const std::vector<std::uint8_t>& registers() const { return registers_; }

  friend bool operator==(const Hll&, const Hll&) = default;

  void encode(Packer& packer) const;
  static Result<Hll> decode(const msgpack::object& object);

 private:
  explicit Hll(unsigned precision);
  // Register index and rank of an element's hash at this precision.
  std::pair<std::size_t, std::uint8_t> slot(std::string_view element) const;
  // Lowers the precision by folding registers (no-op when not finer).
  void fold_to(unsigned precision);

  unsigned precision_;
  std::uint64_t epoch_ = 0;
  std::vector<std::uint8_t> registers_;  // 2^precision_ ranks, each <= 65 - precision_
  VClock adds_;
};

}  // namespace shoal::crdt
