#include "core/router.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "base/failpoint.hpp"
#include "base/hash.hpp"
#include "core/build_info.hpp"
#include "core/peer_messages.hpp"

namespace shoal::core {

using net::MessageType;

namespace {

constexpr std::uint64_t kTickToken = 0;
constexpr std::size_t kRecvBatchMax = 512;  // messages read per readable event before yielding
constexpr std::int64_t kHandshakeTimeoutUs = 3'000'000;
constexpr std::size_t kInboundPendingMax = 1024;  // unauthenticated connections remembered
constexpr std::size_t kBatchBytesMax = 1u << 20;  // a peer frame is sent once it holds this much

codec::Limits decode_limits(std::size_t message_bytes_max, const Limits& limits) {
  return message_decode_limits(message_bytes_max, limits);
}

Op op_of(MessageType type) {
  switch (type) {
    case MessageType::get:
      return Op::get;
    case MessageType::put:
      return Op::put;
    case MessageType::del:
      return Op::del;
    case MessageType::update:
      return Op::update;
    case MessageType::list_keys:
    case MessageType::list_buckets:
      return Op::list;
    default:
      return Op::admin;
  }
}

bool is_vnode_request(MessageType type) {
  switch (type) {
    case MessageType::vnode_get:
    case MessageType::vnode_put:
    case MessageType::vnode_coordinate:
    case MessageType::vnode_fold:
    case MessageType::vnode_reap:
    case MessageType::vnode_fold_objects:
    case MessageType::handoff_batch:
    case MessageType::vnode_aae:
      return true;
    default:
      return false;
  }
}

bool is_coordinator_reply(MessageType type) {
  switch (type) {
    case MessageType::vnode_get_reply:
    case MessageType::vnode_put_reply:
    case MessageType::vnode_coordinate_reply:
    case MessageType::vnode_fold_reply:
    case MessageType::vnode_reap_reply:
    case MessageType::vnode_fold_objects_reply:
    case MessageType::handoff_batch_reply:
    case MessageType::transfer_view_reply:
    case MessageType::node_view_reply:
    case MessageType::vnode_aae_reply:
      return true;
    default:
      return false;
  }
}

crdt::ObjectLimits request_limits(const Limits& limits) { return client_object_limits(limits); }

}  // namespace

ring::Preflist preference_list(const ring::Ring& ring, std::uint64_t hash, std::uint32_t n_val) {
  ring::Preflist list = ring.preference_list(hash, n_val);
  if (list.complete) return list;
  // Fewer nodes than n_val: as riak_core does, the further partitions
  // clockwise complete the list even though their owners repeat. The
  // replicas then share nodes (Node::start warns about it).
  const std::uint32_t q = ring.partition_count();
  const ring::Partition start = ring.partition_of(hash);
  for (std::uint32_t i = 0; list.entries.size() < n_val && i < q; ++i) {
    ring::Partition p = (start + i) % q;
    bool listed = false;
    for (const auto& e : list.entries) listed |= e.partition == p;
    if (!listed) list.entries.push_back(ring::PreflistEntry{p, ring.owner(p), ring::Role::primary, {}});
  }
  list.complete = list.entries.size() == n_val;
  if (list.complete) list.reason.clear();
  return list;
}

ring::Preflist sloppy_preference_list(const ring::Ring& ring, std::uint64_t hash, std::uint32_t n_val,
                                      const std::function<bool(const std::string&)>& reachable) {
  ring::Preflist strict = ring.preference_list(hash, n_val);
  // Fewer owning nodes than n_val: the completed list already repeats nodes,
  // and there is nobody outside it to stand in.
  if (!strict.complete) return preference_list(ring, hash, n_val);
  bool all_up = true;
  for (const auto& e : strict.entries) all_up = all_up && reachable(e.node);
  if (all_up) return strict;
  std::vector<std::string> up;
  for (const auto& node : ring.placement().nodes())
    if (reachable(node)) up.push_back(node);
  ring::Preflist sloppy = ring.preference_list(hash, n_val, ring.placement().mask_of(up));
  if (sloppy.complete) return sloppy;
  // Not enough reachable nodes for every slot: a primary without a stand-in
  // keeps its slot (the coordinator counts it failed).
  ring::Preflist out = strict;
  for (auto& slot : out.entries)
    for (const auto& e : sloppy.entries)
      if (e.partition == slot.partition) slot = e;
  return out;
}

Router::Router(std::shared_ptr<RouterServices> services)
    : services_(std::move(services)),
      ring_(*services_->cluster->ring()),
      metadata_(services_->cluster->metadata()),
      bucket_types_(services_->cluster->bucket_types()),
      settled_ring_(ring_) {
  // The ring as it was when no transfer was pending: repairs are computed
  // against it when the ring settles again, so it must survive a restart
  // in the middle of a change (else a restarted node would compare the new
  // ring with itself and never fetch the preference lists it gained).
  std::ifstream in(services_->config.data_dir + "/settled_ring", std::ios::binary);
  if (!in) return;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto settled = ring::Ring::decode(bytes);
  if (settled && settled.value().cluster_name() == ring_.cluster_name() &&
      settled.value().partition_count() == ring_.partition_count())
    settled_ring_ = std::move(settled).value();
  else
    spdlog::warn("ignoring {}/settled_ring: {}", services_->config.data_dir,
                 settled ? "it belongs to another ring" : settled.error().to_string());
}

Router::~Router() = default;

std::unique_ptr<zmq::socket_t> Router::make_socket(zmq::socket_type type, std::size_t message_bytes_max) {
  auto socket = std::make_unique<zmq::socket_t>(*services_->zmq, type);
  socket->set(zmq::sockopt::linger, 0);
  socket->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(message_bytes_max));
  socket->set(zmq::sockopt::sndhwm, static_cast<int>(services_->config.limits.peer_queue_messages_max));
  socket->set(zmq::sockopt::rcvhwm, static_cast<int>(services_->config.limits.peer_queue_messages_max));
  // ZMTP heartbeats: a peer that vanished without closing its TCP
  // connection (kill -9 of a whole machine, a partition) is noticed.
  socket->set(zmq::sockopt::heartbeat_ivl, static_cast<int>(services_->config.heartbeat_interval_ms));
  socket->set(zmq::sockopt::heartbeat_timeout, static_cast<int>(services_->config.peer_down_after_ms));
  socket->set(zmq::sockopt::heartbeat_ttl, static_cast<int>(services_->config.peer_down_after_ms));
  if (type == zmq::socket_type::router) socket->set(zmq::sockopt::router_mandatory, 1);
  // Where CurveZMQ would be switched on: curve_server / curve_secretkey on
  // the ROUTERs, curve_serverkey / curve_publickey / curve_secretkey on the DEALERs.
  return socket;
}

