#include "core/handoff.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "base/hash.hpp"
#include "core/router.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

// The handoff's reads have their own timer kind and attempt counter: a page
// is read while the previous batch is on its way, so both run at once.
constexpr std::uint32_t kFoldTimer = 2;

}  // namespace

// ---- handoff ------------------------------------------------------------------------------

HandoffCoordinator::HandoffCoordinator(MembershipHost& host, std::uint64_t id, std::uint32_t partition,
                                       std::string target, std::optional<std::uint32_t> grace_ms)
    : Coordinator(host, id, 0),
      membership_(host),
      partition_(partition),
      target_(std::move(target)),
      grace_ms_(grace_ms.value_or(host.transfer_grace_ms())) {}

void HandoffCoordinator::start() {
  window_start_us_ = membership_.monotonic_us();
  VnodeHandoffMode mode{partition_, true};
  (void)host_.send_to_vnode(ring::PreflistEntry{partition_, host_.self(), ring::Role::primary, {}}, encode(id_, mode));
  spdlog::info("handoff of partition {} to {} started", partition_, target_);
  next_step();
}

void HandoffCoordinator::forward(std::string object) {
  if (phase_ == Phase::finished) return;
  if (forwarded_.size() >= kForwardQueueMax)
    return fail(make_error(Errc::overloaded, "more than " + std::to_string(kForwardQueueMax) +
                                                 " writes waiting to be passed on; the transfer starts again"));
  forwarded_.push_back(std::move(object));
  next_step();
}

void HandoffCoordinator::next_step() {
  if (phase_ == Phase::finished) return;
  // Read ahead: the next page is folded while the current batch travels.
  if (!fold_done_ && !fold_outstanding_ && page_.empty()) ask_page();
  if (!in_flight_.empty()) return;
  if (!forwarded_.empty() || !page_.empty()) return send_batch();
  if (!fold_done_) return;  // the page on its way continues the transfer
  if (!copied_) {
    // Everything read and every write passed on is stored on the target.
    copied_ = true;
    phase_ = Phase::draining;
    drain_until_us_ = membership_.monotonic_us() + std::int64_t{grace_ms_} * 1000;
    spdlog::info("handoff of partition {} to {}: {} keys, {} bytes copied; moving ownership", partition_, target_,
                 keys_sent_, bytes_sent_);
    membership_.transfer_copied(partition_);
  }
  // Draining: writes that reach this node late are still passed on until
  // the grace period ends. A batch sent meanwhile makes older timers stale,
  // so the timer is set again at every step.
  if (std::int64_t left_us = drain_until_us_ - membership_.monotonic_us(); left_us > 0) {
    host_.set_timer(id_, static_cast<std::uint32_t>(left_us / 1000) + 1, attempt_tag(kStepTimer, ++attempt_));
    return;
  }
  phase_ = Phase::finished;
  VnodeHandoffMode mode{partition_, false};
  (void)host_.send_to_vnode(ring::PreflistEntry{partition_, host_.self(), ring::Role::primary, {}}, encode(id_, mode));
  membership_.transfer_finished(partition_, false, ok());
  finish();
}

void HandoffCoordinator::ask_page() {
  fold_outstanding_ = true;
  VnodeFoldObjects fold;
  fold.partition = partition_;
  fold.start_after = cursor_;
  fold.limit_keys = kTransferBatchKeys;
  fold.limit_bytes = transfer_batch_bytes(membership_.transfer_bytes_per_s());
  ++fold_attempt_;
  if (auto sent = host_.send_to_vnode(ring::PreflistEntry{partition_, host_.self(), ring::Role::primary, {}},
                                      encode(id_, fold));
      !sent) {
    fold_outstanding_ = false;
    host_.set_timer(id_, kTransferRetryMs, attempt_tag(kFoldTimer, fold_attempt_));
    return;
  }
  host_.set_timer(id_, kTransferReplyTimeoutMs, attempt_tag(kFoldTimer, fold_attempt_));
}

