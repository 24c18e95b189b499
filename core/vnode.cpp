#include "core/vnode.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "base/failpoint.hpp"
#include "base/hash.hpp"
#include "crdt/map.hpp"
#include "ring/partition.hpp"
#include "storage/key.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

// The vnode's own records live beside the objects under a tag of their own,
// outside every object key range (storage/key.hpp: objects start with 0x10).
const std::string kEpochKey = std::string("\x01", 1) + "epoch";
// The anti-entropy trees as of the last clean stop; erased when read.
const std::string kTreesKey = std::string("\x01", 1) + "aae-trees";
constexpr std::uint64_t kSweepTimer = 1;
constexpr std::uint64_t kRebuildTimer = 2;
constexpr std::uint64_t kPublishTimer = 3;
constexpr std::uint32_t kPublishIntervalMs = 1'000;

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::uint64_t read_be64(std::string_view bytes) {
  std::uint64_t v = 0;
  for (unsigned char c : bytes.substr(0, 8)) v = (v << 8) | c;
  return v;
}

std::string storage_key_of(const crdt::ObjectKey& key) {
  return storage::encode_storage_key(key.bucket_type, key.bucket, key.key);
}

// Register ops carry the coordinator's HLC, nested ones too.
void stamp_registers(crdt::AnyOp& op, crdt::HlcTimestamp now) {
  if (auto* reg = std::get_if<crdt::LwwRegister::Op>(&op)) {
    reg->timestamp = now;
  } else if (auto* map = std::get_if<crdt::MapOp>(&op)) {
    for (auto& field : map->fields)
      if (field.kind == crdt::MapFieldOp::Kind::update) stamp_registers(field.op, now);
  }
}

// Whether a stored key hashes into `key_partition` of a ring of `ring_size`
// partitions (a fold for one preference list's keys).
bool in_key_partition(const storage::StorageKeyParts& parts, std::uint32_t key_partition, std::uint32_t ring_size) {
  return ring::partition_of(shoal::key_hash(parts.bucket_type, parts.bucket, parts.key), ring_size) == key_partition;
}

// A fold reply's status and end: an error ends the fold.
template <typename Reply>
void set_fold_outcome(Reply& r, const Result<storage::FoldStats>& folded) {
  if (!folded) {
    r.status = ReplyStatus::error;
    r.error = folded.error();
    r.done = true;
  } else {
    r.done = !folded.value().stopped;
  }
}

}  // namespace

crdt::Object merge_replicas(crdt::Object current, const crdt::Object& incoming, const BucketProps& props) {
  if (current.expires_at() && !(incoming.modified() < *current.expires_at())) return incoming;
  if (incoming.expires_at() && !(current.modified() < *incoming.expires_at())) return current;
  current.merge(incoming, props.merge_policy());
  return current;
}

Result<std::unique_ptr<Actor>> Vnode::create(std::shared_ptr<const VnodeServices> services, std::uint32_t partition) {
  SHOAL_TRY(engine, services->open_engine(partition));
  std::unique_ptr<Vnode> vnode(new Vnode(std::move(services), partition, std::move(engine)));
  SHOAL_TRYV(vnode->open_epochs());
  vnode->open_trees();
  return std::unique_ptr<Actor>(std::move(vnode));
}

Vnode::Vnode(std::shared_ptr<const VnodeServices> services, std::uint32_t partition,
             std::unique_ptr<storage::Engine> engine)
    : services_(std::move(services)), partition_(partition), engine_(std::move(engine)), trees_(services_->ring_size) {
  incarnation_ = engine_->metadata().incarnation_id;
  SHOAL_ASSERT(incarnation_.size() == 16, "storage incarnation ids are 16 bytes");
}

Vnode::~Vnode() {
  if (engine_) (void)engine_->close();
}

Result<void> Vnode::open_epochs() {
  SHOAL_TRY(stored, engine_->get(kEpochKey));
  std::uint64_t last_leased = stored && stored->size() == 8 ? read_be64(*stored) : 0;
  const auto& meta = engine_->metadata();
  next_epoch_ = last_leased + 1;
  // After an unclean stop, writes this vnode sent to other replicas may be
  // missing from its own copy: only actors created from now on are safe to
  // reuse. A clean stop committed everything it sent first.
  const bool clean = meta.previous_shutdown_clean && !meta.created && !meta.incarnation_renewed;
  run_first_epoch_ = clean ? 0 : next_epoch_;
  if (!clean && !meta.created)
    spdlog::info("vnode {}: previous shutdown was unclean; new writes use fresh actor epochs from {}", partition_,
                 next_epoch_);
  leased_epoch_ = last_leased;
  return ok();
}

void Vnode::open_trees() {
  const auto& meta = engine_->metadata();
  auto record = engine_->get(kTreesKey);
  bool restored = false;
  if (record && record.value()) {
    restored = meta.previous_shutdown_clean && !meta.incarnation_renewed && trees_.restore(*record.value());
    // A record is good for one start only: the trees change from now on.
    storage::WriteBatch erase;
    erase.erase(kTreesKey);
    if (auto erased = engine_->write(std::move(erase)); !erased) {
      spdlog::warn("vnode {}: cannot drop the persisted anti-entropy trees ({}): rebuilding them", partition_,
                   erased.error().to_string());
      restored = false;
    }
  }
  if (restored) return;
  trees_.start_rebuild();
  if (!meta.created) spdlog::info("vnode {}: rebuilding its anti-entropy trees in the background", partition_);
}

std::map<std::string, std::optional<std::string>> Vnode::staged_writes() const {
  std::map<std::string, std::optional<std::string>> staged;
  for (const auto& [key, entry] : dirty_) staged.emplace(key, entry.bytes);
  return staged;
}

