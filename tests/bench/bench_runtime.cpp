// How a message gets from one actor to another inside a node, measured for
// the scheduling decision in docs/architecture.md: the same thread through
// an in-memory mailbox vs through a ZeroMQ inproc socket pair, and across
// two threads through ZeroMQ inproc vs through a locked queue with an
// eventfd wake-up (the runtime's scheduler inbox). Each message is a 100-byte
// string, as a small request is.
#include <benchmark/benchmark.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace {

const std::string kMessage(100, 'm');

void BM_RuntimeSameThreadMailbox(benchmark::State& state) {
  std::deque<std::string> mailbox;
  for (auto _ : state) {
    mailbox.push_back(kMessage);
    std::string m = std::move(mailbox.front());
    mailbox.pop_front();
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RuntimeSameThreadMailbox);

void BM_RuntimeSameThreadZmqInproc(benchmark::State& state) {
  zmq::context_t context(1);
  zmq::socket_t in(context, zmq::socket_type::pair), out(context, zmq::socket_type::pair);
  in.bind("inproc://bench-same");
  out.connect("inproc://bench-same");
  for (auto _ : state) {
    (void)out.send(zmq::buffer(kMessage), zmq::send_flags::none);
    zmq::message_t m;
    (void)in.recv(m);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RuntimeSameThreadZmqInproc);

// Ping-pong between two threads: one round trip per iteration.
void BM_RuntimeCrossThreadZmqInproc(benchmark::State& state) {
  zmq::context_t context(1);
  zmq::socket_t a(context, zmq::socket_type::pair), b(context, zmq::socket_type::pair);
  a.bind("inproc://bench-cross");
  b.connect("inproc://bench-cross");
  std::thread echo([&] {
    zmq::message_t m;
    while (true) {
      (void)b.recv(m);
      if (m.size() == 0) return;
      (void)b.send(m, zmq::send_flags::none);
    }
  });
  for (auto _ : state) {
    (void)a.send(zmq::buffer(kMessage), zmq::send_flags::none);
    zmq::message_t m;
    (void)a.recv(m);
  }
  (void)a.send(zmq::message_t{}, zmq::send_flags::none);
  echo.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RuntimeCrossThreadZmqInproc)->UseRealTime();

struct Inbox {
  std::mutex mutex;
  std::vector<std::string> items;
  int fd = eventfd(0, 0);
  ~Inbox() { close(fd); }
  void push(std::string s) {
    bool was_empty;
    {
      std::lock_guard lock(mutex);
      was_empty = items.empty();
      items.push_back(std::move(s));
    }
    if (was_empty) {
      std::uint64_t one = 1;
      ssize_t n = write(fd, &one, sizeof one);
      (void)n;
    }
  }
  std::string pop() {
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (!items.empty()) {
          std::string s = std::move(items.back());
          items.clear();
          return s;
        }
      }
      std::uint64_t count;
      ssize_t n = read(fd, &count, sizeof count);
      (void)n;
    }
  }
};

void BM_RuntimeCrossThreadInbox(benchmark::State& state) {
  Inbox to_echo, back;
  std::thread echo([&] {
    while (true) {
      std::string m = to_echo.pop();
      if (m.empty()) return;
      back.push(std::move(m));
    }
  });
  for (auto _ : state) {
    to_echo.push(kMessage);
    benchmark::DoNotOptimize(back.pop());
  }
  to_echo.push(std::string());
  echo.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RuntimeCrossThreadInbox)->UseRealTime();

}  // namespace
