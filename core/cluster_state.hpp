// The cluster-wide state a node shares between its actors: the current ring
// and the bucket types, each an immutable value swapped whole when gossip or
// an operator changes it.
//
// Bucket types are cluster metadata gossiped with the ring
// (ClusterMetadata): each type is a last-writer-wins entry versioned by an
// HLC timestamp and the node that wrote it, so every node converges on the
// same set whatever order updates arrive in. The config file only seeds
// them (at version zero) on a node's first start; after that the persisted
// metadata wins, and `shoal admin bucket-type create|update` changes them.
//
// Thread-safety: ClusterState's accessors are thread-safe (the router
// publishes, vnodes on any scheduler read); ClusterMetadata is a value.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.hpp"
#include "core/bucket_types.hpp"
#include "crdt/hlc.hpp"
#include "ring/ring.hpp"

namespace shoal::core {

inline constexpr std::uint8_t kMetadataTypeTag = static_cast<std::uint8_t>(crdt::TypeTag::cluster_metadata);
inline constexpr std::uint8_t kMetadataVersion = 1;

struct BucketTypeEntry {
  BucketProps props;
  crdt::HlcTimestamp version;  // zero: seeded from a config file
  std::string origin;          // the node that wrote it (ties between equal versions)
  friend bool operator==(const BucketTypeEntry&, const BucketTypeEntry&) = default;
};

class ClusterMetadata {
 public:
  // The seed: built-ins and config types, all at version zero.
  static ClusterMetadata seed(const BucketTypes& types);

  const std::map<std::string, BucketTypeEntry, std::less<>>& entries() const { return entries_; }
  // Sets a type (a create or an update made on this node).
  void put(const std::string& name, BucketProps props, crdt::HlcTimestamp version, const std::string& origin);
  // Per type, the entry with the greatest (version, origin, properties):
  // commutative, associative and idempotent.
  void merge(const ClusterMetadata& other);
  BucketTypes bucket_types() const;

  std::string encode() const;
  static Result<ClusterMetadata> decode(std::string_view bytes);
  friend bool operator==(const ClusterMetadata&, const ClusterMetadata&) = default;

 private:
  std::map<std::string, BucketTypeEntry, std::less<>> entries_;
};

class ClusterState {
 public:
  ClusterState(ring::Ring ring, ClusterMetadata metadata);

  std::shared_ptr<const ring::Ring> ring() const;
  std::shared_ptr<const BucketTypes> bucket_types() const;
  ClusterMetadata metadata() const;

  void publish_ring(ring::Ring ring);
  void publish_metadata(ClusterMetadata metadata);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ring::Ring> ring_;
  ClusterMetadata metadata_;
  std::shared_ptr<const BucketTypes> bucket_types_;
};

}  // namespace shoal::core