void Vnode::publish_trees(bool with_count) {
  if (!services_->aae) return;
  if (!trees_.take_changed() && !with_count) return;
  AaePartitionView view;
  if (auto previous = services_->aae->find(partition_)) view.keys_estimate = previous->keys_estimate;
  if (with_count) {
    if (auto count = engine_->key_count()) view.keys_estimate = count.value();
  }
  view.ready = trees_.ready();
  view.rebuilt_keys = trees_.rebuilt_keys();
  view.trees = trees_.views();
  services_->aae->publish(partition_, std::move(view));
}

std::string Vnode::fresh_actor_preview() const {
  std::string actor(1, static_cast<char>(kActorIdVersion));
  actor += incarnation_;
  actor += be64(next_epoch_);
  return actor;
}

Result<crdt::Actor> Vnode::fresh_actor() {
  if (next_epoch_ > leased_epoch_) {
    std::uint64_t lease = next_epoch_ - 1 + kEpochLeaseBlock;
    storage::WriteBatch batch;
    batch.put(kEpochKey, be64(lease));
    batch.set_durable(true);
    SHOAL_TRYV(engine_->write(std::move(batch)));
    leased_epoch_ = lease;
  }
  std::string actor = fresh_actor_preview();
  ++next_epoch_;
  return actor;
}

Result<crdt::Actor> Vnode::actor_for(const crdt::Object* current) {
  if (current) {
    const crdt::VClock context = current->context();
    const std::string* best = nullptr;
    std::uint64_t best_epoch = 0;
    for (const auto& [actor, counter] : context.entries()) {
      if (actor.size() != kActorIdBytes || static_cast<std::uint8_t>(actor[0]) != kActorIdVersion) continue;
      if (std::string_view(actor).substr(1, 16) != incarnation_) continue;
      std::uint64_t epoch = read_be64(std::string_view(actor).substr(17));
      if (epoch < run_first_epoch_ || epoch >= next_epoch_) continue;
      if (!best || epoch > best_epoch) {
        best = &actor;
        best_epoch = epoch;
      }
    }
    if (best) return *best;
  }
  return fresh_actor();
}

crdt::HlcTimestamp Vnode::now() { return hlc_.now(services_->clock->now_unix_us()); }

void Vnode::started(ActorContext& ctx) {
  ctx.set_timer(services_->expiry_sweep_interval_ms, kSweepTimer);
  if (!trees_.ready()) ctx.set_timer(kAaeRebuildStepMs, kRebuildTimer);
  publish_trees(true);
  ctx.set_timer(kPublishIntervalMs, kPublishTimer);
}

void Vnode::reply(ActorContext& ctx, const Mail& to, std::string bytes) {
  Mail mail;
  mail.bytes = std::move(bytes);
  mail.peer = to.peer;
  (void)ctx.send_reply(services_->router, std::move(mail));
}

