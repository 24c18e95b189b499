// The actor runtime of one node: schedulers (threads) that run actors, each
// actor single-threaded over its own state and fed by a bounded mailbox of
// msgpack messages, and a supervisor that restarts an actor whose handler
// threw (the Erlang/OTP model).
//
// Scheduling (measured, see docs/architecture.md): a node runs a few
// scheduler threads; every actor is pinned to one. A message to an actor on
// the same scheduler is a push onto its mailbox (no system call, no thread
// wake-up); a message to another scheduler goes through that scheduler's
// inbox (a locked queue and an eventfd the scheduler polls together with its
// ZeroMQ sockets). Scheduler 0 also owns the node's sockets (see Scheduler::
// add_socket), so network input is read on the thread that runs the node's
// router actor. Messages are always encoded bytes: actors share no memory.
//
// Supervision: an exception escaping Actor::receive or Actor::on_timer
// crashes that actor only. The runtime calls its on_crash hook with the
// message it was handling (so the sender gets an error instead of waiting),
// destroys it, and asks the actor's restart function for a fresh one, at
// most `restarts_max` times in `restart_window_ms`; past that it escalates to
// the RestartEscalation callback (the node restarts every vnode, then exits).
//
// Thread-safety: Runtime::send, post and stop are thread-safe; everything an
// actor does through its ActorContext happens on its scheduler's thread.
#pragma once

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace shoal::core {

using ActorRef = std::uint32_t;
inline constexpr ActorRef kNoActor = UINT32_MAX;
inline constexpr std::uint32_t kLocalPeer = UINT32_MAX;

// One message in a mailbox: the bytes of one protocol message, and who sent
// it (a local actor, or a peer node by its index in the node's peer table).
struct Mail {
  std::string bytes;
  ActorRef sender = kNoActor;
  std::uint32_t peer = kLocalPeer;
};

class ActorContext;

class Actor {
 public:
  virtual ~Actor() = default;
  virtual std::string name() const = 0;
  // Runs once on the actor's scheduler before the first message.
  virtual void started(ActorContext&) {}
  virtual void receive(ActorContext& ctx, Mail& mail) = 0;
  virtual void on_timer(ActorContext&, std::uint64_t /*token*/) {}
  // Runs after the actor handled a batch of messages in one scheduler turn:
  // the place to submit the writes the batch produced as one group.
  virtual void turn_end(ActorContext&) {}
  // Runs after the actor threw while handling `mail` (nullptr for a timer or
  // task), on a fresh stack, before the actor is destroyed: answer the
  // message's sender with an error so it does not wait for a timeout. Must
  // not touch the actor's own (possibly broken) state beyond what it needs.
  virtual void on_crash(ActorContext&, const Mail*) {}
  // Orderly stop (node shutdown): flush, close storage.
  virtual void stopping(ActorContext&) {}
};

using ActorFactory = std::function<Result<std::unique_ptr<Actor>>()>;

struct RuntimeOptions {
  std::uint32_t schedulers = 1;
  std::size_t mailbox_messages_max = 10'000;  // per actor; past it send() answers overloaded
  std::uint32_t restarts_max = 5;             // OTP restart intensity: at most this many ...
  std::uint32_t restart_window_ms = 10'000;   // ... restarts of one actor in this window
  std::size_t messages_per_turn = 64;         // an actor yields its scheduler after this many
  const Clock* clock = &SystemClock::instance();
};

struct RuntimeStats {
  std::uint64_t messages = 0;
  std::uint64_t crashes = 0;
  std::uint64_t restarts = 0;
  std::uint64_t overloaded = 0;  // sends refused because a mailbox was full
  std::uint64_t turns = 0;       // scheduler loop iterations (messages / turns = batching)
};

class Runtime;

// What an actor can do while it runs. Valid only during the call it is passed to.
class ActorContext {
 public:
  ActorRef self() const { return self_; }
  Runtime& runtime() { return *runtime_; }
  // Sends to a local actor; Errc::overloaded if its mailbox is full,
  // Errc::not_found if it does not exist (or is restarting too often).
  Result<void> send(ActorRef to, std::string bytes);
  // Sends a reply: not refused for a full mailbox (see Runtime::send).
  Result<void> send_reply(ActorRef to, Mail mail);
  // One-shot timer; `token` comes back in on_timer.
  void set_timer(std::uint32_t delay_ms, std::uint64_t token);
  std::int64_t now_us() const;

 private:
  friend class Runtime;
  friend class Scheduler;
  ActorContext(Runtime* runtime, ActorRef self) : runtime_(runtime), self_(self) {}
  Runtime* runtime_;
  ActorRef self_;
};

class Scheduler;

class Runtime {
 public:
  // Called when an actor exceeded its restart intensity; the runtime has
  // stopped restarting it.
  using Escalation = std::function<void(ActorRef, const std::string& reason)>;

  explicit Runtime(RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Registers an actor on a scheduler (round-robin when scheduler is nullopt).
  // `factory` builds it now and again on every restart. Call before start()
  // or from an actor on any scheduler.
  Result<ActorRef> spawn(ActorFactory factory, std::optional<std::uint32_t> scheduler = std::nullopt);
  void set_escalation(Escalation escalation);

  // Sockets and file descriptors polled by a scheduler's thread; `ready` runs
  // on that thread when the socket is readable. Call before start().
  void add_socket(std::uint32_t scheduler, zmq::socket_t* socket, std::function<void()> ready);
  void add_fd(std::uint32_t scheduler, int fd, std::function<void()> ready);
  // Runs once per scheduler loop iteration, after messages were handled (the
  // node flushes buffered socket output here). Call before start().
  void add_turn_hook(std::uint32_t scheduler, std::function<void()> hook);

  void start();
  // Asks every actor to stop (Actor::stopping), then joins the threads.
  void stop();

  // Thread-safe sends. `bounded` = false skips the mailbox limit: for
  // replies to requests that were already admitted, which must not be lost.
  Result<void> send(ActorRef to, Mail mail, bool bounded = true);
  // Runs `task` on `to`'s scheduler as if it were a message to it (the task
  // may call into the actor through the returned context). Thread-safe.
  void post(ActorRef to, std::function<void(Actor&, ActorContext&)> task);

  // Restarts an actor now (a supervisor decision, e.g. escalation restarting
  // every vnode): the current instance is stopped and destroyed, a new one built.
  void restart(ActorRef ref, const std::string& reason);
  // Brings back an actor that exceeded its restart intensity (the escalation
  // step "restart the whole vnode set"), with a clean restart history.
  void revive(ActorRef ref);
  // Stops an actor for good (Actor::stopping, then destroyed; later sends
  // fail with unavailable), then runs `after` on its scheduler's thread.
  // Asynchronous; thread-safe.
  void retire(ActorRef ref, std::function<void()> after);

  // A context for `ref` outside a message call (socket callbacks of the
  // actor that owns them). Precondition: on `ref`'s scheduler thread.
  ActorContext context(ActorRef ref);

  std::uint32_t scheduler_count() const { return static_cast<std::uint32_t>(schedulers_.size()); }
  std::uint32_t scheduler_of(ActorRef ref) const;
  RuntimeStats stats() const;
  const RuntimeOptions& options() const { return options_; }
  const Clock& clock() const { return *options_.clock; }
  // True on a scheduler thread of this runtime.
  bool on_scheduler_thread(std::uint32_t scheduler) const;

 private:
  friend class Scheduler;
  friend class ActorContext;
  struct Slot;
  Slot* slot(ActorRef ref);
  Slot* slot_on(std::uint32_t scheduler, std::size_t nth);
  void crashed(Slot* slot, const Mail* mail, const std::string& what);
  // Runs `task` on the scheduler of `ref` whether or not the actor is alive.
  void post_raw(ActorRef ref, std::function<void()> task);

  RuntimeOptions options_;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;
  mutable std::mutex slots_mutex_;
  std::deque<std::unique_ptr<Slot>> slots_;  // never shrinks; ActorRef indexes it
  std::uint32_t next_scheduler_ = 0;
  Escalation escalation_;
  std::atomic<std::uint64_t> messages_{0}, crashes_{0}, restarts_{0}, overloaded_{0}, turns_{0};
  bool started_ = false;
};

}  // namespace shoal::core
