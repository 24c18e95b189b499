#include "core/anti_entropy.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/codec.hpp"
#include "base/hash.hpp"
#include "core/vnode.hpp"
#include "ring/partition.hpp"
#include "storage/key.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

constexpr std::uint8_t kTreesRecordVersion = 1;

storage::TreeSetConfig tree_set_config() {
  storage::TreeSetConfig config;
  config.tree.shape = kAaeTreeShape;
  config.trees_max = 64;  // n_val trees for each n_val in use
  return config;
}

}  // namespace

std::optional<storage::TreeId> tree_of(std::string_view storage_key, const BucketTypes& types,
                                       std::uint32_t ring_size) {
  if (storage_key.empty() || storage_key[0] != storage::kObjectKeyTag) return std::nullopt;
  auto parts = storage::decode_storage_key(storage_key);
  if (!parts) return std::nullopt;
  const BucketProps* props = types.find(parts.value().bucket_type);
  std::uint32_t n_val = props ? props->n_val : 3;  // a type still gossiping: the default
  std::uint64_t hash = key_hash(parts.value().bucket_type, parts.value().bucket, parts.value().key);
  return storage::TreeId{ring::partition_of(hash, ring_size), static_cast<std::uint8_t>(n_val)};
}

// ---- registry -------------------------------------------------------------------------------

void AaeRegistry::publish(std::uint32_t partition, AaePartitionView view) {
  std::lock_guard lock(mutex_);
  views_[partition] = std::move(view);
}

void AaeRegistry::erase(std::uint32_t partition) {
  std::lock_guard lock(mutex_);
  views_.erase(partition);
}

std::optional<AaePartitionView> AaeRegistry::find(std::uint32_t partition) const {
  std::lock_guard lock(mutex_);
  auto it = views_.find(partition);
  if (it == views_.end()) return std::nullopt;
  return it->second;
}

std::map<std::uint32_t, AaePartitionView> AaeRegistry::all() const {
  std::lock_guard lock(mutex_);
  return views_;
}

// ---- a vnode's trees ------------------------------------------------------------------------

VnodeTrees::VnodeTrees(std::uint32_t ring_size)
    : ring_size_(ring_size), trees_(std::move(storage::TreeSet::create(tree_set_config())).value()) {}

bool VnodeTrees::restore(std::string_view bytes) {
  auto handle = codec::unpack(bytes, codec::Limits{});
  if (!handle) return false;
  const msgpack::object& root = handle.value().get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size != 2) return false;
  auto version = codec::expect_uint(root.via.array.ptr[0], "trees version", 255);
  if (!version || version.value() != kTreesRecordVersion) return false;
  auto items = codec::expect_array(root.via.array.ptr[1], 0, 1024, "trees");
  if (!items) return false;
  auto set = storage::TreeSet::create(tree_set_config());
  if (!set) return false;
  for (const auto& item : items.value()) {
    auto fields = codec::expect_array(item, 3, 3, "tree");
    if (!fields) return false;
    auto start = codec::expect_uint(fields.value()[0], "tree start", ring_size_ - 1);
    auto n = codec::expect_uint(fields.value()[1], "tree n_val", 255);
    auto blob = codec::expect_bytes(fields.value()[2], "tree", 1u << 20);
    if (!start || !n || !blob) return false;
    auto tree = storage::decode_tree(blob.value());
    if (!tree || !(tree.value().shape() == kAaeTreeShape)) return false;
    if (!set.value().replace(
            storage::TreeId{static_cast<std::uint32_t>(start.value()), static_cast<std::uint8_t>(n.value())},
            std::move(tree).value()))
      return false;
  }
  trees_ = std::move(set).value();
  rebuilding_ = false;
  changed_ = true;
  return true;
}

std::string VnodeTrees::encode() const {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> p(buffer);
  p.pack_array(2);
  p.pack_uint8(kTreesRecordVersion);
  auto ids = trees_.ids();
  p.pack_array(static_cast<std::uint32_t>(ids.size()));
  for (const auto& id : ids) {
    p.pack_array(3);
    p.pack_uint32(id.preflist_start_partition);
    p.pack_uint8(id.n_val);
    codec::pack_bytes(p, storage::encode(*trees_.find(id)));
  }
  return std::string(buffer.data(), buffer.size());
}

