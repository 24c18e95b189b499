// The router's healing duties: fallback vnodes and hinted handoff (sloppy
// quorum), the anti-entropy exchange schedule, the tombstone reaping guard,
// and the per-node admin reports (aae-status, merkle-roots, hints).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "base/failpoint.hpp"
#include "base/hash.hpp"
#include "core/router.hpp"
#include "ring/partition.hpp"
#include "storage/key.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

constexpr std::size_t kDeferredReapsMax = 100'000;
constexpr std::size_t kReapChecksPerTick = 500;

std::string hex64(std::uint64_t v) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(v));
  return buffer;
}

bool serves(const ring::Preflist& list, std::uint32_t partition) {
  return std::any_of(list.entries.begin(), list.entries.end(),
                     [&](const ring::PreflistEntry& e) { return e.partition == partition; });
}

net::StatusValue num(std::uint64_t v) { return net::StatusValue::of(static_cast<std::int64_t>(v)); }
net::StatusValue text(std::string v) { return net::StatusValue::of(std::move(v)); }

}  // namespace

// ---- fallbacks and hinted handoff ------------------------------------------------------------

std::optional<ActorRef> Router::fallback_vnode(std::uint32_t partition) {
  if (partition >= ring_.partition_count() || exiting_) return std::nullopt;
  if (auto it = vnodes_.find(partition); it != vnodes_.end()) return it->second;
  if (auto it = retired_at_us_.find(partition);
      it != retired_at_us_.end() && monotonic_us() - it->second < kReopenAfterRetireUs)
    return std::nullopt;  // its last copy is still being dropped
  auto ref = services_->spawn_vnode(partition);
  if (!ref) {
    spdlog::error("cannot open fallback vnode {}: {}", partition, ref.error().to_string());
    return std::nullopt;
  }
  spdlog::info("opened fallback vnode {} (standing in for {})", partition, ring_.owner(partition));
  vnodes_[partition] = ref.value();
  reconcile_vnodes();  // marks it a fallback
  return ref.value();
}

void Router::schedule_hinted_handoffs(std::size_t limit) {
  // A test arms this to hold hints back (a slow or stuck hinted handoff).
  if (!failpoint::check("handoff.hinted")) return;
  const std::int64_t now = monotonic_us();
  for (auto p : std::vector<std::uint32_t>(fallbacks_.begin(), fallbacks_.end())) {
    if (transfers_running() >= limit) return;
    if (handoffs_.contains(p) || !vnodes_.contains(p)) continue;
    if (auto retry = retry_after_us_.find(p); retry != retry_after_us_.end() && now < retry->second) continue;
    const std::string& owner = ring_.owner(p);
    if (owner == self() || !reachable(owner)) continue;
    std::uint64_t id = next_id_++;
    // No ring change has to spread: writes still sent here by coordinators
    // that think the owner is down are passed on for a heartbeat or two.
    auto coordinator =
        std::make_unique<HandoffCoordinator>(*this, id, p, owner, 2 * services_->config.heartbeat_interval_ms);
    Coordinator* raw = coordinator.get();
    coordinators_[id] = std::move(coordinator);
    handoffs_[p] = id;
    hinted_handoffs_.insert(p);
    transfer_stats_[p] = TransferStats{0, 0, 0, now, false};
    spdlog::info("hinted handoff of partition {} to {} starts", p, owner);
    raw->start();
    after_coordinator_event(id);
  }
}

std::vector<std::uint32_t> Router::busy_partitions() const {
  std::set<std::uint32_t> busy(fallbacks_.begin(), fallbacks_.end());
  for (const auto& [p, id] : handoffs_) busy.insert(p);
  for (const auto& [p, lists] : repairs_pending_) busy.insert(p);
  return std::vector<std::uint32_t>(busy.begin(), busy.end());
}

bool Router::reap_allowed(const ring::Preflist& preflist) const {
  std::set<std::uint32_t> partitions;
  for (const auto& e : preflist.entries) {
    if (e.role != ring::Role::primary) return false;
    partitions.insert(e.partition);
  }
  // A node that cannot be asked may hold hints of these partitions.
  for (const auto& m : ring_.members())
    if (m.status != ring::MemberStatus::removed && !reachable(m.node)) return false;
  auto involved = [&](const std::vector<std::uint32_t>& busy) {
    return std::any_of(busy.begin(), busy.end(), [&](std::uint32_t p) { return partitions.contains(p); });
  };
  for (const auto& t : ring_.pending_transfers())
    if (partitions.contains(t.partition)) return false;
  if (involved(busy_partitions())) return false;
  for (const auto& link : peers_)
    if (!link.retired && involved(link.busy_partitions)) return false;
  return true;
}

