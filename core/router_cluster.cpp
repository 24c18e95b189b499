// The router's membership half: peer links for every member, ring and
// metadata gossip, the claimant's staged changes (join, leave,
// force-remove, replace, plan, commit, clear), bucket types at run time,
// and the partitions that move: handoffs this node sends, repairs it runs,
// vnodes it opens for partitions it gains and retires for those it lost.
// See docs/architecture.md ("Membership") for the whole flow.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include "base/hash.hpp"
#include "core/node.hpp"
#include "core/peer_messages.hpp"
#include "core/router.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

constexpr std::uint32_t kAdminForwardTimeoutMs = 10'000;
constexpr std::int64_t kJoinConnectTimeoutUs = 10'000'000;
constexpr std::int64_t kTransferRetryDelayUs = 5'000'000;

bool owns_partitions(ring::MemberStatus status) {
  return status == ring::MemberStatus::valid || status == ring::MemberStatus::joining ||
         status == ring::MemberStatus::leaving || status == ring::MemberStatus::down;
}

std::string staged_text(const std::string& kind, const std::string& node, const std::string& other) {
  return kind + " " + node + (other.empty() ? "" : " " + other);
}

}  // namespace

// ---- peer links -------------------------------------------------------------------------------

std::uint32_t Router::ensure_peer(const std::string& node) {
  const NodeConfig& config = services_->config;
  auto existing = peer_index_.find(node);
  if (existing != peer_index_.end() && !peers_[existing->second].retired) return existing->second;
  auto name = NodeName::parse(node);
  SHOAL_ASSERT(name.has_value(), "peer names are checked before links are made");
  PeerLink link;
  link.name = name.value();
  link.dealer = make_socket(zmq::socket_type::dealer, config.limits.peer_message_bytes_max);
  link.dealer->set(zmq::sockopt::immediate, 1);
  link.dealer->set(zmq::sockopt::reconnect_ivl, 100);
  link.dealer->set(zmq::sockopt::reconnect_ivl_max, 1000);
  const auto hb_us = std::int64_t{config.heartbeat_interval_ms} * 1000;
  // Heartbeats queue behind other traffic and wait for a busy router's
  // tick, so a pause of two intervals (at least 1 s) is normal, and the
  // deviation has a floor of half an interval: with the default 500 ms
  // heartbeats a silent peer is suspected after ~2.8 s (the hard limit,
  // --peer-down-after-ms, is 3 s), later when its heartbeats have been
  // irregular, sooner with shorter heartbeat intervals.
  link.detector = PhiAccrualDetector(PhiOptions{8.0, 200, std::max<std::int64_t>(hb_us / 2, 100'000),
                                                std::max<std::int64_t>(2 * hb_us, 1'000'000), hb_us});
  // Bind our own host as the source address, so a node on 127.0.0.2 really
  // talks from 127.0.0.2 (partitions drop by source address). A DEALER is
  // read on every tick, not polled: it only ever receives handshake replies
  // and answers to requests made before the peer connected back.
  link.dealer->connect("tcp://" + config.node.host + ":0;" + link.name.host + ":" + std::to_string(link.name.port));
  if (existing != peer_index_.end()) {
    // A member that comes back (rejoins after removal): same index, new socket.
    peers_[existing->second] = std::move(link);
    return existing->second;
  }
  auto index = static_cast<std::uint32_t>(peers_.size());
  peer_index_[node] = index;
  peers_.push_back(std::move(link));
  return index;
}

void Router::reconcile_peers() {
  const std::string& me = self();
  for (const auto& member : ring_.members()) {
    if (member.node == me) continue;
    auto it = peer_index_.find(member.node);
    // A removed node whose join is staged here (it came back) keeps its
    // link: the plan needs to see it reachable.
    bool rejoining = std::any_of(staged_.begin(), staged_.end(),
                                 [&](const StagedChange& c) { return c.kind == "join" && c.node == member.node; });
    bool gone = (member.status == ring::MemberStatus::removed && !rejoining) ||
                (member.status == ring::MemberStatus::exiting && !reachable(member.node));
    if (!gone) {
      ensure_peer(member.node);
      continue;
    }
    if (it == peer_index_.end() || peers_[it->second].retired) continue;
    PeerLink& link = peers_[it->second];
    spdlog::info("closing the link to {} ({})", member.node, ring::member_status_name(member.status));
    link.dealer->close();
    link.retired = true;
    link.state = PeerLink::State::idle;
    link.outbox.clear();
    link.outbox_bytes = 0;
    for (auto i = inbound_.begin(); i != inbound_.end();) {
      if (i->second.authenticated && i->second.peer == it->second) {
        i = inbound_.erase(i);
      } else {
        ++i;
      }
    }
    link.inbound_routing_id.clear();
  }
}

// ---- ring and metadata ------------------------------------------------------------------------

void Router::persist(const std::string& file, const std::string& bytes) {
  std::string path = services_->config.data_dir + "/" + file;
  if (auto written = write_file_atomically(path, bytes); !written)
    spdlog::error("cannot persist {}: {} (the change holds in memory; gossip restores it after a restart)", path,
                  written.error().to_string());
}

void Router::persist_repairs() {
  std::ostringstream out;
  for (const auto& [partition, lists] : repairs_pending_) {
    for (const auto& [list, sources] : lists) {
      out << partition << ' ' << list;
      for (auto source : sources) out << ' ' << source;
      out << '\n';
    }
  }
  persist("repairs", out.str());
}

// Called when the ring settles (no transfer pending). A partition may now
// serve preference lists it did not serve in the previous settled ring
// (claim moved owners around it, so the distinct-node walk takes other
// partitions), or it was taken from a force-removed node and arrives
// empty. Either way it fetches those lists' keys from the partitions that
// hold them: the list's other members, now and before.
void Router::add_repairs(const ring::Ring& previous, const ring::Ring& next) {
  if (previous.partition_count() != next.partition_count()) return;
  const std::uint32_t n_val = bucket_types_->n_val_max();
  const std::uint32_t q = next.partition_count();
  std::vector<std::vector<std::uint32_t>> lists_before(q), lists_after(q);
  for (std::uint32_t start = 0; start < q; ++start) {
    for (const auto& e : preference_list(previous, ring::partition_start(start, q), n_val).entries)
      lists_before[start].push_back(e.partition);
    for (const auto& e : preference_list(next, ring::partition_start(start, q), n_val).entries)
      lists_after[start].push_back(e.partition);
  }
  auto serves = [](const std::vector<std::uint32_t>& list, std::uint32_t p) {
    return std::find(list.begin(), list.end(), p) != list.end();
  };
  bool changed = false;
  for (ring::Partition p : next.partitions_of(self())) {
    const ring::Member* old_owner = next.member(previous.owner(p));
    bool lost = previous.owner(p) != self() && old_owner && old_owner->status == ring::MemberStatus::removed;
    std::size_t added = 0;
    for (std::uint32_t start = 0; start < q; ++start) {
      if (!serves(lists_after[start], p) || (!lost && serves(lists_before[start], p))) continue;
      auto& sources = repairs_pending_[p][start];
      for (auto source : lists_after[start])
        if (source != p) sources.insert(source);
      for (auto source : lists_before[start])
        if (source != p) sources.insert(source);
      ++added;
    }
    if (added > 0) {
      changed = true;
      spdlog::info("partition {} {} {} preference list{} it holds no data for: scheduling a repair", p,
                   lost ? "came from a removed node and serves" : "now serves", added, added == 1 ? "" : "s");
    }
  }
  if (changed) persist_repairs();
}

void Router::apply_ring(ring::Ring next, bool gossip_now) {
  if (next == ring_) return;
  ring::Ring previous = ring_;
  bool adopted =
      previous.members().size() == 1 && previous.member(self()) && next.members().size() > 1 && join_seed_.has_value();
  if (next.pending_transfers().empty()) {
    if (!adopted) add_repairs(settled_ring_, next);
    settled_ring_ = next;
    persist("settled_ring", settled_ring_.encode());
  } else if (adopted) {
    settled_ring_ = next;
    persist("settled_ring", settled_ring_.encode());
  }
  ring_ = std::move(next);
  ++ring_version_;
  services_->cluster->publish_ring(ring_);
  persist("ring", ring_.encode());
  for (const auto& m : ring_.members()) {
    const ring::Member* before = previous.member(m.node);
    if (!before || before->status != m.status)
      spdlog::info("member {} is {}", m.node, ring::member_status_name(m.status));
  }
  reconcile_peers();
  reconcile_vnodes();
  if (gossip_now) gossip_to_all();
}

void Router::apply_metadata(ClusterMetadata next, bool gossip_now) {
  if (next == metadata_) return;
  ++ring_version_;  // bucket types (and their n_val) may have changed
  metadata_ = std::move(next);
  services_->cluster->publish_metadata(metadata_);
  bucket_types_ = services_->cluster->bucket_types();
  persist("metadata", metadata_.encode());
  if (gossip_now) gossip_to_all();
}

void Router::gossip_to(std::uint32_t peer) {
  (void)send_to_peer(peer, encode(0, Gossip{ring_.encode(), metadata_.encode()}));
}

void Router::gossip_to_all() {
  std::string message = encode(0, Gossip{ring_.encode(), metadata_.encode()});
  for (const auto& member : ring_.members()) {
    if (member.node == self() || member.status == ring::MemberStatus::removed) continue;
    auto it = peer_index_.find(member.node);
    if (it != peer_index_.end() && !peers_[it->second].retired && peers_[it->second].state == PeerLink::State::ready)
      (void)send_to_peer(it->second, message);
  }
}

void Router::gossip_tick() {
  std::int64_t now = monotonic_us();
  if (now < next_gossip_us_) return;
  next_gossip_us_ = now + std::int64_t{services_->config.gossip_interval_ms} * 1000;
  std::vector<std::uint32_t> candidates;
  for (const auto& member : ring_.members()) {
    if (member.node == self() || member.status == ring::MemberStatus::removed) continue;
    auto it = peer_index_.find(member.node);
    if (it != peer_index_.end() && !peers_[it->second].retired && peers_[it->second].state == PeerLink::State::ready)
      candidates.push_back(it->second);
  }
  if (candidates.empty()) return;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  gossip_to(candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng)]);
}

