// The actor runtime: delivery, timers, overload, and supervision (a crashed
// actor is rebuilt, its caller told; past the restart intensity the
// supervisor escalates). Uses real scheduler threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/runtime.hpp"

using namespace shoal;
using namespace shoal::core;

namespace {

struct Log {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> lines;
  void add(std::string line) {
    std::lock_guard lock(mutex);
    lines.push_back(std::move(line));
    cv.notify_all();
  }
  bool wait_for(std::size_t n, int ms = 5000) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return lines.size() >= n; });
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return lines;
  }
};

// Records what it receives; "crash" throws; "forward:N:text" sends text to actor N.
class Recorder final : public Actor {
 public:
  Recorder(Log* log, int generation) : log_(log), generation_(generation) {}
  std::string name() const override { return "recorder"; }
  void receive(ActorContext& ctx, Mail& mail) override {
    if (mail.bytes == "crash") throw std::runtime_error("asked to crash");
    if (mail.bytes.rfind("forward:", 0) == 0) {
      auto rest = mail.bytes.substr(8);
      auto colon = rest.find(':');
      (void)ctx.send(static_cast<ActorRef>(std::stoul(rest.substr(0, colon))), rest.substr(colon + 1));
      return;
    }
    if (mail.bytes.rfind("timer:", 0) == 0) {
      ctx.set_timer(static_cast<std::uint32_t>(std::stoul(mail.bytes.substr(6))), 7);
      return;
    }
    log_->add("g" + std::to_string(generation_) + ":" + mail.bytes);
  }
  void on_timer(ActorContext&, std::uint64_t token) override { log_->add("timer " + std::to_string(token)); }
  void on_crash(ActorContext&, const Mail* mail) override { log_->add("crashed on " + (mail ? mail->bytes : "?")); }

 private:
  Log* log_;
  int generation_;
};

}  // namespace

TEST_CASE("messages reach actors in order, across schedulers, and timers fire") {
  Log log;
  RuntimeOptions options;
  options.schedulers = 2;
  Runtime runtime(options);
  std::atomic<int> built{0};
  auto factory = [&] { return Result<std::unique_ptr<Actor>>(std::make_unique<Recorder>(&log, built++)); };
  ActorRef a = runtime.spawn(factory, 0).value();
  ActorRef b = runtime.spawn(factory, 1).value();
  runtime.start();
  for (int i = 0; i < 100; ++i) REQUIRE(runtime.send(b, Mail{"m" + std::to_string(i)}));
  REQUIRE(runtime.send(a, Mail{"forward:" + std::to_string(b) + ":via-a"}));
  REQUIRE(runtime.send(b, Mail{"timer:20"}));
  REQUIRE(log.wait_for(102));
  auto lines = log.snapshot();
  std::vector<std::string> from_outside;
  for (const auto& l : lines)
    if (l.rfind("g1:m", 0) == 0) from_outside.push_back(l);
  REQUIRE(from_outside.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(from_outside[static_cast<std::size_t>(i)] == "g1:m" + std::to_string(i));
  CHECK(std::find(lines.begin(), lines.end(), "g1:via-a") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "timer 7") != lines.end());
  runtime.stop();
}

TEST_CASE("a crashed actor answers through on_crash, is rebuilt and keeps its mailbox") {
  Log log;
  Runtime runtime(RuntimeOptions{});
  std::atomic<int> built{0};
  ActorRef a = runtime.spawn([&] { return Result<std::unique_ptr<Actor>>(std::make_unique<Recorder>(&log, built++)); })
                   .value();
  runtime.start();
  REQUIRE(runtime.send(a, Mail{"before"}));
  REQUIRE(runtime.send(a, Mail{"crash"}));
  REQUIRE(runtime.send(a, Mail{"after"}));
  REQUIRE(log.wait_for(3));
  auto lines = log.snapshot();
  CHECK(lines == std::vector<std::string>{"g0:before", "crashed on crash", "g1:after"});
  CHECK(runtime.stats().crashes == 1);
  CHECK(runtime.stats().restarts == 1);
  runtime.stop();
}

TEST_CASE("past its restart intensity an actor is left down and the supervisor escalates") {
  Log log;
  RuntimeOptions options;
  options.restarts_max = 3;
  options.restart_window_ms = 60'000;
  Runtime runtime(options);
  std::atomic<int> built{0};
  std::atomic<int> escalations{0};
  runtime.set_escalation([&](ActorRef, const std::string& reason) {
    ++escalations;
    log.add("escalated: " + reason);
  });
  ActorRef a = runtime.spawn([&] { return Result<std::unique_ptr<Actor>>(std::make_unique<Recorder>(&log, built++)); })
                   .value();
  runtime.start();
  for (int i = 0; i < 4; ++i) REQUIRE(runtime.send(a, Mail{"crash"}));
  REQUIRE(log.wait_for(5));
  CHECK(escalations == 1);
  auto down = runtime.send(a, Mail{"hello"});
  REQUIRE(!down);
  CHECK(down.error().code == Errc::unavailable);
  // The supervisor's next step: bring it back with a clean history.
  runtime.revive(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(runtime.send(a, Mail{"back"}));
  REQUIRE(log.wait_for(6));
  CHECK(log.snapshot().back() == "g4:back");
  runtime.stop();
}

TEST_CASE("a full mailbox refuses with overloaded instead of queueing without bound") {
  Log log;
  RuntimeOptions options;
  options.mailbox_messages_max = 10;
  Runtime runtime(options);
  ActorRef a = runtime.spawn([&] { return Result<std::unique_ptr<Actor>>(std::make_unique<Recorder>(&log, 0)); })
                   .value();
  // Not started: nothing drains the mailbox.
  for (int i = 0; i < 10; ++i) REQUIRE(runtime.send(a, Mail{"x"}));
  auto refused = runtime.send(a, Mail{"one too many"});
  REQUIRE(!refused);
  CHECK(refused.error().code == Errc::overloaded);
  CHECK(runtime.stats().overloaded == 1);
  // Replies to admitted requests are never refused.
  CHECK(runtime.send(a, Mail{"reply"}, false));
  runtime.start();
  REQUIRE(log.wait_for(11));
  runtime.stop();
}