void VnodeTrees::start_rebuild() {
  trees_ = std::move(storage::TreeSet::create(tree_set_config())).value();
  rebuilding_ = true;
  cursor_started_ = false;
  cursor_.clear();
  rebuilt_keys_ = 0;
  changed_ = true;
}

void VnodeTrees::apply(const std::string& storage_key, const std::optional<std::string>& old_bytes,
                       const std::optional<std::string>& new_bytes, const BucketTypes& types) {
  auto id = tree_of(storage_key, types, ring_size_);
  if (!id) return;
  std::optional<std::uint64_t> old_hash, new_hash;
  if (old_bytes) old_hash = storage::value_hash(*old_bytes);
  if (new_bytes) new_hash = storage::value_hash(*new_bytes);
  if (old_hash == new_hash) return;
  if (auto updated = trees_.update(*id, storage_key, old_hash, new_hash); !updated) {
    spdlog::error("anti-entropy tree update: {}", updated.error().to_string());
    return;
  }
  changed_ = true;
}

void VnodeTrees::update(const std::string& storage_key, const std::optional<std::string>& old_bytes,
                        const std::optional<std::string>& new_bytes, const BucketTypes& types) {
  // While rebuilding, a key the fold has not reached yet is read by the
  // fold later with this write in it.
  if (rebuilding_ && (!cursor_started_ || storage_key > cursor_)) return;
  apply(storage_key, old_bytes, new_bytes, types);
}

Result<bool> VnodeTrees::rebuild_step(storage::Engine& engine,
                                      const std::map<std::string, std::optional<std::string>>& staged,
                                      const BucketTypes& types, std::size_t keys) {
  if (!rebuilding_) return true;
  storage::FoldOptions options;
  options.prefix = std::string(1, storage::kObjectKeyTag);
  options.start = cursor_started_ ? cursor_ + '\0' : options.prefix;
  options.chunk_keys = keys;
  std::size_t seen = 0;
  std::string last;
  std::string from = options.start;
  SHOAL_TRY(folded, engine.fold(options, [&](std::string_view key, std::string_view value) {
    std::string k(key);
    auto s = staged.find(k);
    if (s == staged.end()) {
      apply(k, std::nullopt, std::string(value), types);
    } else if (s->second) {
      apply(k, std::nullopt, *s->second, types);
    }
    last = std::move(k);
    ++rebuilt_keys_;
    return ++seen < keys;
  }));
  const bool done = !folded.stopped;
  // Staged keys in the range just folded that storage does not hold yet.
  for (auto it = staged.lower_bound(from); it != staged.end(); ++it) {
    if (!done && it->first > last) break;
    if (!it->second || it->first.empty() || it->first[0] != storage::kObjectKeyTag) continue;
    auto stored = engine.get(it->first);
    if (stored && !stored.value()) apply(it->first, std::nullopt, *it->second, types);
  }
  if (done) {
    rebuilding_ = false;
    changed_ = true;
    return true;
  }
  cursor_started_ = true;
  cursor_ = std::move(last);
  return false;
}

std::vector<AaeTreeView> VnodeTrees::views() const {
  std::vector<AaeTreeView> out;
  for (const auto& id : trees_.ids()) out.push_back(AaeTreeView{id, trees_.find(id)->root()});
  return out;
}

bool VnodeTrees::take_changed() {
  bool changed = changed_;
  changed_ = false;
  return changed;
}

// ---- one exchange ----------------------------------------------------------------------------

AaeExchangeCoordinator::AaeExchangeCoordinator(CoordinatorHost& host, AaeHost& aae, std::uint64_t id,
                                               storage::TreeId tree, ring::PreflistEntry a, ring::PreflistEntry b)
    : Coordinator(host, id, 0), aae_(aae), tree_(tree), sides_{std::move(a), std::move(b)} {}

void AaeExchangeCoordinator::start() { ask(AaeStep::root); }

void AaeExchangeCoordinator::ask(AaeStep step, std::vector<std::uint32_t> indices, std::vector<std::string> keys) {
  step_ = step;
  replies_[0].reset();
  replies_[1].reset();
  ++attempt_;
  VnodeAae m;
  m.tree_start = tree_.preflist_start_partition;
  m.n_val = tree_.n_val;
  m.step = step;
  m.indices = std::move(indices);
  m.keys = std::move(keys);
  for (int side = 0; side < 2; ++side) {
    m.partition = sides_[side].partition;
    if (auto sent = host_.send_to_vnode(sides_[side], encode(id_, m)); !sent) return end(sent.error());
  }
  host_.set_timer(id_, kStepTimeoutMs, attempt_tag(kTimeoutTimer, attempt_));
}

