// Anti-entropy Merkle trees in the TicTac style of Riak's kv_tictactree: a
// fixed two-level tree (root, branches, segments) whose leaves are XORs of
// per-key hashes, so a write updates it in O(1). Owned by one vnode actor
// (through its TreeSet); thread-compatible, not thread-safe. Design and
// exchange protocol: docs/anti_entropy.md.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace shoal::storage {

// Encoding type tags (on disk and on the wire: never reuse or renumber). The
// crdt/ tags use 1..40; storage takes 80..89.
inline constexpr std::uint8_t kMerkleTreeTag = 80;
inline constexpr std::uint8_t kMerkleRootTag = 81;
inline constexpr std::uint8_t kMerkleBranchesTag = 82;
inline constexpr std::uint8_t kMerkleSegmentsTag = 83;
inline constexpr std::uint8_t kKeyHashListTag = 84;
inline constexpr std::uint8_t kMerkleVersion = 1;

// 1024 x 32 segments of 8 bytes = 256 KiB of leaves + 8 KiB of branches:
// fine-grained enough that a segment of a 10M-key partition holds ~300 keys,
// small enough that a vnode can keep a tree per preference list it serves.
inline constexpr std::uint32_t kBranchCountDefault = 1024;
inline constexpr std::uint32_t kSegmentsPerBranchDefault = 32;
inline constexpr std::size_t kTreeMemoryBytesMaxDefault = 512 * 1024;
inline constexpr std::size_t kTreesPerVnodeMaxDefault = 16;

// The shape of a tree. Only trees of the same shape are comparable.
struct TreeShape {
  std::uint32_t branch_count = kBranchCountDefault;             // power of two
  std::uint32_t segments_per_branch = kSegmentsPerBranchDefault;  // power of two
  std::uint32_t segment_count() const { return branch_count * segments_per_branch; }
  std::string to_string() const;  // "1024x32", for error messages
  friend bool operator==(const TreeShape&, const TreeShape&) = default;
};

struct TreeConfig {
  TreeShape shape;
  std::size_t memory_bytes_max = kTreeMemoryBytesMaxDefault;  // refuse shapes whose tree would be larger
};

// Heap and object bytes a tree of `shape` uses.
std::size_t tree_memory_bytes(const TreeShape& shape);

// ok() or invalid_argument / too_large naming what is wrong: both counts
// powers of two, at least 2 segments, and the tree within memory_bytes_max.
Result<void> validate(const TreeConfig& config);

// The 64-bit hash of a stored value's canonical encoding. The tree only needs
// this, never the value.
std::uint64_t value_hash(std::string_view canonical_encoding);

// A key's leaf contribution: the Hasher64 of (storage_key, value_hash as 8
// little-endian bytes). `storage_key` is the exact bytes the engine stores.
std::uint64_t leaf_hash(std::string_view storage_key, std::uint64_t value_hash);

// Which tree segment holds `storage_key`; the same top-bits rule as the
// engine's segment index (storage/segment.hpp), so a tree segment is a
// contiguous range of index segments (see index_segments_of).
std::uint32_t segment_of_key(std::string_view storage_key, const TreeShape& shape);

// The engine's segment-index segments [first, last) that make up tree
// segment `tree_segment`. Precondition: index_segment_count is a power of two
// >= shape.segment_count().
std::pair<std::uint32_t, std::uint32_t> index_segments_of(std::uint32_t tree_segment, const TreeShape& shape,
                                                           std::uint32_t index_segment_count);

// Decoding limits for bytes from disk or a peer. Shapes are checked against
// `memory_bytes_max` before anything is allocated.
struct DecodeLimits {
  std::size_t memory_bytes_max = kTreeMemoryBytesMaxDefault;
  std::size_t keys_max = 1 << 16;             // entries of one key/hash list
  std::size_t key_bytes_max = 64 * 1024;      // one storage key
  std::size_t list_bytes_max = 32 << 20;      // one encoded key/hash list
};

class MerkleTree;
Result<MerkleTree> decode_tree(std::string_view bytes, const DecodeLimits& limits);

class MerkleTree {
 public:
  static Result<MerkleTree> create(const TreeConfig& config = {});

  const TreeShape& shape() const { return shape_; }

  // The O(1) write path. Pass the value hash the key had before the write
  // (nullopt if absent) and after it (nullopt if now absent). A tombstone is
  // a value: pass the hash of its encoding; only a reaped key is absent.
  // Passing a wrong old hash corrupts the tree until the next rebuild.
  void update(std::string_view storage_key, std::optional<std::uint64_t> old_value_hash,
              std::optional<std::uint64_t> new_value_hash);
  // Rebuild from a fold: feed each (key, value hash) once into a fresh tree.
  void insert(std::string_view storage_key, std::uint64_t value_hash) { update(storage_key, std::nullopt, value_hash); }
  void clear();

  std::uint64_t root() const { return root_; }
  std::span<const std::uint64_t> branches() const { return branches_; }
  std::span<const std::uint64_t> segments() const { return segments_; }
  std::uint64_t branch(std::uint32_t index) const;
  std::uint64_t segment(std::uint32_t index) const;
  std::size_t memory_bytes() const;

  friend bool operator==(const MerkleTree&, const MerkleTree&) = default;