void Router::defer_reap(const crdt::ObjectKey& key) {
  if (deferred_reaps_.size() >= kDeferredReapsMax) return;  // reads and anti-entropy reap the rest
  if (!deferred_reap_keys_.insert(storage::encode_storage_key(key.bucket_type, key.bucket, key.key)).second) return;
  deferred_reaps_.push_back(key);
}

void Router::deferred_reap_tick() {
  for (std::size_t n = deferred_reaps_.size(), checked = 0; n > 0 && checked < kReapChecksPerTick; --n) {
    crdt::ObjectKey key = std::move(deferred_reaps_.front());
    deferred_reaps_.pop_front();
    const BucketProps* props = bucket_types_->find(key.bucket_type);
    std::string skey = storage::encode_storage_key(key.bucket_type, key.bucket, key.key);
    if (!props) {
      deferred_reap_keys_.erase(skey);
      continue;
    }
    auto list = preference_list(ring_, key_hash(key.bucket_type, key.bucket, key.key), props->n_val);
    if (!reap_allowed(list)) {
      deferred_reaps_.push_back(std::move(key));
      continue;
    }
    deferred_reap_keys_.erase(skey);
    ++checked;
    start_reap_check(key);
  }
}

// ---- anti-entropy schedule --------------------------------------------------------------------

std::vector<std::pair<storage::TreeId, ring::Preflist>> Router::aae_lists() const {
  std::set<std::uint32_t> n_vals;
  for (const auto& [name, props] : bucket_types_->all()) n_vals.insert(props.n_val);
  const std::uint32_t q = ring_.partition_count();
  std::vector<std::pair<storage::TreeId, ring::Preflist>> lists;
  for (std::uint32_t n : n_vals)
    for (std::uint32_t start = 0; start < q; ++start)
      lists.emplace_back(storage::TreeId{start, static_cast<std::uint8_t>(n)},
                         preference_list(ring_, ring::partition_start(start, q), n));
  return lists;
}

void Router::refresh_aae_pairs() {
  aae_pairs_version_ = ring_version_;
  const auto lists = aae_lists();
  std::set<std::uint32_t> moving;
  for (const auto& t : ring_.pending_transfers()) moving.insert(t.partition);
  const std::int64_t now = monotonic_us();
  const std::uint32_t interval_ms = services_->config.aae_interval_ms;
  std::map<AaePairKey, AaePairState> next;
  for (const auto& [p, ref] : vnodes_) {
    if (ring_.owner(p) != self() || moving.contains(p)) continue;
    for (const auto& [tree, list] : lists) {
      if (!serves(list, p)) continue;
      for (const auto& e : list.entries) {
        if (e.partition == p || moving.contains(e.partition)) continue;
        // One exchange per pair of replicas: the lower one starts it.
        if (std::tie(e.node, e.partition) < std::tie(self(), p)) continue;
        AaePairKey key{tree, p, e.node, e.partition};
        if (auto old = aae_pairs_.find(key); old != aae_pairs_.end()) {
          next.emplace(key, std::move(old->second));
          continue;
        }
        AaePairState state;
        // First exchanges spread over one interval, so a restart does not
        // start every exchange at once.
        std::uint64_t spread =
            interval_ms == 0
                ? 0
                : hash64(key.remote_node + std::to_string(tree.preflist_start_partition) + "/" + std::to_string(p)) %
                      (std::uint64_t{interval_ms} * 1000);
        state.due_us = interval_ms == 0 ? INT64_MAX : now + static_cast<std::int64_t>(spread);
        next.emplace(key, std::move(state));
      }
    }
  }
  // Exchanges still running keep their pair until they report.
  for (auto& [id, key] : aae_running_)
    if (!next.contains(key)) {
      if (auto old = aae_pairs_.find(key); old != aae_pairs_.end()) next.emplace(key, std::move(old->second));
    }
  aae_pairs_ = std::move(next);
}