Result<void> Router::bind(Runtime& runtime, ActorRef self) {
  runtime_ = &runtime;
  self_ = self;
  vnodes_ = services_->vnodes;
  repairs_pending_ = services_->repairs_pending;
  join_seed_ = services_->join_seed;
  const NodeConfig& config = services_->config;
  try {
    client_socket_ = make_socket(zmq::socket_type::router, config.limits.client_message_bytes_max);
    client_socket_->bind(config.client_listen.endpoint());
    if (!config.client_inproc.empty()) client_socket_->bind(config.client_inproc);
  } catch (const zmq::error_t& e) {
    return make_error(Errc::busy, "cannot listen for clients on " + config.client_listen.to_string() + ": " + e.what());
  }
  try {
    peer_socket_ = make_socket(zmq::socket_type::router, config.limits.peer_message_bytes_max);
    peer_socket_->bind(config.node.endpoint());
  } catch (const zmq::error_t& e) {
    return make_error(Errc::busy, "cannot listen for peers on " + config.node.host + ":" +
                                      std::to_string(config.node.port) + ": " + e.what());
  }
  runtime.add_socket(0, client_socket_.get(), [this] { on_client_readable(); });
  runtime.add_socket(0, peer_socket_.get(), [this] { on_peer_readable(); });
  runtime.add_turn_hook(0, [this] { flush_peers(); });
  for (const auto& member : ring_.members()) {
    if (member.node == config.node.full || member.status == ring::MemberStatus::removed) continue;
    ensure_peer(member.node);
  }
  return ok();
}

void Router::started(ActorContext& ctx) {
  rate_last_us_ = monotonic_us();
  reconcile_vnodes();  // copies left by an interrupted transfer or retirement
  tick();
  ctx.set_timer(services_->config.heartbeat_interval_ms, kTickToken);
}

void Router::stopping(ActorContext&) {
  // Closing with linger 0 drops whatever is still queued: by now the node
  // answered or failed every request it admitted.
  for (auto& peer : peers_)
    if (peer.dealer && !peer.retired) peer.dealer->close();
  if (peer_socket_) peer_socket_->close();
  if (client_socket_) client_socket_->close();
}

crdt::HlcTimestamp Router::now() { return hlc_.now(services_->clock->now_unix_us()); }

std::uint32_t Router::list_page_keys(std::optional<std::uint32_t> requested) const {
  std::size_t limit = services_->config.limits.list_page_keys_max;
  return static_cast<std::uint32_t>(std::max<std::size_t>(1, std::min<std::size_t>(requested.value_or(1000), limit)));
}

bool Router::reachable(const std::string& node) const {
  if (node == services_->config.node.full) return true;
  auto it = peer_index_.find(node);
  if (it == peer_index_.end()) return false;
  const PeerLink& link = peers_[it->second];
  if (link.retired || link.state != PeerLink::State::ready || link.inbound_routing_id.empty()) return false;
  // Phi accrual over its heartbeats decides; traffic heard just now counts
  // as alive (heartbeats queue behind it under load), and past
  // peer_down_after_ms of silence a peer is down whatever phi says.
  const std::int64_t now = monotonic_us();
  const std::int64_t silence = now - link.last_heard_us;
  if (silence < std::int64_t{services_->config.heartbeat_interval_ms} * 1000) return true;
  if (silence >= std::int64_t{services_->config.peer_down_after_ms} * 1000) return false;
  return link.detector.available(now);
}

std::vector<MemberView> Router::own_view() const {
  std::vector<MemberView> out;
  for (const auto& member : ring_.members())
    if (member.status != ring::MemberStatus::removed)
      out.push_back(
          MemberView{member.node, std::string(ring::member_status_name(member.status)), reachable(member.node)});
  return out;
}

// ---- sending ---------------------------------------------------------------------------

