#include "core/coordinator.hpp"

#include <spdlog/spdlog.h>

#include "base/hash.hpp"
#include "core/router.hpp"
#include "core/vnode.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

// Asks every primary of `plan` to drop the key if it still holds exactly
// the tombstone whose encoding hashes to `value_hash`.
void send_reaps(CoordinatorHost& host, std::uint64_t id, const KeyRequestPlan& plan, std::uint64_t value_hash) {
  VnodeReap reap;
  reap.key = plan.key;
  reap.value_hash = value_hash;
  for (const auto& entry : plan.preflist.entries) {
    if (entry.role != ring::Role::primary) continue;
    reap.partition = entry.partition;
    (void)host.send_to_vnode(entry, encode(id, reap));
  }
}

}  // namespace

// ---- shared ----------------------------------------------------------------------

std::string encode_view_reply(MessageType request, std::uint64_t request_id, const net::ObjectView& view) {
  net::MessageWriter w(net::reply_type(request), request_id, net::object_view_fields(view));
  net::encode_object_view(w.packer(), view);
  return w.finish();
}

net::ObjectView replica_view(const crdt::Object& object) {
  net::ObjectView view;
  view.found = true;
  view.datatype = object.datatype();
  view.context = net::encode_context(object.context());
  if (object.datatype() == crdt::Datatype::plain) {
    for (const auto& s : object.siblings())
      view.siblings.push_back(
          net::SiblingView{s.value, s.content_type, s.user_metadata, s.last_modified.physical_us, s.tombstone});
  } else {
    view.value = object.crdt().value();
    if (object.is_tombstone()) {
      net::SiblingView mark;
      mark.deleted = true;
      mark.last_modified_us = object.deleted_at().physical_us;
      view.siblings.push_back(mark);
    }
  }
  if (auto expires = object.expires_at()) view.expires_at_us = expires->physical_us;
  return view;
}

void Coordinator::answer(std::string reply, bool final, bool error) {
  if (answered_) return;
  if (final) answered_ = true;
  host_.respond(id_, std::move(reply), final, error);
}

void Coordinator::answer_error(const Error& error) { answer(net::encode_error(request_id_, error), true, true); }

// ---- get ---------------------------------------------------------------------------

GetCoordinator::GetCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, KeyRequestPlan plan,
                               ReadQuorumSpec spec)
    : Coordinator(host, id, request_id), plan_(std::move(plan)), quorum_(spec) {
  replicas_.resize(plan_.preflist.entries.size());
}

void GetCoordinator::start() {
  host_.set_timer(id_, plan_.timeout_ms, kTimeoutTimer);
  VnodeGet request;
  request.key = plan_.key;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    const auto& entry = plan_.preflist.entries[i];
    request.partition = entry.partition;
    if (auto sent = host_.send_to_vnode(entry, encode(id_, request)); !sent) record(i, ReplicaState::State::failed, {});
  }
  decide();
}

void GetCoordinator::record(std::size_t index, ReplicaState::State state, std::string object) {
  if (replicas_[index].state != ReplicaState::State::pending) return;
  replicas_[index].state = state;
  replicas_[index].object = std::move(object);
  bool primary = plan_.preflist.entries[index].role == ring::Role::primary;
  switch (state) {
    case ReplicaState::State::found:
      quorum_.add(ReadQuorum::Reply::found, primary);
      break;
    case ReplicaState::State::notfound:
      quorum_.add(ReadQuorum::Reply::notfound, primary);
      break;
    default:
      quorum_.add(ReadQuorum::Reply::failed, primary);
      break;
  }
}

void GetCoordinator::on_reply(const net::Envelope& envelope) {
  if (static_cast<MessageType>(envelope.type) != MessageType::vnode_get_reply) return;
  auto reply = decode_vnode_get_reply(envelope.body);
  if (!reply) return;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    if (plan_.preflist.entries[i].partition != reply.value().partition) continue;
    switch (reply.value().status) {
      case ReplyStatus::ok:
        record(i, ReplicaState::State::found, std::move(reply.value().object));
        break;
      case ReplyStatus::notfound:
        record(i, ReplicaState::State::notfound, {});
        break;
      case ReplyStatus::error:
        record(i, ReplicaState::State::failed, {});
        break;
    }
  }
  decide();
}