void Router::on_gossip(std::uint32_t peer, const net::Envelope& envelope) {
  auto gossip = decode_gossip(envelope.body);
  if (!gossip) {
    services_->stats->malformed_messages.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto theirs = ring::Ring::decode(gossip.value().ring);
  auto metadata = ClusterMetadata::decode(gossip.value().metadata);
  if (!theirs || !metadata) {
    spdlog::warn("gossip from {} does not decode: {}", peers_[peer].name.full,
                 !theirs ? theirs.error().to_string() : metadata.error().to_string());
    return;
  }
  const std::string& sender = peers_[peer].name.full;
  const ring::Member* me_there = theirs.value().member(self());
  const ring::Member* sender_here = ring_.member(sender);
  bool alone = ring_.members().size() == 1;
  if (alone && join_seed_ && me_there && me_there->status != ring::MemberStatus::removed) {
    // The cluster this node asked to join committed the join: take its ring
    // (the singleton ring this node started with is not merged into it).
    spdlog::info("joined cluster '{}' through {}: adopting its ring ({} members)", theirs.value().cluster_name(),
                 sender, theirs.value().members().size());
    ClusterMetadata merged = metadata_;
    merged.merge(metadata.value());
    apply_metadata(std::move(merged), false);
    apply_ring(std::move(theirs).value(), true);
    join_seed_.reset();
    std::error_code ec;
    std::filesystem::remove(services_->config.data_dir + "/joining", ec);
    return;
  }
  // Only the gossip of a node that is in our cluster (each lists the other)
  // is merged: a stranger that knows the secret cannot rewrite our ring.
  if (!me_there || !sender_here || sender_here->status == ring::MemberStatus::removed) return;
  auto merged = ring::Ring::merge(ring_, theirs.value());
  if (!merged) {
    spdlog::warn("gossip from {}: {}", sender, merged.error().to_string());
    return;
  }
  ClusterMetadata merged_metadata = metadata_;
  merged_metadata.merge(metadata.value());
  bool ring_changed = !(merged.value() == ring_);
  bool metadata_changed = !(merged_metadata == metadata_);
  bool sender_behind = !(merged.value() == theirs.value()) || !(merged_metadata == metadata.value());
  apply_metadata(std::move(merged_metadata), false);
  apply_ring(std::move(merged).value(), false);
  if (ring_changed || metadata_changed) {
    gossip_to_all();  // what changed here spreads at once, not only on the next random round
  } else if (sender_behind) {
    gossip_to(peer);
  }
}

// ---- the claimant ------------------------------------------------------------------------------

std::string Router::claimant() const {
  // The lowest-named valid member this node can reach. Commits need every
  // member reachable, so two sides of a partition never both commit.
  for (const auto& m : ring_.members())
    if (m.status == ring::MemberStatus::valid && reachable(m.node)) return m.node;
  return {};
}

bool Router::is_claimant() const { return claimant() == self(); }

Result<net::ClusterAdminReply> Router::plan_staged(std::optional<ring::Ring>* next) const {
  if (staged_.empty()) return make_error(Errc::precondition_failed, "no changes are staged");
  bool only_removals =
      std::all_of(staged_.begin(), staged_.end(), [](const StagedChange& c) { return c.kind == "force-remove"; });
  auto pending = ring_.pending_transfers();
  if (!pending.empty() && !only_removals)
    return make_error(Errc::precondition_failed,
                      std::to_string(pending.size()) + " transfer" + (pending.size() == 1 ? " is" : "s are") +
                          " of the last change still pending: wait until `shoal admin transfers` shows none");
  const crdt::Actor actor = self();
  std::set<std::string> replacements;
  for (const auto& c : staged_)
    if (c.kind == "replace") replacements.insert(c.other);
  ring::Ring r = ring_;
  ring::ClaimReport report;
  for (const auto& c : staged_) {
    Result<ring::Plan> plan = make_error(Errc::invalid_argument, "unknown change " + c.kind);
    if (c.kind == "join") {
      if (replacements.contains(c.node)) continue;  // joins as the replacement
      plan = r.join(ring::ClaimNode{c.node, c.location}, actor);
    } else if (c.kind == "leave") {
      plan = r.leave(c.node, actor);
    } else if (c.kind == "force-remove") {
      plan = r.force_remove(c.node, actor);
    } else if (c.kind == "replace") {
      std::string location;
      for (const auto& j : staged_)
        if (j.kind == "join" && j.node == c.other) location = j.location;
      plan = r.replace(c.node, ring::ClaimNode{c.other, location}, actor);
    }
    if (!plan) return make_error(plan.error().code, staged_text(c.kind, c.node, c.other) + ": " + plan.error().message);
    report = plan.value().report;
    r = plan.value().ring;
  }
  // Safety: enough nodes for every bucket type, and everyone reachable.
  std::set<std::string> owners_now, owners_after;
  for (const auto& o : ring_.owners()) owners_now.insert(o.node);
  for (const auto& o : r.target_owners()) owners_after.insert(o);
  for (const auto& [name, props] : bucket_types_->all()) {
    if (owners_after.size() < props.n_val && owners_after.size() < owners_now.size())
      return make_error(Errc::precondition_failed, "refused: the cluster would be left with " +
                                                       std::to_string(owners_after.size()) + " node" +
                                                       (owners_after.size() == 1 ? "" : "s") + ", fewer than n_val " +
                                                       std::to_string(props.n_val) + " of bucket type '" + name +
                                                       "' (replicas would share nodes)");
  }
  for (const auto& m : r.members()) {
    if (m.node == self() || !owns_partitions(m.status)) continue;
    if (!reachable(m.node))
      return make_error(Errc::unavailable, "refused: " + m.node + " (" +
                                               std::string(ring::member_status_name(m.status)) +
                                               ") is unreachable; bring it back, or force-remove it if it is lost");
  }
  net::ClusterAdminReply out;
  for (const auto& c : staged_) out.staged.push_back(staged_text(c.kind, c.node, c.other));
  for (const auto& t : r.pending_transfers())
    out.transfers.push_back(net::TransferView{t.partition, t.from, t.to, "awaiting", 0, 0, 0, 0, -1});
  for (ring::Partition p = 0; p < r.partition_count(); ++p) {
    const ring::Member* old_owner = r.member(ring_.owner(p));
    if (ring_.owner(p) != r.owner(p) && old_owner && old_owner->status == ring::MemberStatus::removed)
      out.transfers.push_back(net::TransferView{p, ring_.owner(p), r.owner(p), "repair", 0, 0, 0, 0, -1});
  }
  std::sort(out.transfers.begin(), out.transfers.end(),
            [](const net::TransferView& a, const net::TransferView& b) { return a.partition < b.partition; });
  std::map<std::string, net::OwnershipView> ownership;
  for (const auto& o : ring_.owners()) {
    auto& v = ownership[o.node];
    v.node = o.node;
    ++v.partitions_now;
  }
  for (const auto& o : r.target_owners()) {
    auto& v = ownership[o];
    v.node = o;
    ++v.partitions_after;
  }
  for (auto& [node, v] : ownership) out.ownership.push_back(v);
  std::size_t handoffs = 0, repairs = 0;
  for (const auto& t : out.transfers) (t.state == "repair" ? repairs : handoffs)++;
  out.message = std::to_string(staged_.size()) + " staged change" + (staged_.size() == 1 ? "" : "s") + ": " +
                std::to_string(handoffs) + " partition" + (handoffs == 1 ? "" : "s") + " to hand off";
  if (repairs > 0) out.message += ", " + std::to_string(repairs) + " to rebuild from replicas";
  out.message += report.reason.empty()
                     ? "; the new ring is balanced and spreads every preference list over distinct nodes"
                     : "; " + report.reason;
  if (next) *next = r;
  return out;
}

void Router::forward_to_peer(std::uint32_t peer, std::string_view payload, Origin origin, std::uint64_t request_id,
                             std::uint32_t timeout_ms) {
  std::uint64_t forward_id = next_id_++;
  if (auto sent = send_to_peer(peer, encode_forward(forward_id, payload)); !sent)
    return reply_error(origin, request_id, sent.error());
  services_->stats->requests_forwarded.fetch_add(1, std::memory_order_relaxed);
  forwards_[forward_id] = Forwarded{std::move(origin), request_id, peer};
  ++in_flight_;
  runtime_->context(self_).set_timer(timeout_ms, (forward_id << 24) | kForwardTimerTag);
}

void Router::handle_cluster_admin(const Origin& origin, std::uint64_t request_id, std::string_view payload,
                                  const net::Envelope& envelope) {
  auto request = net::decode_cluster_admin(envelope.body);
  if (!request) return reply_error(origin, request_id, request.error());
  // Named variables, not a structured binding: lambdas below capture them.
  std::string command = std::move(request.value().first);
  std::vector<std::string> args = std::move(request.value().second);
  auto arity = [&](std::size_t min, std::size_t max) {
    if (args.size() >= min && args.size() <= max) return true;
    reply_error(origin, request_id,
                make_error(Errc::invalid_argument,
                           "cluster " + command + " takes " +
                               (min == max ? std::to_string(min) : std::to_string(min) + ".." + std::to_string(max)) +
                               " argument" + (max == 1 ? "" : "s")));
    return false;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    bool may_be_empty = command == "stage-join" && i == 1;  // an unlabelled node's location
    if ((args[i].empty() && !may_be_empty) || args[i].size() > 1024)
      return reply_error(origin, request_id, make_error(Errc::invalid_argument, "an argument is empty or too long"));
  }
  if (command == "join") {
    if (!arity(1, 1)) return;
    return start_join(origin, request_id, args[0]);
  }
  static const std::set<std::string> reports = {"transfers", "aae-status", "aae-exchange", "merkle-roots", "hints"};
  if (reports.contains(command)) {
    if (!arity(0, 0)) return;
    std::uint64_t id = next_id_++;
    return start_coordinator(std::make_unique<TransfersCoordinator>(*this, id, request_id, 3000, command), origin);
  }
  static const std::set<std::string> claimant_commands = {"stage-join", "leave",  "force-remove", "replace",
                                                          "plan",       "commit", "clear"};
  if (!claimant_commands.contains(command))
    return reply_error(
        origin, request_id,
        make_error(
            Errc::invalid_argument,
            "unknown cluster command '" + command +
                "' (join, leave, force-remove, replace, plan, commit, clear, transfers, aae-status, aae-exchange, "
                "merkle-roots, hints)"));
  if (command == "leave" && args.empty()) {
    // "leave" means the node the operator asked; name it before forwarding.
    std::string named = net::encode_cluster_admin(request_id, "leave", {self()});
    auto decoded = net::decode_envelope(named, codec::Limits{});
    SHOAL_ASSERT(decoded.has_value(), "a message this node encoded decodes");
    return handle_cluster_admin(origin, request_id, named, decoded.value());
  }
  std::string boss = claimant();
  if (boss.empty())
    return reply_error(origin, request_id,
                       make_error(Errc::unavailable, "no valid member is reachable to act as claimant"));
  if (boss != self()) {
    // A joining node asks any member (its seed), which relays to the
    // claimant once; anything else arrives forwarded at most once.
    bool relay_join = origin.kind == Origin::Kind::forward && command == "stage-join" && args.size() == 2;
    if (origin.kind == Origin::Kind::forward && !relay_join)
      return reply_error(origin, request_id,
                         make_error(Errc::unavailable, self() + " is not the claimant (" + boss +
                                                           " is, as this node sees the ring): retry"));
    if (relay_join) {
      std::string relayed = net::encode_cluster_admin(request_id, "stage-join", {args[0], args[1], "relayed"});
      return forward_to_peer(peer_index_.at(boss), relayed, origin, request_id, kAdminForwardTimeoutMs);
    }
    return forward_to_peer(peer_index_.at(boss), payload, origin, request_id, kAdminForwardTimeoutMs);
  }
  cluster_command(origin, request_id, command, args);
}

void Router::cluster_command(const Origin& origin, std::uint64_t request_id, const std::string& command,
                             const std::vector<std::string>& args) {
  auto reply = [&](std::string message) {
    net::ClusterAdminReply r;
    r.message = std::move(message);
    for (const auto& c : staged_) r.staged.push_back(staged_text(c.kind, c.node, c.other));
    answer_origin(origin, net::encode_cluster_admin_reply(request_id, r));
  };
  auto fail = [&](Errc code, std::string message) { reply_error(origin, request_id, make_error(code, message)); };
  auto check_arity = [&](std::size_t n) {
    if (args.size() == n) return true;
    fail(Errc::invalid_argument,
         "cluster " + command + " takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s"));
    return false;
  };
  auto member_check = [&](const std::string& node) -> bool {
    const ring::Member* m = ring_.member(node);
    if (!m || m->status == ring::MemberStatus::removed) {
      fail(Errc::not_found, node + " is not a member of this cluster");
      return false;
    }
    return true;
  };
  // One staged change per node: a new one replaces the old.
  auto stage = [&](StagedChange change) {
    std::erase_if(staged_, [&](const StagedChange& c) { return c.node == change.node && c.kind == change.kind; });
    if (change.kind != "join")
      std::erase_if(staged_, [&](const StagedChange& c) { return c.node == change.node && c.kind != "join"; });
    std::string text = staged_text(change.kind, change.node, change.other);
    staged_.push_back(std::move(change));
    spdlog::info("staged: {}", text);
    reply("staged: " + text + " (review with `shoal admin cluster plan`, apply with `commit`)");
  };

  if (command == "stage-join") {
    if (args.size() != 2 && args.size() != 3) return fail(Errc::invalid_argument, "stage-join takes NODE LOCATION");
    auto name = NodeName::parse(args[0]);
    if (!name) return fail(Errc::invalid_argument, "node " + args[0] + ": " + name.error().message);
    if (const ring::Member* m = ring_.member(args[0]); m && m->status != ring::MemberStatus::removed)
      return fail(Errc::precondition_failed,
                  args[0] + " is already a member (" + std::string(ring::member_status_name(m->status)) + ")");
    if (args[1].size() > 255) return fail(Errc::invalid_argument, "location too long");
    ensure_peer(args[0]);  // so the commit can check it is reachable, and gossip reaches it
    return stage(StagedChange{"join", args[0], "", args[1]});
  }
  if (command == "leave") {
    if (!check_arity(1) || !member_check(args[0])) return;
    return stage(StagedChange{"leave", args[0], "", ""});
  }
  if (command == "force-remove") {
    if (!check_arity(1) || !member_check(args[0])) return;
    if (args[0] == self())
      return fail(Errc::precondition_failed,
                  args[0] + " is the claimant and alive: use `leave` to take it out of the cluster");
    return stage(StagedChange{"force-remove", args[0], "", ""});
  }
  if (command == "replace") {
    if (!check_arity(2) || !member_check(args[0])) return;
    bool joined = std::any_of(staged_.begin(), staged_.end(),
                              [&](const StagedChange& c) { return c.kind == "join" && c.node == args[1]; });
    if (!joined)
      return fail(Errc::precondition_failed, args[1] +
                                                 " has not asked to join: run `shoal -h <its client address> "
                                                 "admin cluster join " +
                                                 self() + "` first");
    return stage(StagedChange{"replace", args[0], args[1], ""});
  }
  if (command == "clear") {
    std::size_t n = staged_.size();
    staged_.clear();
    return reply("cleared " + std::to_string(n) + " staged change" + (n == 1 ? "" : "s"));
  }
  if (command == "plan") {
    auto plan = plan_staged(nullptr);
    if (!plan) return reply_error(origin, request_id, plan.error());
    return answer_origin(origin, net::encode_cluster_admin_reply(request_id, plan.value()));
  }
  if (command == "commit") {
    std::optional<ring::Ring> next;
    auto plan = plan_staged(&next);
    if (!plan) return reply_error(origin, request_id, plan.error());
    spdlog::info("committing {} staged change{}: {}", staged_.size(), staged_.size() == 1 ? "" : "s",
                 plan.value().message);
    staged_.clear();
    apply_ring(std::move(*next), true);
    plan.value().message = "committed: " + plan.value().message;
    plan.value().staged.clear();
    return answer_origin(origin, net::encode_cluster_admin_reply(request_id, plan.value()));
  }
}

