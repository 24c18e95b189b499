#include "storage/merkle.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "base/codec.hpp"
#include "base/hash.hpp"
#include "storage/segment.hpp"

namespace shoal::storage {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Keys up to this size hash from a stack buffer; longer ones stream through
// Hasher64 (same value: Hasher64 is defined as hash64 of the length-prefixed
// pieces). Keeps the write path free of allocation for ordinary keys.
constexpr std::size_t kLeafStackKeyBytesMax = 512;

void put_le64(char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::uint64_t get_le64(const char* in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

void put_le32(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::uint32_t get_le32(const char* in) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string pack_le64s(std::span<const std::uint64_t> values) {
  std::string out(values.size() * 8, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) put_le64(out.data() + 8 * i, values[i]);
  return out;
}

std::size_t memory_bytes_of(std::uint64_t branch_count, std::uint64_t segment_count) {
  return sizeof(MerkleTree) + static_cast<std::size_t>(8 * (branch_count + segment_count));
}

// Shape checks shared by config validation and decoding. Inputs are 64-bit
// so that untrusted values cannot overflow the arithmetic.
Result<TreeShape> check_shape(std::uint64_t branch_count, std::uint64_t segments_per_branch,
                              std::size_t memory_bytes_max, std::string_view what) {
  auto shape_text = std::to_string(branch_count) + "x" + std::to_string(segments_per_branch);
  if (!std::has_single_bit(branch_count) || !std::has_single_bit(segments_per_branch))
    return make_error(Errc::invalid_argument, std::string(what) + ": tree shape " + shape_text +
                                                  ": branch count and segments per branch must be powers of two");
  if (branch_count > (1ULL << 31) || segments_per_branch > (1ULL << 31) ||
      branch_count * segments_per_branch > (1ULL << 31))
    return make_error(Errc::too_large, std::string(what) + ": tree shape " + shape_text + " has more than 2^31 segments");
  std::uint64_t segment_count = branch_count * segments_per_branch;
  if (segment_count < 2)
    return make_error(Errc::invalid_argument, std::string(what) + ": tree shape " + shape_text +
                                                  " must have at least 2 segments");
  std::size_t bytes = memory_bytes_of(branch_count, segment_count);
  if (bytes > memory_bytes_max)
    return make_error(Errc::too_large, std::string(what) + ": tree shape " + shape_text + " needs " +
                                           std::to_string(bytes) + " bytes, over the configured maximum of " +
                                           std::to_string(memory_bytes_max) +
                                           " (raise memory_bytes_max or use fewer segments)");
  return TreeShape{static_cast<std::uint32_t>(branch_count), static_cast<std::uint32_t>(segments_per_branch)};
}

Result<void> same_shape(const TreeShape& local, const TreeShape& remote) {
  if (local == remote) return ok();
  return make_error(Errc::invalid_argument, "cannot compare Merkle trees of different shapes: local " +
                                                local.to_string() + ", remote " + remote.to_string());
}

std::uint32_t branch_of(std::uint32_t segment, const TreeShape& shape) {
  return segment >> std::countr_zero(shape.segments_per_branch);
}

codec::Limits tree_limits(std::size_t memory_bytes_max) {
  codec::Limits limits;
  limits.bytes_max = memory_bytes_max + 64;
  limits.bin_max = memory_bytes_max;
  limits.array_max = 16;
  limits.map_max = 0;
  limits.depth_max = 2;
  return limits;
}

Result<TreeShape> read_shape(std::span<const msgpack::object> fields, std::size_t memory_bytes_max,
                             std::string_view what) {
  SHOAL_TRY(branch_count, codec::expect_uint(fields[0], std::string(what) + " branch count"));
  SHOAL_TRY(segments_per_branch, codec::expect_uint(fields[1], std::string(what) + " segments per branch"));
  auto shape = check_shape(branch_count, segments_per_branch, memory_bytes_max, what);
  // Bad input bytes are malformed, whatever the config check calls them.
  if (shape.has_error() && shape.error().code == Errc::invalid_argument)
    return make_error(Errc::malformed, shape.error().message);
  return shape;
}

Result<std::vector<std::uint64_t>> read_le64s(const msgpack::object& o, std::size_t count, std::string_view what) {
  SHOAL_TRY(bytes, codec::expect_bytes_view(o, what));
  if (bytes.size() != 8 * count)
    return make_error(Errc::malformed, std::string(what) + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                                           std::to_string(8 * count));
  std::vector<std::uint64_t> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = get_le64(bytes.data() + 8 * i);
  return values;
}

std::string finish(const msgpack::sbuffer& buffer) { return std::string(buffer.data(), buffer.size()); }

// Anti-entropy compares hashes of encodings, so equal values must have equal
// bytes: a decoder accepts only the bytes its encoder would produce (msgpack
// allows wider integer and length forms than the shortest).
template <typename T>
Result<T> canonical(Result<T> decoded, std::string_view bytes, std::string_view what) {
  if (decoded.has_value() && encode(decoded.value()) != bytes)
    return make_error(Errc::malformed, std::string(what) + ": not in canonical form");
  return decoded;
}

}  // namespace

std::string TreeShape::to_string() const {
  return std::to_string(branch_count) + "x" + std::to_string(segments_per_branch);
}

std::size_t tree_memory_bytes(const TreeShape& shape) {
  return memory_bytes_of(shape.branch_count, std::uint64_t{shape.branch_count} * shape.segments_per_branch);
}

Result<void> validate(const TreeConfig& config) {
  SHOAL_TRY(shape, check_shape(config.shape.branch_count, config.shape.segments_per_branch, config.memory_bytes_max,
                               "Merkle tree config"));
  (void)shape;
  return ok();
}

std::uint64_t value_hash(std::string_view canonical_encoding) { return hash64(canonical_encoding); }

std::uint64_t leaf_hash(std::string_view storage_key, std::uint64_t value_hash) {
  if (storage_key.size() <= kLeafStackKeyBytesMax) {
    std::array<char, kLeafStackKeyBytesMax + 24> buffer;
    put_le64(buffer.data(), storage_key.size());
    std::memcpy(buffer.data() + 8, storage_key.data(), storage_key.size());
    put_le64(buffer.data() + 8 + storage_key.size(), 8);
    put_le64(buffer.data() + 16 + storage_key.size(), value_hash);
    return hash64(std::string_view(buffer.data(), storage_key.size() + 24));
  }
  std::array<char, 8> hash_bytes;
  put_le64(hash_bytes.data(), value_hash);
  Hasher64 hasher;
  hasher.add(storage_key);
  hasher.add(std::string_view(hash_bytes.data(), hash_bytes.size()));
  return hasher.digest();
}

std::uint32_t segment_of_key(std::string_view storage_key, const TreeShape& shape) {
  return segment_of(storage_key, shape.segment_count());
}

std::pair<std::uint32_t, std::uint32_t> index_segments_of(std::uint32_t tree_segment, const TreeShape& shape,
                                                           std::uint32_t index_segment_count) {
  SHOAL_ASSERT(std::has_single_bit(index_segment_count) && index_segment_count >= shape.segment_count(),
               "the segment index must be a power of two at least as fine as the tree");
  SHOAL_ASSERT(tree_segment < shape.segment_count(), "tree segment out of range");
  std::uint32_t per = index_segment_count / shape.segment_count();
  return {tree_segment * per, tree_segment * per + per};
}

// --- MerkleTree ---

MerkleTree::MerkleTree(const TreeShape& shape)
    : shape_(shape), branches_(shape.branch_count, 0), segments_(shape.segment_count(), 0) {}

Result<MerkleTree> MerkleTree::create(const TreeConfig& config) {
  SHOAL_TRYV(validate(config));
  return MerkleTree(config.shape);
}

void MerkleTree::apply(std::string_view storage_key, std::uint64_t delta) {
  std::uint32_t segment = segment_of_key(storage_key, shape_);
  segments_[segment] ^= delta;
  branches_[branch_of(segment, shape_)] ^= delta;
  root_ ^= delta;
}

void MerkleTree::update(std::string_view storage_key, std::optional<std::uint64_t> old_value_hash,
                        std::optional<std::uint64_t> new_value_hash) {
  std::uint64_t delta = 0;
  if (old_value_hash) delta ^= leaf_hash(storage_key, *old_value_hash);
  if (new_value_hash) delta ^= leaf_hash(storage_key, *new_value_hash);
  if (delta != 0) apply(storage_key, delta);
}

void MerkleTree::clear() {
  root_ = 0;
  std::fill(branches_.begin(), branches_.end(), 0);
  std::fill(segments_.begin(), segments_.end(), 0);
}

std::uint64_t MerkleTree::branch(std::uint32_t index) const {
  SHOAL_ASSERT(index < branches_.size(), "branch index out of range");
  return branches_[index];
}

std::uint64_t MerkleTree::segment(std::uint32_t index) const {
  SHOAL_ASSERT(index < segments_.size(), "segment index out of range");
  return segments_[index];
}

std::size_t MerkleTree::memory_bytes() const {
  return sizeof(*this) + 8 * (branches_.capacity() + segments_.capacity());
}

// --- exchange levels ---

RootLevel root_level(const MerkleTree& tree) { return RootLevel{tree.shape(), tree.root()}; }

BranchLevel branch_level(const MerkleTree& tree) {
  return BranchLevel{tree.shape(), std::vector<std::uint64_t>(tree.branches().begin(), tree.branches().end())};
}

Result<SegmentSet> segments_of_branches(const MerkleTree& tree, std::span<const std::uint32_t> branches) {
  std::vector<std::uint32_t> segments;
  std::uint32_t per = tree.shape().segments_per_branch;
  for (std::uint32_t b : branches) {
    if (b >= tree.shape().branch_count)
      return make_error(Errc::invalid_argument, "branch " + std::to_string(b) + " out of range for tree shape " +
                                                    tree.shape().to_string());
    for (std::uint32_t i = 0; i < per; ++i) segments.push_back(b * per + i);
  }
  return segment_set(tree, segments);
}

Result<SegmentSet> segment_set(const MerkleTree& tree, std::span<const std::uint32_t> segments) {
  std::vector<std::uint32_t> ids(segments.begin(), segments.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  SegmentSet set{tree.shape(), {}};
  set.segments.reserve(ids.size());
  for (std::uint32_t s : ids) {
    if (s >= tree.shape().segment_count())
      return make_error(Errc::invalid_argument, "segment " + std::to_string(s) + " out of range for tree shape " +
                                                    tree.shape().to_string());
    set.segments.emplace_back(s, tree.segment(s));
  }
  return set;
}

Result<bool> roots_differ(const MerkleTree& local, const RootLevel& remote) {
  SHOAL_TRYV(same_shape(local.shape(), remote.shape));
  return local.root() != remote.root;
}

Result<std::vector<std::uint32_t>> differing_branches(const MerkleTree& local, const BranchLevel& remote) {
  SHOAL_TRYV(same_shape(local.shape(), remote.shape));
  // A decoded BranchLevel always has branch_count entries; one built by hand
  // may not, and that is a caller bug.
  SHOAL_ASSERT(remote.branches.size() == local.branches().size(), "branch level size does not match its shape");
  std::vector<std::uint32_t> out;
  for (std::uint32_t b = 0; b < remote.branches.size(); ++b)
    if (local.branches()[b] != remote.branches[b]) out.push_back(b);
  return out;
}

Result<std::vector<std::uint32_t>> differing_segments(const MerkleTree& local, const SegmentSet& remote) {
  SHOAL_TRYV(same_shape(local.shape(), remote.shape));
  std::vector<std::uint32_t> out;
  for (const auto& [segment, hash] : remote.segments) {
    SHOAL_ASSERT(segment < local.shape().segment_count(), "segment set entry out of range for its shape");
    if (local.segment(segment) != hash) out.push_back(segment);
  }
  return out;
}

Result<std::vector<std::uint32_t>> differing_segments(const MerkleTree& a, const MerkleTree& b) {
  SHOAL_TRYV(same_shape(a.shape(), b.shape()));
  std::vector<std::uint32_t> out;
  if (a.root() == b.root()) return out;
  std::uint32_t per = a.shape().segments_per_branch;
  for (std::uint32_t branch = 0; branch < a.shape().branch_count; ++branch) {
    if (a.branches()[branch] == b.branches()[branch]) continue;
    for (std::uint32_t s = branch * per; s < (branch + 1) * per; ++s)
      if (a.segments()[s] != b.segments()[s]) out.push_back(s);
  }
  return out;
}

Result<std::vector<std::string>> differing_keys(std::vector<KeyHash> local, std::vector<KeyHash> remote) {
  auto by_key = [](const KeyHash& x, const KeyHash& y) { return x.key < y.key; };
  for (auto* side : {&local, &remote}) {
    std::sort(side->begin(), side->end(), by_key);
    auto dup = std::adjacent_find(side->begin(), side->end(),
                                  [](const KeyHash& x, const KeyHash& y) { return x.key == y.key; });
    if (dup != side->end())
      return make_error(Errc::invalid_argument, std::string(side == &local ? "local" : "remote") +
                                                    " key/hash list names a key twice (" +
                                                    std::to_string(dup->key.size()) + "-byte key)");
  }
  std::vector<std::string> out;
  std::size_t i = 0, j = 0;
  while (i < local.size() || j < remote.size()) {
    if (j == remote.size() || (i < local.size() && local[i].key < remote[j].key)) {
      out.push_back(std::move(local[i++].key));
    } else if (i == local.size() || remote[j].key < local[i].key) {
      out.push_back(std::move(remote[j++].key));
    } else {
      if (local[i].value_hash != remote[j].value_hash) out.push_back(std::move(local[i].key));
      ++i;
      ++j;
    }
  }
  return out;
}

// --- encodings ---

std::string encode(const MerkleTree& tree) {
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  codec::pack_header(pk, kMerkleTreeTag, kMerkleVersion, 3);
  pk.pack_uint32(tree.shape().branch_count);
  pk.pack_uint32(tree.shape().segments_per_branch);
  codec::pack_bytes(pk, pack_le64s(tree.segments()));
  return finish(buffer);
}

std::string encode(const RootLevel& level) {
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  codec::pack_header(pk, kMerkleRootTag, kMerkleVersion, 3);
  pk.pack_uint32(level.shape.branch_count);
  pk.pack_uint32(level.shape.segments_per_branch);
  pk.pack_uint64(level.root);
  return finish(buffer);
}

std::string encode(const BranchLevel& level) {
  SHOAL_ASSERT(level.branches.size() == level.shape.branch_count, "branch level size does not match its shape");
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  codec::pack_header(pk, kMerkleBranchesTag, kMerkleVersion, 3);
  pk.pack_uint32(level.shape.branch_count);
  pk.pack_uint32(level.shape.segments_per_branch);
  codec::pack_bytes(pk, pack_le64s(level.branches));
  return finish(buffer);
}

std::string encode(const SegmentSet& set) {
  std::string ids(4 * set.segments.size(), '\0');
  std::string hashes(8 * set.segments.size(), '\0');
  for (std::size_t i = 0; i < set.segments.size(); ++i) {
    SHOAL_ASSERT(i == 0 || set.segments[i - 1].first < set.segments[i].first, "segment set not strictly increasing");
    put_le32(ids.data() + 4 * i, set.segments[i].first);
    put_le64(hashes.data() + 8 * i, set.segments[i].second);
  }
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  codec::pack_header(pk, kMerkleSegmentsTag, kMerkleVersion, 4);
  pk.pack_uint32(set.shape.branch_count);
  pk.pack_uint32(set.shape.segments_per_branch);
  codec::pack_bytes(pk, ids);
  codec::pack_bytes(pk, hashes);
  return finish(buffer);
}

std::string encode(std::span<const KeyHash> list) {
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  codec::pack_header(pk, kKeyHashListTag, kMerkleVersion, 1);
  pk.pack_array(static_cast<std::uint32_t>(2 * list.size()));
  for (const auto& entry : list) {
    codec::pack_bytes(pk, entry.key);
    pk.pack_uint64(entry.value_hash);
  }
  return finish(buffer);
}

Result<MerkleTree> decode_tree(std::string_view bytes, const DecodeLimits& limits) {
  SHOAL_TRY(handle, codec::unpack(bytes, tree_limits(limits.memory_bytes_max)));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kMerkleTreeTag, kMerkleVersion, 3, 3, "Merkle tree"));
  SHOAL_TRY(shape, read_shape(fields, limits.memory_bytes_max, "Merkle tree"));
  SHOAL_TRY(segments, read_le64s(fields[2], shape.segment_count(), "Merkle tree segments"));
  // Rebuild the upper levels from the leaves instead of trusting stored ones.
  MerkleTree out(shape);
  for (std::uint32_t s = 0; s < segments.size(); ++s) {
    if (segments[s] == 0) continue;
    out.segments_[s] = segments[s];
    out.branches_[branch_of(s, shape)] ^= segments[s];
    out.root_ ^= segments[s];
  }
  return canonical(Result<MerkleTree>(std::move(out)), bytes, "Merkle tree");
}

namespace {
Result<RootLevel> decode_root_level_fields(std::string_view bytes, const DecodeLimits& limits) {
  SHOAL_TRY(handle, codec::unpack(bytes, tree_limits(64)));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kMerkleRootTag, kMerkleVersion, 3, 3, "Merkle root"));
  SHOAL_TRY(shape, read_shape(fields, limits.memory_bytes_max, "Merkle root"));
  SHOAL_TRY(root, codec::expect_uint(fields[2], "Merkle root hash"));
  return RootLevel{shape, root};
}
}  // namespace