void Vnode::receive(ActorContext& ctx, Mail& mail) {
  const codec::Limits limits = message_decode_limits(services_->limits.peer_message_bytes_max, services_->limits);
  std::uint64_t id = 0;
  auto env = net::decode_envelope(mail.bytes, limits, &id);
  if (!env) {
    spdlog::warn("vnode {}: dropping a message that does not decode: {}", partition_, env.error().to_string());
    services_->stats->malformed_messages.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A test arms this to crash a vnode (throw), slow it (delay) or fail it (error).
  if (auto injected = failpoint::check("vnode.receive"); !injected) {
    if (auto r = vnode_error_reply(env.value().type, id, partition_, injected.error())) reply(ctx, mail, *r);
    return;
  }
  switch (static_cast<MessageType>(env.value().type)) {
    case MessageType::vnode_get:
      return handle_get(ctx, mail, env.value());
    case MessageType::vnode_put:
      return handle_put(ctx, mail, env.value());
    case MessageType::vnode_coordinate:
      return handle_coordinate(ctx, mail, env.value());
    case MessageType::vnode_fold:
      return handle_fold(ctx, mail, env.value());
    case MessageType::vnode_reap:
      return handle_reap(ctx, mail, env.value());
    case MessageType::vnode_fold_objects:
      return handle_fold_objects(ctx, mail, env.value());
    case MessageType::handoff_batch:
      return handle_handoff_batch(ctx, mail, env.value());
    case MessageType::vnode_aae:
      return handle_aae(ctx, mail, env.value());
    case MessageType::vnode_handoff_mode: {
      auto mode = decode_vnode_handoff_mode(env.value().body);
      if (!mode) return;
      if (mode.value().forward && !forward_writes_) {
        // Writes staged or still committing may be missed by the transfer's
        // fold (it reads committed data): pass them on now.
        for (const auto& [key, entry] : dirty_)
          if (entry.bytes) forwards_.push_back(*entry.bytes);
      }
      forward_writes_ = mode.value().forward;
      return;
    }
    default:
      spdlog::warn("vnode {}: unexpected message type {}", partition_, net::message_type_name(env.value().type));
  }
}

Result<std::optional<std::string>> Vnode::load(const std::string& storage_key) {
  if (auto it = dirty_.find(storage_key); it != dirty_.end()) return it->second.bytes;
  return engine_->get(storage_key);
}

Result<std::optional<crdt::Object>> Vnode::load_object(const std::string& storage_key,
                                                       std::optional<std::string>* bytes_out) {
  SHOAL_TRY(bytes, load(storage_key));
  if (bytes_out) *bytes_out = bytes;
  if (!bytes) return std::optional<crdt::Object>{};
  auto object = decode_object(*bytes);
  if (!object)
    return make_error(Errc::corruption, "vnode " + std::to_string(partition_) +
                                            ": stored object does not decode: " + object.error().message);
  return std::optional<crdt::Object>{std::move(object).value()};
}

void Vnode::stage_write(const std::string& storage_key, const std::optional<std::string>& previous,
                        std::optional<std::string> bytes, bool durable, std::optional<PendingReply> pending_reply) {
  if (bytes) {
    pending_.put(storage_key, *bytes);
  } else {
    pending_.erase(storage_key);
  }
  if (durable) pending_.set_durable(true);
  if (forward_writes_ && bytes) forwards_.push_back(*bytes);
  trees_.update(storage_key, previous, bytes, *services_->bucket_types());
  dirty_[storage_key] = DirtyEntry{std::move(bytes), next_batch_};
  if (pending_reply) pending_replies_.push_back(std::move(*pending_reply));
}

void Vnode::turn_end(ActorContext& ctx) {
  submit_writes(ctx);
  publish_trees(false);
}

void Vnode::submit_writes(ActorContext& ctx) {
  for (auto& object : forwards_) {
    Mail mail;
    mail.bytes = encode_handoff_forward(partition_, object);
    (void)ctx.send_reply(services_->router, std::move(mail));
  }
  forwards_.clear();
  if (pending_.empty()) return;
  std::uint64_t batch = next_batch_++;
  last_submitted_batch_ = batch;
  in_flight_[batch] = std::move(pending_replies_);
  pending_replies_.clear();
  storage::WriteBatch writes = std::move(pending_);
  pending_.clear();
  Runtime* runtime = &ctx.runtime();
  ActorRef self = ctx.self();
  engine_->submit(std::move(writes), [runtime, self, batch](Result<void> result) {
    runtime->post(self, [batch, result = std::move(result)](Actor& actor, ActorContext& c) {
      if (auto* vnode = dynamic_cast<Vnode*>(&actor)) vnode->committed(c, batch, result);
    });
  });
}

void Vnode::committed(ActorContext& ctx, std::uint64_t batch, const Result<void>& result) {
  auto it = in_flight_.find(batch);
  if (it == in_flight_.end()) return;  // submitted by an instance before a restart
  std::vector<PendingReply> replies = std::move(it->second);
  in_flight_.erase(it);
  for (auto d = dirty_.begin(); d != dirty_.end();) {
    if (d->second.batch <= batch) {
      d = dirty_.erase(d);
    } else {
      ++d;
    }
  }
  if (!result) spdlog::error("vnode {}: write failed: {}", partition_, result.error().to_string());
  send_replies(ctx, replies, result);
}

void Vnode::send_replies(ActorContext& ctx, const std::vector<PendingReply>& replies, const Result<void>& result) {
  for (const auto& r : replies) {
    if (r.handoff) {
      HandoffBatchReply m;
      m.partition = partition_;
      if (!result) {
        m.status = ReplyStatus::error;
        m.error = result.error();
      }
      reply(ctx, r.to, encode(r.request_id, m));
      continue;
    }
    VnodePutReply m;
    m.partition = partition_;
    if (result) {
      m.status = ReplyStatus::ok;
      m.durable = services_->sync_mode == storage::SyncMode::sync || r.durable;
    } else {
      m.status = ReplyStatus::error;
      m.error = result.error();
    }
    reply(ctx, r.to, encode(r.request_id, m));
  }
}

// ---- requests -------------------------------------------------------------------

void Vnode::handle_get(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  services_->stats->vnode_gets.fetch_add(1, std::memory_order_relaxed);
  VnodeGetReply r;
  r.partition = partition_;
  auto request = decode_vnode_get(env.body);
  if (!request) {
    r.status = ReplyStatus::error;
    r.error = request.error();
    return reply(ctx, mail, encode(env.request_id, r));
  }
  auto bytes = load(storage_key_of(request.value().key));
  if (!bytes) {
    r.status = ReplyStatus::error;
    r.error = bytes.error();
  } else if (!bytes.value()) {
    r.status = ReplyStatus::notfound;
  } else {
    r.object = std::move(*bytes.value());
  }
  reply(ctx, mail, encode(env.request_id, r));
}

void Vnode::handle_put(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  services_->stats->vnode_puts.fetch_add(1, std::memory_order_relaxed);
  auto fail = [&](Error error) {
    VnodePutReply r;
    r.partition = partition_;
    r.status = ReplyStatus::error;
    r.error = std::move(error);
    reply(ctx, mail, encode(env.request_id, r));
  };
  auto request = decode_vnode_put(env.body);
  if (!request) return fail(request.error());
  Error error{Errc::unavailable, ""};
  PendingReply pending{mail, env.request_id, request.value().durable, false};
  if (!merge_in(std::move(request.value().object), request.value().durable, pending, error)) return fail(error);
  send_ready_replies(ctx);
}

bool Vnode::merge_in(std::string object_bytes, bool durable, std::optional<PendingReply> pending, Error& error) {
  auto incoming = decode_object(object_bytes);
  if (!incoming) {
    error = incoming.error();
    return false;
  }
  const crdt::Object& object = incoming.value();
  auto types = services_->bucket_types();
  const BucketProps* props = types->find(object.key().bucket_type);
  // A type this node has not heard of yet (metadata still gossiping) merges
  // with the default conflict policy; the data is kept either way.
  const BucketProps fallback;
  if (!props) props = &fallback;
  (void)hlc_.update(object.modified(), services_->clock->now_unix_us());
  std::string skey = storage_key_of(object.key());
  std::optional<std::string> previous;
  auto current = load_object(skey, &previous);
  if (!current) {
    error = current.error();
    return false;
  }
  if (!current.value()) {
    stage_write(skey, previous, std::move(object_bytes), durable, std::move(pending));
    return true;
  }
  crdt::Object merged = merge_replicas(*current.value(), object, *props);
  if (merged == *current.value() && !durable) {
    // Nothing new: answer once what this replica already holds is stored.
    if (pending) reply_after_commits(std::move(*pending));
    return true;
  }
  stage_write(skey, previous, encode_object(merged), durable, std::move(pending));
  return true;
}

void Vnode::handle_fold_objects(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  VnodeFoldObjectsReply r;
  r.partition = partition_;
  auto request = decode_vnode_fold_objects(env.body);
  if (!request) {
    r.status = ReplyStatus::error;
    r.error = request.error();
    r.done = true;
    return reply(ctx, mail, encode(env.request_id, r));
  }
  const VnodeFoldObjects& fold = request.value();
  submit_writes(ctx);  // a page shows committed data (what is staged follows by handoff_forward)
  storage::FoldOptions options;
  options.prefix = std::string(1, storage::kObjectKeyTag);
  options.start = fold.start_after.empty() ? options.prefix : fold.start_after + '\0';
  std::size_t bytes = 0, visited = 0;
  bool capped = false;
  auto folded = engine_->fold(options, [&](std::string_view skey, std::string_view value) {
    r.resume_after = std::string(skey);
    if (++visited >= kFoldKeysVisitedMax) capped = true;
    if (fold.key_partition != kAllKeyPartitions) {
      auto parts = storage::decode_storage_key(skey);
      if (!parts || !in_key_partition(parts.value(), fold.key_partition, fold.ring_size)) return !capped;
    }
    r.objects.emplace_back(value);
    bytes += value.size();
    return r.objects.size() < fold.limit_keys && bytes < fold.limit_bytes && !capped;
  });
  set_fold_outcome(r, folded);
  if (auto count = engine_->key_count()) r.keys_estimate = count.value();
  reply(ctx, mail, encode(env.request_id, r));
}

void Vnode::handle_handoff_batch(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  auto batch = decode_handoff_batch(env.body);
  HandoffBatchReply r;
  r.partition = partition_;
  if (!batch) {
    r.status = ReplyStatus::error;
    r.error = batch.error();
    return reply(ctx, mail, encode(env.request_id, r));
  }
  Error error{Errc::unavailable, ""};
  for (auto& object : batch.value().objects) {
    if (!merge_in(std::move(object), false, std::nullopt, error)) {
      // One object that does not decode fails the batch (the sender retries
      // or reports it); what merged before it is kept, merges are idempotent.
      r.status = ReplyStatus::error;
      r.error = error;
      return reply(ctx, mail, encode(env.request_id, r));
    }
  }
  // The acknowledgement leaves once the whole batch is stored.
  reply_after_commits(PendingReply{mail, env.request_id, false, true});
  send_ready_replies(ctx);
}

// ---- anti-entropy ------------------------------------------------------------------------

void Vnode::handle_aae(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  VnodeAaeReply r;
  r.partition = partition_;
  auto fail = [&](Error error) {
    r.status = ReplyStatus::error;
    r.error = std::move(error);
    reply(ctx, mail, encode(env.request_id, r));
  };
  auto request = decode_vnode_aae(env.body);
  if (!request) return fail(request.error());
  const VnodeAae& m = request.value();
  r.step = m.step;
  if (!trees_.ready())
    return fail(make_error(Errc::unavailable, "vnode " + std::to_string(partition_) +
                                                  " is rebuilding its anti-entropy trees (" +
                                                  std::to_string(trees_.rebuilt_keys()) + " keys so far)"));
  const storage::TreeId id{m.tree_start, m.n_val};
  const storage::MerkleTree* tree = trees_.find(id);
  std::optional<storage::MerkleTree> empty;
  if (!tree) {
    // No key of that list stored yet: an empty tree of the same shape.
    storage::TreeConfig config;
    config.shape = kAaeTreeShape;
    empty = std::move(storage::MerkleTree::create(config)).value();
    tree = &*empty;
  }
  switch (m.step) {
    case AaeStep::root:
      r.payload = storage::encode(storage::root_level(*tree));
      break;
    case AaeStep::branches:
      r.payload = storage::encode(storage::branch_level(*tree));
      break;
    case AaeStep::segments: {
      auto set = storage::segments_of_branches(*tree, m.indices);
      if (!set) return fail(set.error());
      r.payload = storage::encode(set.value());
      break;
    }
    case AaeStep::keys: {
      auto list = aae_key_hashes(id, m.indices, r.segments_covered);
      if (!list) return fail(list.error());
      r.payload = std::move(list).value();
      break;
    }
    case AaeStep::fetch: {
      std::size_t bytes = 0;
      for (const auto& key : m.keys) {
        if (bytes >= kAaeFetchBytesMax) break;  // the exchange asks again for the rest
        auto value = load(key);
        if (!value) return fail(value.error());
        r.objects.push_back(value.value() ? std::move(*value.value()) : std::string());
        bytes += r.objects.back().size() + key.size();
      }
      break;
    }
  }
  reply(ctx, mail, encode(env.request_id, r));
}

Result<std::string> Vnode::aae_key_hashes(storage::TreeId id, const std::vector<std::uint32_t>& segments,
                                          std::uint32_t& covered) {
  const storage::TreeShape& shape = kAaeTreeShape;
  const BucketTypes& types = *services_->bucket_types();
  std::map<std::string, std::uint64_t> hashes;
  covered = 0;
  for (std::uint32_t segment : segments) {
    if (segment >= shape.segment_count())
      return make_error(Errc::invalid_argument, "segment " + std::to_string(segment) + " is out of range");
    if (hashes.size() >= services_->aae_key_list_max) break;
    SHOAL_TRYV(engine_->fold_segment(segment, shape.segment_count(), [&](std::string_view key, std::string_view value) {
      if (tree_of(key, types, services_->ring_size) == id) hashes[std::string(key)] = storage::value_hash(value);
      return true;
    }));
    ++covered;
  }
  const std::vector<std::uint32_t> listed(segments.begin(), segments.begin() + covered);
  // Staged writes are in the tree already: they override what storage holds.
  for (const auto& [key, entry] : dirty_) {
    if (tree_of(key, types, services_->ring_size) != id) continue;
    if (std::find(listed.begin(), listed.end(), storage::segment_of_key(key, shape)) == listed.end()) continue;
    if (entry.bytes) {
      hashes[key] = storage::value_hash(*entry.bytes);
    } else {
      hashes.erase(key);
    }
  }
  std::vector<storage::KeyHash> list;
  list.reserve(hashes.size());
  for (auto& [key, hash] : hashes) list.push_back(storage::KeyHash{key, hash});
  return storage::encode(list);
}

void Vnode::reply_after_commits(PendingReply pending) {
  // Commits complete in submission order: the reply waits for the latest
  // batch that holds anything, staged or committing.
  if (!pending_.empty()) {
    pending_replies_.push_back(std::move(pending));
  } else if (auto it = in_flight_.find(last_submitted_batch_); it != in_flight_.end()) {
    it->second.push_back(std::move(pending));
  } else {
    ready_replies_.push_back(std::move(pending));
  }
}

void Vnode::send_ready_replies(ActorContext& ctx) {
  if (ready_replies_.empty()) return;
  std::vector<PendingReply> ready = std::move(ready_replies_);
  ready_replies_.clear();
  send_replies(ctx, ready, ok());
}

namespace {

// The datatype whose encoding tag is `tag`.
crdt::Datatype datatype_of(crdt::TypeTag tag) {
  for (std::uint8_t d = 1; d <= crdt::kDatatypeMax; ++d)
    if (crdt::crdt_type_tag(static_cast<crdt::Datatype>(d)) == tag) return static_cast<crdt::Datatype>(d);
  SHOAL_ASSERT(false, "an op tag without a datatype");
  return crdt::Datatype::plain;
}

// The datatype a CRDT write leaves the object in; errors when the op may not
// change a live object's datatype (bucket types of datatype any).
Result<crdt::Datatype> choose_datatype(const BucketProps& props, const net::KeyRequest& request,
                                       const crdt::Object* current, bool live) {
  if (!props.any_datatype) {
    if (current && current->datatype() != props.datatype)
      return make_error(Errc::precondition_failed, "the stored object holds another datatype");
    return props.datatype;
  }
  if (request.type == MessageType::del) return current ? current->datatype() : crdt::Datatype::register_;
  const crdt::Datatype wanted = datatype_of(crdt::op_type_tag(*request.op));
  if (!current || !live || current->datatype() == wanted) return wanted;
  using TypeChange = net::RequestOptions::TypeChange;
  const TypeChange change = request.options.type_change.value_or(TypeChange::refuse);
  if (change == TypeChange::replace ||
      (change == TypeChange::convert && current->datatype() == crdt::Datatype::register_ &&
       wanted == crdt::Datatype::counter))
    return wanted;
  return make_error(Errc::wrong_type, "the key holds a " + std::string(datatype_name(current->datatype())) +
                                          ", not a " + std::string(datatype_name(wanted)));
}

// Under a bucket type of datatype `any` (the Redis keyspace), a set or map
// left without elements counts as no key, as Redis removes an emptied set
// or hash: a write of another datatype replaces it, a condition sees it
// absent, an expiry change finds no key, listings skip it.
bool empty_collection(const crdt::Object& object) {
  if (object.datatype() == crdt::Datatype::set) return object.crdt().get_if<crdt::Orswot>()->empty();
  if (object.datatype() == crdt::Datatype::map) return object.crdt().get_if<crdt::Map>()->empty();
  return false;
}

// The decimal integer a live register holds (as Redis parses a string for INCR).
Result<std::int64_t> register_integer(const crdt::Object& object) {
  auto value = object.crdt().value();
  const auto* text = std::get_if<crdt::LwwRegister::Value>(&value.value);
  auto bad = [] { return make_error(Errc::invalid_argument, "value is not an integer or out of range"); };
  if (!text || !*text || (*text)->empty() || (*text)->size() > 20) return bad();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars((*text)->data(), (*text)->data() + (*text)->size(), n);
  if (ec != std::errc{} || end != (*text)->data() + (*text)->size()) return bad();
  return n;
}

// The update option `effect`: how many of a set op's elements change the
// set `object` holds (`held`: it holds a live set of earlier writes). Other
// ops have no count.
std::optional<std::int64_t> set_op_effect(const crdt::AnyOp& op, const crdt::Object& object, bool held) {
  const auto* set_op = std::get_if<crdt::Orswot::Op>(&op);
  if (!set_op) return std::nullopt;
  const crdt::Orswot* set = held ? object.crdt().get_if<crdt::Orswot>() : nullptr;
  const bool add = set_op->kind == crdt::Orswot::Op::Kind::add;
  std::set<std::string_view> distinct(set_op->elements.begin(), set_op->elements.end());
  std::int64_t n = 0;
  for (std::string_view e : distinct) n += add != (set && set->contains(e));
  return n;
}

}  // namespace

Result<Vnode::ClientWrite> Vnode::apply_client_write(const net::KeyRequest& request, std::uint64_t ttl_ms) {
  const crdt::ObjectKey& key = request.key;
  auto types = services_->bucket_types();
  const BucketProps* props = types->find(key.bucket_type);
  if (!props) return make_error(Errc::not_found, "no bucket type '" + key.bucket_type + "'");
  std::string skey = storage_key_of(key);
  std::optional<std::string> previous;
  SHOAL_TRY(current, load_object(skey, &previous));
  crdt::HlcTimestamp now = this->now();
  std::optional<crdt::HlcTimestamp> expires;
  if (ttl_ms) expires = crdt::HlcTimestamp{now.physical_us + static_cast<std::int64_t>(ttl_ms) * 1000, 0};
  const bool expired = current && current->expired(now);
  const bool held_live_state = current.has_value() && !expired;
  std::optional<crdt::Object> delta_object;
  std::optional<std::int64_t> effect;
  const crdt::ObjectLimits limits = client_object_limits(services_->limits);
  const crdt::MergePolicy policy = props->merge_policy();
  SHOAL_TRY(actor, actor_for(current ? &*current : nullptr));

  // The context the write replaces, computed before `current` is moved.
  auto client_context = [&]() -> Result<crdt::VClock> {
    crdt::VClock context;
    if (request.context) {
      SHOAL_TRY(decoded, net::decode_context(*request.context));
      context = std::move(decoded);
    }
    // A write after expiry replaces what expired; so does a delete
    // without a context (it removes what this replica has seen).
    if (current && (expired || (request.type == MessageType::del && !request.context)))
      context.merge(current->context());
    return context;
  };
  SHOAL_TRY(write_context, client_context());

  crdt::Object object;
  if (!props->is_crdt()) {
    if (request.type == MessageType::update)
      return make_error(Errc::invalid_argument, "bucket type '" + key.bucket_type +
                                                    "' holds plain objects: write them with put, not a CRDT update");
    if (current && current->datatype() != crdt::Datatype::plain)
      return make_error(Errc::precondition_failed, "the stored object is a CRDT, not a plain object");
    if (current) {
      object = std::move(*current);
    } else {
      SHOAL_TRY(fresh, crdt::Object::make(key, crdt::Datatype::plain, std::nullopt, limits));
      object = std::move(fresh);
    }
    const crdt::VClock& context = write_context;
    if (request.type == MessageType::put) {
      crdt::Sibling sibling;
      sibling.value = request.value;
      sibling.content_type = request.content_type;
      sibling.user_metadata = request.user_metadata;
      sibling.last_modified = now;
      SHOAL_TRYV(object.put(std::move(sibling), context, actor, policy, expires, limits));
    } else {
      SHOAL_TRYV(object.remove(context, actor, now, policy, limits));
    }
  } else {
    if (request.type == MessageType::put)
      return make_error(Errc::invalid_argument, "bucket type '" + key.bucket_type + "' holds " +
                                                    std::string(props->datatype_label()) +
                                                    " CRDTs: change them with a CRDT update, not put");
    const net::RequestOptions& options = request.options;
    const bool live =
        held_live_state && !current->is_tombstone() && !(props->any_datatype && empty_collection(*current));
    if (options.condition && (*options.condition == net::RequestOptions::Condition::absent) == live)
      return make_error(Errc::condition_failed, live ? "the key exists" : "the key does not exist");
    if (request.type == MessageType::update && options.touch.value_or(false)) {
      if (!live) return make_error(Errc::not_found, "no live key to change the expiry of");
      object = std::move(*current);
      object.record_write(now, expires);
      return ClientWrite{std::move(object), std::nullopt, std::move(previous), std::nullopt};
    }
    if (request.type == MessageType::update && options.keep_ttl.value_or(false) && live)
      expires = current->expires_at();
    SHOAL_TRY(chosen, choose_datatype(*props, request, current ? &*current : nullptr, live));
    const crdt::TypeTag tag = *crdt::crdt_type_tag(chosen);
    // A counter op converting a register (type_change=convert) starts from
    // the integer the register held.
    std::optional<std::int64_t> counter_start;
    if (live && current->datatype() == crdt::Datatype::register_ && chosen == crdt::Datatype::counter &&
        options.type_change == net::RequestOptions::TypeChange::convert) {
      SHOAL_TRY(start, register_integer(*current));
      counter_start = start;
    }
    bool retyped = false;
    if (current) {
      object = std::move(*current);
    } else {
      SHOAL_TRY(empty, crdt::AnyCrdt::make_empty(tag));
      SHOAL_TRY(fresh, crdt::Object::make(key, chosen, std::move(empty), limits));
      object = std::move(fresh);
    }
    // Under `any`: a write of another datatype starts a new generation that
    // replaces what is stored; so does a delete that finds nothing here
    // (it must replace every older generation the other replicas hold).
    if (object.datatype() != chosen || (!current && props->any_datatype && request.type == MessageType::del)) {
      SHOAL_TRY(empty, crdt::AnyCrdt::make_empty(tag));
      SHOAL_TRYV(object.retype(chosen, now, std::move(empty)));
      retyped = true;
    }
    if (request.type == MessageType::del) {
      object.remove_crdt(write_context, now);
    } else {
      SHOAL_ASSERT(request.op.has_value(), "update without an op");
      if (crdt::op_type_tag(*request.op) != tag)
        return make_error(Errc::invalid_argument, "bucket type '" + key.bucket_type + "' holds " +
                                                      std::string(datatype_name(props->datatype)) +
                                                      "s: this operation is for another datatype");
      // An expired CRDT starts from zero: reset everything it observed.
      if (expired && !retyped) object.crdt().reset(object.crdt().context());
      if (counter_start && *counter_start != 0)
        SHOAL_TRYV(object.crdt().apply(crdt::AnyOp{crdt::PnCounter::Op::increment(*counter_start)}, actor));
      crdt::AnyOp op = *request.op;
      stamp_registers(op, now);
      if (options.effect.value_or(false)) effect = set_op_effect(op, object, live && !retyped);
      SHOAL_TRY(delta, object.crdt().apply(op, actor));
      object.record_write(now, expires);
      // (Under `any`, replicas get the whole object: a delta would carry no
      // generation, and a replica on a later one would drop it.)
      if (held_live_state && !retyped && !props->any_datatype) {
        // The other replicas merge only what this op changed. A replica that
        // missed earlier writes stays behind until read repair brings the
        // whole state, exactly as it would with full-state replication.
        auto made = crdt::Object::make(key, props->datatype, std::move(delta), kStoredObjectLimits);
        if (made) {
          delta_object = std::move(made).value();
          delta_object->record_write(object.modified(), object.expires_at());
        }
      }
    }
  }
  return ClientWrite{std::move(object), std::move(delta_object), std::move(previous), effect};
}

void Vnode::handle_coordinate(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  services_->stats->vnode_coordinated.fetch_add(1, std::memory_order_relaxed);
  auto fail = [&](Error error) {
    VnodeCoordinateReply r;
    r.partition = partition_;
    r.status = ReplyStatus::error;
    r.error = std::move(error);
    reply(ctx, mail, encode(env.request_id, r));
  };
  auto coordinate = decode_vnode_coordinate(env.body);
  if (!coordinate) return fail(coordinate.error());
  const codec::Limits limits = message_decode_limits(services_->limits.peer_message_bytes_max, services_->limits);
  auto inner = net::decode_envelope(coordinate.value().request, limits);
  if (!inner) return fail(inner.error());
  auto request = net::decode_key_request(static_cast<MessageType>(inner.value().type), inner.value().body,
                                         client_object_limits(services_->limits));
  if (!request) return fail(request.error());
  auto written = apply_client_write(request.value(), coordinate.value().ttl_ms);
  if (!written) return fail(written.error());
  const crdt::Object* object = &written.value().object;
  std::string bytes = encode_object(*object);
  if (bytes.size() > services_->limits.object_bytes_max)
    return fail(make_error(Errc::too_large, "object of " + std::to_string(bytes.size()) +
                                                " bytes would exceed object_bytes_max (" +
                                                std::to_string(services_->limits.object_bytes_max) + ")"));
  if (bytes.size() > services_->limits.object_bytes_warn) {
    services_->stats->objects_over_warn.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("vnode {}: object {}/{} is {} bytes (warning threshold {})", partition_,
                 request.value().key.bucket_type, request.value().key.bucket, bytes.size(),
                 services_->limits.object_bytes_warn);
  }
  if (object->datatype() == crdt::Datatype::plain && object->dvvset().size() > services_->limits.siblings_warn) {
    services_->stats->siblings_over_warn.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "vnode {}: object {}/{} has {} siblings (warning threshold {}): its writers should read and "
        "write back with the context",
        partition_, request.value().key.bucket_type, request.value().key.bucket, object->dvvset().size(),
        services_->limits.siblings_warn);
  }
  // The new object goes to the coordinator at once, so the other replicas
  // store it while this one commits; the ack follows from committed().
  VnodeCoordinateReply ready;
  ready.partition = partition_;
  ready.object = bytes;
  if (written.value().delta) ready.delta = encode_object(*written.value().delta);
  ready.effect = written.value().effect;
  reply(ctx, mail, encode(env.request_id, ready));
  stage_write(storage_key_of(request.value().key), written.value().previous, std::move(bytes),
              coordinate.value().durable, PendingReply{mail, env.request_id, coordinate.value().durable});
}