// ---- joining ------------------------------------------------------------------------------------

void Router::start_join(const Origin& origin, std::uint64_t request_id, const std::string& seed) {
  auto name = NodeName::parse(seed);
  if (!name)
    return reply_error(origin, request_id,
                       make_error(Errc::invalid_argument, "node " + seed + ": " + name.error().message));
  if (seed == self())
    return reply_error(origin, request_id, make_error(Errc::invalid_argument, "a node cannot join itself"));
  if (ring_.members().size() > 1)
    return reply_error(
        origin, request_id,
        make_error(Errc::precondition_failed, self() + " is already a member of cluster '" + ring_.cluster_name() +
                                                  "' with " + std::to_string(ring_.members().size()) +
                                                  " members; only a node that is alone joins another cluster"));
  if (pending_join_)
    return reply_error(origin, request_id, make_error(Errc::busy, "a join is already being asked for"));
  join_seed_ = seed;
  persist("joining", seed + "\n");
  ensure_peer(seed);
  pending_join_ = PendingJoin{origin, request_id, seed, monotonic_us() + kJoinConnectTimeoutUs};
  join_tick();
}

void Router::join_tick() {
  if (!pending_join_) return;
  PendingJoin& join = *pending_join_;
  std::uint32_t peer = peer_index_.at(join.seed);
  if (peers_[peer].state == PeerLink::State::ready) {
    std::string request =
        net::encode_cluster_admin(join.request_id, "stage-join", {self(), services_->config.location});
    PendingJoin taken = std::move(join);
    pending_join_.reset();
    spdlog::info("asking {} to stage the join of this node", taken.seed);
    return forward_to_peer(peer, request, std::move(taken.origin), taken.request_id, kAdminForwardTimeoutMs);
  }
  if (monotonic_us() < join.deadline_us) return;
  std::string why = peers_[peer].last_refusal.empty() ? "no answer" : peers_[peer].last_refusal;
  reply_error(join.origin, join.request_id,
              make_error(Errc::unavailable, "cannot reach " + join.seed + " (" + why +
                                                "); check its address, and that both nodes use the same "
                                                "--cluster-name, --ring-size and cluster secret"));
  pending_join_.reset();
}