void Router::aae_tick() {
  if (exiting_) return;
  if (aae_pairs_version_ != ring_version_) refresh_aae_pairs();
  const std::int64_t now = monotonic_us();
  const std::size_t concurrency = services_->config.aae_concurrency;
  if (aae_running_.size() >= concurrency) return;
  std::vector<std::pair<std::int64_t, const AaePairKey*>> due;
  for (const auto& [key, state] : aae_pairs_)
    if (state.running == 0 && state.due_us <= now) due.emplace_back(state.due_us, &key);
  std::sort(due.begin(), due.end());
  for (const auto& [when, key_ptr] : due) {
    if (aae_running_.size() >= concurrency) return;
    const AaePairKey key = *key_ptr;
    AaePairState& state = aae_pairs_.at(key);
    if (!reachable(key.remote_node)) continue;
    auto view = services_->aae ? services_->aae->find(key.local_partition) : std::nullopt;
    if (!view || !view->ready) continue;  // rebuilding: try again next tick
    std::uint64_t id = next_id_++;
    ring::PreflistEntry local{key.local_partition, self(), ring::Role::primary, {}};
    ring::PreflistEntry remote{key.remote_partition, key.remote_node, ring::Role::primary, {}};
    auto coordinator =
        std::make_unique<AaeExchangeCoordinator>(*this, *this, id, key.tree, std::move(local), std::move(remote));
    Coordinator* raw = coordinator.get();
    coordinators_[id] = std::move(coordinator);
    aae_running_[id] = key;
    state.running = id;
    raw->start();
    after_coordinator_event(id);
  }
}

