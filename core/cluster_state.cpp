#include "core/cluster_state.hpp"

#include <tuple>

#include "base/codec.hpp"

namespace shoal::core {

ClusterMetadata ClusterMetadata::seed(const BucketTypes& types) {
  ClusterMetadata m;
  for (const auto& [name, props] : types.all()) m.entries_[name] = BucketTypeEntry{props, {}, {}};
  return m;
}

void ClusterMetadata::put(const std::string& name, BucketProps props, crdt::HlcTimestamp version,
                          const std::string& origin) {
  entries_[name] = BucketTypeEntry{props, version, origin};
}

void ClusterMetadata::merge(const ClusterMetadata& other) {
  for (const auto& [name, theirs] : other.entries_) {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      entries_.emplace(name, theirs);
      continue;
    }
    const BucketTypeEntry& mine = it->second;
    auto rank = [](const BucketTypeEntry& e) { return std::make_tuple(e.version, e.origin, format_props(e.props)); };
    if (rank(mine) < rank(theirs)) it->second = theirs;
  }
}

BucketTypes ClusterMetadata::bucket_types() const {
  BucketTypes types;
  for (const auto& [name, entry] : entries_) {
    auto added = types.add(name, entry.props);
    SHOAL_ASSERT(added.has_value(), "metadata holds only valid bucket type names");
  }
  return types;
}

std::string ClusterMetadata::encode() const {
  msgpack::sbuffer buffer;
  crdt::Packer packer(buffer);
  codec::pack_header(packer, kMetadataTypeTag, kMetadataVersion, 1);
  packer.pack_array(static_cast<std::uint32_t>(entries_.size()));
  for (const auto& [name, entry] : entries_) {
    packer.pack_array(4);
    codec::pack_bytes(packer, name);
    codec::pack_bytes(packer, format_props(entry.props));
    entry.version.encode_body(packer);
    codec::pack_bytes(packer, entry.origin);
  }
  return std::string(buffer.data(), buffer.size());
}

Result<ClusterMetadata> ClusterMetadata::decode(std::string_view bytes) {
  SHOAL_TRY(handle, codec::unpack(bytes));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kMetadataTypeTag, kMetadataVersion, 1, 1, "cluster metadata"));
  SHOAL_TRY(items, codec::expect_array(fields[0], 0, 4096, "bucket types"));
  ClusterMetadata m;
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 4, 4, "bucket type entry"));
    SHOAL_TRY(name, codec::expect_bytes(parts[0], "bucket type name", kBucketTypeNameBytesMax));
    SHOAL_TRY(text, codec::expect_bytes(parts[1], "bucket type properties", 4096));
    SHOAL_TRY(version, crdt::HlcTimestamp::decode_body(parts[2]));
    SHOAL_TRY(origin, codec::expect_bytes(parts[3], "bucket type origin", 1024));
    auto props = apply_props(BucketProps{}, text);
    if (!props) return make_error(Errc::malformed, "bucket type " + name + ": " + props.error().message);
    BucketTypes check;
    if (auto valid = check.add(name, props.value()); !valid)
      return make_error(Errc::malformed, "bucket type name: " + valid.error().message);
    m.entries_[name] = BucketTypeEntry{props.value(), version, std::move(origin)};
  }
  return m;
}

ClusterState::ClusterState(ring::Ring ring, ClusterMetadata metadata)
    : ring_(std::make_shared<const ring::Ring>(std::move(ring))),
      metadata_(std::move(metadata)),
      bucket_types_(std::make_shared<const BucketTypes>(metadata_.bucket_types())) {}

std::shared_ptr<const ring::Ring> ClusterState::ring() const {
  std::lock_guard lock(mutex_);
  return ring_;
}

std::shared_ptr<const BucketTypes> ClusterState::bucket_types() const {
  std::lock_guard lock(mutex_);
  return bucket_types_;
}

ClusterMetadata ClusterState::metadata() const {
  std::lock_guard lock(mutex_);
  return metadata_;
}

void ClusterState::publish_ring(ring::Ring ring) {
  auto next = std::make_shared<const ring::Ring>(std::move(ring));
  std::lock_guard lock(mutex_);
  ring_ = std::move(next);
}

void ClusterState::publish_metadata(ClusterMetadata metadata) {
  auto types = std::make_shared<const BucketTypes>(metadata.bucket_types());
  std::lock_guard lock(mutex_);
  metadata_ = std::move(metadata);
  bucket_types_ = std::move(types);
}

}  // namespace shoal::core