// ---- partitions that move -------------------------------------------------------------------------

void Router::reconcile_vnodes() {
  const std::string& me = self();
  std::set<std::uint32_t> wanted;
  for (ring::Partition p : ring_.partitions_of(me)) wanted.insert(p);
  for (const auto& t : ring_.pending_transfers())
    if (t.to == me) wanted.insert(t.partition);
  for (const auto& [p, id] : handoffs_) wanted.insert(p);
  for (const auto& [p, id] : repairs_) wanted.insert(p);
  std::int64_t now = monotonic_us();
  for (auto p : wanted) {
    retiring_.erase(p);
    if (vnodes_.contains(p)) continue;
    if (auto it = retired_at_us_.find(p); it != retired_at_us_.end() && now - it->second < kReopenAfterRetireUs)
      continue;  // its old copy is still being dropped: retire_tick opens it later
    auto ref = services_->spawn_vnode(p);
    if (!ref) {
      spdlog::error("cannot open vnode {}: {}", p, ref.error().to_string());
      continue;
    }
    spdlog::info("opened vnode {}", p);
    vnodes_[p] = ref.value();
  }
  for (auto p : wanted) {
    if (hinted_handoffs_.contains(p)) continue;  // wanted only while it hands its hints off
    fallbacks_.erase(p);
    handed_over_.erase(p);
  }
  for (const auto& [p, ref] : vnodes_) {
    if (wanted.contains(p) || retiring_.contains(p)) continue;
    if (handed_over_.contains(p)) {
      // Its data is on the owner (a finished handoff, which drained
      // forwarded writes for the grace period already).
      retiring_[p] = now;
      fallbacks_.erase(p);
    } else if (fallbacks_.insert(p).second) {
      // A partition owned elsewhere with data here (a fallback's hints, or
      // a copy left by a transfer a crash cut short): hinted handoff gives
      // it to the owner before the copy is dropped.
      spdlog::info("vnode {} holds data for {}: handing it off once that node is reachable", p, ring_.owner(p));
    }
  }
}

