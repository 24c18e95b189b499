// Every CRDT converges when different nodes coordinate concurrent updates:
// three clients, each pinned to its own node, update the same keys at the
// same time; afterwards every node reads the same value, equal to what a
// simple model of the operations says.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/cluster.hpp"

using namespace shoal;
using shoal::client::Key;
using shoal::test::Cluster;

namespace {

struct Pinned {
  std::vector<std::unique_ptr<client::Client>> clients;
  explicit Pinned(Cluster& cluster) {
    for (std::size_t i = 0; i < cluster.size(); ++i) clients.push_back(cluster.client({i}));
  }
};

// Runs `ops` updates from every client at once and waits for them all.
void concurrently(Pinned& pinned, int ops, const std::function<crdt::AnyOp(std::size_t client, int i)>& make_op,
                  const Key& key) {
  std::atomic<int> failures{0};
  std::mutex error_mutex;
  std::string first_error;
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < pinned.clients.size(); ++c) {
    threads.emplace_back([&, c] {
      std::vector<std::future<Result<net::ObjectView>>> futures;
      for (int i = 0; i < ops; ++i) {
        auto promise = std::make_shared<std::promise<Result<net::ObjectView>>>();
        futures.push_back(promise->get_future());
        pinned.clients[c]->update_async(key, make_op(c, i), std::nullopt, {},
                                        [promise](Result<net::ObjectView> r) { promise->set_value(std::move(r)); });
      }
      for (auto& f : futures) {
        auto r = f.get();
        if (r) continue;
        ++failures;
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = r.error().to_string();
      }
    });
  }
  for (auto& t : threads) t.join();
  INFO("first error: " << first_error);
  REQUIRE(failures.load() == 0);
}

// The value every node reads with r=all (and they must agree).
crdt::AnyValue agreed_value(Pinned& pinned, const Key& key) {
  net::RequestOptions all;
  all.r = net::Quorum::all();
  std::optional<crdt::AnyValue> first;
  for (auto& c : pinned.clients) {
    auto v = c->fetch(key, all);
    REQUIRE(v);
    REQUIRE(v.value());
    if (!first) {
      first = v.value();
    } else {
      CHECK(*v.value() == *first);
    }
  }
  // And every replica comes to hold exactly that value (the last
  // replication messages may still be in flight when the client is answered).
  CHECK(shoal::test::eventually([&] {
    auto replicas = pinned.clients[0]->replica_get(key);
    if (!replicas) return false;
    for (const auto& r : replicas.value())
      if (r.status != 0 || !r.object.value || !(*r.object.value == *first)) return false;
    return true;
  }));
  return *first;
}

Cluster& crdt_cluster() {
  static Cluster cluster(3, {"--ring-size", "16"}, "crdt");
  static bool started = false;
  if (!started) {
    cluster.start_all();
    started = true;
  }
  return cluster;
}

}  // namespace

TEST_CASE("counters converge under concurrent coordinators", "[integration]") {
  Pinned pinned(crdt_cluster());
  Key key{"counters", "converge", "c"};
  concurrently(
      pinned, 200,
      [](std::size_t c, int i) {
        return crdt::AnyOp{c == 2 && i % 2 ? crdt::PnCounter::Op::decrement(1) : crdt::PnCounter::Op::increment(2)};
      },
      key);
  // clients 0 and 1: 200 x +2; client 2: 100 x +2 and 100 x -1.
  auto value = agreed_value(pinned, key);
  CHECK(std::get<crdt::PnCounter::Value>(value.value) == 200 * 2 * 2 + 100 * 2 - 100);
}