std::optional<crdt::Object> GetCoordinator::merged() {
  // Replicas usually agree byte for byte: each distinct encoding is decoded
  // and merged once (merge is idempotent, so skipping equal ones is exact).
  for (auto& replica : replicas_) {
    if (replica.state != ReplicaState::State::found || replica.merged) continue;
    replica.merged = true;
    if (std::find(merged_encodings_.begin(), merged_encodings_.end(), replica.object) != merged_encodings_.end())
      continue;
    auto object = decode_object(replica.object);
    if (!object) {
      spdlog::warn("get {}/{}: a replica sent an object that does not decode: {}", plan_.key.bucket_type,
                   plan_.key.bucket, object.error().message);
      replica.state = ReplicaState::State::failed;
      continue;
    }
    merged_ = merged_ ? merge_replicas(std::move(*merged_), object.value(), plan_.props) : std::move(object).value();
    merged_encodings_.push_back(replica.object);
  }
  return merged_;
}

void GetCoordinator::decide() {
  if (!answered_) {
    QuorumOutcome outcome = quorum_.outcome();
    if (outcome == QuorumOutcome::found || outcome == QuorumOutcome::notfound) {
      net::ObjectView view;
      view.datatype = plan_.props.datatype;
      if (outcome == QuorumOutcome::found) {
        if (auto object = merged()) {
          view = net::object_view(*object, host_.now());
          if (plan_.return_state && view.found && object->datatype() != crdt::Datatype::plain) {
            msgpack::sbuffer buffer;
            crdt::Packer packer(buffer);
            object->crdt().encode(packer);
            view.state = std::string(buffer.data(), buffer.size());
          }
        }
      } else if (auto object = merged()) {
        // Not found by quorum, but a tombstone's context is still useful.
        view.context = net::encode_context(object->context());
      }
      answer(encode_view_reply(MessageType::get, request_id_, view));
    } else if (outcome == QuorumOutcome::failed) {
      answer_error(make_error(Errc::unavailable, quorum_.failure()));
    }
  }
  if (quorum_.all_replied()) repair_and_finish();
}

void GetCoordinator::repair_and_finish() {
  if (repaired_) return;
  repaired_ = true;
  finish();
  std::optional<crdt::Object> object = merged();
  // An expired object is about to be swept everywhere: do not spread it.
  if (!object || object->expired(host_.now())) return;
  std::string bytes = merged_encodings_.size() == 1 ? merged_encodings_.front() : encode_object(*object);
  std::size_t holders = 0;
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    const auto& replica = replicas_[i];
    if (replica.state == ReplicaState::State::failed) continue;
    if (replica.state == ReplicaState::State::found && replica.object == bytes) {
      ++holders;
      continue;
    }
    VnodePut repair;
    repair.partition = plan_.preflist.entries[i].partition;
    repair.object = bytes;
    if (host_.send_to_vnode(plan_.preflist.entries[i], encode(id_, repair)))
      host_.stats().read_repairs.fetch_add(1, std::memory_order_relaxed);
  }
  // Every primary holds the same tombstone: it can go once the delay passed
  // (a get that sees it again later reaps it then).
  if (!object->is_tombstone()) return;
  if (holders == plan_.props.n_val && plan_.preflist.complete && host_.reap_allowed(plan_.preflist)) {
    send_reaps(host_, id_, plan_, hash64(bytes));
  } else if (reap_check_) {
    host_.defer_reap(plan_.key);
  }
}

void GetCoordinator::on_timer(std::uint32_t tag) {
  if (tag != kTimeoutTimer) return;
  if (!answered_) {
    host_.stats().requests_timed_out.fetch_add(1, std::memory_order_relaxed);
    answer_error(
        make_error(Errc::timeout, "timed out after " + std::to_string(plan_.timeout_ms) + " ms: " + quorum_.failure()));
  }
  // Repair with what came back; replicas that never answered are left to
  // the next read (or anti-entropy).
  for (std::size_t i = 0; i < replicas_.size(); ++i)
    if (replicas_[i].state == ReplicaState::State::pending) replicas_[i].state = ReplicaState::State::failed;
  repair_and_finish();
}

// ---- put / delete / update ------------------------------------------------------------

WriteCoordinator::WriteCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, MessageType type,
                                   KeyRequestPlan plan, WriteQuorumSpec spec, std::string request, std::uint64_t ttl_ms,
                                   bool return_body, std::optional<net::KeyRequest> unread_delete)
    : Coordinator(host, id, request_id),
      type_(type),
      plan_(std::move(plan)),
      quorum_(spec),
      request_(std::move(request)),
      ttl_ms_(ttl_ms),
      return_body_(return_body),
      unread_delete_(std::move(unread_delete)) {
  replied_.assign(plan_.preflist.entries.size(), false);
}