void Router::retire_tick() {
  std::int64_t now = monotonic_us();
  // A partition that came back while its old copy was being dropped opens now.
  bool reopen = false;
  for (auto it = retired_at_us_.begin(); it != retired_at_us_.end();) {
    if (now - it->second < kReopenAfterRetireUs) {
      ++it;
      continue;
    }
    it = retired_at_us_.erase(it);
    reopen = true;
  }
  if (reopen) reconcile_vnodes();
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    if (now < it->second) {
      ++it;
      continue;
    }
    std::uint32_t p = it->first;
    auto vnode = vnodes_.find(p);
    if (vnode != vnodes_.end()) {
      spdlog::info("partition {} now lives elsewhere: deleting this node's copy", p);
      services_->retire_vnode(vnode->second, p);
      if (services_->aae) services_->aae->erase(p);
      vnodes_.erase(vnode);
      retired_at_us_[p] = now;
      handed_over_.erase(p);
      fallbacks_.erase(p);
    }
    it = retiring_.erase(it);
  }
  // A node that left (or was removed) stops once its data is handed over.
  const ring::Member* me = ring_.member(self());
  bool departed = !me || me->status == ring::MemberStatus::exiting || me->status == ring::MemberStatus::removed;
  if (!departed || exiting_) return;
  if (!vnodes_.empty() || !handoffs_.empty()) return;
  exiting_ = true;
  exit_at_us_ = now + std::int64_t{transfer_grace_ms()} * 1000;
  spdlog::warn("this node is {} and holds no partitions: stopping",
               ring::member_status_name(me ? me->status : ring::MemberStatus::removed));
  gossip_to_all();
  services_->request_exit();
}

