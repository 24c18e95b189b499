// CRDT counter updates, issued asynchronously: 1000 increments pipelined
// over one connection, each answered by a callback on the client's I/O
// thread; then the value is fetched.
//   counter HOST:PORT
#include <atomic>
#include <cstdio>
#include <future>

#include "net/client/client.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: counter HOST:PORT\n");
    return 2;
  }
  auto client = shoal::client::Client::connect({.nodes = {argv[1]}});
  if (!client) return 1;
  auto& c = *client.value();
  shoal::client::Key key{"counters", "examples", "visits"};
  auto before = c.fetch(key);
  std::int64_t start = before && before.value() ? std::get<std::int64_t>(before.value()->value) : 0;
  std::atomic<int> left{1000}, failed{0};
  std::promise<void> all_done;
  for (int i = 0; i < 1000; ++i) {
    c.update_async(key, shoal::crdt::PnCounter::Op::increment(1), std::nullopt, {},
                   [&](shoal::Result<shoal::net::ObjectView> r) {
                     if (!r) ++failed;
                     if (--left == 0) all_done.set_value();
                   });
  }
  all_done.get_future().wait();
  auto after = c.fetch(key);
  if (!after || !after.value()) return 1;
  std::int64_t now = std::get<std::int64_t>(after.value()->value);
  std::printf("counter went from %lld to %lld (%d failed)\n", static_cast<long long>(start),
              static_cast<long long>(now), failed.load());
  return failed == 0 && now == start + 1000 ? 0 : 1;
}