void HandoffCoordinator::send_batch() {
  // Throttle: at most transfer_bytes_per_s on average since the start.
  if (auto wait = transfer_wait_ms(membership_.transfer_bytes_per_s(), window_start_us_, membership_.monotonic_us(),
                                   window_bytes_);
      wait > 0) {
    host_.set_timer(id_, wait, attempt_tag(kStepTimer, ++attempt_));
    return;
  }
  if (in_flight_.empty()) {
    std::size_t bytes = 0;
    const std::size_t cap = transfer_batch_bytes(membership_.transfer_bytes_per_s());
    while (!forwarded_.empty() && in_flight_.size() < kTransferBatchKeys && bytes < cap) {
      bytes += forwarded_.front().size();
      in_flight_.push_back(std::move(forwarded_.front()));
      forwarded_.pop_front();
    }
    std::size_t taken = 0;
    while (taken < page_.size() && in_flight_.size() < kTransferBatchKeys && bytes < cap) {
      bytes += page_[taken].size();
      in_flight_.push_back(std::move(page_[taken]));
      ++taken;
    }
    page_.erase(page_.begin(), page_.begin() + static_cast<std::ptrdiff_t>(taken));
  }
  HandoffBatch batch;
  batch.partition = partition_;
  batch.objects = in_flight_;
  ++attempt_;
  phase_ = Phase::waiting;
  if (auto sent =
          host_.send_to_vnode(ring::PreflistEntry{partition_, target_, ring::Role::primary, {}}, encode(id_, batch));
      !sent) {
    spdlog::debug("handoff of partition {}: {} (retrying)", partition_, sent.error().message);
    host_.set_timer(id_, kTransferRetryMs, attempt_tag(kStepTimer, attempt_));
    return;
  }
  host_.set_timer(id_, kTransferReplyTimeoutMs, attempt_tag(kTimeoutTimer, attempt_));
}

void HandoffCoordinator::on_reply(const net::Envelope& envelope) {
  if (phase_ == Phase::finished) return;
  auto type = static_cast<MessageType>(envelope.type);
  if (type == MessageType::vnode_fold_objects_reply) {
    auto reply = decode_vnode_fold_objects_reply(envelope.body);
    if (!reply || !fold_outstanding_) return;
    fold_outstanding_ = false;
    ++fold_attempt_;  // the fold's timer is stale now
    if (reply.value().status != ReplyStatus::ok) {
      spdlog::warn("handoff of partition {}: reading the vnode failed: {} (retrying)", partition_,
                   reply.value().error.message);
      fold_outstanding_ = true;  // no read-ahead until the retry
      host_.set_timer(id_, kTransferRetryMs, attempt_tag(kFoldTimer, fold_attempt_));
      return;
    }
    for (auto& o : reply.value().objects) page_.push_back(std::move(o));
    if (!reply.value().resume_after.empty()) cursor_ = reply.value().resume_after;
    fold_done_ = reply.value().done;
    keys_estimate_ = reply.value().keys_estimate;
    return next_step();
  }
  if (type != MessageType::handoff_batch_reply || in_flight_.empty()) return;
  auto reply = decode_handoff_batch_reply(envelope.body);
  if (!reply) return;
  ++attempt_;
  if (reply.value().status != ReplyStatus::ok) {
    spdlog::warn("handoff of partition {} to {}: {} (retrying)", partition_, target_, reply.value().error.message);
    host_.set_timer(id_, kTransferRetryMs, attempt_tag(kStepTimer, attempt_));
    return;
  }
  std::size_t bytes = 0;
  for (const auto& o : in_flight_) bytes += o.size();
  keys_sent_ += in_flight_.size();
  bytes_sent_ += bytes;
  window_bytes_ += bytes;
  in_flight_.clear();
  phase_ = copied_ ? Phase::draining : Phase::sending;
  membership_.transfer_progress(partition_, keys_sent_, bytes_sent_, keys_estimate_);
  next_step();
}

void HandoffCoordinator::on_timer(std::uint32_t tag) {
  if (phase_ == Phase::finished) return;
  if ((tag & 3) == kFoldTimer) {
    // A read that got no answer, failed, or could not be sent: read again.
    if (!current_attempt(tag, kFoldTimer, fold_attempt_)) return;
    fold_outstanding_ = false;
    return next_step();
  }
  if (!current_attempt(tag, tag & 3, attempt_)) return;
  if ((tag & 3) == kTimeoutTimer)
    spdlog::warn("handoff of partition {} to {}: no answer in time (retrying)", partition_, target_);
  // Resend the batch that got no answer, or go on after a pause.
  if (!in_flight_.empty()) return send_batch();
  next_step();
}

