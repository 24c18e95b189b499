// Faults against real nodes: kill -9 under a writer, a node down for strict
// quorums, a crashing vnode, strangers refused, hostile bytes at both
// sockets, orderly stops, data directories that are not ours, a full disk.
#include <catch2/catch.hpp>

#include <zmq.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "net/protocol.hpp"
#include "tests/integration/cluster.hpp"

using namespace shoal;
using shoal::client::Key;
using shoal::test::Cluster;
using shoal::test::eventually;
using shoal::test::run_process;

namespace {

int replicas_holding(client::Client& c, const Key& key) {
  auto replicas = c.replica_get(key);
  if (!replicas) return -1;
  int found = 0;
  for (const auto& r : replicas.value()) found += r.status == 0;
  return found;
}

std::int64_t status_value(Cluster& cluster, std::size_t node, const std::string& name) {
  return shoal::test::status_number(cluster, node, name);
}

}  // namespace

TEST_CASE("kill -9 of one node of 3 while a writer runs with w=2 loses no acknowledged write", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "kill9");
  cluster.start_all();
  auto c = cluster.client({}, 2000);
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::string> acked;
  std::atomic<int> failed{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      std::string k = "k" + std::to_string(i);
      client::PutOptions put;
      put.request.w = net::Quorum::of(2);
      auto r = c->put(Key{"default", "kill9", k}, "v" + std::to_string(i), put);
      if (r) {
        std::lock_guard lock(mutex);
        acked.push_back(k);
      } else {
        ++failed;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  cluster.kill9(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  cluster.restart(2);
  cluster.wait_connected();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  writer.join();
  INFO("acknowledged " << acked.size() << ", failed or unknown " << failed.load());
  REQUIRE(acked.size() > 100);
  // Every acknowledged write is on at least w=2 replicas (the restarted
  // node kept what it acknowledged before the kill) and readable.
  for (const auto& k : acked) {
    Key key{"default", "kill9", k};
    int holding = replicas_holding(*c, key);
    INFO(k);
    REQUIRE(holding >= 2);
    auto got = c->get(key);
    REQUIRE(got);
    REQUIRE(got.value().found);
  }
}

TEST_CASE("strict quorums fail cleanly and quickly while a node is down", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "down");
  cluster.start_all();
  auto c = cluster.client({0, 1});
  Key key{"default", "down", "k"};
  client::PutOptions all;
  all.request.w = net::Quorum::all();
  REQUIRE(c->put(key, "v", all));
  cluster.kill9(2);
  // The failure detector marks it unreachable (1 s in this cluster), on
  // every node that may coordinate.
  REQUIRE(eventually([&] {
    return status_value(cluster, 0, "members_reachable") == 2 && status_value(cluster, 1, "members_reachable") == 2;
  }));
  net::RequestOptions pr3;
  pr3.pr = net::Quorum::of(3);
  auto started = std::chrono::steady_clock::now();
  auto strict = c->get(key, pr3);
  auto elapsed = std::chrono::steady_clock::now() - started;
  REQUIRE(!strict);
  CHECK(strict.error().code == Errc::unavailable);
  CHECK(strict.error().message.find("pr=3 not met") != std::string::npos);
  CHECK(elapsed < std::chrono::milliseconds(500));  // no waiting for a timeout

  client::PutOptions pw3;
  pw3.request.pw = net::Quorum::of(3);
  auto write = c->put(Key{"default", "down", "strict-write"}, "v", pw3);
  REQUIRE(!write);
  CHECK(write.error().code == Errc::unavailable);
  CHECK(write.error().message.find("nothing was written") != std::string::npos);
  CHECK(replicas_holding(*c, Key{"default", "down", "strict-write"}) == 0);

  // The default quorums keep working with two of three replicas.
  REQUIRE(c->put(Key{"default", "down", "k2"}, "v"));
  auto relaxed = c->get(key);
  REQUIRE(relaxed);
  CHECK(relaxed.value().found);
}

TEST_CASE("a vnode that throws is restarted and the node keeps serving", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "crash");
  cluster.start_all();
  // Writes coordinated by node 2 reach node 1's vnodes as replicas; a
  // replica that crashes answers with an error and the others meet the quorum.
  auto c = cluster.client({1});
  auto admin = cluster.client({0});
  REQUIRE(admin->set_failpoint(cluster.node(0).client_address(), "vnode.receive", "3*throw"));
  for (int i = 0; i < 40; ++i) {
    Key key{"default", "crash", "k" + std::to_string(i)};
    auto put = c->put(key, "v");
    REQUIRE(put);
    auto got = c->get(key);
    REQUIRE(got);
    CHECK(got.value().found);
  }
  CHECK(status_value(cluster, 0, "vnode_crashes") == 3);
  CHECK(status_value(cluster, 0, "actor_restarts") == 3);
  // The restarted vnodes answer again: a read repairs what a crashed
  // replica missed, and then every replica holds every key.
  for (int i = 0; i < 40; ++i) REQUIRE(c->get(Key{"default", "crash", "k" + std::to_string(i)}));
  for (int i = 0; i < 40; ++i)
    CHECK(eventually([&] { return replicas_holding(*c, Key{"default", "crash", "k" + std::to_string(i)}) == 3; }));

  SECTION("past the restart intensity the node gives up and exits non-zero") {
    REQUIRE(admin->set_failpoint(cluster.node(0).client_address(), "vnode.receive", "throw"));
    for (int i = 0; i < 200 && cluster.alive(0); ++i) (void)c->put(Key{"default", "crash", "x" + std::to_string(i)}, "v");
    CHECK(eventually([&] { return !cluster.alive(0); }, 20'000));
    CHECK(cluster.log(0).find("giving up") != std::string::npos);
  }
}

TEST_CASE("a node with the wrong secret or cluster name is refused", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "stranger");
  cluster.node(2).secret = "not-the-secret";
  for (std::size_t i = 0; i < 3; ++i) cluster.start(i);
  for (std::size_t i = 0; i < 3; ++i) cluster.wait_ready(i);
  auto c = cluster.client({0});
  REQUIRE(eventually([&] { return status_value(cluster, 0, "members_reachable") == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(status_value(cluster, 0, "members_reachable") == 2);  // n3 never becomes reachable
  auto members = c->members(cluster.node(0).client_address());
  REQUIRE(members);
  for (const auto& view : members.value())
    if (view.viewer == cluster.node(0).name)
      for (const auto& m : view.members)
        if (m.node == cluster.node(2).name) CHECK_FALSE(m.reachable);
  CHECK(cluster.log(0).find("peer " + cluster.node(2).name + " failed to prove the cluster secret") !=
        std::string::npos);
  client::PutOptions all;
  all.request.w = net::Quorum::all();
  auto write = c->put(Key{"default", "stranger", "k"}, "v", all);
  REQUIRE(!write);
  CHECK(write.error().code == Errc::unavailable);

  cluster.stop(2);
  cluster.node(2).secret = "test-secret";
  cluster.node(2).cluster_name = "elsewhere";
  std::filesystem::remove_all(cluster.node(2).data_dir);
  cluster.start(2);
  cluster.wait_ready(2);
  CHECK(eventually([&] {
    return cluster.log(0).find("cluster name 'elsewhere' differs from ours ('shoal')") != std::string::npos;
  }));
  CHECK(status_value(cluster, 0, "members_reachable") == 2);
}

TEST_CASE("malformed, oversized and hostile input gets an error and the node keeps serving", "[integration]") {
  Cluster cluster(1, {"--ring-size", "8", "--n-val", "1"}, "hostile");
  cluster.start_all();
  zmq::context_t context(1);
  auto garbage_at = [&](const std::string& address, bool expect_replies) {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect("tcp://" + address);
    std::mt19937 rng(42);
    std::vector<std::string> payloads;
    std::string random(1000, '\0');
    for (auto& ch : random) ch = static_cast<char>(rng());
    payloads.push_back(random);
    payloads.push_back(std::string("\x93\x01\x02", 3));                   // truncated array
    payloads.push_back(std::string("\x93\x63\x02\x01", 4));               // version 99
    payloads.push_back(std::string("\x94\x01\x02\x05\xc4\xff", 6));       // bin header, no body
    payloads.push_back(std::string("\x94\x01\x02\x05\xdd\xff\xff\xff\xff", 9));  // claims 4G elements
    std::string deep = "\x94\x01\x02\x05";
    for (int i = 0; i < 100'000; ++i) deep += '\x91';  // nested 100k deep
    payloads.push_back(deep);
    payloads.push_back(std::string());
    net::KeyRequest bad;
    bad.type = net::MessageType::get;
    bad.key = {"default", "b", "k"};
    std::string ok = net::encode_request(77, bad);
    payloads.push_back(ok.substr(0, ok.size() - 3));  // cut short
    for (const auto& p : payloads) s.send(zmq::buffer(p), zmq::send_flags::none);
    int replies = 0;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(1000)) == 0) break;
      zmq::message_t m;
      (void)s.recv(m);
      auto env = net::decode_envelope(m.to_string_view(), codec::kDefaultLimits);
      if (env) {
        CHECK((env.value().type == static_cast<std::uint8_t>(net::MessageType::error) ||
               env.value().type == static_cast<std::uint8_t>(net::MessageType::refuse)));
        ++replies;
      }
    }
    if (expect_replies) CHECK(replies == static_cast<int>(payloads.size()));
    // 100 MB in one frame: over ZMQ_MAXMSGSIZE, the connection is dropped
    // before the node buffers it.
    std::string huge(100u << 20, 'x');
    s.send(zmq::buffer(huge), zmq::send_flags::none);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  };
  garbage_at(cluster.node(0).client_address(), true);
  garbage_at("127.0.0.1:" + std::to_string(cluster.node(0).peer_port), false);
  REQUIRE(cluster.alive(0));
  auto c = cluster.client();
  REQUIRE(c->put(Key{"default", "b", "after"}, "still serving"));
  auto got = c->get(Key{"default", "b", "after"});
  REQUIRE(got);
  CHECK(got.value().found);
  CHECK(status_value(cluster, 0, "malformed_messages") >= 8);
}

TEST_CASE("SIGTERM stops a node with exit 0 and its data comes back", "[integration]") {
  Cluster cluster(1, {"--ring-size", "8", "--n-val", "1"}, "sigterm");
  cluster.start_all();
  {
    auto c = cluster.client();
    for (int i = 0; i < 100; ++i) REQUIRE(c->put(Key{"default", "b", "k" + std::to_string(i)}, "v"));
  }
  CHECK(cluster.stop(0) == 0);
  CHECK(cluster.log(0).find("stopped") != std::string::npos);
  cluster.restart(0);
  auto c = cluster.client();
  for (int i = 0; i < 100; ++i) {
    auto got = c->get(Key{"default", "b", "k" + std::to_string(i)});
    REQUIRE(got);
    CHECK(got.value().found);
  }
}

TEST_CASE("shoald refuses data directories that are not its own", "[integration]") {
  Cluster cluster(1, {"--ring-size", "8", "--n-val", "1"}, "datadir");
  cluster.start_all();
  auto argv = cluster.argv(cluster.node(0));
  // Another process holds it.
  auto second = argv;
  for (std::size_t i = 0; i < second.size(); ++i)
    if (second[i] == "--client-listen") second[i + 1] = "127.0.0.1:" + std::to_string(test::free_port());
  auto busy = run_process(second);
  CHECK(busy.exit_code == 1);
  CHECK(busy.err.find("is in use by another process") != std::string::npos);
  REQUIRE(cluster.stop(0) == 0);
  // Another cluster.
  auto other = argv;
  for (std::size_t i = 0; i < other.size(); ++i)
    if (other[i] == "--cluster-name") other[i + 1] = "other";
  auto refused = run_process(other);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("belongs to cluster 'shoal', not 'other'") != std::string::npos);
  // A newer format.
  std::string meta = cluster.node(0).data_dir + "/node.meta";
  std::ofstream(meta) << "shoal-node 99 shoal " << cluster.node(0).name << "\n";
  auto newer = run_process(argv);
  CHECK(newer.exit_code == 1);
  CHECK(newer.err.find("format version 99") != std::string::npos);
  // Not a directory at all.
  std::string file = cluster.dir() + "/plainfile";
  std::ofstream(file) << "x";
  auto not_dir = argv;
  for (std::size_t i = 0; i < not_dir.size(); ++i)
    if (not_dir[i] == "--data") not_dir[i + 1] = file;
  auto unusable = run_process(not_dir);
  CHECK(unusable.exit_code == 1);
  CHECK(unusable.err.find("data directory") != std::string::npos);
  // Bad configuration is a clear message too.
  auto bad = run_process({test::bin_dir() + "/shoald", "--name", "nope", "--data", file});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("must look like name@host:port") != std::string::npos);
}

TEST_CASE("a full disk fails writes with a clear error while reads keep working", "[integration]") {
  Cluster cluster(1, {"--ring-size", "8", "--n-val", "1", "--map-bytes-max", "67108864"}, "full");
  cluster.start_all();
  auto c = cluster.client();
  std::string value(1u << 20, 'v');
  std::optional<Error> error;
  int written = 0;
  for (int i = 0; i < 100 && !error; ++i) {
    auto r = c->put(Key{"default", "full", "k" + std::to_string(i)}, value);
    if (r) {
      ++written;
    } else {
      error = r.error();
    }
  }
  REQUIRE(error);
  INFO(error->to_string());
  CHECK(error->message.find("disk_full") != std::string::npos);
  CHECK(written > 10);
  auto got = c->get(Key{"default", "full", "k0"});
  REQUIRE(got);
  CHECK(got.value().found);
  CHECK(got.value().siblings[0].value == value);
}
