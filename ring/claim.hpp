// Claim: which node owns each of the Q partitions.
//
// Owned by ring/. Pure and deterministic: the same input gives the same
// owners on every node (nodes are taken in node-id order, ties break on
// index, no randomness). Thread-safe: pure functions.
//
// Guarantees, in priority order (the report says which ones were not met):
//  1. balance: partitions per node differ by at most one;
//  2. spread: any target_n_val consecutive partitions (wrapping) have distinct
//     owners, so a preference list of up to target_n_val replicas never needs
//     to skip a partition; needs nodes >= target_n_val;
//  3. location spread: the same windows also span distinct locations, when
//     there are at least target_n_val locations (best effort after 1 and 2).
// Rebalancing after a join or leave starts from the current owners and moves
// as few partitions as it can (in the spirit of riak_core's claim v2 "wants"
// and the tail-violation repair of claim v3), falling back to a fresh layout
// only when local repair cannot remove a spread violation that a fresh layout
// avoids.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "ring/partition.hpp"

namespace shoal::ring {

inline constexpr std::uint32_t kTargetNValDefault = 4;
inline constexpr std::uint32_t kTargetNValMax = 16;
inline constexpr std::size_t kNodesMax = 1024;        // members of one ring
inline constexpr std::size_t kNodeIdBytesMax = 255;   // "name@host:port"
inline constexpr std::size_t kLocationBytesMax = 255;

struct ClaimOptions {
  // Consecutive partitions that must have distinct owners; should be >= the
  // largest n_val of any bucket type. Must be <= Q / 2.
  std::uint32_t target_n_val = kTargetNValDefault;
};

// A node taking part in claim. An empty location means "unlabelled": the
// node is then its own location and constrains nothing.
struct ClaimNode {
  std::string node;
  std::string location;
  friend bool operator==(const ClaimNode&, const ClaimNode&) = default;
};

struct ClaimReport {
  bool balanced = true;          // max - min partitions per node <= 1
  bool spread = true;            // every target_n_val window has distinct owners
  bool locations_spread = true;  // every target_n_val window has distinct locations (true if no labels)
  // First partition of each target_n_val window (or smaller, when there are
  // fewer nodes or locations than target_n_val) that repeats an owner / a location.
  std::vector<Partition> violations;
  std::vector<Partition> location_violations;
  std::uint32_t partitions_per_node_min = 0;
  std::uint32_t partitions_per_node_max = 0;
  std::string reason;  // empty when every guarantee holds
};

struct ClaimResult {
  std::vector<std::string> owners;  // owners[p] is the node id owning partition p
  std::uint32_t moved = 0;          // partitions whose owner differs from the input owners
  ClaimReport report;
};

// Lays out a new ring for `nodes` (any order; ids must be unique and non-empty).
Result<ClaimResult> claim_fresh(std::uint32_t partition_count, std::span<const ClaimNode> nodes,
                                const ClaimOptions& options = {});

// Rebalances `current_owners` (size Q) onto exactly `nodes`: partitions of
// nodes not in `nodes` are reassigned, newcomers take partitions from nodes
// over their share.
Result<ClaimResult> claim_rebalance(std::span<const std::string> current_owners, std::span<const ClaimNode> nodes,
                                    const ClaimOptions& options = {});

// Measures the guarantees of a given layout. `nodes` must include every owner.
ClaimReport evaluate_claim(std::span<const std::string> owners, std::span<const ClaimNode> nodes,
                           const ClaimOptions& options = {});

}  // namespace shoal::ring
