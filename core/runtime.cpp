#include "core/runtime.hpp"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <queue>
#include <variant>

namespace shoal::core {

struct Runtime::Slot {
  ActorRef ref = kNoActor;
  std::uint32_t scheduler = 0;
  ActorFactory factory;
  std::unique_ptr<Actor> actor;
  std::string name;
  // Touched only by the owning scheduler's thread.
  std::deque<Mail> mailbox;
  bool runnable = false;
  bool dead = false;  // exceeded its restart intensity
  bool started = false;
  std::uint64_t generation = 0;  // bumped by every restart; stale timers are dropped
  std::deque<std::int64_t> restart_times_us;
  // Messages queued for it anywhere (mailbox and its scheduler's inbox):
  // cross-thread senders read it to refuse when the mailbox is full.
  std::atomic<std::size_t> queued{0};
  std::atomic<bool> gone{false};
};

namespace {

struct Timer {
  std::int64_t deadline_us;
  ActorRef ref;
  std::uint64_t token;
  std::uint64_t generation;
  bool operator>(const Timer& other) const { return deadline_us > other.deadline_us; }
};

struct Task {
  ActorRef to;
  std::function<void(Actor&, ActorContext&)> run;
};

struct Delivery {
  ActorRef to;
  Mail mail;
};

struct RawTask {
  std::function<void()> run;
};

using InboxItem = std::variant<Delivery, Task, RawTask>;

}  // namespace

class Scheduler {
 public:
  Scheduler(Runtime* runtime, std::uint32_t index) : runtime_(runtime), index_(index) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    SHOAL_ASSERT(wake_fd_ >= 0, "eventfd failed");
  }
  ~Scheduler() {
    if (thread_.joinable()) thread_.join();
    close(wake_fd_);
  }

  void start() {
    thread_ = std::thread([this] { loop(); });
  }
  void request_stop() {
    stop_requested_ = true;
    wake();
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  bool on_thread() const { return std::this_thread::get_id() == thread_id_.load(); }

  void add_socket(zmq::socket_t* socket, std::function<void()> ready) {
    polls_.push_back(zmq::pollitem_t{socket->handle(), 0, ZMQ_POLLIN, 0});
    poll_callbacks_.push_back(std::move(ready));
  }
  void add_fd(int fd, std::function<void()> ready) {
    polls_.push_back(zmq::pollitem_t{nullptr, fd, ZMQ_POLLIN, 0});
    poll_callbacks_.push_back(std::move(ready));
  }
  void add_turn_hook(std::function<void()> hook) { turn_hooks_.push_back(std::move(hook)); }

  // From any thread.
  void push(InboxItem item) {
    bool was_empty;
    {
      std::lock_guard lock(inbox_mutex_);
      was_empty = inbox_.empty();
      inbox_.push_back(std::move(item));
    }
    if (was_empty) wake();
  }

  // On this scheduler's thread.
  void deliver_local(Runtime::Slot* slot, Mail mail) {
    slot->mailbox.push_back(std::move(mail));
    make_runnable(slot);
  }
  void add_timer(Timer timer) { timers_.push(timer); }
  void start_slot(Runtime::Slot* slot) { start(slot); }
  void make_runnable_slot(Runtime::Slot* slot) { make_runnable(slot); }

 private:
  void wake() {
    std::uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void)n;  // EAGAIN means the counter is already non-zero: the scheduler will wake
  }

  void make_runnable(Runtime::Slot* slot) {
    if (!slot->runnable) {
      slot->runnable = true;
      run_queue_.push_back(slot);
    }
  }

