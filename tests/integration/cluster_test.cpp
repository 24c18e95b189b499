// Cluster-level behaviour: nodes on their own loopback addresses talk from
// them, a 5-node cluster, read repair of a replica that missed writes,
// limits refused with clear errors, bucket types from the configuration,
// overload answered at once, and client failover.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/cluster.hpp"

using namespace shoal;
using shoal::client::Key;
using shoal::test::Cluster;
using shoal::test::eventually;

namespace {

// Established TCP connections from /proc/net/tcp: (local address, remote address) as "a.b.c.d:port".
std::vector<std::pair<std::string, std::string>> tcp_connections() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  auto decode = [](const std::string& hex) {
    unsigned a = 0, port = 0;
    std::sscanf(hex.c_str(), "%X:%X", &a, &port);
    return std::to_string(a & 0xff) + "." + std::to_string((a >> 8) & 0xff) + "." + std::to_string((a >> 16) & 0xff) +
           "." + std::to_string(a >> 24) + ":" + std::to_string(port);
  };
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "01") out.emplace_back(decode(local), decode(remote));
  }
  return out;
}

int replicas_holding(client::Client& c, const Key& key) {
  auto replicas = c.replica_get(key);
  if (!replicas) return -1;
  int found = 0;
  for (const auto& r : replicas.value()) found += r.status == 0;
  return found;
}

}  // namespace

TEST_CASE("nodes on their own loopback addresses connect from those addresses", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "addresses", {"127.0.0.2", "127.0.0.3", "127.0.0.4"});
  cluster.start_all();
  // Every peer connection to n1's peer port comes from n2's or n3's own address.
  std::set<std::string> sources;
  for (const auto& [local, remote] : tcp_connections())
    if (local == "127.0.0.2:" + std::to_string(cluster.node(0).peer_port))
      sources.insert(remote.substr(0, remote.find(':')));
  CHECK(sources == std::set<std::string>{"127.0.0.3", "127.0.0.4"});
  auto c = cluster.client();
  REQUIRE(c->put(Key{"default", "b", "k"}, "v"));
  CHECK(c->get(Key{"default", "b", "k"}).value().found);
}

TEST_CASE("a 5-node cluster places every key on 3 distinct nodes and lists each key once", "[integration]") {
  Cluster cluster(5, {"--ring-size", "32"}, "five");
  cluster.start_all();
  auto c = cluster.client();
  client::PutOptions all;
  all.request.w = net::Quorum::all();
  for (int i = 0; i < 200; ++i) REQUIRE(c->put(Key{"default", "five", "k" + std::to_string(i)}, "v", all));
  std::set<std::string> owners;
  for (int i = 0; i < 20; ++i) {
    auto replicas = c->replica_get(Key{"default", "five", "k" + std::to_string(i)});
    REQUIRE(replicas);
    std::set<std::string> nodes;
    for (const auto& r : replicas.value()) {
      CHECK(r.status == 0);
      nodes.insert(r.node);
      owners.insert(r.node);
    }
    CHECK(nodes.size() == 3);
  }
  CHECK(owners.size() == 5);
  auto keys = c->list_keys("default", "five");
  REQUIRE(keys);
  CHECK(keys.value().size() == 200);
  CHECK(std::set<std::string>(keys.value().begin(), keys.value().end()).size() == 200);
}

TEST_CASE("a read repairs a replica that missed writes while it was down", "[integration]") {
  // Anti-entropy only on demand: this is read repair's test (with n_val 3
  // on 3 nodes there is no fallback, hence no hinted handoff, either).
  Cluster cluster(3, {"--ring-size", "16", "--aae-interval-ms", "0"}, "repair");
  cluster.start_all();
  auto c = cluster.client({0, 1});
  cluster.kill9(2);
  REQUIRE(eventually([&] { return shoal::test::status_number(cluster, 0, "members_reachable") == 2; }));
  std::vector<Key> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back(Key{"default", "repair", "k" + std::to_string(i)});
    REQUIRE(c->put(keys.back(), "v" + std::to_string(i)));
  }
  cluster.restart(2);
  cluster.wait_connected();
  // The restarted node holds none of them.
  int missing = 0;
  for (const auto& k : keys) missing += replicas_holding(*c, k) == 2;
  CHECK(missing == 30);
  // Reading each key once repairs the stale replica.
  net::RequestOptions all;
  all.r = net::Quorum::all();
  for (const auto& k : keys) REQUIRE(c->get(k, all));
  for (const auto& k : keys) CHECK(eventually([&] { return replicas_holding(*c, k) == 3; }, 5000));
  std::int64_t repairs =
      shoal::test::status_number(cluster, 0, "read_repairs") + shoal::test::status_number(cluster, 1, "read_repairs");
  CHECK(repairs >= 30);
}

