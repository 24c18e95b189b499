// MvRegister: a multi-value register that keeps every concurrent write.
// Owned by crdt/; values are thread-compatible.
//
// Shapiro et al. 2011 (MV-Register) in the delta-state form of Almeida et al.
// 2018 (MVReg): a DotFun dot -> value plus a DotContext. A write replaces
// every value its replica has seen and adds one under a fresh dot, so values
// written concurrently are all kept until a write that saw them all. value()
// is the set of distinct values, sorted. reset(ctx) removes exactly the
// values ctx covers; a write concurrent with the reset survives.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "crdt/crdt.hpp"
#include "crdt/dot_context.hpp"
#include "crdt/lww_register.hpp"

namespace shoal::crdt {

class MvRegister {
 public:
  struct Op {
    std::string value;
  };
  using Value = std::vector<std::string>;  // sorted, distinct
  static constexpr TypeTag kTypeTag = TypeTag::mv_register;

  MvRegister() = default;

  // Errc::too_large for a value over kRegisterValueBytesMax,
  // Errc::invalid_argument for an empty or oversized actor.
  Result<MvRegister> apply(const Op& op, const Actor& actor);
  void merge(const MvRegister& other);
  Value value() const;
  void reset(const VClock& context);
  VClock context() const { return context_.clock(); }

  const std::map<Dot, std::string>& entries() const { return entries_; }

  friend bool operator==(const MvRegister&, const MvRegister&) = default;

  void encode(Packer& packer) const;
  static Result<MvRegister> decode(const msgpack::object& object);

 private:
  std::map<Dot, std::string> entries_;
  DotContext context_;
};

static_assert(Crdt<MvRegister>);

}  // namespace shoal::crdt
