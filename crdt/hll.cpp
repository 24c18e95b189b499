#include "crdt/hll.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "base/hash.hpp"

namespace shoal::crdt {

namespace {
constexpr std::uint8_t kHllVersion = 1;

std::uint8_t rank_max(unsigned precision) { return static_cast<std::uint8_t>(64 - precision + 1); }

// Registers encode sparse (index, rank pairs) when at most one in eight is
// set, dense (one byte each) otherwise; the rule is part of the canonical form.
bool encodes_sparse(std::size_t nonzero, std::size_t registers) { return nonzero <= registers / 8; }

Result<void> check_actor(const Actor& actor) {
  if (actor.empty() || actor.size() > kActorBytesMax)
    return make_error(Errc::invalid_argument, "hll: actor must be 1.." + std::to_string(kActorBytesMax) + " bytes");
  return ok();
}
}  // namespace

Hll::Hll(unsigned precision) : precision_(precision), registers_(std::size_t{1} << precision, 0) {}

Result<Hll> Hll::with_precision(unsigned precision) {
  if (precision < kHllPrecisionMin || precision > kHllPrecisionMax)
    return make_error(Errc::invalid_argument, "hll: precision must be " + std::to_string(kHllPrecisionMin) + ".." +
                                                  std::to_string(kHllPrecisionMax));
  return Hll(precision);
}

std::pair<std::size_t, std::uint8_t> Hll::slot(std::string_view element) const {
  std::uint64_t hash = hash64(element);
  auto index = static_cast<std::size_t>(hash >> (64 - precision_));
  std::uint64_t rest = hash << precision_;
  auto rank = rest == 0 ? rank_max(precision_) : static_cast<std::uint8_t>(std::countl_zero(rest) + 1);
  return {index, rank};
}

Result<void> Hll::add(std::string_view element, const Actor& actor) {
  SHOAL_TRYV(check_actor(actor));
  if (element.size() > kHllElementBytesMax)
    return make_error(Errc::too_large, "hll: element over " + std::to_string(kHllElementBytesMax) + " bytes");
  auto [index, rank] = slot(element);
  registers_[index] = std::max(registers_[index], rank);
  adds_.increment(actor);
  return ok();
}

Result<Hll> Hll::from_registers(unsigned precision, std::vector<std::uint8_t> registers) {
  SHOAL_TRY(hll, with_precision(precision));
  if (registers.size() != hll.registers_.size())
    return make_error(Errc::invalid_argument, "hll: a sketch of precision " + std::to_string(precision) + " has " +
                                                  std::to_string(hll.registers_.size()) + " registers");
  const std::uint8_t max = rank_max(precision);
  for (auto rank : registers)
    if (rank > max) return make_error(Errc::invalid_argument, "hll: register rank out of range");
  hll.registers_ = std::move(registers);
  return hll;
}

Result<Hll> Hll::apply(const Op& op, const Actor& actor) {
  if (!op.registers.empty()) {
    SHOAL_TRYV(check_actor(actor));
    SHOAL_TRY(sketch, from_registers(op.precision, op.registers));
    sketch.epoch_ = epoch_;  // the union lands in the current epoch
    merge(sketch);
    adds_.increment(actor);
    sketch.adds_.raise(actor, adds_.get(actor));
    return sketch;
  }
  SHOAL_TRYV(add(op.element, actor));
  Hll delta(precision_);
  delta.epoch_ = epoch_;
  auto [index, rank] = slot(op.element);
  delta.registers_[index] = rank;
  delta.adds_.raise(actor, adds_.get(actor));
  return delta;
}

void Hll::fold_to(unsigned precision) {
  if (precision >= precision_) return;
  const unsigned shift = precision_ - precision;
  std::vector<std::uint8_t> folded(std::size_t{1} << precision, 0);
  const std::size_t low_mask = (std::size_t{1} << shift) - 1;
  for (std::size_t i = 0; i < registers_.size(); ++i) {
    if (registers_[i] == 0) continue;
    // The index bits dropped become the leading bits of the rest of the hash.
    std::size_t low = i & low_mask;
    auto rank = low != 0 ? static_cast<std::uint8_t>(shift - static_cast<unsigned>(std::bit_width(low)) + 1)
                         : static_cast<std::uint8_t>(shift + registers_[i]);
    std::uint8_t& target = folded[i >> shift];
    target = std::max(target, rank);
  }
  registers_ = std::move(folded);
  precision_ = precision;
}

void Hll::merge(const Hll& other) {
  fold_to(other.precision_);
  adds_.merge(other.adds_);
  if (other.epoch_ < epoch_) return;
  const Hll* source = &other;
  Hll folded(kHllPrecisionMin);
  if (other.precision_ > precision_) {
    folded = other;
    folded.fold_to(precision_);
    source = &folded;
  }
  if (other.epoch_ > epoch_) {
    epoch_ = other.epoch_;
    registers_ = source->registers_;
    return;
  }
  for (std::size_t i = 0; i < registers_.size(); ++i) registers_[i] = std::max(registers_[i], source->registers_[i]);
}

Hll::Value Hll::value() const {
  const double m = static_cast<double>(registers_.size());
  double sum = 0;
  std::size_t zeros = 0;
  for (auto rank : registers_) {
    sum += std::ldexp(1.0, -static_cast<int>(rank));
    zeros += rank == 0 ? 1 : 0;
  }
  double alpha = precision_ == 4 ? 0.673 : precision_ == 5 ? 0.697 : precision_ == 6 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  double estimate = alpha * m * m / sum;
  if (zeros > 0) {
    double linear = m * std::log(m / static_cast<double>(zeros));
    if (linear <= 2.5 * m) estimate = linear;
  }
  return static_cast<Value>(std::llround(estimate));
}

void Hll::reset(const VClock& context) {
  if (epoch_ < std::numeric_limits<std::uint64_t>::max()) ++epoch_;
  std::fill(registers_.begin(), registers_.end(), std::uint8_t{0});
  adds_.merge(context);
}

void Hll::encode(Packer& packer) const {
  codec::pack_header(packer, static_cast<std::uint8_t>(kTypeTag), kHllVersion, 4);
  packer.pack_uint8(static_cast<std::uint8_t>(precision_));
  packer.pack_uint64(epoch_);
  adds_.encode_body(packer);
  std::size_t nonzero =
      registers_.size() - static_cast<std::size_t>(std::count(registers_.begin(), registers_.end(), 0));
  if (encodes_sparse(nonzero, registers_.size())) {
    packer.pack_array(static_cast<std::uint32_t>(2 * nonzero));
    for (std::size_t i = 0; i < registers_.size(); ++i) {
      if (registers_[i] == 0) continue;
      packer.pack_uint64(i);
      packer.pack_uint8(registers_[i]);
    }
  } else {
    codec::pack_bytes(packer, std::string_view(reinterpret_cast<const char*>(registers_.data()), registers_.size()));
  }
}

Result<Hll> Hll::decode(const msgpack::object& object) {
  SHOAL_TRY(fields, codec::expect_header(object, static_cast<std::uint8_t>(kTypeTag), kHllVersion, 4, 4, "hll"));
  SHOAL_TRY(precision, codec::expect_uint(fields[0], "hll precision", kHllPrecisionMax));
  if (precision < kHllPrecisionMin) return make_error(Errc::malformed, "hll: precision below the minimum");
  Hll hll(static_cast<unsigned>(precision));
  SHOAL_TRY(epoch, codec::expect_uint(fields[1], "hll epoch"));
  hll.epoch_ = epoch;
  SHOAL_TRY(adds, VClock::decode_body(fields[2]));
  hll.adds_ = std::move(adds);
  const std::size_t m = hll.registers_.size();
  const std::uint8_t max = rank_max(hll.precision_);
  std::size_t nonzero = 0;
  if (fields[3].type == msgpack::type::ARRAY) {
    SHOAL_TRY(items, codec::expect_array(fields[3], 0, 2 * (m / 8), "hll sparse registers"));
    if (items.size() % 2 != 0) return make_error(Errc::malformed, "hll: odd sparse register list");
    std::size_t next = 0;
    for (std::size_t i = 0; i < items.size(); i += 2) {
      SHOAL_TRY(index, codec::expect_uint(items[i], "hll register index", m - 1));
      SHOAL_TRY(rank, codec::expect_uint(items[i + 1], "hll register rank", max));
      if (index < next) return make_error(Errc::malformed, "hll: sparse registers not strictly increasing");
      if (rank == 0) return make_error(Errc::malformed, "hll: sparse register of rank zero");
      hll.registers_[index] = static_cast<std::uint8_t>(rank);
      next = index + 1;
      ++nonzero;
    }
    return hll;
  }
  SHOAL_TRY(dense, codec::expect_bytes_view(fields[3], "hll registers", m));
  if (dense.size() != m) return make_error(Errc::malformed, "hll: dense registers of the wrong size");
  for (std::size_t i = 0; i < m; ++i) {
    auto rank = static_cast<std::uint8_t>(dense[i]);
    if (rank > max) return make_error(Errc::malformed, "hll: register rank out of range");
    hll.registers_[i] = rank;
    nonzero += rank != 0 ? 1 : 0;
  }
  if (encodes_sparse(nonzero, m)) return make_error(Errc::malformed, "hll: dense encoding of a sparse sketch");
  return hll;
}

}  // namespace shoal::crdt
