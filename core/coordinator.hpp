// Request coordinators: the short-lived state machine that serves one client
// request (riak_kv's get_fsm / put_fsm), in the Erlang request-process
// model. A coordinator is a plain object owned by the node's router actor,
// addressed by its id (the request id of every message it sends to
// vnodes); it never blocks and never owns a thread or socket. Its quorum
// decisions come from the pure accounting in core/quorum.hpp; this half only
// sends messages, handles replies and timers, and answers the client.
//
//   GetCoordinator       get / fetch: r, pr, notfound_ok, basic_quorum; read repair after answering
//   WriteCoordinator     put / delete / update: the coordinating vnode applies the write, then
//                        the other replicas merge its object; w, pw, dw; tombstone reaping
//   ListCoordinator      list-keys / list-buckets: a coverage fold streamed in pages
//   ReplicaGetCoordinator  admin replica-get: every replica's own copy, no repair
//   MembersCoordinator   members: every node's view of membership and reachability
//
// Thread-safety: everything runs on the router's scheduler thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/bucket_types.hpp"
#include "core/peer_messages.hpp"
#include "core/quorum.hpp"
#include "core/stats.hpp"
#include "crdt/hlc.hpp"
#include "ring/ring.hpp"

namespace shoal::core {

// What a coordinator needs from the node. Implemented by the router.
class CoordinatorHost {
 public:
  virtual ~CoordinatorHost() = default;
  // Sends a vnode request to a replica. An error means it certainly did not
  // go out (the node is unreachable, or its queue is full): count it failed.
  virtual Result<void> send_to_vnode(const ring::PreflistEntry& replica, std::string bytes) = 0;
  // Sends a peer message to a node (members); same error rule.
  virtual Result<void> send_to_node(const std::string& node, std::string bytes) = 0;
  // Answers the client (final = false for one page of a stream; error: the
  // reply is an error, for the node's error counters).
  virtual void respond(std::uint64_t coordinator, std::string reply, bool final, bool error) = 0;
  virtual void set_timer(std::uint64_t coordinator, std::uint32_t delay_ms, std::uint32_t tag) = 0;
  virtual crdt::HlcTimestamp now() = 0;
  virtual NodeStats& stats() = 0;
  virtual const std::string& self() const = 0;
  virtual const ring::Ring& ring() const = 0;
  virtual const BucketTypes& bucket_types() const = 0;
  virtual bool reachable(const std::string& node) const = 0;
  virtual std::vector<MemberView> own_view() const = 0;
  virtual std::uint32_t tombstone_reap_delay_ms() const = 0;
  // Whether tombstones of this list may be reaped now: every entry is a
  // primary, every member is reachable, and no node holds hints or runs a
  // transfer for its partitions (a hint could carry an older value back).
  virtual bool reap_allowed(const ring::Preflist& preflist) const = 0;
  // A tombstone that could not be reaped yet: try again once it may be.
  virtual void defer_reap(const crdt::ObjectKey& key) = 0;
  // Keys per listing page: the request's page_keys, bounded by the node's limit.
  virtual std::uint32_t list_page_keys(std::optional<std::uint32_t> requested) const = 0;
};

class Coordinator {
 public:
  Coordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id)
      : host_(host), id_(id), request_id_(request_id) {}
  virtual ~Coordinator() = default;
  virtual void start() = 0;
  // A reply addressed to this coordinator (a vnode or node reply).
  virtual void on_reply(const net::Envelope& reply) = 0;
  virtual void on_timer(std::uint32_t tag) = 0;
  // True once the coordinator has nothing left to do and can be dropped.
  bool done() const { return done_; }
  bool answered() const { return answered_; }
  std::uint64_t id() const { return id_; }

  static constexpr std::uint32_t kTimeoutTimer = 1;
  static constexpr std::uint32_t kReapTimer = 2;
  static constexpr std::uint32_t kStepTimer = 3;

 protected:
  void answer(std::string reply, bool final = true, bool error = false);
  void answer_error(const Error& error);
  void finish() { done_ = true; }

  CoordinatorHost& host_;
  std::uint64_t id_;          // request id of the messages this coordinator sends
  std::uint64_t request_id_;  // the client's request id, echoed in the answer
  bool answered_ = false;
  bool done_ = false;
};

// A timer tag that names one attempt of a step (base: a timer kind 1..3),
// so a timer set for an earlier attempt is recognised and ignored.
inline std::uint32_t attempt_tag(std::uint32_t base, std::uint64_t attempt) {
  return base + static_cast<std::uint32_t>((attempt & 0x3fffff) << 2);
}
inline bool current_attempt(std::uint32_t tag, std::uint32_t base, std::uint64_t attempt) {
  return (tag & 3) == base && (tag >> 2) == static_cast<std::uint32_t>(attempt & 0x3fffff);
}