  void loop() {
    thread_id_ = std::this_thread::get_id();
    std::vector<zmq::pollitem_t> items = polls_;
    items.push_back(zmq::pollitem_t{nullptr, wake_fd_, ZMQ_POLLIN, 0});
    start_actors();
    while (!stop_requested_) {
      long timeout_ms = 100;
      if (!run_queue_.empty()) {
        timeout_ms = 0;
      } else if (!timers_.empty()) {
        std::int64_t wait_us = timers_.top().deadline_us - runtime_->clock().monotonic_us();
        timeout_ms = std::clamp<std::int64_t>((wait_us + 999) / 1000, 0, 100);
      }
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(timeout_ms));
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) break;
        if (e.num() != EINTR) spdlog::error("scheduler {}: poll failed: {}", index_, e.what());
      }
      for (std::size_t i = 0; i + 1 < items.size(); ++i)
        if (items[i].revents & ZMQ_POLLIN) poll_callbacks_[i]();
      if (items.back().revents & ZMQ_POLLIN) {
        std::uint64_t count;
        ssize_t n = read(wake_fd_, &count, sizeof count);
        (void)n;
      }
      runtime_->turns_.fetch_add(1, std::memory_order_relaxed);
      drain_inbox();
      fire_timers();
      run_actors();
      for (auto& hook : turn_hooks_) hook();
    }
    stop_actors();
  }

  void start_actors() {
    for (std::size_t i = 0;; ++i) {
      Runtime::Slot* slot = runtime_->slot_on(index_, i);
      if (!slot) break;
      start(slot);
    }
  }

  void start(Runtime::Slot* slot) {
    if (slot->started || !slot->actor) return;
    slot->started = true;
    ActorContext ctx(runtime_, slot->ref);
    guarded(slot, nullptr, [&] { slot->actor->started(ctx); });
  }

  void stop_actors() {
    for (std::size_t i = 0;; ++i) {
      Runtime::Slot* slot = runtime_->slot_on(index_, i);
      if (!slot) break;
      if (!slot->actor) continue;
      ActorContext ctx(runtime_, slot->ref);
      try {
        slot->actor->stopping(ctx);
      } catch (const std::exception& e) {
        spdlog::error("{} failed while stopping: {}", slot->name, e.what());
      }
    }
  }

  void drain_inbox() {
    std::vector<InboxItem> items;
    {
      std::lock_guard lock(inbox_mutex_);
      if (inbox_.empty()) return;
      items.swap(inbox_);
    }
    for (auto& item : items) {
      if (auto* delivery = std::get_if<Delivery>(&item)) {
        Runtime::Slot* slot = runtime_->slot(delivery->to);
        if (!slot || slot->dead) {
          if (slot) --slot->queued;
          continue;
        }
        if (!slot->started) start(slot);
        deliver_local(slot, std::move(delivery->mail));
      } else if (auto* raw = std::get_if<RawTask>(&item)) {
        raw->run();
      } else {
        auto& task = std::get<Task>(item);
        Runtime::Slot* slot = runtime_->slot(task.to);
        if (!slot || slot->dead || !slot->actor) continue;
        if (!slot->started) start(slot);
        ActorContext ctx(runtime_, slot->ref);
        guarded(slot, nullptr, [&] { task.run(*slot->actor, ctx); });
      }
    }
  }

  void fire_timers() {
    std::int64_t now = runtime_->clock().monotonic_us();
    while (!timers_.empty() && timers_.top().deadline_us <= now) {
      Timer timer = timers_.top();
      timers_.pop();
      Runtime::Slot* slot = runtime_->slot(timer.ref);
      if (!slot || slot->dead || !slot->actor || slot->generation != timer.generation) continue;
      ActorContext ctx(runtime_, slot->ref);
      guarded(slot, nullptr, [&] { slot->actor->on_timer(ctx, timer.token); });
    }
  }

  void run_actors() {
    std::size_t rounds = run_queue_.size();
    for (std::size_t r = 0; r < rounds && !run_queue_.empty(); ++r) {
      Runtime::Slot* slot = run_queue_.front();
      run_queue_.pop_front();
      slot->runnable = false;
      std::size_t budget = runtime_->options_.messages_per_turn;
      while (budget-- > 0 && !slot->mailbox.empty() && slot->actor && !slot->dead) {
        Mail mail = std::move(slot->mailbox.front());
        slot->mailbox.pop_front();
        --slot->queued;
        ++runtime_->messages_;
        ActorContext ctx(runtime_, slot->ref);
        guarded(slot, &mail, [&] { slot->actor->receive(ctx, mail); });
      }
      if (slot->actor && !slot->dead) {
        ActorContext ctx(runtime_, slot->ref);
        guarded(slot, nullptr, [&] { slot->actor->turn_end(ctx); });
      }
      if (slot->dead) {
        slot->queued -= slot->mailbox.size();
        slot->mailbox.clear();
      } else if (!slot->mailbox.empty()) {
        make_runnable(slot);
      }
    }
  }

  template <typename F>
  void guarded(Runtime::Slot* slot, const Mail* mail, F&& body) {
    std::string what;
    try {
      body();
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    runtime_->crashed(slot, mail, what);
  }

  friend class Runtime;
  Runtime* runtime_;
  std::uint32_t index_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::mutex inbox_mutex_;
  std::vector<InboxItem> inbox_;
  std::deque<Runtime::Slot*> run_queue_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::vector<zmq::pollitem_t> polls_;
  std::vector<std::function<void()>> poll_callbacks_;
  std::vector<std::function<void()>> turn_hooks_;
};

// ---- ActorContext ------------------------------------------------------------

Result<void> ActorContext::send(ActorRef to, std::string bytes) {
  Mail mail;
  mail.bytes = std::move(bytes);
  mail.sender = self_;
  return runtime_->send(to, std::move(mail));
}

Result<void> ActorContext::send_reply(ActorRef to, Mail mail) {
  mail.sender = self_;
  return runtime_->send(to, std::move(mail), false);
}