Result<RootLevel> decode_root_level(std::string_view bytes, const DecodeLimits& limits) {
  return canonical(decode_root_level_fields(bytes, limits), bytes, "Merkle root");
}

namespace {
Result<BranchLevel> decode_branch_level_fields(std::string_view bytes, const DecodeLimits& limits) {
  SHOAL_TRY(handle, codec::unpack(bytes, tree_limits(limits.memory_bytes_max)));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kMerkleBranchesTag, kMerkleVersion, 3, 3, "Merkle branches"));
  SHOAL_TRY(shape, read_shape(fields, limits.memory_bytes_max, "Merkle branches"));
  SHOAL_TRY(branches, read_le64s(fields[2], shape.branch_count, "Merkle branch hashes"));
  return BranchLevel{shape, std::move(branches)};
}
}  // namespace

Result<BranchLevel> decode_branch_level(std::string_view bytes, const DecodeLimits& limits) {
  return canonical(decode_branch_level_fields(bytes, limits), bytes, "Merkle branches");
}

namespace {
Result<SegmentSet> decode_segment_set_fields(std::string_view bytes, const DecodeLimits& limits) {
  SHOAL_TRY(handle, codec::unpack(bytes, tree_limits(limits.memory_bytes_max)));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kMerkleSegmentsTag, kMerkleVersion, 4, 4, "Merkle segments"));
  SHOAL_TRY(shape, read_shape(fields, limits.memory_bytes_max, "Merkle segments"));
  SHOAL_TRY(ids, codec::expect_bytes_view(fields[2], "Merkle segment ids"));
  if (ids.size() % 4 != 0 || ids.size() / 4 > shape.segment_count())
    return make_error(Errc::malformed, "Merkle segment ids: " + std::to_string(ids.size()) +
                                           " bytes is not a list of at most " +
                                           std::to_string(shape.segment_count()) + " 32-bit ids");
  std::size_t count = ids.size() / 4;
  SHOAL_TRY(hashes, read_le64s(fields[3], count, "Merkle segment hashes"));
  SegmentSet set{shape, {}};
  set.segments.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t id = get_le32(ids.data() + 4 * i);
    if (id >= shape.segment_count())
      return make_error(Errc::malformed, "Merkle segments: segment " + std::to_string(id) +
                                             " out of range for shape " + shape.to_string());
    if (i > 0 && id <= set.segments.back().first)
      return make_error(Errc::malformed, "Merkle segments: ids not strictly increasing");
    set.segments.emplace_back(id, hashes[i]);
  }
  return set;
}
}  // namespace