void Vnode::handle_fold(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  VnodeFoldReply r;
  r.partition = partition_;
  auto request = decode_vnode_fold(env.body);
  if (!request) {
    r.status = ReplyStatus::error;
    r.error = request.error();
    r.done = true;
    return reply(ctx, mail, encode(env.request_id, r));
  }
  const VnodeFold& fold = request.value();
  // Writes of this turn that are not committed yet are not listed; a
  // listing is a snapshot of committed data, as the documentation says.
  submit_writes(ctx);
  crdt::HlcTimestamp now = this->now();
  std::size_t visited = 0;
  bool hit_visit_cap = false;
  auto owns = [&](const storage::StorageKeyParts& parts) {
    return fold.ring_size == 0 || in_key_partition(parts, fold.key_partition, fold.ring_size);
  };
  if (!fold.buckets) {
    const auto types = services_->bucket_types();
    const BucketProps* props = types->find(fold.bucket_type);
    const bool any_datatype = props && props->any_datatype;
    storage::FoldOptions options;
    options.prefix = storage::bucket_prefix(fold.bucket_type, fold.bucket);
    options.start = fold.start_after.empty()
                        ? options.prefix
                        : storage::encode_storage_key(fold.bucket_type, fold.bucket, fold.start_after) + '\0';
    auto folded = engine_->fold(options, [&](std::string_view skey, std::string_view value) {
      auto parts = storage::decode_storage_key(skey);
      if (!parts) return true;
      r.resume_after = parts.value().key;
      if (++visited >= kFoldKeysVisitedMax) hit_visit_cap = true;
      if (owns(parts.value())) {
        auto object = decode_object(value);
        if (object && !object.value().is_tombstone() && !object.value().expired(now) &&
            !(any_datatype && empty_collection(object.value())))
          r.names.push_back(std::move(parts.value().key));
      }
      return r.names.size() < fold.limit && !hit_visit_cap;
    });
    set_fold_outcome(r, folded);
    return reply(ctx, mail, encode(env.request_id, r));
  }
  // Buckets: one fold step per bucket, jumping past each bucket found.
  std::string start = fold.start_after.empty()
                          ? storage::bucket_type_prefix(fold.bucket_type)
                          : storage::prefix_end(storage::bucket_prefix(fold.bucket_type, fold.start_after));
  r.done = true;
  while (r.names.size() < fold.limit && !start.empty()) {
    storage::FoldOptions options;
    options.prefix = storage::bucket_type_prefix(fold.bucket_type);
    options.start = start;
    options.keys_only = true;
    options.chunk_keys = 64;
    std::optional<std::string> found;
    auto folded = engine_->fold(options, [&](std::string_view skey, std::string_view) {
      auto parts = storage::decode_storage_key(skey);
      if (!parts) return true;
      ++visited;
      if (!owns(parts.value()) && visited < kFoldKeysVisitedMax) return true;
      found = parts.value().bucket;
      return false;
    });
    if (!folded) {
      r.status = ReplyStatus::error;
      r.error = folded.error();
      break;
    }
    if (!found) break;
    r.resume_after = *found;
    if (visited >= kFoldKeysVisitedMax) {
      r.done = false;
      break;
    }
    r.names.push_back(*found);
    start = storage::prefix_end(storage::bucket_prefix(fold.bucket_type, *found));
    if (r.names.size() >= fold.limit) r.done = false;
  }
  reply(ctx, mail, encode(env.request_id, r));
}