void Router::send_raw_router(zmq::socket_t& socket, const std::string& routing_id, std::string_view bytes) {
  try {
    if (!socket.send(zmq::buffer(routing_id), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return;
    if (!socket.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait))
      spdlog::warn("dropping a reply: the receiver's queue is full");
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the receiver disconnected; nobody is left to answer.
    spdlog::debug("reply to a departed connection dropped: {}", e.what());
  }
}

void Router::send_to_client(const Origin& origin, std::string_view bytes) {
  try {
    if (!client_socket_->send(zmq::buffer(origin.routing_id), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      return;
    if (origin.delimiter)
      client_socket_->send(zmq::const_buffer{}, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (!client_socket_->send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait)) {
      services_->stats->requests_overloaded.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("a client's receive queue is full: a reply was dropped (the client will time out)");
    }
  } catch (const zmq::error_t& e) {
    spdlog::debug("client disconnected before its reply: {}", e.what());
  }
}

Result<void> Router::send_to_peer(std::uint32_t peer, std::string_view bytes) {
  PeerLink& link = peers_[peer];
  if (link.state != PeerLink::State::ready)
    return make_error(Errc::unavailable, link.name.full + " is unreachable (no authenticated connection)");
  if (link.outbox.size() >= services_->config.limits.peer_queue_messages_max) {
    services_->stats->peer_send_failures.fetch_add(1, std::memory_order_relaxed);
    return make_error(Errc::overloaded, "the queue to " + link.name.full + " is full");
  }
  // Sent at the end of the scheduler turn, together with whatever else this
  // turn sends to the same peer (flush_peers).
  link.outbox.emplace_back(bytes);
  link.outbox_bytes += bytes.size();
  if (link.outbox_bytes >= kBatchBytesMax) flush_peer(peer);
  services_->stats->peer_messages_out.fetch_add(1, std::memory_order_relaxed);
  return ok();
}

void Router::flush_peers() {
  for (std::uint32_t peer = 0; peer < peers_.size(); ++peer)
    if (!peers_[peer].outbox.empty()) flush_peer(peer);
}

// One frame per peer per turn: under load a turn carries many requests and
// replies to the same peer, and a frame costs the same system calls (and
// ZeroMQ I/O-thread wake-ups) whatever it holds.
void Router::flush_peer(std::uint32_t peer) {
  PeerLink& link = peers_[peer];
  std::vector<std::string> messages = std::move(link.outbox);
  link.outbox.clear();
  link.outbox_bytes = 0;
  std::string frame;
  if (messages.size() == 1) {
    frame = std::move(messages.front());
  } else {
    net::MessageWriter w(MessageType::batch, 0, 1);
    w.packer().pack_array(static_cast<std::uint32_t>(messages.size()));
    for (const auto& m : messages) w.bytes(m);
    frame = w.finish();
  }
  bool sent = false;
  std::string why;
  try {
    // The DEALER is not polled: let it process its pending commands (a
    // disconnect among them) every few milliseconds, so a send to a peer
    // that just died fails here instead of vanishing into a dead pipe.
    std::int64_t now_us = monotonic_us();
    if (now_us - link.commands_checked_us > 5'000) {
      (void)link.dealer->get(zmq::sockopt::events);
      link.commands_checked_us = now_us;
    }
    sent = link.dealer->send(zmq::buffer(frame), zmq::send_flags::dontwait).has_value();
    if (!sent) why = "the queue to " + link.name.full + " is full or the link is down";
  } catch (const zmq::error_t& e) {
    why = "sending to " + link.name.full + " failed: " + e.what();
  }
  if (sent) return;
  // The requests did not leave: tell their coordinators now rather than
  // let them wait for a timeout.
  services_->stats->peer_send_failures.fetch_add(messages.size(), std::memory_order_relaxed);
  codec::Limits limits = decode_limits(services_->config.limits.peer_message_bytes_max, services_->config.limits);
  for (const auto& m : messages) {
    auto envelope = net::decode_envelope(m, limits);
    if (!envelope) continue;
    auto partition = leading_partition(envelope.value().body);
    if (!partition) continue;
    auto reply = vnode_error_reply(envelope.value().type, envelope.value().request_id, partition.value(),
                                   make_error(Errc::unavailable, why));
    if (!reply) continue;
    auto decoded = net::decode_envelope(*reply, limits);
    if (decoded) deliver_reply(decoded.value());
  }
}

Result<void> Router::send_to_vnode(const ring::PreflistEntry& replica, std::string bytes) {
  if (replica.node == services_->config.node.full) {
    std::optional<ActorRef> vnode;
    if (auto it = vnodes_.find(replica.partition); it != vnodes_.end()) vnode = it->second;
    if (!vnode && replica.role == ring::Role::fallback) vnode = fallback_vnode(replica.partition);
    if (!vnode)
      return make_error(Errc::not_found, "partition " + std::to_string(replica.partition) + " is not hosted here");
    Mail mail;
    mail.bytes = std::move(bytes);
    mail.sender = self_;
    return runtime_->send(*vnode, std::move(mail));
  }
  auto it = peer_index_.find(replica.node);
  if (it == peer_index_.end()) return make_error(Errc::unavailable, replica.node + " is not a member");
  if (!reachable(replica.node)) return make_error(Errc::unavailable, replica.node + " is unreachable");
  return send_to_peer(it->second, bytes);
}

Result<void> Router::send_to_node(const std::string& node, std::string bytes) {
  auto it = peer_index_.find(node);
  if (it == peer_index_.end()) return make_error(Errc::unavailable, node + " is not a member");
  return send_to_peer(it->second, bytes);
}

void Router::answer_origin(const Origin& origin, std::string_view bytes, bool final) {
  if (origin.kind == Origin::Kind::client) return send_to_client(origin, bytes);
  if (origin.kind == Origin::Kind::internal) {
    if (origin.internal) origin.internal(bytes, final);
    return;
  }
  std::string reply = encode_forward_reply(origin.forward_id, bytes);
  if (origin.peer < peers_.size() && peers_[origin.peer].state == PeerLink::State::ready &&
      send_to_peer(origin.peer, reply))
    return;
  // No link of ours to it yet (a node asking to join): answer on the
  // connection the request came in on; its DEALER reads it.
  if (!origin.inbound_routing_id.empty()) send_raw_router(*peer_socket_, origin.inbound_routing_id, reply);
}

void Router::reply_error(const Origin& origin, std::uint64_t request_id, const Error& error) {
  services_->stats->count_error(origin.op);
  answer_origin(origin, net::encode_error(request_id, error));
}

// ---- coordinators --------------------------------------------------------------------------

void Router::start_coordinator(std::unique_ptr<Coordinator> coordinator, Origin origin) {
  std::uint64_t id = coordinator->id();
  origins_[id] = std::move(origin);
  ++in_flight_;
  Coordinator* raw = coordinator.get();
  coordinators_[id] = std::move(coordinator);
  raw->start();
  after_coordinator_event(id);
}

void Router::after_coordinator_event(std::uint64_t id) {
  auto it = coordinators_.find(id);
  if (it == coordinators_.end() || !it->second->done()) return;
  coordinators_.erase(it);
  if (origins_.erase(id)) --in_flight_;  // finished without answering (cannot happen, but never leak a credit)
}

void Router::respond(std::uint64_t coordinator, std::string reply, bool final, bool error) {
  auto it = origins_.find(coordinator);
  if (it == origins_.end()) return;
  Origin origin = it->second;  // a copy: an internal origin's callback may start coordinators
  answer_origin(origin, reply, final);
  if (!final) return;
  it = origins_.find(coordinator);
  if (it == origins_.end()) return;
  auto elapsed = static_cast<std::uint64_t>(std::max<std::int64_t>(0, monotonic_us() - origin.started_us));
  services_->stats->record_latency(origin.op, elapsed);
  if (error) services_->stats->count_error(origin.op);
  origins_.erase(it);
  --in_flight_;
}

void Router::set_timer(std::uint64_t coordinator, std::uint32_t delay_ms, std::uint32_t tag) {
  SHOAL_ASSERT(tag < (1u << 24), "coordinator timer tags are 24 bits");
  runtime_->context(self_).set_timer(delay_ms, (coordinator << 24) | tag);
}

void Router::on_timer(ActorContext& ctx, std::uint64_t token) {
  if (token == kTickToken) {
    tick();
    ctx.set_timer(services_->config.heartbeat_interval_ms, kTickToken);
    return;
  }
  if (token == kKickToken) {
    kick_pending_ = false;
    retire_tick();  // a fallback whose hints are all handed back drops its copy now
    schedule_transfers();
    aae_tick();
    return;
  }
  std::uint64_t id = token >> 24;
  auto tag = static_cast<std::uint32_t>(token & 0xffffff);
  if (tag == kForwardTimerTag && forwards_.contains(id)) {
    auto it = forwards_.find(id);
    Forwarded forwarded = std::move(it->second);
    forwards_.erase(it);
    --in_flight_;
    services_->stats->requests_timed_out.fetch_add(1, std::memory_order_relaxed);
    // Writes and cluster changes are forwarded; one that timed out may have been applied.
    reply_error(
        forwarded.origin, forwarded.client_request_id,
        make_error(Errc::unknown_outcome,
                   "forwarded to " + peers_[forwarded.peer].name.full + ", which did not answer in time: the " +
                       (forwarded.origin.op == Op::admin ? "change" : "write") + " may or may not have been applied"));
    return;
  }
  auto it = coordinators_.find(id);
  if (it == coordinators_.end()) return;
  it->second->on_timer(tag);
  after_coordinator_event(id);
}

// Replies from local vnodes, and vnode replies bound for peers.
void Router::receive(ActorContext&, Mail& mail) {
  if (mail.peer != kLocalPeer) {
    if (mail.peer >= peers_.size()) return;
    if (send_to_peer(mail.peer, mail.bytes)) return;
    // Our link to the asker is not up yet (it just connected, or it is a
    // node that is joining): answer on the connection the request came in
    // on, which the asker reads.
    const PeerLink& link = peers_[mail.peer];
    if (!link.retired && !link.inbound_routing_id.empty())
      send_raw_router(*peer_socket_, link.inbound_routing_id, mail.bytes);
    return;
  }
  auto envelope = net::decode_envelope(
      mail.bytes, decode_limits(services_->config.limits.peer_message_bytes_max, services_->config.limits));
  if (!envelope) {
    spdlog::error("router: a local message does not decode: {}", envelope.error().to_string());
    return;
  }
  if (envelope.value().type == static_cast<std::uint8_t>(MessageType::handoff_forward)) {
    auto forward = decode_handoff_forward(envelope.value().body);
    if (!forward) return;
    auto it = handoffs_.find(forward.value().first);
    if (it == handoffs_.end()) return;
    auto coordinator = coordinators_.find(it->second);
    if (coordinator == coordinators_.end()) return;
    if (auto* handoff = dynamic_cast<HandoffCoordinator*>(coordinator->second.get()))
      handoff->forward(std::move(forward.value().second));
    after_coordinator_event(it->second);
    return;
  }
  deliver_reply(envelope.value());
}

void Router::deliver_reply(const net::Envelope& envelope) {
  auto it = coordinators_.find(envelope.request_id);
  if (it == coordinators_.end()) return;  // a late reply to a finished request
  it->second->on_reply(envelope);
  after_coordinator_event(envelope.request_id);
}

// ---- client requests ------------------------------------------------------------------------

void Router::on_client_readable() {
  for (std::size_t n = 0; n < kRecvBatchMax; ++n) {
    std::vector<zmq::message_t> frames;
    try {
      zmq::message_t frame;
      if (!client_socket_->recv(frame, zmq::recv_flags::dontwait)) return;
      bool more = frame.more();
      frames.push_back(std::move(frame));
      while (more) {
        zmq::message_t next;
        if (!client_socket_->recv(next, zmq::recv_flags::dontwait)) break;
        more = next.more();
        if (frames.size() < 4) frames.push_back(std::move(next));
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("client socket: {}", e.what());
      return;
    }
    Origin origin;
    origin.routing_id = frames[0].to_string();
    origin.started_us = monotonic_us();
    // [routing id, payload] from a DEALER, [routing id, "", payload] from a REQ.
    if (frames.size() == 3 && frames[1].size() == 0) {
      origin.delimiter = true;
    } else if (frames.size() != 2) {
      origin.delimiter = frames.size() > 2 && frames[1].size() == 0;  // so a REQ client gets the error
      services_->stats->malformed_messages.fetch_add(1, std::memory_order_relaxed);
      reply_error(origin, 0, make_error(Errc::malformed, "a request is one frame (after an optional empty delimiter)"));
      continue;
    }
    const zmq::message_t& payload = frames.back();
    handle_client_message(std::move(origin),
                          std::string_view(static_cast<const char*>(payload.data()), payload.size()));
  }
}

void Router::handle_client_message(Origin origin, std::string_view payload) {
  const Limits& limits = services_->config.limits;
  std::uint64_t request_id = 0;
  auto decoded = net::decode_envelope(payload, decode_limits(limits.client_message_bytes_max, limits), &request_id);
  if (!decoded) {
    services_->stats->malformed_messages.fetch_add(1, std::memory_order_relaxed);
    if (monotonic_us() > malformed_log_until_us_) {
      spdlog::warn("malformed client request ({} bytes): {}", payload.size(), decoded.error().to_string());
      malformed_log_until_us_ = monotonic_us() + 1'000'000;  // at most one such line a second
    }
    return reply_error(origin, request_id, decoded.error());
  }
  net::Envelope& envelope = decoded.value();
  auto type = static_cast<MessageType>(envelope.type);
  origin.op = op_of(type);
  if (!net::is_client_request(envelope.type))
    return reply_error(origin, request_id,
                       make_error(Errc::invalid_argument,
                                  "message type " + std::to_string(envelope.type) + " is not a client request"));
  services_->stats->count_request(origin.op);
  if (shutting_down_) return reply_error(origin, request_id, make_error(Errc::shutting_down, "the node is stopping"));
  if (in_flight_.load() >= limits.requests_in_flight_max) {
    services_->stats->requests_overloaded.fetch_add(1, std::memory_order_relaxed);
    return reply_error(
        origin, request_id,
        make_error(Errc::overloaded, "node " + self() + " has " + std::to_string(limits.requests_in_flight_max) +
                                         " requests in flight: retry later"));
  }
  const std::uint32_t default_timeout = services_->config.request_timeout_ms;
  switch (type) {
    case MessageType::ping:
      return answer_origin(origin, net::encode_ping_reply(request_id, net::PingReply{self(), build_info()}));
    case MessageType::status:
      return answer_origin(origin, encode_status_reply(request_id));
    case MessageType::ring:
    case MessageType::bucket_types:
      return answer_origin(origin, net::encode_ring_view(request_id, ring_view(), type));
    case MessageType::failpoint: {
      auto request = net::decode_failpoint_request(envelope.body);
      if (!request) return reply_error(origin, request_id, request.error());
      if (!failpoint::enabled())
        return reply_error(origin, request_id,
                           make_error(Errc::precondition_failed, "failpoints are not enabled on " + self() +
                                                                     " (start it with --enable-failpoints)"));
      if (request.value().second == "off") {
        failpoint::clear(request.value().first);
      } else if (auto armed = failpoint::set(request.value().first, request.value().second); !armed) {
        return reply_error(origin, request_id, armed.error());
      }
      spdlog::warn("failpoint {} set to {}", request.value().first, request.value().second);
      return answer_origin(origin, net::MessageWriter(net::reply_type(type), request_id, 0).finish());
    }
    case MessageType::cluster_admin:
      return handle_cluster_admin(origin, request_id, payload, envelope);
    case MessageType::bucket_type_admin:
      return handle_bucket_type_admin(origin, request_id, envelope);
    case MessageType::members: {
      std::uint64_t id = next_id_++;
      return start_coordinator(std::make_unique<MembersCoordinator>(*this, id, request_id, 2000), std::move(origin));
    }
    case MessageType::list_keys:
    case MessageType::list_buckets: {
      auto request = net::decode_list_request(type, envelope.body, request_limits(limits));
      if (!request) return reply_error(origin, request_id, request.error());
      const BucketProps* props = bucket_types_->find(request.value().bucket_type);
      if (!props)
        return reply_error(origin, request_id,
                           make_error(Errc::not_found, "no bucket type '" + request.value().bucket_type + "'"));
      std::uint64_t id = next_id_++;
      std::uint32_t timeout = request.value().options.timeout_ms.value_or(default_timeout);
      return start_coordinator(
          std::make_unique<ListCoordinator>(*this, id, request_id, std::move(request).value(), props->n_val, timeout),
          std::move(origin));
    }
    case MessageType::get:
    case MessageType::put:
    case MessageType::del:
    case MessageType::update:
    case MessageType::replica_get:
      break;
    default:
      return reply_error(origin, request_id, make_error(Errc::invalid_argument, "unsupported request"));
  }

  auto request = net::decode_key_request(type, envelope.body, request_limits(limits));
  if (!request) return reply_error(origin, request_id, request.error());
  net::KeyRequest& key_request = request.value();
  const BucketProps* props = bucket_types_->find(key_request.key.bucket_type);
  if (!props)
    return reply_error(origin, request_id,
                       make_error(Errc::not_found, "no bucket type '" + key_request.key.bucket_type + "'"));
  if (type == MessageType::put && props->is_crdt())
    return reply_error(origin, request_id,
                       make_error(Errc::invalid_argument, "bucket type '" + key_request.key.bucket_type + "' holds " +
                                                              std::string(props->datatype_label()) +
                                                              " CRDTs: change them with a CRDT update, not put"));
  if (type == MessageType::update && !props->is_crdt())
    return reply_error(origin, request_id,
                       make_error(Errc::invalid_argument,
                                  "bucket type '" + key_request.key.bucket_type + "' holds plain objects: use put"));
  if (type == MessageType::update && !props->any_datatype &&
      crdt::op_type_tag(*key_request.op) != *crdt::crdt_type_tag(props->datatype))
    return reply_error(origin, request_id,
                       make_error(Errc::invalid_argument, "bucket type '" + key_request.key.bucket_type + "' holds " +
                                                              std::string(datatype_name(props->datatype)) +
                                                              "s: this operation is for another datatype"));
  KeyRequestPlan plan;
  plan.key = key_request.key;
  plan.props = *props;
  plan.timeout_ms = key_request.options.timeout_ms.value_or(default_timeout);
  plan.return_state = key_request.options.state.value_or(false);
  std::uint64_t hash = key_hash(plan.key.bucket_type, plan.key.bucket, plan.key.key);
  if (type == MessageType::replica_get) {
    plan.preflist = preference_list(ring_, hash, props->n_val);
  } else {
    plan.preflist =
        sloppy_preference_list(ring_, hash, props->n_val, [this](const std::string& node) { return reachable(node); });
  }
  if (!plan.preflist.complete)
    return reply_error(origin, request_id,
                       make_error(Errc::unavailable, "the key cannot have " + std::to_string(props->n_val) +
                                                         " replicas: " + plan.preflist.reason));
  const std::uint32_t n = props->n_val;
  const net::RequestOptions& o = key_request.options;
  std::uint64_t id = next_id_++;

  if (type == MessageType::replica_get)
    return start_coordinator(std::make_unique<ReplicaGetCoordinator>(*this, id, request_id, std::move(plan)),
                             std::move(origin));
  if (type == MessageType::get) {
    auto spec =
        make_read_spec(n, o.r.value_or(net::Quorum{}).resolve(n, props->r.resolve(n, 2)),
                       o.pr.value_or(net::Quorum{}).resolve(n, props->pr.resolve(n, 0)),
                       o.notfound_ok.value_or(props->notfound_ok), o.basic_quorum.value_or(props->basic_quorum));
    if (!spec) return reply_error(origin, request_id, spec.error());
    return start_coordinator(std::make_unique<GetCoordinator>(*this, id, request_id, std::move(plan), spec.value()),
                             std::move(origin));
  }
  auto spec = make_write_spec(n, o.w.value_or(net::Quorum{}).resolve(n, props->w.resolve(n, 2)),
                              o.pw.value_or(net::Quorum{}).resolve(n, props->pw.resolve(n, 0)),
                              o.dw.value_or(net::Quorum{}).resolve(n, props->dw.resolve(n, 0)));
  if (!spec) return reply_error(origin, request_id, spec.error());
  // Only a replica may create a dot, and a primary one should: a fallback
  // has not seen the key's history (a delete or a set remove without a
  // context acts on what the coordinating replica saw). A fallback
  // coordinates only when no primary is reachable.
  bool local_primary = false, local_fallback = false, primary_reachable = false;
  for (const auto& entry : plan.preflist.entries) {
    const bool primary = entry.role == ring::Role::primary;
    local_primary |= primary && entry.node == self();
    local_fallback |= !primary && entry.node == self();
    primary_reachable |= primary && entry.node != self() && reachable(entry.node);
  }
  const bool coordinate_here =
      local_primary || (local_fallback && (!primary_reachable || origin.kind == Origin::Kind::forward));
  if (!coordinate_here) {
    if (origin.kind == Origin::Kind::forward)
      return reply_error(origin, request_id,
                         make_error(Errc::unavailable, self() + " holds no replica of the key (ring views differ?)"));
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& entry : plan.preflist.entries) {
        if ((pass == 0) != (entry.role == ring::Role::primary) || entry.node == self() || !reachable(entry.node))
          continue;
        std::uint32_t peer = peer_index_.at(entry.node);
        if (peers_[peer].outbox.size() >= services_->config.limits.peer_queue_messages_max) continue;
        return forward_to_peer(peer, payload, std::move(origin), request_id, plan.timeout_ms + 1000);
      }
    }
    return reply_error(origin, request_id,
                       make_error(Errc::unavailable, "no replica of the key is reachable to coordinate the write"));
  }
  std::uint64_t ttl_ms = o.ttl_ms.value_or(props->ttl_ms.value_or(0));
  bool return_body = o.return_body.value_or(false);
  std::optional<net::KeyRequest> unread_delete;
  if (type == MessageType::del && !key_request.context) unread_delete = key_request;
  return start_coordinator(
      std::make_unique<WriteCoordinator>(*this, id, request_id, type, std::move(plan), spec.value(),
                                         std::string(payload), ttl_ms, return_body, std::move(unread_delete)),
      std::move(origin));
}

// ---- peers -----------------------------------------------------------------------------------

void Router::on_peer_readable() {
  for (std::size_t n = 0; n < kRecvBatchMax; ++n) {
    zmq::message_t routing, payload;
    try {
      if (!peer_socket_->recv(routing, zmq::recv_flags::dontwait)) return;
      if (!routing.more()) continue;
      if (!peer_socket_->recv(payload, zmq::recv_flags::dontwait)) return;
      while (payload.more()) {  // a peer sends exactly one frame; drop the rest
        zmq::message_t extra;
        if (!peer_socket_->recv(extra, zmq::recv_flags::dontwait)) break;
        if (!extra.more()) break;
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("peer socket: {}", e.what());
      return;
    }
    services_->stats->peer_messages_in.fetch_add(1, std::memory_order_relaxed);
    handle_peer_message(routing.to_string(),
                        std::string_view(static_cast<const char*>(payload.data()), payload.size()));
  }
}

std::string Router::refusal_reason(const Hello& hello) const {
  const NodeConfig& config = services_->config;
  if (hello.protocol_max < net::kProtocolVersionMin || hello.protocol_min > net::kProtocolVersionMax)
    return "protocol versions " + std::to_string(hello.protocol_min) + ".." + std::to_string(hello.protocol_max) +
           " do not overlap ours (" + std::to_string(net::kProtocolVersionMin) + ".." +
           std::to_string(net::kProtocolVersionMax) + ")";
  if (hello.cluster != ring_.cluster_name())
    return "cluster name '" + hello.cluster + "' differs from ours ('" + ring_.cluster_name() + "')";
  if (hello.ring_size != ring_.partition_count())
    return "ring size " + std::to_string(hello.ring_size) + " differs from ours (" +
           std::to_string(ring_.partition_count()) + ")";
  if (hello.node == config.node.full) return "node " + hello.node + " is this node";
  if (!NodeName::parse(hello.node)) return "node name " + hello.node + " is not name@host:port";
  // Rings and bucket types may differ for a while (gossip merges them), so
  // they are not compared here; a node that knows the secret may connect,
  // and gossip is taken only from members (and by a node that asked to join).
  return {};
}

void Router::handle_peer_message(const std::string& routing_id, std::string_view payload) {
  const Limits& limits = services_->config.limits;
  std::uint64_t request_id = 0;
  auto decoded = net::decode_envelope(payload, decode_limits(limits.peer_message_bytes_max, limits), &request_id);
  auto it = inbound_.find(routing_id);
  if (!decoded) {
    services_->stats->malformed_messages.fetch_add(1, std::memory_order_relaxed);
    if (monotonic_us() > malformed_log_until_us_) {
      spdlog::warn("malformed peer message from {}: {}",
                   it != inbound_.end() && it->second.authenticated ? it->second.node : "an unauthenticated connection",
                   decoded.error().to_string());
      malformed_log_until_us_ = monotonic_us() + 1'000'000;
    }
    send_raw_router(*peer_socket_, routing_id, net::encode_error(request_id, decoded.error()));
    return;
  }
  net::Envelope& envelope = decoded.value();
  auto type = static_cast<MessageType>(envelope.type);
  const NodeConfig& config = services_->config;

  if (it != inbound_.end() && it->second.authenticated) {
    std::uint32_t peer = it->second.peer;
    peers_[peer].last_heard_us = monotonic_us();
    return dispatch_authenticated(peer, payload, std::move(envelope));
  }
  if (type == MessageType::hello) {
    auto hello = decode_hello(envelope.body);
    if (!hello) {
      send_raw_router(*peer_socket_, routing_id, encode_refuse(request_id, hello.error().message));
      return;
    }
    if (std::string reason = refusal_reason(hello.value()); !reason.empty()) {
      services_->stats->handshakes_refused.fetch_add(1, std::memory_order_relaxed);
      log_refusal(hello.value().node, reason);
      send_raw_router(*peer_socket_, routing_id, encode_refuse(request_id, reason));
      return;
    }
    if (inbound_.size() >= kInboundPendingMax) {
      // Forget the oldest unauthenticated connection: strangers cannot grow this map.
      auto oldest = inbound_.end();
      for (auto i = inbound_.begin(); i != inbound_.end(); ++i)
        if (!i->second.authenticated && (oldest == inbound_.end() || i->second.since_us < oldest->second.since_us))
          oldest = i;
      if (oldest != inbound_.end()) inbound_.erase(oldest);
    }
    Inbound inbound;
    inbound.node = hello.value().node;
    inbound.nonce = random_bytes(32);
    inbound.hello_nonce = hello.value().nonce;
    inbound.since_us = monotonic_us();
    Challenge challenge;
    challenge.node = config.node.full;
    challenge.nonce = inbound.nonce;
    challenge.proof = mac(config.cluster_secret,
                          {"shoal-challenge", inbound.hello_nonce, inbound.nonce, config.node.full, inbound.node});
    inbound_[routing_id] = std::move(inbound);
    send_raw_router(*peer_socket_, routing_id, encode(request_id, challenge));
    return;
  }
  if (type == MessageType::auth && it != inbound_.end()) {
    auto auth = decode_auth(envelope.body);
    std::string expected = mac(config.cluster_secret, {"shoal-auth", it->second.nonce, it->second.hello_nonce,
                                                       it->second.node, config.node.full});
    if (!auth || !mac_equal(auth.value().proof, expected)) {
      services_->stats->handshakes_refused.fetch_add(1, std::memory_order_relaxed);
      log_refusal(it->second.node, "it does not know the cluster secret");
      send_raw_router(*peer_socket_, routing_id, encode_refuse(request_id, "wrong cluster secret"));
      inbound_.erase(it);
      return;
    }
    // A node not (yet) in our ring gets a link too: it may be joining. So
    // does one whose link was closed when it left: it may be joining again.
    auto peer = peer_index_.find(it->second.node);
    if (peer == peer_index_.end() || peers_[peer->second].retired) {
      ensure_peer(it->second.node);
      peer = peer_index_.find(it->second.node);
    }
    // A reconnecting peer replaces its old connection.
    for (auto i = inbound_.begin(); i != inbound_.end();) {
      if (i != it && i->second.authenticated && i->second.peer == peer->second) {
        i = inbound_.erase(i);
      } else {
        ++i;
      }
    }
    it->second.authenticated = true;
    it->second.peer = peer->second;
    PeerLink& link = peers_[peer->second];
    link.inbound_routing_id = routing_id;
    link.last_heard_us = monotonic_us();
    link.detector.reset();  // a new connection: the silence before it says nothing about this one
    link.detector.heartbeat(link.last_heard_us);
    spdlog::info("peer {} authenticated", it->second.node);
    send_raw_router(*peer_socket_, routing_id, encode_welcome(request_id));
    return;
  }
  // Anything else from a connection that has not proved itself.
  send_raw_router(*peer_socket_, routing_id, encode_refuse(request_id, "handshake required"));
}

void Router::log_refusal(const std::string& node, const std::string& reason) {
  // Once per node and reason a minute: a misconfigured peer retries every second.
  std::int64_t now = monotonic_us();
  auto& [last_reason, last_us] = refusals_logged_[node.substr(0, 256)];
  if (last_reason == reason && now - last_us < 60'000'000) return;
  if (refusals_logged_.size() > 1024) refusals_logged_.clear();
  last_reason = reason;
  last_us = now;
  spdlog::warn("refused peer {}: {}", node, reason);
}

void Router::dispatch_authenticated(std::uint32_t peer, std::string_view payload, net::Envelope envelope) {
  auto type = static_cast<MessageType>(envelope.type);
  if (type == MessageType::batch) {
    if (envelope.body.size() != 1 || envelope.body[0].type != msgpack::type::ARRAY) return;
    codec::Limits limits = decode_limits(services_->config.limits.peer_message_bytes_max, services_->config.limits);
    const auto& items = envelope.body[0].via.array;
    for (std::uint32_t i = 0; i < items.size; ++i) {
      auto bytes =
          net::expect_blob_view(items.ptr[i], "batched message", services_->config.limits.peer_message_bytes_max);
      if (!bytes) continue;
      auto inner = net::decode_envelope(bytes.value(), limits);
      if (!inner || inner.value().type == static_cast<std::uint8_t>(MessageType::batch)) {
        services_->stats->malformed_messages.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      dispatch_authenticated(peer, bytes.value(), std::move(inner).value());
    }
    return;
  }
  if (is_vnode_request(type)) {
    auto partition = leading_partition(envelope.body);
    if (!partition) return;
    std::optional<ActorRef> vnode;
    if (auto it = vnodes_.find(partition.value()); it != vnodes_.end()) vnode = it->second;
    if (!vnode && partition.value() < ring_.partition_count()) {
      // A request for a partition owned elsewhere: this node is a fallback
      // for an unreachable primary. Writes open a vnode that keeps them
      // until hinted handoff; a read of what it does not hold finds nothing.
      if (type == MessageType::vnode_get) {
        VnodeGetReply notfound;
        notfound.partition = partition.value();
        notfound.status = ReplyStatus::notfound;
        (void)send_to_peer(peer, encode(envelope.request_id, notfound));
        return;
      }
      if (type == MessageType::vnode_put || type == MessageType::vnode_coordinate || type == MessageType::handoff_batch)
        vnode = fallback_vnode(partition.value());
    }
    Error error{Errc::not_found, "partition " + std::to_string(partition.value()) + " is not hosted on " + self()};
    if (vnode) {
      Mail mail;
      mail.bytes = std::string(payload);
      mail.sender = self_;
      mail.peer = peer;
      auto sent = runtime_->send(*vnode, std::move(mail));
      if (sent) return;
      error = sent.error();
    }
    if (auto reply = vnode_error_reply(envelope.type, envelope.request_id, partition.value(), error))
      (void)send_to_peer(peer, *reply);
    return;
  }
  if (is_coordinator_reply(type)) return deliver_reply(envelope);
  switch (type) {
    case MessageType::heartbeat: {
      peers_[peer].detector.heartbeat(monotonic_us());
      if (auto busy = decode_heartbeat(envelope.body)) peers_[peer].busy_partitions = std::move(busy).value();
      return;
    }
    case MessageType::gossip:
      return on_gossip(peer, envelope);
    case MessageType::transfer_view: {
      auto what = decode_transfer_view_request(envelope.body);
      net::ClusterAdminReply report;
      if (!what) {
        report.message = what.error().message;
      } else {
        report = local_report(what.value());
      }
      (void)send_to_peer(peer,
                         encode_transfer_view(envelope.request_id, self(), net::encode_cluster_admin_reply(0, report)));
      return;
    }
    case MessageType::node_view:
      (void)send_to_peer(peer, encode_node_view(envelope.request_id, self(), own_view()));
      return;
    case MessageType::forward: {
      auto inner = decode_forward(envelope.body, services_->config.limits.client_message_bytes_max);
      if (!inner) return;
      Origin origin;
      origin.kind = Origin::Kind::forward;
      origin.peer = peer;
      origin.inbound_routing_id = peers_[peer].inbound_routing_id;
      origin.forward_id = envelope.request_id;
      origin.started_us = monotonic_us();
      return handle_client_message(std::move(origin), inner.value());
    }
    case MessageType::forward_reply:
      return on_forward_reply(envelope);
    default:
      spdlog::debug("ignoring a {} message from {}", net::message_type_name(envelope.type), peers_[peer].name.full);
  }
}

void Router::on_forward_reply(const net::Envelope& envelope) {
  auto it = forwards_.find(envelope.request_id);
  if (it == forwards_.end()) return;
  auto inner = decode_forward(envelope.body, services_->config.limits.client_message_bytes_max);
  Forwarded forwarded = std::move(it->second);
  forwards_.erase(it);
  --in_flight_;
  if (!inner) return reply_error(forwarded.origin, forwarded.client_request_id, inner.error());
  services_->stats->record_latency(forwarded.origin.op,
                                   static_cast<std::uint64_t>(monotonic_us() - forwarded.origin.started_us));
  answer_origin(forwarded.origin, inner.value());
}

void Router::on_dealer_readable(std::uint32_t peer) {
  PeerLink& link = peers_[peer];
  if (link.retired || !link.dealer) return;
  for (std::size_t n = 0; n < kRecvBatchMax; ++n) {
    zmq::message_t payload;
    try {
      if (!link.dealer->recv(payload, zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      spdlog::error("link to {}: {}", link.name.full, e.what());
      return;
    }
    auto envelope = net::decode_envelope(std::string_view(static_cast<const char*>(payload.data()), payload.size()),
                                         decode_limits(1u << 20, services_->config.limits));
    if (!envelope) continue;
    handle_handshake_reply(peer, envelope.value());
  }
}

void Router::handle_handshake_reply(std::uint32_t peer, const net::Envelope& envelope) {
  PeerLink& link = peers_[peer];
  const NodeConfig& config = services_->config;
  switch (static_cast<MessageType>(envelope.type)) {
    case MessageType::forward_reply:
      return on_forward_reply(envelope);  // answered on our own connection
    case MessageType::challenge: {
      auto challenge = decode_challenge(envelope.body);
      if (!challenge || link.state != PeerLink::State::hello_sent) return;
      std::string expected = mac(config.cluster_secret, {"shoal-challenge", link.hello_nonce, challenge.value().nonce,
                                                         link.name.full, config.node.full});
      if (challenge.value().node != link.name.full || !mac_equal(challenge.value().proof, expected)) {
        std::string why = "failed to prove the cluster secret";
        if (link.last_refusal != why) spdlog::warn("peer {} {}; not connecting", link.name.full, why);
        link.last_refusal = why;
        link.state = PeerLink::State::idle;
        return;
      }
      Auth auth;
      auth.proof = mac(config.cluster_secret,
                       {"shoal-auth", challenge.value().nonce, link.hello_nonce, config.node.full, link.name.full});
      try {
        if (link.dealer->send(zmq::buffer(encode(0, auth)), zmq::send_flags::dontwait))
          link.state = PeerLink::State::challenged;
      } catch (const zmq::error_t&) {
        link.state = PeerLink::State::idle;
      }
      return;
    }
    case MessageType::welcome:
      if (link.state == PeerLink::State::challenged) {
        link.state = PeerLink::State::ready;
        link.last_refusal.clear();
        spdlog::info("connected to peer {}", link.name.full);
        try {
          (void)link.dealer->send(zmq::buffer(encode_heartbeat(0, busy_partitions())), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
        }
      }
      return;
    case MessageType::refuse: {
      auto reason = decode_refuse(envelope.body);
      std::string why = reason ? reason.value() : "no reason given";
      if (why != "handshake required" && why != link.last_refusal)
        spdlog::warn("peer {} refused this node: {}", link.name.full, why);
      link.last_refusal = why;
      if (link.state == PeerLink::State::ready) spdlog::info("link to {} must handshake again", link.name.full);
      link.state = PeerLink::State::idle;
      return;
    }
    default:
      // An answer the peer sent back on our own connection because its link
      // to us was not up yet (see Router::receive).
      if (link.state == PeerLink::State::ready && is_coordinator_reply(static_cast<MessageType>(envelope.type)))
        deliver_reply(envelope);
      return;
  }
}

void Router::tick() {
  const NodeConfig& config = services_->config;
  std::int64_t now_us = monotonic_us();
  for (std::uint32_t peer = 0; peer < peers_.size(); ++peer) on_dealer_readable(peer);
  gossip_tick();
  join_tick();
  retire_tick();
  forget_exited_tick();
  schedule_transfers();
  aae_tick();
  deferred_reap_tick();
  const std::string heartbeat = encode_heartbeat(0, busy_partitions());
  for (auto& link : peers_) {
    if (link.retired) continue;
    switch (link.state) {
      case PeerLink::State::ready: {
        bool sent = false;
        try {
          sent = link.dealer->send(zmq::buffer(heartbeat), zmq::send_flags::dontwait).has_value();
        } catch (const zmq::error_t&) {
        }
        if (!sent && now_us - link.last_heard_us > std::int64_t{config.peer_down_after_ms} * 1000) {
          spdlog::warn("peer {} is unreachable", link.name.full);
          link.state = PeerLink::State::idle;
        }
        break;
      }
      case PeerLink::State::hello_sent:
      case PeerLink::State::challenged:
        if (now_us - link.last_attempt_us > kHandshakeTimeoutUs) link.state = PeerLink::State::idle;
        break;
      case PeerLink::State::idle:
        // A fresh hello on every tick: the DEALER only accepts it once its
        // connection is up, so a peer that starts later is reached within a tick.
        link.last_attempt_us = now_us;
        Hello hello;
        hello.node = config.node.full;
        hello.cluster = ring_.cluster_name();
        hello.ring_size = ring_.partition_count();
        hello.ring_digest = ring_.digest();
        hello.bucket_types_digest = bucket_types_->digest();
        hello.nonce = random_bytes(32);
        try {
          if (link.dealer->send(zmq::buffer(encode(0, hello)), zmq::send_flags::dontwait)) {
            link.hello_nonce = hello.nonce;
            link.state = PeerLink::State::hello_sent;
          }
        } catch (const zmq::error_t&) {
        }
        break;
    }
  }
  std::uint64_t total = 0;
  for (const auto& r : services_->stats->requests) total += r.load(std::memory_order_relaxed);
  if (now_us - rate_last_us_ >= 1'000'000) {
    requests_per_s_ = static_cast<double>(total - rate_last_total_) * 1e6 / static_cast<double>(now_us - rate_last_us_);
    rate_last_total_ = total;
    rate_last_us_ = now_us;
  }
}

// ---- admin ----------------------------------------------------------------------------------

net::RingView Router::ring_view() const {
  net::RingView view;
  const ring::Ring& ring = ring_;
  view.cluster = ring.cluster_name();
  view.ring_size = ring.partition_count();
  for (const auto& owner : ring.owners()) view.owners.push_back(owner.node);
  for (const auto& m : ring.members())
    view.members.push_back(net::RingMember{m.node, std::string(ring::member_status_name(m.status)), m.location});
  for (const auto& [name, props] : bucket_types_->all()) view.bucket_types.emplace_back(name, format_props(props));
  return view;
}

std::string Router::encode_status_reply(std::uint64_t request_id) {
  using V = net::StatusValue;
  std::vector<std::pair<std::string, V>> items;
  auto add = [&](std::string name, std::int64_t v) { items.emplace_back(std::move(name), V::of(v)); };
  auto add_text = [&](std::string name, std::string v) { items.emplace_back(std::move(name), V::of(std::move(v))); };
  const NodeStats& s = *services_->stats;
  add_text("node", self());
  add_text("version", build_info());
  add_text("cluster", ring_.cluster_name());
  add("uptime_s", (services_->clock->now_unix_us() - services_->started_unix_us) / 1'000'000);
  add("ring_size", ring_.partition_count());
  add("vnodes", static_cast<std::int64_t>(vnodes_.size()));
  std::int64_t up = 0;
  for (const auto& member : ring_.members()) up += reachable(member.node);
  add("members", static_cast<std::int64_t>(ring_.members().size()));
  add("members_reachable", up);
  add("requests_in_flight", static_cast<std::int64_t>(in_flight_.load()));
  add("requests_per_s", static_cast<std::int64_t>(std::llround(requests_per_s_)));
  for (std::size_t i = 0; i < static_cast<std::size_t>(Op::count_); ++i) {
    std::string op(op_name(static_cast<Op>(i)));
    add(op + "_requests", static_cast<std::int64_t>(s.requests[i].load()));
    add(op + "_errors", static_cast<std::int64_t>(s.errors[i].load()));
    const auto& h = s.latency_us[i];
    add(op + "_latency_us_p50", static_cast<std::int64_t>(h.percentile(50)));
    add(op + "_latency_us_p95", static_cast<std::int64_t>(h.percentile(95)));
    add(op + "_latency_us_p99", static_cast<std::int64_t>(h.percentile(99)));
    add(op + "_latency_us_max", static_cast<std::int64_t>(h.max()));
  }
  auto counter = [&](const char* name, const NodeStats::Counter& c) { add(name, static_cast<std::int64_t>(c.load())); };
  counter("requests_forwarded", s.requests_forwarded);
  counter("requests_overloaded", s.requests_overloaded);
  counter("requests_timed_out", s.requests_timed_out);
  counter("malformed_messages", s.malformed_messages);
  counter("vnode_gets", s.vnode_gets);
  counter("vnode_puts", s.vnode_puts);
  counter("vnode_coordinated", s.vnode_coordinated);
  counter("read_repairs", s.read_repairs);
  counter("aae_repairs", s.aae_repairs);
  counter("tombstones_reaped", s.tombstones_reaped);
  std::int64_t hints = 0;
  for (auto p : fallbacks_)
    if (auto view = services_->aae ? services_->aae->find(p) : std::nullopt)
      hints += static_cast<std::int64_t>(view->keys_estimate);
  add("fallback_vnodes", static_cast<std::int64_t>(fallbacks_.size()));
  add("hints", hints);
  std::int64_t exchanges = 0;
  for (const auto& [key, pair] : aae_pairs_) exchanges += static_cast<std::int64_t>(pair.exchanges);
  add("aae_exchanges", exchanges);
  counter("expired_swept", s.expired_swept);
  counter("objects_over_warn", s.objects_over_warn);
  counter("siblings_over_warn", s.siblings_over_warn);
  counter("vnode_crashes", s.vnode_crashes);
  counter("peer_messages_in", s.peer_messages_in);
  counter("peer_messages_out", s.peer_messages_out);
  counter("peer_send_failures", s.peer_send_failures);
  counter("handshakes_refused", s.handshakes_refused);
  RuntimeStats rs = runtime_->stats();
  add("actor_messages", static_cast<std::int64_t>(rs.messages));
  add("actor_crashes", static_cast<std::int64_t>(rs.crashes));
  add("actor_restarts", static_cast<std::int64_t>(rs.restarts));
  add("mailbox_overloaded", static_cast<std::int64_t>(rs.overloaded));
  add("scheduler_turns", static_cast<std::int64_t>(rs.turns));
  if (services_->storage) {
    storage::LmdbStats ls = services_->storage->stats();
    add("storage_commits", static_cast<std::int64_t>(ls.commits));
    add("storage_fsyncs", static_cast<std::int64_t>(ls.syncs));
    add("storage_map_bytes", static_cast<std::int64_t>(ls.map_bytes));
    add("storage_map_resizes", static_cast<std::int64_t>(ls.map_resizes));
    add("storage_write_map", ls.write_map ? 1 : 0);
  }
  add_text("sync_mode", services_->config.sync_mode == storage::SyncMode::sync ? "sync" : "nosync");
  return net::encode_status(request_id, items);
}

}  // namespace shoal::core