TEST_CASE("object size, sibling count and bucket types follow the configuration", "[integration]") {
  Cluster cluster(3,
                  {"--ring-size", "16", "--object-bytes-max", "1048576", "--object-bytes-warn", "100000",
                   "--client-message-bytes-max", "4194304", "--peer-message-bytes-max", "16777216", "--siblings-max",
                   "3", "--bucket-type", "carts:n_val=2,w=1,r=1", "--bucket-type", "likes:datatype=counter,n_val=3"},
                  "limits");
  cluster.start_all();
  auto c = cluster.client();
  auto big = c->put(Key{"default", "limits", "big"}, std::string(2u << 20, 'x'));
  REQUIRE(!big);
  CHECK(big.error().code == Errc::too_large);
  REQUIRE(c->put(Key{"default", "limits", "warned"}, std::string(200'000, 'x')));
  CHECK(cluster.log(0).find("warning threshold") + cluster.log(1).find("warning threshold") +
            cluster.log(2).find("warning threshold") !=
        3 * std::string::npos);
  Key sib{"default", "limits", "siblings"};
  for (int i = 0; i < 3; ++i) REQUIRE(c->put(sib, "s" + std::to_string(i)));
  auto fourth = c->put(sib, "s3");
  REQUIRE(!fourth);
  CHECK(fourth.error().code == Errc::too_large);
  CHECK(fourth.error().message.find("siblings") != std::string::npos);
  // Resolving with the context is always possible.
  auto read = c->get(sib);
  REQUIRE(read);
  CHECK(read.value().siblings.size() == 3);
  REQUIRE(c->put(sib, "resolved", client::PutOptions{"text/plain", {}, read.value().context, {}}));

  auto ring = c->ring();
  REQUIRE(ring);
  bool carts = false;
  for (const auto& [name, props] : ring.value().bucket_types)
    if (name == "carts") carts = props.find("n_val=2") != std::string::npos;
  CHECK(carts);
  REQUIRE(c->put(Key{"carts", "b", "k"}, "v"));
  auto replicas = c->replica_get(Key{"carts", "b", "k"});
  REQUIRE(replicas);
  CHECK(replicas.value().size() == 2);
  REQUIRE(c->update(Key{"likes", "b", "k"}, crdt::PnCounter::Op::increment(2)));
  auto likes = c->fetch(Key{"likes", "b", "k"});
  REQUIRE(likes);
  REQUIRE(likes.value());
  CHECK(std::get<crdt::PnCounter::Value>(likes.value()->value) == 2);
}

TEST_CASE("a node past its in-flight limit answers overloaded at once", "[integration]") {
  Cluster cluster(1, {"--ring-size", "8", "--n-val", "1", "--requests-in-flight-max", "4"}, "overload");
  cluster.start_all();
  client::ClientOptions options;
  options.nodes = {cluster.node(0).client_address()};
  options.retries = 0;
  auto c = client::Client::connect(options).value();
  // Slow every vnode down so requests pile up.
  REQUIRE(c->set_failpoint(cluster.node(0).client_address(), "vnode.receive", "delay(50)"));
  std::vector<std::future<Result<net::ObjectView>>> gets;
  for (int i = 0; i < 40; ++i) gets.push_back(c->get_future(Key{"default", "b", "k" + std::to_string(i)}));
  int overloaded = 0, served = 0;
  for (auto& g : gets) {
    auto r = g.get();
    if (r) {
      ++served;
    } else {
      CHECK(r.error().code == Errc::overloaded);
      CHECK(r.error().message.find("requests in flight") != std::string::npos);
      ++overloaded;
    }
  }
  CHECK(served >= 4);
  CHECK(overloaded > 0);
  REQUIRE(c->set_failpoint(cluster.node(0).client_address(), "vnode.receive", "off"));
}

TEST_CASE("the client fails over to a live node when one is down", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "failover");
  cluster.start_all();
  auto c = cluster.client({}, 2000);
  cluster.kill9(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its connections are closed
  // Requests the client would route to the dead node go to another one:
  // a blind put never left, so it is retried; gets are idempotent.
  for (int i = 0; i < 30; ++i) {
    Key key{"default", "failover", "k" + std::to_string(i)};
    auto put = c->put(key, "v");
    REQUIRE(put);
    auto got = c->get(key);
    REQUIRE(got);
    CHECK(got.value().found);
  }
}

TEST_CASE("a restarted node keeps its persisted ring whatever --cluster says", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "persisted");
  cluster.start_all();
  auto c = cluster.client({0});
  auto before = c->ring(cluster.node(0).client_address());
  REQUIRE(before);
  REQUIRE(cluster.stop(2) == 0);
  cluster.node(2).cluster_list = cluster.node(2).name;  // as if it were a new cluster of one
  cluster.restart(2);
  cluster.wait_connected();
  CHECK(cluster.log(2).find("using the persisted ring") != std::string::npos);
  auto after = cluster.client({2})->ring(cluster.node(2).client_address());
  REQUIRE(after);
  CHECK(after.value().owners == before.value().owners);
  CHECK(after.value().members.size() == 3);
}
