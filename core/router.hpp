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
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/anti_entropy.hpp"
#include "core/bucket_types.hpp"
#include "core/cluster_state.hpp"
#include "core/config.hpp"
#include "core/coordinator.hpp"
#include "core/failure_detector.hpp"
#include "core/handoff.hpp"
#include "core/runtime.hpp"
#include "core/stats.hpp"
#include "crdt/hlc.hpp"
#include "ring/ring.hpp"
#include "storage/lmdb_engine.hpp"

namespace shoal::core {

struct RouterServices {
  NodeConfig config;
  std::shared_ptr<ClusterState> cluster;     // the router publishes ring and metadata changes here
  std::map<std::uint32_t, ActorRef> vnodes;  // partitions hosted at start
  // Partitions to rebuild from their replicas (persisted in `repairs`):
  // partition -> preference list (its first partition) -> the partitions
  // that hold that list's keys, to read them from.
  std::map<std::uint32_t, std::map<std::uint32_t, std::set<std::uint32_t>>> repairs_pending;
  std::optional<std::string> join_seed;  // this node asked that node to join its cluster
  NodeStats* stats = nullptr;
  const Clock* clock = nullptr;
  zmq::context_t* zmq = nullptr;
  std::shared_ptr<storage::LmdbEnvironment> storage;  // for status figures
  std::int64_t started_unix_us = 0;
  // Starts a vnode for a partition this node now owns or receives.
  std::function<Result<ActorRef>(std::uint32_t partition)> spawn_vnode;
  // Stops a vnode this node no longer hosts and deletes its data.
  std::function<void(ActorRef, std::uint32_t partition)> retire_vnode;
  // The node left the cluster: stop the process cleanly.
  std::function<void()> request_exit;
  std::shared_ptr<AaeRegistry> aae;  // the vnodes' anti-entropy trees
};

// The replicas of a key: Dynamo's distinct-node preference list, completed
// with further partitions clockwise when the cluster has fewer nodes than
// n_val (so a one-node development cluster still works with n_val 3).
ring::Preflist preference_list(const ring::Ring& ring, std::uint64_t hash, std::uint32_t n_val);
// The sloppy-quorum list for a request: each unreachable primary's slot is
// taken by a reachable fallback node (tagged, naming the primary); with no
// fallback left, the unreachable primary keeps its slot and counts as failed.
ring::Preflist sloppy_preference_list(const ring::Ring& ring, std::uint64_t hash, std::uint32_t n_val,
                                      const std::function<bool(const std::string&)>& reachable);

class HandoffCoordinator;

// Timer tag of a request forwarded to another node (its id in the upper bits).
inline constexpr std::uint32_t kForwardTimerTag = 7;
// Router timer token that starts due transfers and anti-entropy exchanges at
// once, outside the call of the coordinator that just finished (no
// coordinator has id 0).
inline constexpr std::uint64_t kKickToken = 1;
// A retired partition is not reopened until its old copy is dropped.
inline constexpr std::int64_t kReopenAfterRetireUs = 5'000'000;

class Router final : public Actor, public MembershipHost, public AaeHost {
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
  const ring::Ring& ring() const override { return ring_; }
  const BucketTypes& bucket_types() const override { return *bucket_types_; }
  bool reachable(const std::string& node) const override;
  std::vector<MemberView> own_view() const override;
  std::uint32_t tombstone_reap_delay_ms() const override { return services_->config.tombstone_reap_delay_ms; }
  std::uint32_t list_page_keys(std::optional<std::uint32_t> requested) const override;
  bool reap_allowed(const ring::Preflist& preflist) const override;
  void defer_reap(const crdt::ObjectKey& key) override;

  // MembershipHost
  void transfer_progress(std::uint32_t partition, std::uint64_t keys, std::uint64_t bytes,
                         std::uint64_t keys_estimate) override;
  void transfer_copied(std::uint32_t partition) override;
  void transfer_finished(std::uint32_t partition, bool repair, const Result<void>& outcome) override;
  std::uint64_t transfer_bytes_per_s() const override { return services_->config.transfer_bytes_per_s; }
  std::uint32_t transfer_grace_ms() const override { return 2 * services_->config.gossip_interval_ms + 500; }
  net::ClusterAdminReply local_transfers() const override;
  net::ClusterAdminReply local_report(const std::string& what) override;

