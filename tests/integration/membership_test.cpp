// Membership with real processes: nodes join and leave a live cluster under
// a writer, a handoff survives kill -9 of its sender, a dead node is
// force-removed and its partitions rebuilt, a node is replaced, bucket types
// change at run time, unreachable nodes are noticed, and unsafe plans are
// refused. Everything goes through the shell and the client library.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/cluster.hpp"

using namespace shoal;
using shoal::client::Key;
using shoal::test::Cluster;
using shoal::test::eventually;

namespace {

using Clock = std::chrono::steady_clock;

void shell_ok(Cluster& cluster, std::size_t node, std::vector<std::string> args) {
  auto r = cluster.shell(node, args);
  INFO("shoal " <<
       [&] {
         std::string s;
         for (const auto& a : args) s += a + " ";
         return s;
       }()
                << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
}

// Waits until `admin transfers --json` on `node` prints [] (nothing pending or running).
bool transfers_done(Cluster& cluster, std::size_t node, int timeout_ms) {
  return eventually(
      [&] {
        auto r = cluster.shell(node, {"admin", "transfers", "--json"});
        return r.exit_code == 0 && r.out == "[]\n";
      },
      timeout_ms);
}

std::map<std::string, int> partitions_per_node(Cluster& cluster, std::size_t node) {
  auto ring = cluster.client({node})->ring(cluster.node(node).client_address());
  REQUIRE(ring);
  std::map<std::string, int> counts;
  for (const auto& owner : ring.value().owners) ++counts[owner];
  return counts;
}

std::string member_status(const net::RingView& ring, const std::string& node) {
  for (const auto& m : ring.members)
    if (m.node == node) return m.status;
  return "absent";
}

// Starts a node that is alone and asks it to join the cluster of node `seed`.
std::size_t start_and_join(Cluster& cluster, std::size_t seed, std::vector<std::string> extra = {}) {
  std::size_t i = cluster.add_node(std::move(extra));
  cluster.start(i);
  cluster.wait_ready(i);
  shell_ok(cluster, i, {"admin", "cluster", "join", cluster.node(seed).name});
  return i;
}

// Commits what is staged, retrying while the cluster is still connecting to
// a node that just asked to join (the plan refuses unreachable members).
void commit(Cluster& cluster, std::size_t node) {
  bool committed = eventually(
      [&] {
        auto r = cluster.shell(node, {"admin", "cluster", "commit"});
        return r.exit_code == 0;
      },
      15'000);
  if (!committed) {
    auto r = cluster.shell(node, {"admin", "cluster", "plan"});
    FAIL("commit failed; plan says: " << r.out << r.err);
  }
}

net::RequestOptions all_replicas() {
  net::RequestOptions o;
  o.r = net::Quorum::all();
  return o;
}

}  // namespace

TEST_CASE("a live cluster grows from 3 to 5 nodes and shrinks back to 3 under writes, losing nothing",
          "[integration][membership]") {
  Cluster cluster(3, {"--ring-size", "32", "--gossip-interval-ms", "200"}, "grow");
  cluster.start_all();

  // A writer adds unique elements to sets and writes unique plain keys with
  // w=2 for the whole run, through the three nodes that stay.
  std::atomic<bool> stop{false};
  std::vector<int> acked_keys;
  std::map<std::string, std::set<std::string>> acked_elements;
  std::atomic<int> attempts{0};
  std::thread writer([&] {
    auto c = cluster.client({0, 1, 2}, 5'000);
    net::RequestOptions w2;
    w2.w = net::Quorum::of(2);
    for (int i = 0; !stop.load(); ++i) {
      ++attempts;
      client::PutOptions put;
      put.request = w2;
      if (c->put(Key{"default", "grow", "k" + std::to_string(i)}, "v" + std::to_string(i), put))
        acked_keys.push_back(i);
      std::string set = "s" + std::to_string(i % 8);
      std::string element = "e" + std::to_string(i);
      if (c->update(Key{"sets", "grow", set}, crdt::Orswot::Op::add(element), std::nullopt, w2))
        acked_elements[set].insert(element);
    }
  });

  // Stops the writer however this test ends (a failed REQUIRE throws).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } joiner{stop, writer};
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::size_t n4 = start_and_join(cluster, 0);
  std::size_t n5 = start_and_join(cluster, 1);
  test::ProcessResult plan;
  eventually([&] {  // until the claimant reaches both joiners
    plan = cluster.shell(2, {"admin", "cluster", "plan"});
    return plan.exit_code == 0;
  });
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("join " + cluster.node(n4).name) != std::string::npos);
  CHECK(plan.out.find("join " + cluster.node(n5).name) != std::string::npos);
  auto committed_at = Clock::now();
  commit(cluster, 2);
  // Every node learns the new ring within seconds.
  bool agreed = eventually(
      [&] {
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          auto ring = cluster.client({i})->ring(cluster.node(i).client_address());
          if (!ring || member_status(ring.value(), cluster.node(n5).name) == "absent" ||
              member_status(ring.value(), cluster.node(n4).name) == "absent")
            return false;
        }
        return true;
      },
      5'000);
  CHECK(agreed);
  WARN("all 5 nodes listed the joiners "
       << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - committed_at).count()
       << " ms after the commit");
  REQUIRE(transfers_done(cluster, 0, 120'000));
  auto grown = partitions_per_node(cluster, 0);
  REQUIRE(grown.size() == 5);
  for (const auto& [node, count] : grown) CHECK((count == 6 || count == 7));

  // Shrink: both new nodes leave; each hands its partitions off and stops.
  shell_ok(cluster, n4, {"admin", "cluster", "leave"});
  shell_ok(cluster, n5, {"admin", "cluster", "leave"});
  commit(cluster, 0);
  CHECK(cluster.wait_exit(n4, 120) == 0);
  CHECK(cluster.wait_exit(n5, 120) == 0);
  REQUIRE(transfers_done(cluster, 0, 60'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  writer.join();
  INFO(acked_keys.size() << " of " << attempts.load() << " writes acknowledged");
  REQUIRE(acked_keys.size() > 100);

  // No partition is left on a departed node, and ownership is balanced.
  auto shrunk = partitions_per_node(cluster, 1);
  REQUIRE(shrunk.size() == 3);
  for (const auto& [node, count] : shrunk) {
    CHECK(node != cluster.node(n4).name);
    CHECK(node != cluster.node(n5).name);
    CHECK((count == 10 || count == 11));
  }
  // The claimant forgets the departed nodes (removed) once they stopped.
  CHECK(eventually(
      [&] {
        for (std::size_t i = 0; i < 3; ++i) {
          auto ring = cluster.client({i})->ring(cluster.node(i).client_address());
          if (!ring || member_status(ring.value(), cluster.node(n4).name) != "removed" ||
              member_status(ring.value(), cluster.node(n5).name) != "removed")
            return false;
        }
        return true;
      },
      10'000));

  // Every acknowledged write is readable with r=all.
  auto c = cluster.client({0, 1, 2});
  int missing = 0;
  for (int i : acked_keys) {
    auto v = c->get(Key{"default", "grow", "k" + std::to_string(i)}, all_replicas());
    if (!v || !v.value().found || v.value().siblings.empty() || v.value().siblings[0].value != "v" + std::to_string(i))
      ++missing;
  }
  CHECK(missing == 0);
  for (const auto& [set, elements] : acked_elements) {
    auto v = c->fetch(Key{"sets", "grow", set}, all_replicas());
    REQUIRE(v);
    REQUIRE(v.value());
    const auto& got = std::get<crdt::Orswot::Value>(v.value()->value);
    for (const auto& e : elements) {
      if (!got.contains(e)) ++missing;
    }
  }
  CHECK(missing == 0);
}

TEST_CASE("handoffs whose sender, then receiver, is killed with -9 complete after the restarts",
          "[integration][membership]") {
  // Throttled transfers (about 3 s per partition), so one is surely still
  // running after the sender has been killed and restarted.
  Cluster cluster(3, {"--ring-size", "16", "--transfer-bytes-per-s", "120000", "--gossip-interval-ms", "200"},
                  "handoff-kill");
  cluster.start_all();
  auto c = cluster.client({0, 1, 2});
  const std::string value(1024, 'x');
  constexpr int kKeys = 2000;
  std::vector<std::future<Result<net::ObjectView>>> writes;
  // w=all: every key is on its three replicas before the handoff starts, so
  // a replica missing afterwards was lost by the handoff.
  client::PutOptions all_written;
  all_written.request.w = net::Quorum::all();
  for (int i = 0; i < kKeys; ++i) {
    writes.push_back(c->put_future(Key{"default", "hk", "k" + std::to_string(i)}, value, all_written));
    if (writes.size() < 50 && i + 1 < kKeys) continue;  // 50 in flight: a load the nodes answer in time
    for (auto& w : writes) {
      auto r = w.get();
      INFO((r ? std::string("ok") : r.error().to_string()));
      REQUIRE(r);
    }
    writes.clear();
  }

  std::size_t n4 = start_and_join(cluster, 0);
  commit(cluster, 0);
  // A running transfer that has sent something: its sender and receiver.
  std::string last;
  auto running_transfer = [&](std::string& from_node, std::string& to_node) {
    return eventually(
        [&] {
          auto r = cluster.shell(n4, {"admin", "transfers", "--json"});
          last = r.out + r.err;
          for (auto at = r.out.find("\"state\": \"running\""); at != std::string::npos;
               at = r.out.find("\"state\": \"running\"", at + 1)) {
            auto from = r.out.rfind("\"from\": \"", at);
            auto to = r.out.rfind("\"to\": \"", at);
            auto sent = r.out.find("\"keys_sent\": ", at);
            if (from == std::string::npos || to == std::string::npos || sent == std::string::npos ||
                r.out.compare(sent + 13, 1, "0") == 0)
              continue;
            from += 9;
            to += 7;
            from_node = r.out.substr(from, r.out.find('"', from) - from);
            to_node = r.out.substr(to, r.out.find('"', to) - to);
            return true;
          }
          return false;
        },
        30'000);
  };
  // kill -9 of the node of that name, and its restart a second later.
  auto kill_and_restart = [&](const std::string& name) {
    std::size_t i = 0;
    while (i < cluster.size() && cluster.node(i).name != name) ++i;
    REQUIRE(i < cluster.size());
    cluster.kill9(i);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    cluster.restart(i);
  };
  std::string sender, receiver;
  bool running = running_transfer(sender, receiver);
  INFO("admin transfers --json printed: " << last);
  REQUIRE(running);
  kill_and_restart(sender);

  // Then the receiving side of a running transfer dies too.
  std::string sender2, receiver2;
  running = running_transfer(sender2, receiver2);
  INFO("admin transfers --json printed: " << last);
  REQUIRE(running);
  kill_and_restart(receiver2);
  REQUIRE(transfers_done(cluster, 0, 180'000));

  auto counts = partitions_per_node(cluster, n4);
  CHECK(counts[cluster.node(n4).name] == 4);
  CHECK(counts[sender] == 4);
  auto after = cluster.client({0, 1, 2, n4});
  // Direct replica reads first (reads with r=all would repair what is missing).
  int missing = 0, short_replicated = 0;
  std::string short_keys;
  for (int i = 0; i < kKeys; i += 25) {
    Key key{"default", "hk", "k" + std::to_string(i)};
    // A replica that answers with an error (busy, briefly unreachable) is
    // asked again; only one that answers "not found" is short.
    int found = 0, answered = 0;
    std::string absent;
    for (int attempt = 0; attempt < 10 && answered != 3; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
      auto replicas = after->replica_get(key);
      if (!replicas) continue;
      found = answered = 0;
      absent.clear();
      for (const auto& r : replicas.value()) {
        found += r.status == 0;
        answered += r.status == 0 || r.status == 1;
        if (r.status == 1) absent += " " + r.node + "/" + std::to_string(r.partition);
      }
    }
    if (found != 3) {
      ++short_replicated;
      short_keys += " k" + std::to_string(i) + " (" + std::to_string(found) + " replicas; absent on" + absent + ")";
    }
  }
  for (int i = 0; i < kKeys; ++i) {
    auto v = after->get(Key{"default", "hk", "k" + std::to_string(i)}, all_replicas());
    if (!v || !v.value().found) ++missing;
  }
  INFO("keys short of replicas:" << short_keys);
  CHECK(missing == 0);
  CHECK(short_replicated == 0);
}

TEST_CASE("force-remove of the dead claimant rebuilds its partitions on n_val live replicas; the next node claims",
          "[integration][membership]") {
  Cluster cluster(4, {"--ring-size", "16", "--gossip-interval-ms", "200"}, "force-remove");
  cluster.start_all();
  auto c = cluster.client({1, 2, 3});
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(c->put(Key{"default", "fr", "k" + std::to_string(i)}, "v" + std::to_string(i)));
  // n1, the lowest-named member, is the claimant; it dies, and n2 takes over.
  const std::string dead = cluster.node(0).name;
  cluster.kill9(0);
  // It is noticed (and kept as a member: reachability is not membership).
  REQUIRE(eventually(
      [&] {
        auto r = cluster.shell(1, {"members", "--json"});
        return r.out.find("\"node\": \"" + dead + "\", \"status\": \"valid\", \"reachable\": false") !=
               std::string::npos;
      },
      10'000));
  // A dead member blocks plans until it is removed.
  shell_ok(cluster, 3, {"admin", "cluster", "force-remove", dead});
  auto plan = cluster.shell(2, {"admin", "cluster", "plan"});
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("rebuilt from the surviving replicas") != std::string::npos);
  commit(cluster, 1);
  REQUIRE(transfers_done(cluster, 1, 60'000));

  auto counts = partitions_per_node(cluster, 2);
  CHECK(counts.count(dead) == 0);
  for (int i = 0; i < kKeys; ++i) {
    Key key{"default", "fr", "k" + std::to_string(i)};
    auto replicas = c->replica_get(key);
    REQUIRE(replicas);
    int found = 0;
    std::set<std::string> nodes;
    for (const auto& r : replicas.value()) {
      found += r.status == 0 && !r.object.siblings.empty() && r.object.siblings[0].value == "v" + std::to_string(i);
      nodes.insert(r.node);
    }
    INFO("key k" << i);
    CHECK(found == 3);
    CHECK(nodes.size() == 3);
    CHECK(nodes.count(dead) == 0);
  }
}

TEST_CASE("replace moves exactly the old node's partitions to the new one", "[integration][membership]") {
  Cluster cluster(3, {"--ring-size", "16", "--gossip-interval-ms", "200"}, "replace");
  cluster.start_all();
  auto c = cluster.client({0, 1, 2});
  for (int i = 0; i < 100; ++i) REQUIRE(c->put(Key{"default", "rp", "k" + std::to_string(i)}, "v"));
  auto before = cluster.client({0})->ring(cluster.node(0).client_address());
  REQUIRE(before);
  std::size_t n4 = start_and_join(cluster, 0);
  // replace needs the new node to have asked to join first.
  auto refused = cluster.shell(0, {"admin", "cluster", "replace", cluster.node(2).name, "n9@127.0.0.1:1"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("has not asked to join") != std::string::npos);
  shell_ok(cluster, 1, {"admin", "cluster", "replace", cluster.node(2).name, cluster.node(n4).name});
  commit(cluster, 0);
  CHECK(cluster.wait_exit(2, 60) == 0);
  REQUIRE(transfers_done(cluster, 0, 60'000));
  auto after = cluster.client({0})->ring(cluster.node(0).client_address());
  REQUIRE(after);
  for (std::size_t p = 0; p < before.value().owners.size(); ++p) {
    if (before.value().owners[p] == cluster.node(2).name) {
      CHECK(after.value().owners[p] == cluster.node(n4).name);
    } else {
      CHECK(after.value().owners[p] == before.value().owners[p]);
    }
  }
  for (int i = 0; i < 100; ++i) CHECK(c->get(Key{"default", "rp", "k" + std::to_string(i)}, all_replicas()));
}

TEST_CASE("unsafe or malformed cluster changes are refused with the reason", "[integration][membership]") {
  Cluster cluster(3, {"--ring-size", "16"}, "refuse");
  cluster.start_all();
  auto expect_error = [&](std::size_t node, std::vector<std::string> args, const std::string& reason) {
    auto r = cluster.shell(node, args);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(reason) != std::string::npos);
  };
  expect_error(0, {"admin", "cluster", "plan"}, "no changes are staged");
  expect_error(0, {"admin", "cluster", "commit"}, "no changes are staged");
  expect_error(0, {"admin", "cluster", "leave", "n9@127.0.0.1:1"}, "is not a member");
  expect_error(0, {"admin", "cluster", "force-remove", "nonsense"}, "is not a member");
  expect_error(0, {"admin", "cluster", "frobnicate"}, "usage");
  expect_error(0, {"admin", "cluster", "join", "not-a-node"}, "name@host:port");
  expect_error(0, {"admin", "cluster", "join", cluster.node(1).name}, "already a member of cluster");
  // Leaving would leave 2 nodes for n_val 3.
  shell_ok(cluster, 2, {"admin", "cluster", "leave"});
  expect_error(1, {"admin", "cluster", "plan"}, "fewer than n_val 3");
  expect_error(1, {"admin", "cluster", "commit"}, "fewer than n_val 3");
  shell_ok(cluster, 1, {"admin", "cluster", "clear"});
  expect_error(1, {"admin", "cluster", "plan"}, "no changes are staged");
  // A node of another cluster (different name) cannot join.
  std::size_t stranger = cluster.add_node();
  cluster.node(stranger).cluster_name = "other";
  cluster.start(stranger);
  cluster.wait_ready(stranger);
  expect_error(stranger, {"admin", "cluster", "join", cluster.node(0).name}, "cluster name 'other' differs");
  // A node using the wrong secret cannot join either.
  std::size_t intruder = cluster.add_node();
  cluster.node(intruder).secret = "wrong";
  cluster.start(intruder);
  cluster.wait_ready(intruder);
  expect_error(intruder, {"admin", "cluster", "join", cluster.node(0).name}, "cannot reach");
  auto ring = cluster.client({0})->ring(cluster.node(0).client_address());
  REQUIRE(ring);
  CHECK(ring.value().members.size() == 3);
}

TEST_CASE("an unreachable node is noticed within seconds and keeps its partitions", "[integration][membership]") {
  Cluster cluster(3, {"--ring-size", "16", "--heartbeat-interval-ms", "200", "--peer-down-after-ms", "10000"},
                  "detect");
  cluster.start_all();
  const std::string victim = cluster.node(2).name;
  auto owned_before = partitions_per_node(cluster, 0)[victim];
  auto killed = Clock::now();
  cluster.kill9(2);
  // phi accrual, not the 10 s hard limit, decides.
  bool seen = eventually(
      [&] {
        for (std::size_t i = 0; i < 2; ++i) {
          auto r = cluster.shell(i, {"members", "--json"});
          auto at = r.out.find("\"node\": \"" + victim + "\", \"status\": \"valid\", \"reachable\": false");
          if (at == std::string::npos) return false;
        }
        return true;
      },
      8'000);
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  CHECK(seen);
  CHECK(elapsed < 5'000);
  WARN("both live nodes saw the killed node unreachable after " << elapsed << " ms");
  CHECK(partitions_per_node(cluster, 0)[victim] == owned_before);
  // Coordinators stop waiting on it: a write with w=2 succeeds at once.
  auto c = cluster.client({0, 1});
  auto started = Clock::now();
  CHECK(c->put(Key{"default", "d", "k"}, "v"));
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count() < 2'000);
  cluster.restart(2);
  cluster.wait_connected();
}

TEST_CASE("bucket types are created, updated and listed at run time and survive restarts",
          "[integration][membership]") {
  Cluster cluster(3, {"--ring-size", "16", "--gossip-interval-ms", "200"}, "types");
  cluster.start_all();
  shell_ok(cluster, 0, {"admin", "bucket-type", "create", "carts", "--props", R"({"datatype": "set", "n_val": 3})"});
  // Visible on every node within seconds.
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(eventually(
        [&] {
          return cluster.shell(i, {"admin", "bucket-type", "show", "carts"}).exit_code == 0;
        },
        5'000));
  }
  auto list = cluster.shell(1, {"admin", "bucket-type", "list", "--json"});
  CHECK(list.out.find("\"carts\"") != std::string::npos);
  // Usable through another node at once.
  shell_ok(cluster, 2, {"set", "add", "carts/u1/cart", "apple"});
  auto got = cluster.shell(1, {"set", "get", "carts/u1/cart"});
  CHECK(got.out.find("apple") != std::string::npos);
  // A change that keeps datatype and n_val is fine; one that changes them is refused while the type holds data.
  shell_ok(cluster, 1, {"admin", "bucket-type", "update", "carts", "--props", R"({"r": 1})"});
  auto refused = cluster.shell(0, {"admin", "bucket-type", "update", "carts", "--props", R"({"datatype": "counter"})"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("in use") != std::string::npos);
  refused = cluster.shell(0, {"admin", "bucket-type", "update", "carts", "--props", R"({"n_val": 2})"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("n_val (3 -> 2)") != std::string::npos);
  // An empty type may still change.
  shell_ok(cluster, 0, {"admin", "bucket-type", "create", "empty", "--props", R"({"datatype": "counter"})"});
  shell_ok(cluster, 0, {"admin", "bucket-type", "update", "empty", "--props", R"({"datatype": "set"})"});
  // Bad input.
  auto bad = cluster.shell(0, {"admin", "bucket-type", "create", "x", "--props", "{n_val: 3}"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("--props") != std::string::npos);
  bad = cluster.shell(0, {"admin", "bucket-type", "create", "x", "--props", R"({"n_val": 0})"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("n_val") != std::string::npos);
  bad = cluster.shell(0, {"admin", "bucket-type", "create", "carts", "--props", R"({"n_val": 3})"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("exists") != std::string::npos);
  bad = cluster.shell(0, {"admin", "bucket-type", "create", "has space", "--props", R"({"n_val": 3})"});
  CHECK(bad.exit_code == 1);
  // Survives a restart of every node.
  for (std::size_t i = 0; i < 3; ++i) cluster.stop(i);
  for (std::size_t i = 0; i < 3; ++i) cluster.start(i);
  for (std::size_t i = 0; i < 3; ++i) cluster.wait_ready(i);
  auto shown = cluster.shell(2, {"admin", "bucket-type", "show", "carts", "--json"});
  CHECK(shown.exit_code == 0);
  CHECK(shown.out.find("\"r\": \"1\"") != std::string::npos);
  CHECK(cluster.shell(1, {"admin", "bucket-type", "show", "empty"}).out.find("datatype=set") != std::string::npos);
}