void Vnode::handle_reap(ActorContext& ctx, Mail& mail, const net::Envelope& env) {
  VnodeReapReply r{partition_, false};
  auto request = decode_vnode_reap(env.body);
  // A test arms this to keep one replica's tombstones (a reap that was lost).
  if (request && failpoint::check("vnode.reap")) {
    std::string skey = storage_key_of(request.value().key);
    auto bytes = load(skey);
    if (bytes && bytes.value() && hash64(*bytes.value()) == request.value().value_hash) {
      auto object = decode_object(*bytes.value());
      if (object && object.value().is_tombstone()) {
        stage_write(skey, bytes.value(), std::nullopt, false, std::nullopt);
        services_->stats->tombstones_reaped.fetch_add(1, std::memory_order_relaxed);
        r.reaped = true;
      }
    }
  }
  reply(ctx, mail, encode(env.request_id, r));
}

// ---- background work ------------------------------------------------------------

void Vnode::on_timer(ActorContext& ctx, std::uint64_t token) {
  if (token == kRebuildTimer) {
    auto done = trees_.rebuild_step(*engine_, staged_writes(), *services_->bucket_types(), kAaeRebuildKeysPerStep);
    if (!done) {
      spdlog::error("vnode {}: rebuilding its anti-entropy trees: {} (starting over)", partition_,
                    done.error().to_string());
      trees_.start_rebuild();
    } else if (done.value()) {
      spdlog::info("vnode {}: anti-entropy trees rebuilt ({} keys)", partition_, trees_.rebuilt_keys());
      publish_trees(true);
      return;
    }
    ctx.set_timer(kAaeRebuildStepMs, kRebuildTimer);
    return;
  }
  if (token == kPublishTimer) {
    publish_trees(true);
    ctx.set_timer(kPublishIntervalMs, kPublishTimer);
    return;
  }
  if (token != kSweepTimer) return;
  sweep(ctx);
  submit_writes(ctx);
  ctx.set_timer(services_->expiry_sweep_interval_ms, kSweepTimer);
}