void HandoffCoordinator::cancel() {
  if (phase_ == Phase::finished) return;
  spdlog::info("handoff of partition {} to {} cancelled: the ring no longer plans it", partition_, target_);
  phase_ = Phase::finished;
  VnodeHandoffMode mode{partition_, false};
  (void)host_.send_to_vnode(ring::PreflistEntry{partition_, host_.self(), ring::Role::primary, {}}, encode(id_, mode));
  membership_.transfer_finished(partition_, false,
                                make_error(Errc::precondition_failed, "cancelled: the ring no longer plans it"));
  finish();
}

void HandoffCoordinator::fail(const Error& error) {
  spdlog::error("handoff of partition {} to {} failed: {}", partition_, target_, error.message);
  phase_ = Phase::finished;
  VnodeHandoffMode mode{partition_, false};
  (void)host_.send_to_vnode(ring::PreflistEntry{partition_, host_.self(), ring::Role::primary, {}}, encode(id_, mode));
  membership_.transfer_finished(partition_, false, error);
  finish();
}

std::uint32_t transfer_batch_bytes(std::uint64_t bytes_per_s) {
  if (bytes_per_s == 0) return kTransferBatchBytes;
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(bytes_per_s / 8, 4096, kTransferBatchBytes));
}

std::uint32_t transfer_wait_ms(std::uint64_t bytes_per_s, std::int64_t start_us, std::int64_t now_us,
                               std::uint64_t sent) {
  if (bytes_per_s == 0) return 0;
  double elapsed_s = static_cast<double>(now_us - start_us) / 1e6;
  double allowed =
      static_cast<double>(bytes_per_s) * elapsed_s + static_cast<double>(transfer_batch_bytes(bytes_per_s));
  if (static_cast<double>(sent) <= allowed) return 0;
  auto wait = (static_cast<double>(sent) - allowed) * 1000.0 / static_cast<double>(bytes_per_s);
  return static_cast<std::uint32_t>(std::min(wait, 1000.0)) + 1;
}

// ---- repair -------------------------------------------------------------------------------

RepairCoordinator::RepairCoordinator(MembershipHost& host, std::uint64_t id, std::uint32_t partition,
                                     std::vector<Source> sources)
    : Coordinator(host, id, 0), membership_(host), partition_(partition), sources_(std::move(sources)) {}

void RepairCoordinator::start() {
  spdlog::info("repair of partition {} from {} source replicas started", partition_, sources_.size());
  start_us_ = membership_.monotonic_us();
  ask_page();
}

void RepairCoordinator::ask_page() {
  while (source_ < sources_.size() && !host_.reachable(sources_[source_].replica.node)) {
    ++failed_sources_;
    ++source_;
  }
  if (source_ >= sources_.size()) {
    Result<void> outcome = ok();
    // A source that could not be read may hold keys no other one has: the
    // repair runs again later (merges make the second pass harmless).
    if (failed_sources_ > 0)
      outcome = make_error(Errc::unavailable, std::to_string(failed_sources_) + " of " +
                                                  std::to_string(sources_.size()) + " sources of partition " +
                                                  std::to_string(partition_) + " could not be read");
    spdlog::info("repair of partition {} done: {} keys, {} bytes from {} of {} sources", partition_, keys_, bytes_,
                 sources_.size() - failed_sources_, sources_.size());
    membership_.transfer_finished(partition_, true, outcome);
    finish();
    return;
  }
  if (auto wait = transfer_wait_ms(membership_.transfer_bytes_per_s(), start_us_, membership_.monotonic_us(), bytes_);
      wait > 0) {
    host_.set_timer(id_, wait, attempt_tag(kStepTimer, ++attempt_));
    return;
  }
  const Source& source = sources_[source_];
  asked_from_ = cursor_;
  VnodeFoldObjects fold;
  fold.partition = source.replica.partition;
  fold.key_partition = source.key_partition;
  fold.ring_size = host_.ring().partition_count();
  fold.start_after = cursor_;
  fold.limit_keys = kTransferBatchKeys;
  fold.limit_bytes = transfer_batch_bytes(membership_.transfer_bytes_per_s());
  ++attempt_;
  if (!host_.send_to_vnode(source.replica, encode(id_, fold))) {
    ++failed_sources_;
    ++source_;
    cursor_.clear();
    return ask_page();
  }
  host_.set_timer(id_, kTransferReplyTimeoutMs, attempt_tag(kTimeoutTimer, attempt_));
}

