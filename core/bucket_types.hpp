// Bucket types: named sets of bucket properties (replication, quorum
// defaults, conflict policy, datatype). Every key lives in a bucket of a
// type; the type decides how its objects merge. The built-in types are
// always present; more are seeded from the node's config. The whole set is
// part of the cluster's identity: peers compare its digest in their
// handshake, so two nodes never disagree on how a key is replicated.
// Values are immutable after construction: thread-safe to read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "crdt/object.hpp"
#include "net/protocol.hpp"

namespace shoal::core {

struct BucketProps {
  std::uint32_t n_val = 3;
  net::Quorum r = net::Quorum::majority();
  net::Quorum w = net::Quorum::majority();
  net::Quorum pr = net::Quorum::of(0);
  net::Quorum pw = net::Quorum::of(0);
  net::Quorum dw = net::Quorum::of(0);
  bool allow_mult = true;
  bool last_write_wins = false;
  bool notfound_ok = true;
  bool basic_quorum = false;
  crdt::Datatype datatype = crdt::Datatype::plain;
  // datatype=any: each object holds the CRDT its first write chose, and a
  // write may change it (see the `type_change` request option). `datatype`
  // is then unused.
  bool any_datatype = false;
  std::optional<std::uint64_t> ttl_ms;  // default expiry of every write

  crdt::MergePolicy merge_policy() const { return crdt::MergePolicy{allow_mult, last_write_wins}; }
  bool is_crdt() const { return any_datatype || datatype != crdt::Datatype::plain; }
  // "any", or the datatype's name.
  std::string_view datatype_label() const;
  friend bool operator==(const BucketProps&, const BucketProps&) = default;
};

// "plain", "counter", "set", "map", "register", "flag", "hll", "mvregister"
// (parse_datatype also takes "none" for plain; "any" is parsed by apply_props).
std::string_view datatype_name(crdt::Datatype datatype);
Result<crdt::Datatype> parse_datatype(std::string_view name);

// Applies "key=value" settings (comma separated) to `props`:
// n_val, r, w, pr, pw, dw, allow_mult, last_write_wins, notfound_ok,
// basic_quorum, datatype, ttl_ms. invalid_argument naming the bad setting.
Result<BucketProps> apply_props(BucketProps props, std::string_view settings);
std::string format_props(const BucketProps& props);

class BucketTypes {
 public:
  // The built-in types (default, lww, counters, sets, maps, registers,
  // flags, hlls, and `redis`, of datatype any, for the Redis-protocol
  // port), each with `n_val` and the given default r/w.
  static BucketTypes builtin(std::uint32_t n_val, net::Quorum r, net::Quorum w);

  // Adds or replaces a type from a "NAME:settings" spec (the config form).
  Result<void> add_spec(std::string_view spec);
  Result<void> add(std::string name, BucketProps props);

  const BucketProps* find(std::string_view name) const;
  const std::map<std::string, BucketProps, std::less<>>& all() const { return types_; }
  // Stable across processes: compared by peers in their handshake.
  std::uint64_t digest() const;
  std::uint32_t n_val_max() const;

 private:
  std::map<std::string, BucketProps, std::less<>> types_;
};

inline constexpr std::size_t kBucketTypeNameBytesMax = 64;

}  // namespace shoal::core