void Vnode::sweep(ActorContext& ctx) {
  (void)ctx;
  crdt::HlcTimestamp now = this->now();
  storage::FoldOptions options;
  options.prefix = std::string(1, storage::kObjectKeyTag);
  options.start = sweep_cursor_.empty() ? options.prefix : sweep_cursor_ + '\0';
  std::size_t seen = 0;
  std::vector<std::pair<std::string, std::string>> expired;  // storage key, stored bytes
  auto folded = engine_->fold(options, [&](std::string_view skey, std::string_view value) {
    sweep_cursor_ = std::string(skey);
    auto object = decode_object(value);
    if (object && object.value().expired(now)) expired.emplace_back(skey, value);
    return ++seen < kSweepKeysPerTick;
  });
  if (!folded || !folded.value().stopped) sweep_cursor_.clear();  // wrapped around
  for (const auto& [skey, stored] : expired) {
    // Written this turn or still committing: look again next time. Otherwise
    // what the fold read is what the key holds.
    if (dirty_.contains(skey)) continue;
    stage_write(skey, stored, std::nullopt, false, std::nullopt);
    services_->stats->expired_swept.fetch_add(1, std::memory_order_relaxed);
  }
}

void Vnode::on_crash(ActorContext& ctx, const Mail* mail) {
  services_->stats->vnode_crashes.fetch_add(1, std::memory_order_relaxed);
  if (!mail) return;
  const codec::Limits limits = message_decode_limits(services_->limits.peer_message_bytes_max, services_->limits);
  auto env = net::decode_envelope(mail->bytes, limits);
  if (!env) return;
  if (auto r = vnode_error_reply(
          env.value().type, env.value().request_id, partition_,
          make_error(Errc::unavailable, "vnode " + std::to_string(partition_) + " crashed while handling the request")))
    reply(ctx, *mail, *r);
}

void Vnode::stopping(ActorContext& ctx) {
  if (services_->aae) services_->aae->erase(partition_);
  if (!engine_) return;
  // The trees, for the next start (rebuilt instead if this stop is cut short).
  if (trees_.ready()) pending_.put(kTreesKey, trees_.encode());
  // Writes staged this turn were announced to other replicas already: store
  // them before closing (and acknowledge them: the node may still deliver).
  if (!pending_.empty()) {
    storage::WriteBatch writes = std::move(pending_);
    pending_.clear();
    Result<void> written = engine_->write(std::move(writes));
    std::uint64_t batch = next_batch_++;
    in_flight_[batch] = std::move(pending_replies_);
    pending_replies_.clear();
    committed(ctx, batch, written);
  }
  if (auto closed = engine_->close(); !closed)
    spdlog::error("vnode {}: closing storage failed: {}", partition_, closed.error().to_string());
  engine_.reset();
}

}  // namespace shoal::core