std::vector<std::string> RepairCoordinator::belonging(std::vector<std::string> objects) const {
  std::vector<std::string> out;
  for (auto& bytes : objects) {
    auto object = decode_object(bytes);
    if (!object) continue;
    const auto& key = object.value().key();
    const BucketProps* props = host_.bucket_types().find(key.bucket_type);
    std::uint32_t n_val = props ? props->n_val : 3;
    ring::Preflist list = preference_list(host_.ring(), key_hash(key.bucket_type, key.bucket, key.key), n_val);
    for (const auto& entry : list.entries) {
      if (entry.partition == partition_) {
        out.push_back(std::move(bytes));
        break;
      }
    }
  }
  return out;
}

void RepairCoordinator::on_reply(const net::Envelope& envelope) {
  auto type = static_cast<MessageType>(envelope.type);
  if (type == MessageType::vnode_fold_objects_reply && !storing_) {
    auto reply = decode_vnode_fold_objects_reply(envelope.body);
    if (!reply) return;
    ++attempt_;
    if (reply.value().status != ReplyStatus::ok) {
      spdlog::warn("repair of partition {}: source {} failed: {}", partition_, sources_[source_].replica.node,
                   reply.value().error.message);
      ++failed_sources_;
      ++source_;
      cursor_.clear();
      return ask_page();
    }
    if (!reply.value().resume_after.empty()) cursor_ = reply.value().resume_after;
    source_done_ = reply.value().done;
    std::vector<std::string> objects = belonging(std::move(reply.value().objects));
    if (objects.empty()) {
      if (source_done_) {
        ++source_;
        cursor_.clear();
      }
      return ask_page();
    }
    for (const auto& o : objects) bytes_ += o.size();
    keys_ += objects.size();
    HandoffBatch batch;
    batch.partition = partition_;
    batch.objects = std::move(objects);
    storing_ = true;
    if (!host_.send_to_vnode(ring::PreflistEntry{partition_, host_.self(), ring::Role::primary, {}},
                             encode(id_, batch))) {
      storing_ = false;
      cursor_ = asked_from_;  // read the page again after the pause
      source_done_ = false;
      host_.set_timer(id_, kTransferRetryMs, attempt_tag(kStepTimer, attempt_));
      return;
    }
    host_.set_timer(id_, kTransferReplyTimeoutMs, attempt_tag(kTimeoutTimer, attempt_));
    return;
  }
  if (type == MessageType::handoff_batch_reply && storing_) {
    auto reply = decode_handoff_batch_reply(envelope.body);
    if (!reply) return;
    storing_ = false;
    ++attempt_;
    membership_.transfer_progress(partition_, keys_, bytes_, 0);
    if (source_done_) {
      ++source_;
      cursor_.clear();
    }
    ask_page();
  }
}

void RepairCoordinator::on_timer(std::uint32_t tag) {
  if (done_ || !current_attempt(tag, tag & 3, attempt_)) return;
  if ((tag & 3) == kStepTimer && !storing_) return ask_page();  // a pause (throttle or retry) is over
  // A source or the local vnode did not answer: ask for the same page again.
  storing_ = false;
  cursor_ = asked_from_;
  source_done_ = false;
  ask_page();
}

// ---- admin transfers ---------------------------------------------------------------------------

TransfersCoordinator::TransfersCoordinator(MembershipHost& host, std::uint64_t id, std::uint64_t request_id,
                                           std::uint32_t timeout_ms, std::string what)
    : Coordinator(host, id, request_id), membership_(host), timeout_ms_(timeout_ms), what_(std::move(what)) {}