Result<SegmentSet> decode_segment_set(std::string_view bytes, const DecodeLimits& limits) {
  return canonical(decode_segment_set_fields(bytes, limits), bytes, "Merkle segments");
}

namespace {
Result<std::vector<KeyHash>> decode_key_hash_list_fields(std::string_view bytes, const DecodeLimits& limits) {
  codec::Limits codec_limits;
  codec_limits.bytes_max = limits.list_bytes_max;
  codec_limits.bin_max = limits.key_bytes_max;
  codec_limits.array_max = std::max<std::size_t>(2 * limits.keys_max, 8);
  codec_limits.map_max = 0;
  codec_limits.depth_max = 2;
  SHOAL_TRY(handle, codec::unpack(bytes, codec_limits));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kKeyHashListTag, kMerkleVersion, 1, 1, "key/hash list"));
  SHOAL_TRY(items, codec::expect_array(fields[0], 0, 2 * limits.keys_max, "key/hash list entries"));
  if (items.size() % 2 != 0) return make_error(Errc::malformed, "key/hash list entries: odd number of items");
  std::vector<KeyHash> out;
  out.reserve(items.size() / 2);
  for (std::size_t i = 0; i < items.size(); i += 2) {
    SHOAL_TRY(key, codec::expect_bytes(items[i], "key/hash list key", limits.key_bytes_max));
    SHOAL_TRY(hash, codec::expect_uint(items[i + 1], "key/hash list value hash"));
    out.push_back(KeyHash{std::move(key), hash});
  }
  return out;
}
}  // namespace