  // AaeHost
  void aae_exchange_finished(std::uint64_t coordinator, const AaeOutcome& outcome) override;
  void aae_tombstone_repaired(const crdt::ObjectKey& key) override;
  std::uint32_t aae_keys_per_exchange() const override { return services_->config.aae_keys_per_exchange; }

 private:
  struct Origin {
    enum class Kind { client, forward, internal } kind = Kind::client;
    // internal: the router itself asked (e.g. is a bucket type in use?); gets every reply.
    std::function<void(std::string_view reply, bool final)> internal;
    std::string routing_id;          // client
    bool delimiter = false;          // the client sent an empty delimiter frame (REQ style)
    std::uint32_t peer = 0;          // forward: the node that forwarded it
    std::string inbound_routing_id;  // forward: its connection to our peer socket (answers go back on it if needed)
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
    std::string inbound_routing_id;   // its authenticated connection to our peer socket
    std::string last_refusal;         // logged once per distinct reason
    bool retired = false;             // no longer a member: its socket is closed
    std::vector<std::string> outbox;  // messages of this turn, sent as one frame by flush_peer
    std::size_t outbox_bytes = 0;
    std::int64_t commands_checked_us = 0;
    PhiAccrualDetector detector;                 // fed by its heartbeats
    std::vector<std::uint32_t> busy_partitions;  // from its last heartbeat
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
  void on_forward_reply(const net::Envelope& envelope);
  void send_to_client(const Origin& origin, std::string_view bytes);
  void answer_origin(const Origin& origin, std::string_view bytes, bool final = true);
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
  std::int64_t monotonic_us() const override { return services_->clock->monotonic_us(); }

  // ---- membership (router_cluster.cpp) ----
  struct StagedChange {
    std::string kind;  // join, leave, force-remove, replace
    std::string node;
    std::string other;     // replace: the new node
    std::string location;  // join: the new node's location
  };
  struct TransferStats {
    std::uint64_t keys = 0;
    std::uint64_t bytes = 0;
    std::uint64_t keys_estimate = 0;
    std::int64_t started_us = 0;
    bool repair = false;
  };
  std::uint32_t ensure_peer(const std::string& node);  // a link to any node (members and joiners)
  void apply_ring(ring::Ring next, bool gossip_now);
  void apply_metadata(ClusterMetadata next, bool gossip_now);
  void reconcile_peers();
  void reconcile_vnodes();
  void schedule_transfers();
  void gossip_to(std::uint32_t peer);
  void gossip_to_all();
  void gossip_tick();
  void on_gossip(std::uint32_t peer, const net::Envelope& envelope);
  bool is_claimant() const;
  std::string claimant() const;
  void handle_cluster_admin(const Origin& origin, std::uint64_t request_id, std::string_view payload,
                            const net::Envelope& envelope);
  void handle_bucket_type_admin(const Origin& origin, std::uint64_t request_id, const net::Envelope& envelope);
  Result<net::ClusterAdminReply> plan_staged(std::optional<ring::Ring>* next) const;
  void start_join(const Origin& origin, std::uint64_t request_id, const std::string& seed);
  void join_tick();
  void retire_tick();
  // The claimant marks `removed` a member that left, holds nothing and has stopped.
  void forget_exited_tick();
  void persist(const std::string& file, const std::string& bytes);
  void persist_repairs();
  void add_repairs(const ring::Ring& previous, const ring::Ring& next);
  std::size_t transfers_running() const;
  void forward_to_peer(std::uint32_t peer, std::string_view payload, Origin origin, std::uint64_t request_id,
                       std::uint32_t timeout_ms);
  void cluster_command(const Origin& origin, std::uint64_t request_id, const std::string& command,
                       const std::vector<std::string>& args);
  void bucket_type_change(const Origin& origin, std::uint64_t request_id, const std::string& command,
                          const std::string& name, BucketProps props);
  void cancel_stale_handoffs();