void Router::aae_exchange_finished(std::uint64_t coordinator, const AaeOutcome& outcome) {
  auto running = aae_running_.find(coordinator);
  if (running == aae_running_.end()) return;
  AaePairKey key = running->second;
  aae_running_.erase(running);
  auto it = aae_pairs_.find(key);
  if (it == aae_pairs_.end()) return;
  AaePairState& state = it->second;
  const std::int64_t now = monotonic_us();
  const std::uint32_t interval_ms = services_->config.aae_interval_ms;
  state.running = 0;
  state.last_exchange_unix_us = services_->clock->now_unix_us();
  ++state.exchanges;
  if (outcome.error) {
    state.last_outcome = "error: " + outcome.error->message;
    spdlog::debug("anti-entropy exchange of list {}/{} with {}: {}", key.tree.preflist_start_partition,
                  static_cast<int>(key.tree.n_val), key.remote_node, outcome.error->to_string());
    state.due_us =
        now + std::min<std::int64_t>(std::int64_t{interval_ms == 0 ? 10'000 : interval_ms} * 1000, 10'000'000);
  } else {
    state.keys_repaired_last = outcome.keys_repaired;
    state.keys_repaired_total += outcome.keys_repaired;
    state.last_outcome = outcome.in_sync ? "in sync" : "repaired " + std::to_string(outcome.keys_repaired);
    if (outcome.keys_repaired > 0)
      spdlog::info("anti-entropy: list {}/{} on {} and {}: repaired {} key(s){}", key.tree.preflist_start_partition,
                   static_cast<int>(key.tree.n_val), self(), key.remote_node, outcome.keys_repaired,
                   outcome.more ? " (more differences remain)" : "");
    // Differences left: exchange again at once, so a big repair finishes
    // quickly in bounded steps.
    state.due_us = outcome.more || outcome.keys_repaired > 0 ? now
                   : interval_ms == 0                        ? INT64_MAX
                                                             : now + std::int64_t{interval_ms} * 1000;
  }
  kick();  // the next exchange starts now
}

void Router::aae_tombstone_repaired(const crdt::ObjectKey& key) { start_reap_check(key); }

void Router::start_reap_check(const crdt::ObjectKey& key) {
  const BucketProps* props = bucket_types_->find(key.bucket_type);
  if (!props) return;
  if (in_flight_.load() >= services_->config.limits.requests_in_flight_max / 2) return;  // busy: a later exchange
  KeyRequestPlan plan;
  plan.key = key;
  plan.props = *props;
  plan.timeout_ms = services_->config.request_timeout_ms;
  std::uint64_t hash = key_hash(key.bucket_type, key.bucket, key.key);
  plan.preflist = preference_list(ring_, hash, props->n_val);
  auto spec = make_read_spec(props->n_val, props->n_val, 0, true, false);
  if (!spec) return;
  Origin origin;
  origin.kind = Origin::Kind::internal;
  origin.op = Op::admin;
  origin.started_us = monotonic_us();
  std::uint64_t id = next_id_++;
  // The read repairs what still differs and reaps the tombstone when every
  // replica holds it and reaping is allowed.
  auto coordinator = std::make_unique<GetCoordinator>(*this, id, 0, std::move(plan), spec.value());
  coordinator->set_reap_check();
  start_coordinator(std::move(coordinator), std::move(origin));
}

void Router::kick() {
  if (kick_pending_) return;
  kick_pending_ = true;
  runtime_->context(self_).set_timer(0, kKickToken);
}

// ---- reports ----------------------------------------------------------------------------------

net::ClusterAdminReply Router::local_report(const std::string& what) {
  net::ClusterAdminReply out;
  if (what == "transfers") return local_transfers();
  if (what == "aae-status") {
    out.table = aae_status_table();
  } else if (what == "merkle-roots") {
    out.table = merkle_roots_table();
  } else if (what == "hints") {
    out.table = hints_table();
  } else if (what == "aae-exchange") {
    if (aae_pairs_version_ != ring_version_) refresh_aae_pairs();
    std::uint64_t scheduled = 0;
    const std::int64_t now = monotonic_us();
    for (auto& [key, state] : aae_pairs_) {
      if (state.running) continue;
      state.due_us = now;
      ++scheduled;
    }
    out.table.columns = {"node", "exchanges_scheduled", "exchanges_running"};
    out.table.rows.push_back({text(self()), num(scheduled), num(aae_running_.size())});
    kick();
  } else {
    out.message = "unknown report '" + what + "' on " + self();
  }
  return out;
}

net::Table Router::aae_status_table() const {
  net::Table t;
  t.columns = {
      "node",        "partition",          "tree_state",         "trees", "keys", "exchanges", "last_exchange_s_ago",
      "last_result", "keys_repaired_last", "keys_repaired_total"};
  auto views = services_->aae ? services_->aae->all() : std::map<std::uint32_t, AaePartitionView>{};
  const std::int64_t now_unix = services_->clock->now_unix_us();
  for (const auto& [p, ref] : vnodes_) {
    if (ring_.owner(p) != self()) continue;  // fallbacks hold hints, not replicas
    auto v = views.find(p);
    std::string state = v == views.end()  ? "opening"
                        : v->second.ready ? "ready"
                                          : "rebuilding (" + std::to_string(v->second.rebuilt_keys) + " of ~" +
                                                std::to_string(v->second.keys_estimate) + " keys)";
    std::uint64_t exchanges = 0, last_total = 0, repaired_last = 0;
    std::int64_t last_us = 0;
    std::string last_result = "never";
    for (const auto& [key, s] : aae_pairs_) {
      if (key.local_partition != p && !(key.remote_node == self() && key.remote_partition == p)) continue;
      exchanges += s.exchanges;
      last_total += s.keys_repaired_total;
      if (s.last_exchange_unix_us > last_us) {
        last_us = s.last_exchange_unix_us;
        last_result = s.last_outcome;
        repaired_last = s.keys_repaired_last;
      }
    }
    t.rows.push_back({text(self()), num(p), text(state), num(v == views.end() ? 0 : v->second.trees.size()),
                      num(v == views.end() ? 0 : v->second.keys_estimate), num(exchanges),
                      last_us == 0 ? text("never") : num(static_cast<std::uint64_t>((now_unix - last_us) / 1'000'000)),
                      text(last_result), num(repaired_last), num(last_total)});
  }
  return t;
}

net::Table Router::merkle_roots_table() const {
  net::Table t;
  t.columns = {"node", "preflist", "n_val", "partition", "root", "tree_state"};
  auto views = services_->aae ? services_->aae->all() : std::map<std::uint32_t, AaePartitionView>{};
  const auto lists = aae_lists();
  for (const auto& [p, ref] : vnodes_) {
    if (ring_.owner(p) != self()) continue;
    auto v = views.find(p);
    const bool ready = v != views.end() && v->second.ready;
    // Every list the vnode serves, with an empty tree's root (0) for a list
    // it holds no key of yet, so replicas of a list can always be compared.
    for (const auto& [id, list] : lists) {
      if (!serves(list, p)) continue;
      std::uint64_t root = 0;
      if (v != views.end())
        for (const auto& tree : v->second.trees)
          if (tree.id == id) root = tree.root;
      t.rows.push_back({text(self()), num(id.preflist_start_partition), num(id.n_val), num(p), text(hex64(root)),
                        text(ready              ? "ready"
                             : v == views.end() ? "opening"
                                                : "rebuilding")});
    }
  }
  return t;
}

net::Table Router::hints_table() const {
  net::Table t;
  t.columns = {"node", "partition", "primary", "hints", "state"};
  for (auto p : fallbacks_) {
    std::uint64_t keys = 0;
    if (auto v = services_->aae ? services_->aae->find(p) : std::nullopt) keys = v->keys_estimate;
    const std::string& owner = ring_.owner(p);
    std::string state = hinted_handoffs_.contains(p) ? "handing off"
                        : reachable(owner)           ? "waiting to hand off"
                                                     : "primary unreachable";
    t.rows.push_back({text(self()), num(p), text(owner), num(keys), text(state)});
  }
  for (auto p : hinted_handoffs_)
    if (!fallbacks_.contains(p)) {
      std::uint64_t keys = 0;
      if (auto v = services_->aae ? services_->aae->find(p) : std::nullopt) keys = v->keys_estimate;
      t.rows.push_back({text(self()), num(p), text(ring_.owner(p)), num(keys), text("handing off")});
    }
  return t;
}

}  // namespace shoal::core