Result<std::vector<KeyHash>> decode_key_hash_list(std::string_view bytes, const DecodeLimits& limits) {
  return canonical(decode_key_hash_list_fields(bytes, limits), bytes, "key/hash list");
}

// --- TreeSet ---

Result<TreeSet> TreeSet::create(const TreeSetConfig& config) {
  SHOAL_TRYV(validate(config.tree));
  if (config.trees_max == 0)
    return make_error(Errc::invalid_argument, "Merkle tree set config: trees_max must be at least 1");
  return TreeSet(config);
}

Result<MerkleTree*> TreeSet::get_or_create(TreeId id) {
  if (auto it = trees_.find(id); it != trees_.end()) return &it->second;
  if (trees_.size() >= config_.trees_max)
    return make_error(Errc::too_large, "vnode already keeps " + std::to_string(trees_.size()) +
                                           " Merkle trees (trees_max); cannot add one for preference list " +
                                           std::to_string(id.preflist_start_partition) + " n_val " +
                                           std::to_string(id.n_val));
  SHOAL_TRY(tree, MerkleTree::create(config_.tree));
  return &trees_.emplace(id, std::move(tree)).first->second;
}

MerkleTree* TreeSet::find(TreeId id) {
  auto it = trees_.find(id);
  return it == trees_.end() ? nullptr : &it->second;
}

