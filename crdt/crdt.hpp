// The contract every Shoal CRDT satisfies, and the type tags of every
// encoding in crdt/.
//
// A CRDT here is a delta-state CRDT (Almeida, Shoker, Baquero, "Delta State
// Replicated Data Types", JPDC 2018): a client's *operation* is applied at one
// replica by an *actor* (later: a vnode id plus its incarnation) and yields a
// *delta*, itself a value of the same type; replicas exchange whole states or
// deltas and `merge` them. Merge is commutative, associative and idempotent
// (tests/crdt/ proves it for every type on randomised histories), so any
// delivery order converges. Values are plain data: thread-compatible.
#pragma once

#include <msgpack.hpp>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/codec.hpp"
#include "base/result.hpp"
#include "crdt/vclock.hpp"

namespace shoal::crdt {

// Every encoding starts with [type_tag, version, ...]. Tags are on disk and on
// the wire: never reuse or renumber one.
enum class TypeTag : std::uint8_t {
  vclock = 1,
  dot_context = 2,
  dvvset = 3,
  hlc = 4,
  pn_counter = 10,
  orswot = 11,
  lww_register = 12,
  mv_register = 13,
  flag = 14,
  map = 15,
  hll = 16,
  any_crdt = 30,
  object = 40,
  ring_state = 50,        // ring/ring.hpp (kRingTypeTag)
  cluster_metadata = 51,  // core/cluster_state.hpp (kMetadataTypeTag)
  // 80..89 are taken by storage/merkle.hpp (tree, root, branch level,
  // segment set, key-hash list); storage cannot include this header, so the
  // numbers are listed here to keep one registry of tags.
};

using Packer = msgpack::packer<msgpack::sbuffer>;

// The shared interface. `apply` mutates the replica and returns the delta it
// produced (merging that delta into any replica that has seen this one's
// causal past has the same effect as applying the op there). `reset(context)`
// is an observed reset: it removes everything `context` has seen, and only
// that, so a deleted counter or set updated later does not bring back old
// state, while updates concurrent with the reset survive (update wins).
// `context()` is what a client reads and later sends back with a remove or
// reset. `encode` is canonical: equal values give identical bytes.
template <typename T>
concept Crdt = requires(T& replica, const T& other, const typename T::Op& op, const Actor& actor, const VClock& context,
                        Packer& packer, const msgpack::object& object) {
  typename T::Op;
  typename T::Value;
  { T::kTypeTag } -> std::convertible_to<TypeTag>;
  { replica.apply(op, actor) } -> std::same_as<Result<T>>;
  { replica.merge(other) } -> std::same_as<void>;
  { other.value() } -> std::convertible_to<typename T::Value>;
  { replica.reset(context) } -> std::same_as<void>;
  { other.context() } -> std::convertible_to<VClock>;
  { other == other } -> std::convertible_to<bool>;
  { other.encode(packer) } -> std::same_as<void>;
  { T::decode(object) } -> std::same_as<Result<T>>;
};

// Canonical bytes of any encodable value.
template <typename T>
std::string encode_to_bytes(const T& value) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  value.encode(packer);
  return std::string(buffer.data(), buffer.size());
}

// Decodes untrusted bytes: bounded by `limits`, errors as values.
template <typename T>
Result<T> decode_from_bytes(std::string_view bytes, const codec::Limits& limits = codec::kDefaultLimits) {
  SHOAL_TRY(handle, codec::unpack(bytes, limits));
  return T::decode(handle.get());
}

}  // namespace shoal::crdt