// Resolved per-request settings.
struct KeyRequestPlan {
  crdt::ObjectKey key;
  BucketProps props;
  ring::Preflist preflist;
  std::uint32_t timeout_ms = 10'000;
  bool return_state = false;  // get: the reply carries the CRDT's state (request option `state`)
};

class GetCoordinator final : public Coordinator {
 public:
  GetCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, KeyRequestPlan plan,
                 ReadQuorumSpec spec);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;
  // A read the node runs to reap a tombstone: one it cannot reap yet (the
  // replicas still differ, or reaping is not allowed) is deferred again.
  void set_reap_check() { reap_check_ = true; }

 private:
  struct ReplicaState {
    enum class State { pending, found, notfound, failed } state = State::pending;
    std::string object;
    bool merged = false;  // folded into merged_
  };
  void record(std::size_t index, ReplicaState::State state, std::string object);
  void decide();
  void repair_and_finish();
  std::optional<crdt::Object> merged();

  KeyRequestPlan plan_;
  ReadQuorum quorum_;
  std::vector<ReplicaState> replicas_;
  std::optional<crdt::Object> merged_;
  std::vector<std::string> merged_encodings_;  // distinct replica encodings folded in
  bool repaired_ = false;
  bool reap_check_ = false;
};

class WriteCoordinator final : public Coordinator {
 public:
  // `request` is the client's message, passed to the coordinating vnode.
  // `unread_delete`: a delete without a context, decoded; the replicas are
  // read first and it is sent with the union of their contexts.
  WriteCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, net::MessageType type,
                   KeyRequestPlan plan, WriteQuorumSpec spec, std::string request, std::uint64_t ttl_ms,
                   bool return_body, std::optional<net::KeyRequest> unread_delete = std::nullopt);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

 private:
  void decide();
  void maybe_finish();
  void send_coordinate();
  void read_context();
  void context_read();

  net::MessageType type_;
  KeyRequestPlan plan_;
  WriteQuorum quorum_;
  std::string request_;
  std::uint64_t ttl_ms_;
  bool return_body_;
  std::size_t coordinator_index_ = 0;
  std::string object_;                  // the coordinating vnode's new object
  std::optional<std::int64_t> effect_;  // the update option `effect`: what the op changed there
  std::vector<bool> replied_;
  std::size_t replies_ = 0;
  std::size_t acks_ = 0;
  std::optional<Error> last_error_;
  bool all_acked_ = true;
  bool reap_scheduled_ = false;
  std::optional<net::KeyRequest> unread_delete_;
  crdt::VClock read_context_;
  std::vector<bool> read_replied_;
  std::size_t read_pending_ = 0;
};

class ListCoordinator final : public Coordinator {
 public:
  ListCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, net::ListRequest request,
                  std::uint32_t n_val, std::uint32_t timeout_ms);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

 private:
  void ask();  // the next page from the current partition's current replica
  std::vector<ring::PreflistEntry> candidates_of(std::uint32_t partition) const;
  void next_replica(const std::string& why);
  void flush_page(bool final);

  net::ListRequest request_;
  std::uint32_t page_keys_ = 1000;
  std::uint32_t n_val_;
  std::uint32_t timeout_ms_;
  std::uint32_t partition_ = 0;  // key partition being listed
  std::vector<ring::PreflistEntry> candidates_;
  std::size_t candidate_ = 0;
  std::string resume_after_;
  std::uint64_t attempt_ = 0;  // the timer of a superseded request is ignored
  std::vector<std::string> page_;
  std::set<std::string> buckets_;
};

class ReplicaGetCoordinator final : public Coordinator {
 public:
  ReplicaGetCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, KeyRequestPlan plan);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

 private:
  void finish_answer();
  KeyRequestPlan plan_;
  std::vector<std::optional<VnodeGetReply>> replies_;
  std::size_t pending_ = 0;
};

class MembersCoordinator final : public Coordinator {
 public:
  MembersCoordinator(CoordinatorHost& host, std::uint64_t id, std::uint64_t request_id, std::uint32_t timeout_ms);
  void start() override;
  void on_reply(const net::Envelope& reply) override;
  void on_timer(std::uint32_t tag) override;

 private:
  void finish_answer();
  std::uint32_t timeout_ms_;
  std::map<std::string, std::optional<std::vector<MemberView>>> views_;  // viewer -> view (nullopt: no answer)
  std::size_t pending_ = 0;
};

// Reply encodings shared by the coordinators and the router.
std::string encode_view_reply(net::MessageType request, std::uint64_t request_id, const net::ObjectView& view);
// A replica's copy as an admin sees it: tombstones and expired objects are
// shown (found = true, siblings marked deleted), not hidden.
net::ObjectView replica_view(const crdt::Object& object);

}  // namespace shoal::core