const MerkleTree* TreeSet::find(TreeId id) const {
  auto it = trees_.find(id);
  return it == trees_.end() ? nullptr : &it->second;
}

Result<void> TreeSet::update(TreeId id, std::string_view storage_key, std::optional<std::uint64_t> old_value_hash,
                             std::optional<std::uint64_t> new_value_hash) {
  SHOAL_TRY(tree, get_or_create(id));
  tree->update(storage_key, old_value_hash, new_value_hash);
  return ok();
}

Result<void> TreeSet::replace(TreeId id, MerkleTree tree) {
  if (tree.shape() != config_.tree.shape)
    return make_error(Errc::invalid_argument, "rebuilt Merkle tree has shape " + tree.shape().to_string() +
                                                  ", this vnode's trees are " + config_.tree.shape.to_string());
  SHOAL_TRY(slot, get_or_create(id));
  *slot = std::move(tree);
  return ok();
}

bool TreeSet::erase(TreeId id) { return trees_.erase(id) > 0; }

std::vector<TreeId> TreeSet::ids() const {
  std::vector<TreeId> out;
  out.reserve(trees_.size());
  for (const auto& entry : trees_) out.push_back(entry.first);
  return out;
}

std::size_t TreeSet::memory_bytes() const {
  std::size_t total = sizeof(*this);
  for (const auto& entry : trees_) total += entry.second.memory_bytes();
  return total;
}

}  // namespace shoal::storage
