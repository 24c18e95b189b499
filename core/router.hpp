// The router: the actor at the edge of a node. It owns the node's sockets
// (the client ROUTER, the peer ROUTER, and one DEALER per peer), runs the
// peer handshake and heartbeats, admits client requests (bounded by
// requests_in_flight_max; past it the client hears "overloaded"), hosts the
// request coordinators (core/coordinator.hpp) and relays messages between
// them, the local vnodes and the peers. Every socket is read and written on
// the router's scheduler thread only, as ZeroMQ requires.
//
// Sends never block: every send uses ZMQ_DONTWAIT; the client and peer
// ROUTER sockets set ZMQ_ROUTER_MANDATORY, and peer DEALERs ZMQ_IMMEDIATE,
// so an unroutable or full destination is an error the coordinator counts,
// never a silent drop or a frozen thread. The socket options (CURVE keys
// later) are set in one place, make_socket, so encryption can be switched on
// without touching the protocol.
//
// Thread-safety: an actor; begin_shutdown() and in_flight() may be called
// from any thread.
#pragma once

#include <zmq.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/bucket_types.hpp"
#include "core/config.hpp"
#include "core/coordinator.hpp"
#include "core/runtime.hpp"
#include "core/stats.hpp"
#include "crdt/hlc.hpp"
#include "ring/ring.hpp"
#include "storage/lmdb_engine.hpp"

namespace shoal::core {

struct RouterServices {
  explicit RouterServices(ring::Ring r) : ring(std::move(r)) {}
  NodeConfig config;
  std::shared_ptr<const BucketTypes> bucket_types;
  ring::Ring ring;
  std::map<std::uint32_t, ActorRef> vnodes;  // partitions hosted here
  NodeStats* stats = nullptr;
  const Clock* clock = nullptr;
  zmq::context_t* zmq = nullptr;
  std::shared_ptr<storage::LmdbEnvironment> storage;  // for status figures
  std::int64_t started_unix_us = 0;
};

// The replicas of a key: Dynamo's distinct-node preference list, completed
// with further partitions clockwise when the cluster has fewer nodes than
// n_val (so a one-node development cluster still works with n_val 3).
ring::Preflist preference_list(const ring::Ring& ring, std::uint64_t hash, std::uint32_t n_val);

class Router final : public Actor, public CoordinatorHost {
 public:
  explicit Router(std::shared_ptr<RouterServices> services);
  ~Router() override;

  // Binds the sockets and registers them with the runtime's scheduler 0.
  // Call before Runtime::start(). Fails (with the address) when a port is taken.
  Result<void> bind(Runtime& runtime, ActorRef self);

  // Thread-safe: stop admitting client requests (they get shutting_down).
  void begin_shutdown() { shutting_down_ = true; }
  std::size_t in_flight() const { return in_flight_.load(); }

  // Actor
  std::string name() const override { return "router"; }
  void started(ActorContext& ctx) override;
  void receive(ActorContext& ctx, Mail& mail) override;
  void on_timer(ActorContext& ctx, std::uint64_t token) override;
  void stopping(ActorContext& ctx) override;

  // CoordinatorHost
  Result<void> send_to_vnode(const ring::PreflistEntry& replica, std::string bytes) override;
  Result<void> send_to_node(const std::string& node, std::string bytes) override;
  void respond(std::uint64_t coordinator, std::string reply, bool final, bool error) override;
  void set_timer(std::uint64_t coordinator, std::uint32_t delay_ms, std::uint32_t tag) override;
  crdt::HlcTimestamp now() override;
  NodeStats& stats() override { return *services_->stats; }
  const std::string& self() const override { return services_->config.node.full; }
  const ring::Ring& ring() const override { return services_->ring; }
  const BucketTypes& bucket_types() const override { return *services_->bucket_types; }
  bool reachable(const std::string& node) const override;
  std::vector<MemberView> own_view() const override;
  std::uint32_t tombstone_reap_delay_ms() const override { return services_->config.tombstone_reap_delay_ms; }
  std::uint32_t list_page_keys(std::optional<std::uint32_t> requested) const override;