void TransfersCoordinator::start() {
  net::ClusterAdminReply own = membership_.local_report(what_);
  for (auto& t : own.transfers) reported_.push_back(std::move(t));
  merge_table(std::move(own));
  asked_.insert(host_.self());
  std::set<std::string> nodes;
  for (const auto& m : host_.ring().members())
    if (m.status != ring::MemberStatus::removed) nodes.insert(m.node);
  for (const auto& node : nodes) {
    if (node == host_.self()) continue;
    if (host_.reachable(node) && host_.send_to_node(node, encode_transfer_view_request(id_, what_))) {
      ++pending_;
    } else {
      silent_.push_back(node);
    }
  }
  if (pending_ == 0) return finish_answer();
  host_.set_timer(id_, timeout_ms_, kTimeoutTimer);
}

void TransfersCoordinator::on_reply(const net::Envelope& envelope) {
  if (static_cast<MessageType>(envelope.type) != MessageType::transfer_view_reply || done_) return;
  auto view = decode_transfer_view(envelope.body);
  if (!view || asked_.contains(view.value().first)) return;
  asked_.insert(view.value().first);
  auto inner = net::decode_envelope(view.value().second, codec::Limits{});
  if (inner) {
    auto reply = net::decode_cluster_admin_reply(inner.value().body);
    if (reply) {
      for (auto& t : reply.value().transfers) reported_.push_back(std::move(t));
      merge_table(std::move(reply).value());
    }
  }
  if (--pending_ == 0) finish_answer();
}

void TransfersCoordinator::on_timer(std::uint32_t tag) {
  if (tag == kTimeoutTimer && !done_) finish_answer();
}

void TransfersCoordinator::merge_table(net::ClusterAdminReply reply) {
  if (!reply.message.empty()) notes_.push_back(std::move(reply.message));
  if (reply.table.columns.empty()) return;
  if (table_.columns.empty()) table_.columns = reply.table.columns;
  if (table_.columns != reply.table.columns) return;  // a node of another version
  for (auto& row : reply.table.rows) table_.rows.push_back(std::move(row));
}

void TransfersCoordinator::finish_answer() {
  net::ClusterAdminReply out;
  if (what_ != "transfers") {
    // A report: every node's rows, in node order (rows start with the node).
    std::stable_sort(table_.rows.begin(), table_.rows.end(),
                     [](const auto& a, const auto& b) { return !a.empty() && !b.empty() && a[0].text < b[0].text; });
    out.table = std::move(table_);
    for (auto& note : notes_) out.message += (out.message.empty() ? "" : "; ") + note;
    for (const auto& node : silent_) out.message += (out.message.empty() ? "" : "; ") + node + " did not answer";
    if (pending_ > 0)
      out.message += (out.message.empty() ? "" : "; ") + std::to_string(pending_) + " node(s) did not answer in time";
    answer(net::encode_cluster_admin_reply(request_id_, out));
    finish();
    return;
  }
  // Every transfer the ring still plans, with its sender's progress when
  // the sender reported it; then the repairs nodes reported.
  std::map<std::uint32_t, net::TransferView> by_partition;
  for (const auto& t : host_.ring().pending_transfers()) {
    net::TransferView v;
    v.partition = t.partition;
    v.from = t.from;
    v.to = t.to;
    v.state = std::string(ring::transfer_state_name(t.state));
    by_partition[t.partition] = std::move(v);
  }
  for (auto& t : reported_) {
    if (t.state == "repairing" || t.state.rfind("hinted", 0) == 0) {
      out.transfers.push_back(std::move(t));
      continue;
    }
    auto it = by_partition.find(t.partition);
    if (it == by_partition.end() || it->second.from != t.from) continue;  // done or superseded meanwhile
    it->second = std::move(t);
  }
  for (auto& [p, v] : by_partition) out.transfers.push_back(std::move(v));
  std::sort(out.transfers.begin(), out.transfers.end(), [](const net::TransferView& a, const net::TransferView& b) {
    return std::tie(a.partition, a.state) < std::tie(b.partition, b.state);
  });
  for (const auto& node : silent_) out.message += (out.message.empty() ? "" : "; ") + node + " did not answer";
  std::size_t silent = pending_;
  if (silent > 0)
    out.message += (out.message.empty() ? "" : "; ") + std::to_string(silent) + " node(s) did not answer in time";
  answer(net::encode_cluster_admin_reply(request_id_, out));
  finish();
}

}  // namespace shoal::core