void Router::forget_exited_tick() {
  if (!is_claimant()) return;
  for (const auto& member : ring_.members()) {
    if (member.status != ring::MemberStatus::exiting || member.node == self() || reachable(member.node)) continue;
    if (!ring_.partitions_of(member.node).empty()) continue;
    bool involved = false;
    for (const auto& t : ring_.pending_transfers()) involved |= t.from == member.node || t.to == member.node;
    if (involved) continue;
    // It handed everything off and stopped (or cannot be reached, which
    // changes nothing: it owns nothing, and a removed node that comes back
    // stops, as a node that left does).
    auto next = ring_.set_status(member.node, ring::MemberStatus::removed, self());
    if (!next) {
      spdlog::debug("marking {} removed: {}", member.node, next.error().to_string());
      return;
    }
    spdlog::info("member {} left the cluster and stopped: removed from the ring", member.node);
    return apply_ring(std::move(next).value(), true);  // one per tick: apply_ring changes ring_
  }
}

void Router::cancel_stale_handoffs() {
  std::vector<std::uint64_t> stale;
  for (const auto& [p, id] : handoffs_) {
    auto it = coordinators_.find(id);
    if (it == coordinators_.end()) continue;
    auto* handoff = static_cast<HandoffCoordinator*>(it->second.get());
    if (handoff->copied()) continue;  // ownership moved: it only drains now
    if (hinted_handoffs_.contains(p)) {
      // Hints go to the partition's current owner; a move of the partition
      // meanwhile restarts the handoff towards the new one.
      if (ring_.owner(p) != handoff->target()) stale.push_back(id);
      continue;
    }
    bool wanted = false;
    for (const auto& t : ring_.pending_transfers())
      wanted |= t.partition == p && t.from == self() && t.to == handoff->target();
    if (!wanted) stale.push_back(id);
  }
  for (auto id : stale) {
    auto it = coordinators_.find(id);
    static_cast<HandoffCoordinator*>(it->second.get())->cancel();
    after_coordinator_event(id);
  }
}

std::size_t Router::transfers_running() const {
  // A handoff that copied everything only drains forwarded writes: it no
  // longer counts against transfer_limit.
  std::size_t n = repairs_.size();
  for (const auto& [p, id] : handoffs_) {
    auto it = coordinators_.find(id);
    if (it != coordinators_.end() && !static_cast<const HandoffCoordinator*>(it->second.get())->copied()) ++n;
  }
  return n;
}