void WriteCoordinator::start() {
  host_.set_timer(id_, plan_.timeout_ms, kTimeoutTimer);
  // The local replica coordinates; a primary one if there is (a fallback
  // has not seen the key's history, which a delete or a CRDT remove without
  // a context acts on).
  bool found = false;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    const auto& e = plan_.preflist.entries[i];
    if (e.node != host_.self()) continue;
    if (!found) coordinator_index_ = i;
    found = true;
    if (e.role == ring::Role::primary) {
      coordinator_index_ = i;
      break;
    }
  }
  SHOAL_ASSERT(found, "a write is coordinated only by a node holding one of its replicas");
  // Fail before writing anything when the quorum cannot be met with the
  // replicas reachable now: a clean failure, not a partial write.
  std::uint32_t reachable = 0, reachable_primaries = 0;
  for (const auto& entry : plan_.preflist.entries) {
    if (!host_.reachable(entry.node)) continue;
    ++reachable;
    reachable_primaries += entry.role == ring::Role::primary;
  }
  const WriteQuorumSpec& spec = quorum_.spec();
  if (reachable < spec.w || reachable < spec.dw || reachable_primaries < spec.pw) {
    std::string what = reachable_primaries < spec.pw ? "pw=" + std::to_string(spec.pw)
                       : reachable < spec.w          ? "w=" + std::to_string(spec.w)
                                                     : "dw=" + std::to_string(spec.dw);
    answer_error(make_error(Errc::unavailable, what + " cannot be met: " + std::to_string(reachable) + " of " +
                                                   std::to_string(plan_.preflist.entries.size()) +
                                                   " replicas reachable (" + std::to_string(reachable_primaries) +
                                                   " primaries); nothing was written"));
    finish();
    return;
  }
  if (unread_delete_) return read_context();
  send_coordinate();
}

void WriteCoordinator::send_coordinate() {
  VnodeCoordinate request;
  request.partition = plan_.preflist.entries[coordinator_index_].partition;
  request.durable = quorum_.spec().dw > 0;
  request.ttl_ms = ttl_ms_;
  request.request = std::move(request_);
  if (auto sent = host_.send_to_vnode(plan_.preflist.entries[coordinator_index_], encode(id_, request)); !sent) {
    answer_error(make_error(sent.error().code, "the coordinating replica refused the write: " + sent.error().message));
    finish();
  }
}

void WriteCoordinator::read_context() {
  // A delete without a context removes what the replicas hold, not only
  // what the coordinating replica saw (it may have just come back empty):
  // every reachable replica is read first and the delete carries the union
  // of their contexts.
  read_replied_.assign(plan_.preflist.entries.size(), false);
  VnodeGet get;
  get.key = plan_.key;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    get.partition = plan_.preflist.entries[i].partition;
    if (host_.send_to_vnode(plan_.preflist.entries[i], encode(id_, get))) {
      ++read_pending_;
    } else {
      read_replied_[i] = true;
    }
  }
  if (read_pending_ == 0) return context_read();
  host_.set_timer(id_, std::max<std::uint32_t>(1, plan_.timeout_ms / 2), kStepTimer);
}

void WriteCoordinator::context_read() {
  if (!unread_delete_) return;
  net::KeyRequest request = std::move(*unread_delete_);
  unread_delete_.reset();
  if (!read_context_.empty()) request.context = net::encode_context(read_context_);
  request_ = net::encode_request(0, request);
  send_coordinate();
}