void AaeExchangeCoordinator::on_timer(std::uint32_t tag) {
  if (done_ || !current_attempt(tag, kTimeoutTimer, attempt_)) return;
  end(make_error(Errc::timeout, "a replica did not answer an anti-entropy step in time"));
}

void AaeExchangeCoordinator::on_reply(const net::Envelope& envelope) {
  if (done_) return;
  auto type = static_cast<MessageType>(envelope.type);
  if (type == MessageType::handoff_batch_reply) {
    auto reply = decode_handoff_batch_reply(envelope.body);
    if (!reply || pushes_pending_ == 0) return;
    if (reply.value().status != ReplyStatus::ok) return end(reply ? reply.value().error : reply.error());
    if (--pushes_pending_ == 0) {
      for (const auto& key : tombstones_) aae_.aae_tombstone_repaired(key);
      end();
    }
    return;
  }
  if (type != MessageType::vnode_aae_reply) return;
  auto reply = decode_vnode_aae_reply(envelope.body);
  if (!reply) return end(reply.error());
  if (reply.value().step != step_) return;  // a late answer to an earlier step
  int side = reply.value().partition == sides_[0].partition   ? 0
             : reply.value().partition == sides_[1].partition ? 1
                                                              : -1;
  if (side < 0 || replies_[side]) return;
  if (reply.value().status != ReplyStatus::ok) return end(reply.value().error);
  replies_[side] = std::move(reply).value();
  if (replies_[0] && replies_[1]) advance();
}

void AaeExchangeCoordinator::advance() {
  switch (step_) {
    case AaeStep::root:
      return compare_roots();
    case AaeStep::branches:
      return compare_branches();
    case AaeStep::segments:
      return compare_segments();
    case AaeStep::keys:
      return compare_keys();
    case AaeStep::fetch:
      return repair();
  }
}

void AaeExchangeCoordinator::compare_roots() {
  auto a = storage::decode_root_level(replies_[0]->payload);
  auto b = storage::decode_root_level(replies_[1]->payload);
  if (!a) return end(a.error());
  if (!b) return end(b.error());
  if (!(a.value().shape == b.value().shape))
    return end(make_error(Errc::invalid_argument, "the replicas' trees have different shapes"));
  if (a.value().root == b.value().root) {
    outcome_.in_sync = true;
    return end();
  }
  ask(AaeStep::branches);
}

void AaeExchangeCoordinator::compare_branches() {
  auto a = storage::decode_branch_level(replies_[0]->payload);
  auto b = storage::decode_branch_level(replies_[1]->payload);
  if (!a) return end(a.error());
  if (!b) return end(b.error());
  if (!(a.value().shape == b.value().shape))
    return end(make_error(Errc::invalid_argument, "the replicas' trees have different shapes"));
  std::vector<std::uint32_t> differ;
  const std::uint32_t per_branch = a.value().shape.segments_per_branch;
  for (std::uint32_t i = 0; i < a.value().branches.size(); ++i) {
    if (a.value().branches[i] == b.value().branches[i]) continue;
    if ((differ.size() + 1) * per_branch > kSegmentsPerExchangeMax) {
      outcome_.more = true;
      break;
    }
    differ.push_back(i);
  }
  if (differ.empty()) {
    outcome_.in_sync = true;  // the roots changed meanwhile
    return end();
  }
  ask(AaeStep::segments, std::move(differ));
}

void AaeExchangeCoordinator::compare_segments() {
  auto a = storage::decode_segment_set(replies_[0]->payload);
  auto b = storage::decode_segment_set(replies_[1]->payload);
  if (!a) return end(a.error());
  if (!b) return end(b.error());
  if (!(a.value().shape == b.value().shape) || a.value().segments.size() != b.value().segments.size())
    return end(make_error(Errc::invalid_argument, "the replicas sent different segment sets"));
  std::vector<std::uint32_t> differ;
  for (std::size_t i = 0; i < a.value().segments.size(); ++i) {
    if (a.value().segments[i].first != b.value().segments[i].first)
      return end(make_error(Errc::invalid_argument, "the replicas sent different segment sets"));
    if (a.value().segments[i].second != b.value().segments[i].second) differ.push_back(a.value().segments[i].first);
  }
  if (differ.empty()) return end();
  segments_ = differ;
  ask(AaeStep::keys, std::move(differ));
}