void Router::schedule_transfers() {
  if (exiting_) return;
  cancel_stale_handoffs();
  const std::string& me = self();
  const std::size_t limit = services_->config.transfer_limit;
  const std::int64_t now = monotonic_us();
  auto waiting = [&](std::uint32_t p) {
    auto retry = retry_after_us_.find(p);
    return retry != retry_after_us_.end() && now < retry->second;
  };
  // Outbound handoffs first: until they are done the cluster runs with
  // mixed ownership.
  for (std::size_t started = 0; started < limit && transfers_running() < limit; ++started) {
    std::optional<ring::Transfer> next;
    for (const auto& t : ring_.pending_transfers()) {
      if (t.from != me || handoffs_.contains(t.partition) || !vnodes_.contains(t.partition)) continue;
      if (waiting(t.partition) || !reachable(t.to)) continue;
      next = t;
      break;
    }
    if (!next) break;
    if (next->state == ring::TransferState::awaiting) {
      auto marked = ring_.mark_handing_off(next->partition, me);
      if (marked) apply_ring(std::move(marked).value(), true);
    }
    std::uint64_t id = next_id_++;
    auto coordinator = std::make_unique<HandoffCoordinator>(*this, id, next->partition, next->to);
    Coordinator* raw = coordinator.get();
    coordinators_[id] = std::move(coordinator);
    handoffs_[next->partition] = id;
    transfer_stats_[next->partition] = TransferStats{0, 0, 0, now, false};
    raw->start();
    after_coordinator_event(id);
  }
  schedule_hinted_handoffs(limit);
  // Repairs of partitions this node no longer owns are moot.
  bool dropped = false;
  for (auto it = repairs_pending_.begin(); it != repairs_pending_.end();) {
    if (ring_.owner(it->first) != me && !repairs_.contains(it->first)) {
      it = repairs_pending_.erase(it);
      dropped = true;
    } else {
      ++it;
    }
  }
  if (dropped) persist_repairs();
  for (const auto& [p, lists] : repairs_pending_) {
    if (transfers_running() >= limit) break;
    if (repairs_.contains(p) || !vnodes_.contains(p) || waiting(p)) continue;
    std::vector<RepairCoordinator::Source> sources;
    for (const auto& [list, partitions] : lists)
      for (auto source : partitions)
        sources.push_back(
            RepairCoordinator::Source{ring::PreflistEntry{source, ring_.owner(source), ring::Role::primary, {}}, list});
    std::uint64_t id = next_id_++;
    auto coordinator = std::make_unique<RepairCoordinator>(*this, id, p, std::move(sources));
    Coordinator* raw = coordinator.get();
    coordinators_[id] = std::move(coordinator);
    repairs_[p] = id;
    transfer_stats_[p] = TransferStats{0, 0, 0, now, true};
    raw->start();
    after_coordinator_event(id);
  }
}

void Router::transfer_progress(std::uint32_t partition, std::uint64_t keys, std::uint64_t bytes,
                               std::uint64_t keys_estimate) {
  auto it = transfer_stats_.find(partition);
  if (it == transfer_stats_.end()) return;
  it->second.keys = keys;
  it->second.bytes = bytes;
  if (keys_estimate > 0) it->second.keys_estimate = keys_estimate;
}

void Router::transfer_copied(std::uint32_t partition) {
  bool pending = false;
  for (const auto& t : ring_.pending_transfers()) pending |= t.partition == partition && t.from == self();
  if (!pending) return;
  auto next = ring_.complete_transfer(partition, self());
  if (!next) {
    spdlog::error("completing the transfer of partition {}: {}", partition, next.error().to_string());
    return;
  }
  spdlog::info("partition {} now belongs to {}", partition, next.value().owner(partition));
  apply_ring(std::move(next).value(), true);
}

void Router::transfer_finished(std::uint32_t partition, bool repair, const Result<void>& outcome) {
  auto& running = repair ? repairs_ : handoffs_;
  running.erase(partition);
  transfer_stats_.erase(partition);
  const bool hinted = !repair && hinted_handoffs_.erase(partition) > 0;
  if (!repair && outcome) {
    handed_over_.insert(partition);
    if (hinted) spdlog::info("hinted handoff of partition {} to {} done", partition, ring_.owner(partition));
  }
  if (!outcome) {
    if (outcome.error().message.rfind("cancelled", 0) != 0)
      retry_after_us_[partition] = monotonic_us() + kTransferRetryDelayUs;
  } else {
    retry_after_us_.erase(partition);
    if (repair && repairs_pending_.erase(partition)) persist_repairs();
  }
  reconcile_vnodes();
  kick();  // the next transfer need not wait for the tick
}

net::ClusterAdminReply Router::local_transfers() const {
  net::ClusterAdminReply out;
  std::int64_t now = monotonic_us();
  auto view = [&](std::uint32_t p, const TransferStats& s, std::string from, std::string to, std::string state) {
    net::TransferView v;
    v.partition = p;
    v.from = std::move(from);
    v.to = std::move(to);
    v.state = std::move(state);
    v.keys_sent = s.keys;
    v.bytes_sent = s.bytes;
    v.keys_estimate = s.keys_estimate;
    double elapsed_s = static_cast<double>(now - s.started_us) / 1e6;
    if (elapsed_s > 0.2) v.bytes_per_s = static_cast<std::uint64_t>(static_cast<double>(s.bytes) / elapsed_s);
    if (s.keys > 0 && s.keys_estimate > s.keys && elapsed_s > 0.2)
      v.eta_s = static_cast<std::int64_t>(elapsed_s * static_cast<double>(s.keys_estimate - s.keys) /
                                          static_cast<double>(s.keys));
    else if (s.keys_estimate > 0 && s.keys >= s.keys_estimate)
      v.eta_s = 0;
    return v;
  };
  for (const auto& [p, id] : handoffs_) {
    auto it = coordinators_.find(id);
    auto stats = transfer_stats_.find(p);
    if (it == coordinators_.end() || stats == transfer_stats_.end()) continue;
    const auto* handoff = static_cast<const HandoffCoordinator*>(it->second.get());
    std::string state = hinted_handoffs_.contains(p) ? "hinted" : handoff->copied() ? "draining" : "running";
    out.transfers.push_back(view(p, stats->second, self(), handoff->target(), std::move(state)));
  }
  for (auto p : fallbacks_) {
    if (handoffs_.contains(p)) continue;
    TransferStats idle;
    if (auto v = services_->aae ? services_->aae->find(p) : std::nullopt) idle.keys_estimate = v->keys_estimate;
    out.transfers.push_back(
        view(p, idle, self(), ring_.owner(p), reachable(ring_.owner(p)) ? "hinted-waiting" : "hinted-primary-down"));
  }
  for (const auto& [p, lists] : repairs_pending_) {
    auto stats = transfer_stats_.find(p);
    TransferStats idle;
    out.transfers.push_back(
        view(p, stats == transfer_stats_.end() ? idle : stats->second, "replicas", self(), "repairing"));
  }
  return out;
}