void WriteCoordinator::on_reply(const net::Envelope& envelope) {
  auto type = static_cast<MessageType>(envelope.type);
  if (type == MessageType::vnode_get_reply) {
    auto reply = decode_vnode_get_reply(envelope.body);
    if (!reply || !unread_delete_) return;
    for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
      if (plan_.preflist.entries[i].partition != reply.value().partition || read_replied_[i]) continue;
      read_replied_[i] = true;
      --read_pending_;
      if (reply.value().status == ReplyStatus::ok)
        if (auto object = decode_object(reply.value().object)) read_context_.merge(object.value().context());
      break;
    }
    if (read_pending_ == 0) context_read();
    return;
  }
  if (type == MessageType::vnode_coordinate_reply) {
    auto reply = decode_vnode_coordinate_reply(envelope.body);
    if (!reply || !object_.empty()) return;
    if (reply.value().status != ReplyStatus::ok) {
      // Nothing was written anywhere: a clean failure.
      answer_error(reply.value().error);
      finish();
      return;
    }
    object_ = std::move(reply.value().object);
    effect_ = reply.value().effect;
    VnodePut put;
    put.durable = quorum_.spec().dw > 0;
    put.object = reply.value().delta.empty() ? object_ : std::move(reply.value().delta);
    for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
      if (i == coordinator_index_) continue;
      const auto& entry = plan_.preflist.entries[i];
      put.partition = entry.partition;
      if (auto sent = host_.send_to_vnode(entry, encode(id_, put)); !sent) {
        replied_[i] = true;
        ++replies_;
        all_acked_ = false;
        quorum_.add_failure(entry.role == ring::Role::primary);
      }
    }
    decide();
    return;
  }
  if (type != MessageType::vnode_put_reply) return;
  auto reply = decode_vnode_put_reply(envelope.body);
  if (!reply) return;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    if (plan_.preflist.entries[i].partition != reply.value().partition || replied_[i]) continue;
    // The coordinating vnode acknowledges only after its "ready" reply;
    // an error from it before that is handled above.
    replied_[i] = true;
    ++replies_;
    bool primary = plan_.preflist.entries[i].role == ring::Role::primary;
    if (reply.value().status == ReplyStatus::ok) {
      quorum_.add_ack(primary, reply.value().durable);
      ++acks_;
    } else {
      all_acked_ = false;
      last_error_ = reply.value().error;
      quorum_.add_failure(primary);
      if (object_.empty() && i == coordinator_index_) {
        answer_error(reply.value().error);
        finish();
        return;
      }
    }
  }
  decide();
}

void WriteCoordinator::decide() {
  if (!answered_) {
    QuorumOutcome outcome = quorum_.outcome();
    if (outcome == QuorumOutcome::met) {
      net::ObjectView view;
      view.datatype = plan_.props.datatype;
      if (auto object = decode_object(object_)) {
        if (return_body_) {
          view = net::object_view(object.value(), host_.now());
        } else {
          view.context = net::encode_context(object.value().context());
        }
      }
      view.effect = effect_;
      answer(encode_view_reply(type_, request_id_, view));
    } else if (outcome == QuorumOutcome::failed) {
      std::string why = quorum_.failure();
      if (last_error_) why += " (last replica error: " + last_error_->to_string() + ")";
      if (object_.empty() || (acks_ == 0 && replies_ == plan_.preflist.entries.size())) {
        // No replica stored it: a clean failure, with the replicas' reason.
        answer_error(make_error(last_error_ && acks_ == 0 ? last_error_->code : Errc::unavailable, why));
      } else {
        // Some replica stored (or may still store) it: it can spread by read
        // repair although the quorum failed, so the outcome is unknown.
        answer_error(make_error(Errc::unknown_outcome, why + "; the write may be visible on some replicas"));
      }
    }
  }
  maybe_finish();
}

void WriteCoordinator::maybe_finish() {
  if (replies_ < plan_.preflist.entries.size()) return;
  // A delete every primary acknowledged: reap the tombstone after the delay.
  if (type_ == MessageType::del && !reap_scheduled_) {
    if (all_acked_ && plan_.preflist.complete && host_.reap_allowed(plan_.preflist)) {
      reap_scheduled_ = true;
      host_.set_timer(id_, host_.tombstone_reap_delay_ms(), kReapTimer);
      return;
    }
    host_.defer_reap(plan_.key);
  }
  if (!reap_scheduled_) finish();
}

void WriteCoordinator::on_timer(std::uint32_t tag) {
  if (tag == kReapTimer) {
    // Hints or transfers may have appeared during the delay: then the
    // tombstone stays (a later read or anti-entropy reaps it).
    if (!host_.reap_allowed(plan_.preflist)) {
      host_.defer_reap(plan_.key);
      return finish();
    }
    send_reaps(host_, id_, plan_, hash64(object_));
    finish();
    return;
  }
  if (tag == kStepTimer) return context_read();  // replicas that did not answer the read are left out
  if (tag != kTimeoutTimer || reap_scheduled_) return;
  if (!answered_) {
    host_.stats().requests_timed_out.fetch_add(1, std::memory_order_relaxed);
    std::string why = object_.empty() ? "the coordinating replica did not answer" : quorum_.failure();
    answer_error(make_error(Errc::unknown_outcome, "timed out after " + std::to_string(plan_.timeout_ms) +
                                                       " ms: " + why + "; the write may or may not have been applied"));
  }
  finish();
}