void AaeExchangeCoordinator::compare_keys() {
  auto a = storage::decode_key_hash_list(replies_[0]->payload);
  auto b = storage::decode_key_hash_list(replies_[1]->payload);
  if (!a) return end(a.error());
  if (!b) return end(b.error());
  // Compare only the segments both sides listed in full.
  const std::uint32_t covered = std::min(replies_[0]->segments_covered, replies_[1]->segments_covered);
  if (covered < segments_.size()) {
    outcome_.more = true;
    const std::vector<std::uint32_t> both(segments_.begin(), segments_.begin() + covered);
    auto not_listed_by_both = [&](const storage::KeyHash& k) {
      return std::find(both.begin(), both.end(), storage::segment_of_key(k.key, kAaeTreeShape)) == both.end();
    };
    std::erase_if(a.value(), not_listed_by_both);
    std::erase_if(b.value(), not_listed_by_both);
  }
  auto differ = storage::differing_keys(std::move(a).value(), std::move(b).value());
  if (!differ) return end(differ.error());
  keys_ = std::move(differ).value();
  if (keys_.empty()) return end();
  const std::size_t cap = std::max<std::uint32_t>(1, aae_.aae_keys_per_exchange());
  if (keys_.size() > cap) {
    keys_.resize(cap);
    outcome_.more = true;
  }
  ask(AaeStep::fetch, {}, keys_);
}

void AaeExchangeCoordinator::repair() {
  const auto& a = replies_[0]->objects;
  const auto& b = replies_[1]->objects;
  // A side may answer fewer keys than asked (its reply is bounded in bytes).
  const std::size_t answered = std::min({a.size(), b.size(), keys_.size()});
  if (answered < keys_.size()) outcome_.more = true;
  HandoffBatch push[2];
  const BucketTypes& types = host_.bucket_types();
  const crdt::HlcTimestamp now = host_.now();
  for (std::size_t i = 0; i < answered; ++i) {
    const std::string* copies[2] = {&a[i], &b[i]};
    std::optional<crdt::Object> merged;
    for (const auto* copy : copies) {
      if (copy->empty()) continue;
      auto object = decode_object(*copy);
      if (!object) {
        spdlog::warn("anti-entropy: a replica holds an object that does not decode: {}", object.error().message);
        continue;
      }
      if (!merged) {
        merged = std::move(object).value();
        continue;
      }
      const BucketProps* props = types.find(merged->key().bucket_type);
      const BucketProps defaults;
      merged = merge_replicas(std::move(*merged), object.value(), props ? *props : defaults);
    }
    // Nothing to spread, or about to be swept everywhere.
    if (!merged || merged->expired(now)) continue;
    std::string bytes = encode_object(*merged);
    bool repaired = false;
    for (int side = 0; side < 2; ++side) {
      if (*copies[side] == bytes) continue;
      push[side].objects.push_back(bytes);
      repaired = true;
    }
    if (!repaired) continue;
    ++outcome_.keys_repaired;
    if (merged->is_tombstone()) tombstones_.push_back(merged->key());
  }
  ++attempt_;
  step_ = AaeStep::root;  // answers to the fetch are no longer expected
  for (int side = 0; side < 2; ++side) {
    if (push[side].objects.empty()) continue;
    push[side].partition = sides_[side].partition;
    if (auto sent = host_.send_to_vnode(sides_[side], encode(id_, push[side])); !sent) return end(sent.error());
    ++pushes_pending_;
  }
  if (pushes_pending_ == 0) return end();
  host_.set_timer(id_, kStepTimeoutMs, attempt_tag(kTimeoutTimer, attempt_));
}

void AaeExchangeCoordinator::end(std::optional<Error> error) {
  if (done_) return;
  if (error) outcome_.error = std::move(error);
  if (outcome_.keys_repaired > 0 && !outcome_.error)
    host_.stats().aae_repairs.fetch_add(outcome_.keys_repaired, std::memory_order_relaxed);
  finish();
  aae_.aae_exchange_finished(id_, outcome_);
}

}  // namespace shoal::core