// ---- bucket types ------------------------------------------------------------------------------

void Router::handle_bucket_type_admin(const Origin& origin, std::uint64_t request_id, const net::Envelope& envelope) {
  auto request = net::decode_bucket_type_admin(envelope.body);
  if (!request) return reply_error(origin, request_id, request.error());
  // Named references, not a structured binding: lambdas below capture them.
  const std::string& command = request.value().command;
  const std::string& name = request.value().name;
  const std::string& properties = request.value().properties;
  auto answer_types = [&](std::string message, std::vector<std::pair<std::string, std::string>> types) {
    answer_origin(origin, net::encode_bucket_type_admin_reply(
                              request_id, net::BucketTypeAdminReply{std::move(message), std::move(types)}));
  };
  if (command == "list") {
    std::vector<std::pair<std::string, std::string>> types;
    for (const auto& [n, props] : bucket_types_->all()) types.emplace_back(n, format_props(props));
    return answer_types("", std::move(types));
  }
  const BucketProps* existing = bucket_types_->find(name);
  if (command == "show") {
    if (!existing) return reply_error(origin, request_id, make_error(Errc::not_found, "no bucket type '" + name + "'"));
    return answer_types("", {{name, format_props(*existing)}});
  }
  if (command != "create" && command != "update")
    return reply_error(origin, request_id,
                       make_error(Errc::invalid_argument,
                                  "unknown bucket-type command '" + command + "' (create, update, show, list)"));
  BucketTypes check;
  if (auto valid = check.add(name, BucketProps{}); !valid)
    return reply_error(origin, request_id, make_error(Errc::invalid_argument, valid.error().message));
  if (command == "create" && existing)
    return reply_error(origin, request_id,
                       make_error(Errc::precondition_failed, "bucket type '" + name + "' exists: use update"));
  if (command == "update" && !existing)
    return reply_error(origin, request_id, make_error(Errc::not_found, "no bucket type '" + name + "': use create"));
  BucketProps base;
  if (existing) {
    base = *existing;
  } else if (const BucketProps* defaults = bucket_types_->find("default")) {
    base = *defaults;
  }
  auto props = apply_props(base, properties);
  if (!props) return reply_error(origin, request_id, props.error());
  if (command == "create" ||
      (props.value().datatype_label() == existing->datatype_label() && props.value().n_val == existing->n_val))
    return bucket_type_change(origin, request_id, command, name, props.value());
  // Changing how a type's keys replicate or merge is safe only while it
  // holds no data: ask every vnode (a coverage listing of its buckets).
  std::string what =
      props.value().datatype_label() != existing->datatype_label()
          ? "datatype (" + std::string(existing->datatype_label()) + " -> " +
                std::string(props.value().datatype_label()) + ")"
          : "n_val (" + std::to_string(existing->n_val) + " -> " + std::to_string(props.value().n_val) + ")";
  net::ListRequest list;
  list.type = MessageType::list_buckets;
  list.bucket_type = name;
  list.options.page_keys = 1;
  auto decided = std::make_shared<bool>(false);
  Origin check_origin;
  check_origin.kind = Origin::Kind::internal;
  check_origin.started_us = monotonic_us();
  check_origin.op = Op::admin;
  BucketProps wanted = props.value();
  check_origin.internal = [this, decided, origin, request_id, command, name, wanted, what](std::string_view reply,
                                                                                           bool final) {
    if (*decided) return;
    auto message = net::decode_envelope(reply, codec::Limits{});
    if (!message) return;
    if (message.value().type == static_cast<std::uint8_t>(MessageType::error)) {
      *decided = true;
      Error error = net::decode_error_body(message.value().body);
      return reply_error(
          origin, request_id,
          make_error(Errc::unavailable, "cannot tell whether bucket type '" + name + "' holds data, so its " + what +
                                            " stays: " + error.message));
    }
    auto page = net::decode_list_page(message.value().body);
    if (!page) return;
    if (!page.value().names.empty()) {
      *decided = true;
      return reply_error(origin, request_id,
                         make_error(Errc::precondition_failed,
                                    "refused: bucket type '" + name + "' is in use (bucket '" +
                                        page.value().names.front() + "' holds data); its " + what +
                                        " cannot change, or existing keys would be replicated or merged wrongly. "
                                        "Create a new type instead"));
    }
    if (final || page.value().done) {
      *decided = true;
      bucket_type_change(origin, request_id, command, name, wanted);
    }
  };
  std::uint64_t id = next_id_++;
  start_coordinator(std::make_unique<ListCoordinator>(*this, id, request_id, std::move(list), existing->n_val,
                                                      services_->config.request_timeout_ms),
                    std::move(check_origin));
}

void Router::bucket_type_change(const Origin& origin, std::uint64_t request_id, const std::string& command,
                                const std::string& name, BucketProps props) {
  ClusterMetadata next = metadata_;
  next.put(name, props, now(), self());
  apply_metadata(std::move(next), true);
  spdlog::info("bucket type {} {}d: {}", name, command, format_props(props));
  answer_origin(origin, net::encode_bucket_type_admin_reply(
                            request_id, net::BucketTypeAdminReply{"bucket type '" + name + "' " + command + "d",
                                                                  {{name, format_props(props)}}}));
}

}  // namespace shoal::core