// ---- list keys / buckets ----------------------------------------------------------------

ListCoordinator::ListCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id,
                                 net::ListRequest request, std::uint32_t n_val, std::uint32_t timeout_ms)
    : Coordinator(host, id, request_id),
      request_(std::move(request)),
      page_keys_(host.list_page_keys(request_.options.page_keys)),
      n_val_(n_val),
      timeout_ms_(timeout_ms) {}

void ListCoordinator::start() {
  partition_ = 0;
  candidates_ = candidates_of(partition_);
  candidate_ = 0;
  ask();
}

std::vector<ring::PreflistEntry> ListCoordinator::candidates_of(std::uint32_t partition) const {
  std::uint64_t hash = ring::partition_start(partition, host_.ring().partition_count());
  return preference_list(host_.ring(), hash, n_val_).entries;
}

void ListCoordinator::ask() {
  while (candidate_ < candidates_.size()) {
    const auto& entry = candidates_[candidate_];
    if (!host_.reachable(entry.node)) {
      ++candidate_;
      continue;
    }
    VnodeFold fold;
    fold.partition = entry.partition;
    fold.buckets = request_.type == MessageType::list_buckets;
    fold.bucket_type = request_.bucket_type;
    fold.bucket = request_.bucket;
    fold.start_after = resume_after_;
    fold.limit = static_cast<std::uint32_t>(page_keys_ - std::min<std::size_t>(page_.size(), page_keys_ - 1));
    fold.ring_size = host_.ring().partition_count();
    fold.key_partition = partition_;
    ++attempt_;
    if (host_.send_to_vnode(entry, encode(id_, fold))) {
      host_.set_timer(id_, timeout_ms_, kTimeoutTimer + static_cast<std::uint32_t>((attempt_ & 0x3fffff) << 2));
      return;
    }
    ++candidate_;
  }
  answer_error(make_error(Errc::unavailable,
                          "listing incomplete: no replica of partition " + std::to_string(partition_) + " answered"));
  finish();
}

void ListCoordinator::next_replica(const std::string& why) {
  spdlog::debug("list: partition {} replica failed ({}); trying the next one", partition_, why);
  ++candidate_;
  ask();
}

void ListCoordinator::flush_page(bool final) {
  if (request_.type == MessageType::list_buckets && !final) return;
  net::ListPage page;
  page.done = final;
  if (request_.type == MessageType::list_buckets) {
    page.names.assign(buckets_.begin(), buckets_.end());
  } else {
    page.names = std::move(page_);
    page_.clear();
  }
  if (!final && page.names.empty()) return;
  if (final) {
    answer(net::encode_list_page(request_.type, request_id_, page), true);
  } else {
    host_.respond(id_, net::encode_list_page(request_.type, request_id_, page), false, false);
  }
}

void ListCoordinator::on_reply(const net::Envelope& envelope) {
  if (static_cast<MessageType>(envelope.type) != MessageType::vnode_fold_reply || done_) return;
  auto reply = decode_vnode_fold_reply(envelope.body);
  if (!reply || candidate_ >= candidates_.size() || reply.value().partition != candidates_[candidate_].partition)
    return;
  ++attempt_;  // the pending timer is now stale
  if (reply.value().status != ReplyStatus::ok) return next_replica(reply.value().error.message);
  for (auto& name : reply.value().names) {
    if (request_.type == MessageType::list_buckets) {
      buckets_.insert(std::move(name));
      if (buckets_.size() > 100'000) {
        answer_error(make_error(Errc::too_large, "more than 100000 buckets: list keys of a known bucket instead"));
        finish();
        return;
      }
    } else {
      page_.push_back(std::move(name));
    }
  }
  if (page_.size() >= page_keys_) flush_page(false);
  if (!reply.value().done) {
    resume_after_ = reply.value().resume_after;
    ask();
    return;
  }
  resume_after_.clear();
  if (++partition_ >= host_.ring().partition_count()) {
    flush_page(true);
    finish();
    return;
  }
  candidates_ = candidates_of(partition_);
  candidate_ = 0;
  ask();
}

void ListCoordinator::on_timer(std::uint32_t tag) {
  if (done_ || (tag & 3) != kTimeoutTimer || (tag >> 2) != static_cast<std::uint32_t>(attempt_ & 0x3fffff)) return;
  host_.stats().requests_timed_out.fetch_add(1, std::memory_order_relaxed);
  next_replica("timed out");
}