void ActorContext::set_timer(std::uint32_t delay_ms, std::uint64_t token) {
  Runtime::Slot* slot = runtime_->slot(self_);
  SHOAL_ASSERT(slot != nullptr, "timer for an unknown actor");
  std::int64_t deadline = runtime_->clock().monotonic_us() + std::int64_t{delay_ms} * 1000;
  runtime_->schedulers_[slot->scheduler]->add_timer(Timer{deadline, self_, token, slot->generation});
}

std::int64_t ActorContext::now_us() const { return runtime_->clock().now_unix_us(); }

// ---- Runtime -------------------------------------------------------------------

Runtime::Runtime(RuntimeOptions options) : options_(options) {
  SHOAL_ASSERT(options_.schedulers >= 1, "a runtime needs at least one scheduler");
  for (std::uint32_t i = 0; i < options_.schedulers; ++i) schedulers_.push_back(std::make_unique<Scheduler>(this, i));
}

Runtime::~Runtime() { stop(); }

Runtime::Slot* Runtime::slot(ActorRef ref) {
  std::lock_guard lock(slots_mutex_);
  return ref < slots_.size() ? slots_[ref].get() : nullptr;
}

Runtime::Slot* Runtime::slot_on(std::uint32_t scheduler, std::size_t nth) {
  std::lock_guard lock(slots_mutex_);
  std::size_t seen = 0;
  for (auto& slot : slots_) {
    if (slot->scheduler != scheduler) continue;
    if (seen++ == nth) return slot.get();
  }
  return nullptr;
}

Result<ActorRef> Runtime::spawn(ActorFactory factory, std::optional<std::uint32_t> scheduler) {
  SHOAL_TRY(actor, factory());
  auto slot = std::make_unique<Slot>();
  slot->factory = std::move(factory);
  slot->name = actor->name();
  slot->actor = std::move(actor);
  Slot* raw = slot.get();
  {
    std::lock_guard lock(slots_mutex_);
    if (scheduler) {
      SHOAL_ASSERT(*scheduler < schedulers_.size(), "no such scheduler");
      raw->scheduler = *scheduler;
    } else {
      raw->scheduler = next_scheduler_;
      next_scheduler_ = (next_scheduler_ + 1) % static_cast<std::uint32_t>(schedulers_.size());
    }
    raw->ref = static_cast<ActorRef>(slots_.size());
    slots_.push_back(std::move(slot));
  }
  if (started_) {
    // Start it on its own thread before any message reaches it.
    post(raw->ref, [](Actor&, ActorContext&) {});
  }
  return raw->ref;
}

void Runtime::set_escalation(Escalation escalation) { escalation_ = std::move(escalation); }

void Runtime::add_socket(std::uint32_t scheduler, zmq::socket_t* socket, std::function<void()> ready) {
  SHOAL_ASSERT(!started_ && scheduler < schedulers_.size(), "add_socket before start, on a real scheduler");
  schedulers_[scheduler]->add_socket(socket, std::move(ready));
}

void Runtime::add_fd(std::uint32_t scheduler, int fd, std::function<void()> ready) {
  SHOAL_ASSERT(!started_ && scheduler < schedulers_.size(), "add_fd before start, on a real scheduler");
  schedulers_[scheduler]->add_fd(fd, std::move(ready));
}

void Runtime::add_turn_hook(std::uint32_t scheduler, std::function<void()> hook) {
  SHOAL_ASSERT(!started_ && scheduler < schedulers_.size(), "add_turn_hook before start, on a real scheduler");
  schedulers_[scheduler]->add_turn_hook(std::move(hook));
}

void Runtime::start() {
  SHOAL_ASSERT(!started_, "runtime started twice");
  started_ = true;
  for (auto& s : schedulers_) s->start();
}

void Runtime::stop() {
  if (!started_) return;
  started_ = false;
  for (auto& s : schedulers_) s->request_stop();
  for (auto& s : schedulers_) s->join();
}

bool Runtime::on_scheduler_thread(std::uint32_t scheduler) const {
  return scheduler < schedulers_.size() && schedulers_[scheduler]->on_thread();
}

std::uint32_t Runtime::scheduler_of(ActorRef ref) const {
  std::lock_guard lock(slots_mutex_);
  SHOAL_ASSERT(ref < slots_.size(), "unknown actor");
  return slots_[ref]->scheduler;
}

Result<void> Runtime::send(ActorRef to, Mail mail, bool bounded) {
  Slot* target = slot(to);
  if (!target) return make_error(Errc::not_found, "no actor " + std::to_string(to));
  if (target->dead || target->gone)
    return make_error(Errc::unavailable, target->name + " is down (it crashed too often and was not restarted)");
  if (bounded && target->queued.load(std::memory_order_relaxed) >= options_.mailbox_messages_max) {
    ++overloaded_;
    return make_error(Errc::overloaded, target->name + " is overloaded: " +
                                            std::to_string(options_.mailbox_messages_max) + " messages queued");
  }
  ++target->queued;
  Scheduler& scheduler = *schedulers_[target->scheduler];
  if (scheduler.on_thread()) {
    scheduler.deliver_local(target, std::move(mail));
  } else {
    scheduler.push(Delivery{to, std::move(mail)});
  }
  return ok();
}