TEST_CASE("sets converge: concurrent adds survive, removes take what they saw", "[integration]") {
  Pinned pinned(crdt_cluster());
  Key key{"sets", "converge", "s"};
  concurrently(
      pinned, 100,
      [](std::size_t c, int i) {
        return crdt::AnyOp{crdt::Orswot::Op::add("c" + std::to_string(c) + "-" + std::to_string(i))};
      },
      key);
  // Each client removes the odd elements it added, with the context it read.
  for (std::size_t c = 0; c < pinned.clients.size(); ++c) {
    auto view = pinned.clients[c]->get(key);
    REQUIRE(view);
    auto clock = net::decode_context(view.value().context);
    REQUIRE(clock);
    std::vector<std::string> odd;
    for (int i = 1; i < 100; i += 2) odd.push_back("c" + std::to_string(c) + "-" + std::to_string(i));
    REQUIRE(pinned.clients[c]->update(key, crdt::Orswot::Op::remove_all(odd, clock.value()), view.value().context));
  }
  auto value = agreed_value(pinned, key);
  std::set<std::string> expected;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 100; i += 2) expected.insert("c" + std::to_string(c) + "-" + std::to_string(i));
  const auto& got = std::get<crdt::Orswot::Value>(value.value);
  CHECK(std::set<std::string>(got.begin(), got.end()) == expected);
}

TEST_CASE("maps converge: nested counters add up, registers agree, flags enable-win", "[integration]") {
  Pinned pinned(crdt_cluster());
  Key key{"maps", "converge", "m"};
  concurrently(
      pinned, 60,
      [](std::size_t c, int i) {
        crdt::MapOp op;
        op.fields.push_back(crdt::MapFieldOp::update("visits", crdt::PnCounter::Op::increment(1)));
        op.fields.push_back(crdt::MapFieldOp::update("last", crdt::LwwRegister::Op{"c" + std::to_string(c), {}}));
        crdt::MapOp inner;
        inner.fields.push_back(
            crdt::MapFieldOp::update("tags", crdt::Orswot::Op::add("t" + std::to_string(c) + std::to_string(i % 3))));
        op.fields.push_back(crdt::MapFieldOp::update("profile", crdt::AnyOp{std::move(inner)}));
        op.fields.push_back(crdt::MapFieldOp::update(
            "active", c == 1 ? crdt::EnableWinsFlag::Op::disable : crdt::EnableWinsFlag::Op::enable));
        return crdt::AnyOp{std::move(op)};
      },
      key);
  auto value = agreed_value(pinned, key);
  const auto& map = std::get<crdt::MapValue>(value.value);
  const auto* visits = map.find("visits", crdt::TypeTag::pn_counter);
  REQUIRE(visits);
  CHECK(std::get<crdt::PnCounter::Value>(visits->value) == 180);
  const auto* last = map.find("last", crdt::TypeTag::lww_register);
  REQUIRE(last);
  REQUIRE(std::get<crdt::LwwRegister::Value>(last->value));
  const auto* profile = map.find("profile", crdt::TypeTag::map);
  REQUIRE(profile);
  const auto* tags = std::get<crdt::MapValue>(profile->value).find("tags", crdt::TypeTag::orswot);
  REQUIRE(tags);
  CHECK(std::get<crdt::Orswot::Value>(tags->value).size() == 9);
  CHECK(map.find("active", crdt::TypeTag::flag) != nullptr);
}

TEST_CASE("registers, flags and HyperLogLogs converge", "[integration]") {
  Pinned pinned(crdt_cluster());
  Key reg{"registers", "converge", "r"};
  concurrently(
      pinned, 50, [](std::size_t c, int i) { return crdt::AnyOp{crdt::LwwRegister::Op{"c" + std::to_string(c) + "-" + std::to_string(i), {}}}; },
      reg);
  auto r = agreed_value(pinned, reg);
  REQUIRE(std::get<crdt::LwwRegister::Value>(r.value));

  Key flag{"flags", "converge", "f"};
  concurrently(
      pinned, 30,
      [](std::size_t c, int) {
        return crdt::AnyOp{c == 0 ? crdt::EnableWinsFlag::Op::enable : crdt::EnableWinsFlag::Op::disable};
      },
      flag);
  (void)agreed_value(pinned, flag);

  Key hll{"hlls", "converge", "h"};
  concurrently(
      pinned, 400, [](std::size_t c, int i) { return crdt::AnyOp{crdt::Hll::Op::add("e" + std::to_string(c * 1000 + i))}; },
      hll);
  auto h = agreed_value(pinned, hll);
  double estimate = static_cast<double>(std::get<crdt::Hll::Value>(h.value));
  CHECK(std::abs(estimate - 1200.0) / 1200.0 < 0.05);
}