 private:
  friend Result<MerkleTree> decode_tree(std::string_view bytes, const DecodeLimits& limits);
  explicit MerkleTree(const TreeShape& shape);
  void apply(std::string_view storage_key, std::uint64_t delta);

  TreeShape shape_;
  std::uint64_t root_ = 0;
  std::vector<std::uint64_t> branches_;
  std::vector<std::uint64_t> segments_;
};

// What one exchange step sends. Each is a plain value with its own encoding.
struct RootLevel {
  TreeShape shape;
  std::uint64_t root = 0;
  friend bool operator==(const RootLevel&, const RootLevel&) = default;
};
struct BranchLevel {
  TreeShape shape;
  std::vector<std::uint64_t> branches;  // shape.branch_count entries
  friend bool operator==(const BranchLevel&, const BranchLevel&) = default;
};
struct SegmentSet {
  TreeShape shape;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> segments;  // (segment, hash), strictly increasing segment
  friend bool operator==(const SegmentSet&, const SegmentSet&) = default;
};

RootLevel root_level(const MerkleTree& tree);
BranchLevel branch_level(const MerkleTree& tree);
// The segments of the given branches, in order; the step after branches.
// invalid_argument for a branch out of range.
Result<SegmentSet> segments_of_branches(const MerkleTree& tree, std::span<const std::uint32_t> branches);
// Chosen segments, sorted and deduplicated; invalid_argument if out of range.
Result<SegmentSet> segment_set(const MerkleTree& tree, std::span<const std::uint32_t> segments);

// Exchange comparisons against what the peer sent. Every one of them fails
// with invalid_argument if the shapes differ. Results are sorted.
Result<bool> roots_differ(const MerkleTree& local, const RootLevel& remote);
Result<std::vector<std::uint32_t>> differing_branches(const MerkleTree& local, const BranchLevel& remote);
// Of the segments the peer sent, those whose hash differs from ours.
Result<std::vector<std::uint32_t>> differing_segments(const MerkleTree& local, const SegmentSet& remote);
// Both trees local: root, then branches, then segments.
Result<std::vector<std::uint32_t>> differing_segments(const MerkleTree& a, const MerkleTree& b);

// One side's (key, value hash) pairs for the differing segments.
struct KeyHash {
  std::string key;
  std::uint64_t value_hash = 0;
  friend bool operator==(const KeyHash&, const KeyHash&) = default;
};

// The keys present on only one side or with different hashes, sorted and
// unique. Either list may be in any order; a key listed twice on one side is
// invalid_argument (a peer's list is untrusted input).
Result<std::vector<std::string>> differing_keys(std::vector<KeyHash> local, std::vector<KeyHash> remote);

// msgpack [tag, version, ...] encodings. The whole tree carries only the
// segments; branches and root are recomputed on decode, so a decoded tree is
// always internally consistent.
std::string encode(const MerkleTree& tree);
std::string encode(const RootLevel& level);
std::string encode(const BranchLevel& level);
std::string encode(const SegmentSet& set);
std::string encode(std::span<const KeyHash> list);

Result<MerkleTree> decode_tree(std::string_view bytes, const DecodeLimits& limits = {});
Result<RootLevel> decode_root_level(std::string_view bytes, const DecodeLimits& limits = {});
Result<BranchLevel> decode_branch_level(std::string_view bytes, const DecodeLimits& limits = {});
Result<SegmentSet> decode_segment_set(std::string_view bytes, const DecodeLimits& limits = {});
Result<std::vector<KeyHash>> decode_key_hash_list(std::string_view bytes, const DecodeLimits& limits = {});

// Which tree a key belongs to: one per (preference list, n_val) a vnode
// serves, as in Riak, because only replicas of the same preference list hold
// the same keys. The node computes it; storage does not know the ring.
struct TreeId {
  std::uint32_t preflist_start_partition = 0;
  std::uint8_t n_val = 0;
  friend auto operator<=>(const TreeId&, const TreeId&) = default;
  friend bool operator==(const TreeId&, const TreeId&) = default;
};

struct TreeSetConfig {
  TreeConfig tree;
  std::size_t trees_max = kTreesPerVnodeMaxDefault;
};

// A vnode's trees, keyed by TreeId, all of one shape.
class TreeSet {
 public:
  static Result<TreeSet> create(const TreeSetConfig& config = {});

  // too_large once trees_max trees exist and `id` is not one of them.
  Result<MerkleTree*> get_or_create(TreeId id);
  MerkleTree* find(TreeId id);
  const MerkleTree* find(TreeId id) const;
  Result<void> update(TreeId id, std::string_view storage_key, std::optional<std::uint64_t> old_value_hash,
                      std::optional<std::uint64_t> new_value_hash);
  // Swaps in a tree rebuilt from a fold; invalid_argument if its shape is not
  // this set's, too_large as get_or_create.
  Result<void> replace(TreeId id, MerkleTree tree);
  bool erase(TreeId id);

  std::vector<TreeId> ids() const;
  std::size_t size() const { return trees_.size(); }
  std::size_t memory_bytes() const;
  const TreeSetConfig& config() const { return config_; }

 private:
  explicit TreeSet(const TreeSetConfig& config) : config_(config) {}
  TreeSetConfig config_;
  std::map<TreeId, MerkleTree> trees_;
};

}  // namespace shoal::storage