void Runtime::post(ActorRef to, std::function<void(Actor&, ActorContext&)> task) {
  Slot* target = slot(to);
  SHOAL_ASSERT(target != nullptr, "post to an unknown actor");
  schedulers_[target->scheduler]->push(Task{to, std::move(task)});
}

void Runtime::crashed(Slot* slot, const Mail* mail, const std::string& what) {
  ++crashes_;
  spdlog::error("{} crashed: {}", slot->name, what);
  if (slot->actor) {
    ActorContext ctx(this, slot->ref);
    try {
      slot->actor->on_crash(ctx, mail);
    } catch (const std::exception& e) {
      spdlog::error("{}: crash handler failed: {}", slot->name, e.what());
    }
  }
  restart(slot->ref, what);
}

void Runtime::restart(ActorRef ref, const std::string& reason) {
  Slot* s = slot(ref);
  SHOAL_ASSERT(s != nullptr, "restart of an unknown actor");
  Scheduler& scheduler = *schedulers_[s->scheduler];
  if (!scheduler.on_thread()) {
    post_raw(ref, [this, ref, reason] { restart(ref, reason); });
    return;
  }
  if (s->dead) return;
  if (s->actor) {
    ActorContext ctx(this, ref);
    try {
      s->actor->stopping(ctx);
    } catch (const std::exception& e) {
      spdlog::error("{}: stopping after a crash failed: {}", s->name, e.what());
    }
    s->actor.reset();
  }
  ++s->generation;
  std::int64_t now = clock().monotonic_us();
  s->restart_times_us.push_back(now);
  while (!s->restart_times_us.empty() &&
         s->restart_times_us.front() < now - std::int64_t{options_.restart_window_ms} * 1000)
    s->restart_times_us.pop_front();
  if (s->restart_times_us.size() > options_.restarts_max) {
    s->dead = true;
    std::string why = s->name + " restarted " + std::to_string(s->restart_times_us.size()) + " times in " +
                      std::to_string(options_.restart_window_ms) + " ms (last: " + reason + ")";
    spdlog::error("supervisor: {}; escalating", why);
    if (escalation_) escalation_(ref, why);
    return;
  }
  auto fresh = s->factory();
  if (!fresh) {
    s->dead = true;
    std::string why = s->name + " could not be restarted: " + fresh.error().to_string();
    spdlog::error("supervisor: {}; escalating", why);
    if (escalation_) escalation_(ref, why);
    return;
  }
  ++restarts_;
  s->actor = std::move(fresh).value();
  s->started = false;
  scheduler.start_slot(s);
  if (!s->mailbox.empty()) scheduler.make_runnable_slot(s);
  spdlog::warn("supervisor: restarted {} ({})", s->name, reason);
}

void Runtime::revive(ActorRef ref) {
  // Always asynchronous: revive is called from escalation handlers that run
  // inside restart() of the very slot being revived.
  post_raw(ref, [this, ref] {
    Slot* s = slot(ref);
    s->dead = false;
    s->restart_times_us.clear();
    restart(ref, "revived by its supervisor");
  });
}

ActorContext Runtime::context(ActorRef ref) {
  Slot* s = slot(ref);
  SHOAL_ASSERT(s != nullptr && schedulers_[s->scheduler]->on_thread(), "context() off the actor's thread");
  return ActorContext(this, ref);
}

void Runtime::retire(ActorRef ref, std::function<void()> after) {
  Slot* s = slot(ref);
  SHOAL_ASSERT(s != nullptr, "retire of an unknown actor");
  s->gone = true;  // sends fail from now on
  post_raw(ref, [this, s, after = std::move(after)] {
    if (s->actor) {
      ActorContext ctx(this, s->ref);
      try {
        s->actor->stopping(ctx);
      } catch (const std::exception& e) {
        spdlog::error("{} failed while stopping: {}", s->name, e.what());
      }
      s->actor.reset();
    }
    s->dead = true;
    ++s->generation;  // its timers are dropped
    if (after) after();
  });
}

void Runtime::post_raw(ActorRef ref, std::function<void()> task) {
  Slot* target = slot(ref);
  SHOAL_ASSERT(target != nullptr, "post to an unknown actor");
  schedulers_[target->scheduler]->push(RawTask{std::move(task)});
}

RuntimeStats Runtime::stats() const {
  return RuntimeStats{messages_.load(), crashes_.load(), restarts_.load(), overloaded_.load(), turns_.load()};
}

}  // namespace shoal::core