 private:
  struct Origin {
    enum class Kind { client, forward } kind = Kind::client;
    std::string routing_id;  // client
    bool delimiter = false;  // the client sent an empty delimiter frame (REQ style)
    std::uint32_t peer = 0;  // forward: the node that forwarded it
    std::uint64_t forward_id = 0;
    std::int64_t started_us = 0;
    Op op = Op::get;
  };
  struct PeerLink {
    NodeName name;
    std::unique_ptr<zmq::socket_t> dealer;
    enum class State { idle, hello_sent, challenged, ready } state = State::idle;
    std::string hello_nonce;
    std::int64_t last_attempt_us = 0;
    std::int64_t last_heard_us = 0;
    std::string inbound_routing_id;  // its authenticated connection to our peer socket
    std::string last_refusal;        // logged once per distinct reason
    std::vector<std::string> outbox;  // messages of this turn, sent as one frame by flush_peer
    std::size_t outbox_bytes = 0;
    std::int64_t commands_checked_us = 0;
  };
  struct Inbound {
    std::string node;
    std::string nonce;  // our challenge nonce
    std::string hello_nonce;
    bool authenticated = false;
    std::uint32_t peer = 0;
    std::int64_t since_us = 0;
  };
  struct Forwarded {
    Origin origin;
    std::uint64_t client_request_id = 0;
    std::uint32_t peer = 0;
  };

  std::unique_ptr<zmq::socket_t> make_socket(zmq::socket_type type, std::size_t message_bytes_max);
  void on_client_readable();
  void on_peer_readable();
  void on_dealer_readable(std::uint32_t peer);
  void handle_client_message(Origin origin, std::string_view payload);
  void handle_peer_message(const std::string& routing_id, std::string_view payload);
  void handle_handshake_reply(std::uint32_t peer, const net::Envelope& envelope);
  void dispatch_authenticated(std::uint32_t peer, std::string_view payload, net::Envelope envelope);
  void deliver_reply(const net::Envelope& envelope);
  void send_to_client(const Origin& origin, std::string_view bytes);
  void answer_origin(const Origin& origin, std::string_view bytes);
  void send_raw_router(zmq::socket_t& socket, const std::string& routing_id, std::string_view bytes);
  Result<void> send_to_peer(std::uint32_t peer, std::string_view bytes);
  void flush_peers();
  void flush_peer(std::uint32_t peer);
  void reply_error(const Origin& origin, std::uint64_t request_id, const Error& error);
  void start_coordinator(std::unique_ptr<Coordinator> coordinator, Origin origin);
  void after_coordinator_event(std::uint64_t id);
  void tick();
  std::string refusal_reason(const Hello& hello) const;
  void log_refusal(const std::string& node, const std::string& reason);
  std::string encode_status_reply(std::uint64_t request_id);
  net::RingView ring_view() const;
  std::int64_t monotonic_us() const { return services_->clock->monotonic_us(); }

  std::shared_ptr<RouterServices> services_;
  Runtime* runtime_ = nullptr;
  ActorRef self_ = kNoActor;
  std::unique_ptr<zmq::socket_t> client_socket_;
  std::unique_ptr<zmq::socket_t> peer_socket_;
  std::vector<PeerLink> peers_;
  std::unordered_map<std::string, std::uint32_t> peer_index_;
  std::unordered_map<std::string, Inbound> inbound_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Coordinator>> coordinators_;
  std::unordered_map<std::uint64_t, Origin> origins_;
  std::unordered_map<std::uint64_t, Forwarded> forwards_;
  std::uint64_t next_id_ = 1;
  crdt::HlcClock hlc_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<std::size_t> in_flight_{0};
  // requests/s over the last tick window
  std::uint64_t rate_last_total_ = 0;
  std::int64_t rate_last_us_ = 0;
  double requests_per_s_ = 0;
  std::int64_t malformed_log_until_us_ = 0;
  std::unordered_map<std::string, std::pair<std::string, std::int64_t>> refusals_logged_;
};

}  // namespace shoal::core