// ---- replica-get -------------------------------------------------------------------------

ReplicaGetCoordinator::ReplicaGetCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id,
                                             KeyRequestPlan plan)
    : Coordinator(host, id, request_id), plan_(std::move(plan)) {
  replies_.resize(plan_.preflist.entries.size());
}

void ReplicaGetCoordinator::start() {
  host_.set_timer(id_, plan_.timeout_ms, kTimeoutTimer);
  VnodeGet request;
  request.key = plan_.key;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    request.partition = plan_.preflist.entries[i].partition;
    if (auto sent = host_.send_to_vnode(plan_.preflist.entries[i], encode(id_, request)); !sent) {
      VnodeGetReply failed;
      failed.partition = request.partition;
      failed.status = ReplyStatus::error;
      failed.error = sent.error();
      replies_[i] = failed;
    } else {
      ++pending_;
    }
  }
  if (pending_ == 0) finish_answer();
}

void ReplicaGetCoordinator::on_reply(const net::Envelope& envelope) {
  if (static_cast<MessageType>(envelope.type) != MessageType::vnode_get_reply) return;
  auto reply = decode_vnode_get_reply(envelope.body);
  if (!reply) return;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    if (plan_.preflist.entries[i].partition != reply.value().partition || replies_[i]) continue;
    replies_[i] = std::move(reply).value();
    if (--pending_ == 0) finish_answer();
    return;
  }
}

void ReplicaGetCoordinator::on_timer(std::uint32_t tag) {
  if (tag == kTimeoutTimer && !done_) finish_answer();
}

void ReplicaGetCoordinator::finish_answer() {
  std::vector<net::ReplicaView> views;
  for (std::size_t i = 0; i < plan_.preflist.entries.size(); ++i) {
    const auto& entry = plan_.preflist.entries[i];
    net::ReplicaView view;
    view.node = entry.node;
    view.partition = entry.partition;
    view.primary = entry.role == ring::Role::primary;
    if (!replies_[i]) {
      view.status = 2;
      view.error = "no answer within " + std::to_string(plan_.timeout_ms) + " ms";
    } else if (replies_[i]->status == ReplyStatus::notfound) {
      view.status = 1;
      view.object.datatype = plan_.props.datatype;
    } else if (replies_[i]->status == ReplyStatus::error) {
      view.status = 2;
      view.error = replies_[i]->error.to_string();
    } else if (auto object = decode_object(replies_[i]->object)) {
      view.status = 0;
      view.object = replica_view(object.value());
    } else {
      view.status = 2;
      view.error = "stored object does not decode: " + object.error().message;
    }
    views.push_back(std::move(view));
  }
  answer(net::encode_replica_views(request_id_, views));
  finish();
}

// ---- members -----------------------------------------------------------------------------

MembersCoordinator::MembersCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id,
                                       std::uint32_t timeout_ms)
    : Coordinator(host, id, request_id), timeout_ms_(timeout_ms) {}

void MembersCoordinator::start() {
  views_[host_.self()] = host_.own_view();
  for (const auto& member : host_.ring().members()) {
    if (member.node == host_.self() || member.status == ring::MemberStatus::removed) continue;
    views_[member.node] = std::nullopt;
    if (host_.reachable(member.node) && host_.send_to_node(member.node, encode_node_view_request(id_))) ++pending_;
  }
  if (pending_ == 0) return finish_answer();
  host_.set_timer(id_, timeout_ms_, kTimeoutTimer);
}

void MembersCoordinator::on_reply(const net::Envelope& envelope) {
  if (static_cast<MessageType>(envelope.type) != MessageType::node_view_reply || done_) return;
  auto view = decode_node_view(envelope.body);
  if (!view) return;
  auto it = views_.find(view.value().first);
  if (it == views_.end() || it->second) return;
  it->second = std::move(view.value().second);
  if (--pending_ == 0) finish_answer();
}

void MembersCoordinator::on_timer(std::uint32_t tag) {
  if (tag == kTimeoutTimer && !done_) finish_answer();
}

void MembersCoordinator::finish_answer() {
  std::vector<net::MembersView> out;
  for (const auto& [viewer, view] : views_) {
    net::MembersView v;
    v.viewer = viewer;
    v.answered = view.has_value();
    if (view)
      for (const auto& m : *view) v.members.push_back(net::MemberState{m.node, m.status, m.reachable});
    out.push_back(std::move(v));
  }
  answer(net::encode_members_view(request_id_, out));
  finish();
}

}  // namespace shoal::core