  // ---- healing (router_healing.cpp) ----
  // A vnode for a partition a peer's request names but this node does not
  // host: a fallback taking writes for an unreachable primary.
  std::optional<ActorRef> fallback_vnode(std::uint32_t partition);
  void schedule_hinted_handoffs(std::size_t limit);
  // Partitions this node holds hints for or runs transfers of (sent with heartbeats).
  std::vector<std::uint32_t> busy_partitions() const;
  void aae_tick();
  // Every preference list of every n_val in use, by tree: a vnode keeps one
  // tree for each list it serves.
  std::vector<std::pair<storage::TreeId, ring::Preflist>> aae_lists() const;
  void refresh_aae_pairs();
  void start_reap_check(const crdt::ObjectKey& key);
  void deferred_reap_tick();
  // Runs retire_tick, schedule_transfers and aae_tick from a timer of 0 ms.
  void kick();
  net::Table aae_status_table() const;
  net::Table merkle_roots_table() const;
  net::Table hints_table() const;
  struct AaePairKey {
    storage::TreeId tree;
    std::uint32_t local_partition = 0;
    std::string remote_node;
    std::uint32_t remote_partition = 0;
    friend auto operator<=>(const AaePairKey&, const AaePairKey&) = default;
  };
  struct AaePairState {
    std::int64_t due_us = 0;
    std::int64_t last_exchange_unix_us = 0;  // 0: never
    std::uint64_t keys_repaired_last = 0;
    std::uint64_t keys_repaired_total = 0;
    std::uint64_t exchanges = 0;
    std::string last_outcome = "never";
    std::uint64_t running = 0;  // the coordinator's id while one runs
  };

  std::shared_ptr<RouterServices> services_;
  Runtime* runtime_ = nullptr;
  ring::Ring ring_;
  ClusterMetadata metadata_;
  std::shared_ptr<const BucketTypes> bucket_types_;
  std::map<std::uint32_t, ActorRef> vnodes_;
  std::vector<StagedChange> staged_;
  std::map<std::uint32_t, std::uint64_t> handoffs_;        // partition -> coordinator id (outbound transfers)
  std::map<std::uint32_t, std::uint64_t> repairs_;         // partition -> coordinator id (repairs running)
  std::map<std::uint32_t, TransferStats> transfer_stats_;  // running handoffs and repairs
  std::map<std::uint32_t, std::int64_t> retry_after_us_;   // failed transfers wait before their next try
  std::map<std::uint32_t, std::int64_t> retiring_;         // partition -> when its vnode stops (monotonic us)
  std::map<std::uint32_t, std::int64_t> retired_at_us_;    // a partition is not reopened until its drop is done
  std::map<std::uint32_t, std::map<std::uint32_t, std::set<std::uint32_t>>> repairs_pending_;
  std::set<std::uint32_t> fallbacks_;        // hosted vnodes of partitions owned elsewhere: hints to hand back
  std::set<std::uint32_t> handed_over_;      // unwanted vnodes whose data is all on their owner: retire them
  std::set<std::uint32_t> hinted_handoffs_;  // running handoffs of fallback vnodes (also in handoffs_)
  std::map<AaePairKey, AaePairState> aae_pairs_;
  std::unordered_map<std::uint64_t, AaePairKey> aae_running_;  // coordinator id -> pair
  std::uint64_t aae_pairs_version_ = 0;                        // ring_version_ the pairs were computed for
  std::uint64_t ring_version_ = 1;                             // bumped on every ring or bucket type change
  bool kick_pending_ = false;
  std::deque<crdt::ObjectKey> deferred_reaps_;  // tombstones to reap once reaping is allowed (bounded)
  std::set<std::string> deferred_reap_keys_;    // their storage keys, so a key is queued once
  // The ring as it was when no transfer was pending: repairs compare the
  // preference lists of one settled ring with the next.
  ring::Ring settled_ring_;
  struct PendingJoin {
    Origin origin;
    std::uint64_t request_id = 0;
    std::string seed;
    std::int64_t deadline_us = 0;
  };
  std::optional<PendingJoin> pending_join_;
  std::optional<std::string> join_seed_;  // set once this node asked to join: it adopts the cluster's ring
  std::int64_t next_gossip_us_ = 0;
  bool exiting_ = false;
  std::int64_t exit_at_us_ = 0;
  ActorRef self_ = kNoActor;
  std::unique_ptr<zmq::socket_t> client_socket_;
  std::unique_ptr<zmq::socket_t> peer_socket_;
  std::deque<PeerLink> peers_;  // indices are stable: links are retired, never erased
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
