// Healing with real processes: sloppy quorum and hinted handoff, active
// anti-entropy after a wiped data directory, convergence of writes made with
// w=1 while replicas were down, tombstones that propagate and are reaped but
// never let a deleted value come back, and the kv679 cases (a vnode that lost
// its data must not reuse a causal dot; a tombstone reaped on some replicas
// must not hide a newer write). Replicas are checked with direct replica
// reads (`admin replica-get`, which does no read repair) and Merkle roots.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/cluster.hpp"

using namespace shoal;
using shoal::client::Key;
using shoal::test::Cluster;
using shoal::test::eventually;

namespace {

net::RequestOptions with_w(net::Quorum w) {
  net::RequestOptions o;
  o.w = w;
  return o;
}

client::PutOptions put_w(net::Quorum w) {
  client::PutOptions o;
  o.request = with_w(w);
  return o;
}

net::RequestOptions all_replicas() {
  net::RequestOptions o;
  o.r = net::Quorum::all();
  return o;
}

// How many of the key's primaries hold `value` as their only live sibling
// (or, with value empty, hold nothing at all: not found or reaped).
int replicas_holding(client::Client& c, const Key& key, const std::string& value, std::string* where = nullptr) {
  auto replicas = c.replica_get(key);
  if (!replicas) return -1;
  int n = 0;
  for (const auto& r : replicas.value()) {
    bool match = false;
    if (value.empty()) {
      match = r.status == 1;
    } else if (r.status == 0) {
      std::vector<std::string> live;
      for (const auto& s : r.object.siblings)
        if (!s.deleted) live.push_back(s.value);
      match = live.size() == 1 && live[0] == value;
    }
    n += match;
    if (!match && where)
      *where += " " + r.node + "/" + std::to_string(r.partition) + "(status " + std::to_string(r.status) +
                (r.error.empty() ? "" : ": " + r.error) + ")";
  }
  return n;
}

// Waits until every listed key has `value(i)` on all 3 primaries; returns
// the keys that did not, for the failure message.
std::string wait_replicated(Cluster& cluster, std::vector<std::size_t> nodes, const std::string& bucket, int keys,
                            const std::function<std::string(int)>& value, int timeout_ms) {
  auto c = cluster.client(std::move(nodes));
  std::set<int> pending;
  for (int i = 0; i < keys; ++i) pending.insert(i);
  eventually(
      [&] {
        for (auto it = pending.begin(); it != pending.end();) {
          if (replicas_holding(*c, Key{"default", bucket, "k" + std::to_string(*it)}, value(*it)) == 3) {
            it = pending.erase(it);
          } else {
            ++it;
          }
        }
        return pending.empty();
      },
      timeout_ms);
  std::string out;
  for (int i : pending) {
    std::string where;
    replicas_holding(*c, Key{"default", bucket, "k" + std::to_string(i)}, value(i), &where);
    out += " k" + std::to_string(i) + ":" + where;
    if (out.size() > 2000) break;
  }
  return out;
}

// Keys k0..k<keys-1> of `bucket` end up on no replica at all (tombstones
// reaped), and a read of each with r=all finds nothing.
void check_deleted_everywhere(Cluster& cluster, client::Client& c, const std::string& bucket, int keys) {
  std::string left = wait_replicated(
      cluster, {0, 1, 2, 3}, bucket, keys, [](int) { return std::string(); }, 60'000);
  INFO("keys still held by some replica:" << left);
  CHECK(left.empty());
  for (int i = 0; i < keys; ++i) {
    auto v = c.get(Key{"default", bucket, "k" + std::to_string(i)}, all_replicas());
    REQUIRE(v);
    CHECK_FALSE(v.value().found);
  }
}

void wait_unreachable(Cluster& cluster, std::size_t viewer, std::size_t dead) {
  REQUIRE(eventually(
      [&] {
        auto r = cluster.shell(viewer, {"members", "--json"});
        return r.out.find("\"node\": \"" + cluster.node(dead).name +
                          "\", \"status\": \"valid\", \"reachable\": false") != std::string::npos;
      },
      15'000));
}

// Preference list -> the distinct roots its replicas report (merkle-roots).
std::map<std::string, std::set<std::string>> roots_by_list(Cluster& cluster, std::size_t node) {
  std::map<std::string, std::set<std::string>> out;
  auto r = cluster.client({node})->cluster_admin(cluster.node(node).client_address(), "merkle-roots");
  if (!r) return out;
  const auto& t = r.value().table;
  auto col = [&](const std::string& name) {
    for (std::size_t i = 0; i < t.columns.size(); ++i)
      if (t.columns[i] == name) return i;
    return t.columns.size();
  };
  std::size_t list = col("preflist"), n = col("n_val"), root = col("root"), state = col("tree_state");
  std::map<std::string, std::int64_t> replicas;
  for (const auto& row : t.rows) {
    if (row.size() != t.columns.size()) continue;
    std::string id = std::to_string(row[list].number) + "/" + std::to_string(row[n].number);
    out[id].insert(row[state].text == "ready" ? row[root].text : "not-ready");
    ++replicas[id];
    if (replicas[id] == 1) out[id].insert("n_val=" + std::to_string(row[n].number));
  }
  // A list some replica did not report on (its node did not answer) is not
  // known to agree.
  for (auto& [id, roots] : out) {
    std::string expect = "n_val=" + std::to_string(replicas[id]);
    if (roots.erase(expect) == 0) roots.insert("missing replicas");
  }
  return out;
}

bool roots_converged(Cluster& cluster, std::size_t node, std::string* why = nullptr) {
  auto lists = roots_by_list(cluster, node);
  if (lists.empty()) return false;
  for (const auto& [id, roots] : lists)
    if (roots.size() != 1) {
      if (why) *why = "list " + id + " has " + std::to_string(roots.size()) + " different roots";
      return false;
    }
  return true;
}

std::int64_t sum_status(Cluster& cluster, const std::vector<std::size_t>& nodes, const std::string& name) {
  std::int64_t total = 0;
  for (auto i : nodes) total += test::status_number(cluster, i, name);
  return total;
}

}  // namespace

TEST_CASE("sloppy quorum: a write with w=all succeeds through a fallback; hinted handoff brings it to the primary",
          "[healing]") {
  // Anti-entropy off: the primary gets its writes back by hinted handoff alone.
  Cluster cluster(5, {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "0"}, "hinted");
  cluster.start_all();
  cluster.kill9(4);
  wait_unreachable(cluster, 0, 4);
  auto c = cluster.client({0, 1, 2, 3});
  constexpr int kKeys = 200;
  const std::string dead = cluster.node(4).name;
  int through_fallback = 0;
  for (int i = 0; i < kKeys; ++i) {
    Key key{"default", "hh", "k" + std::to_string(i)};
    auto written = c->put(key, "v" + std::to_string(i), put_w(net::Quorum::all()));
    INFO("k" << i << ": " << (written ? "" : written.error().to_string()));
    REQUIRE(written);
    auto replicas = c->replica_get(key);
    REQUIRE(replicas);
    for (const auto& r : replicas.value()) through_fallback += r.node == dead;
  }
  REQUIRE(through_fallback > 0);

  // pw counts primaries only: a key with the dead node among its primaries
  // cannot get pw=3.
  for (int i = 0; i < kKeys; ++i) {
    Key key{"default", "hh", "k" + std::to_string(i)};
    auto replicas = c->replica_get(key);
    REQUIRE(replicas);
    bool has_dead = false;
    for (const auto& r : replicas.value()) has_dead |= r.node == dead;
    if (!has_dead) continue;
    net::RequestOptions strict;
    strict.pw = net::Quorum::all();
    client::PutOptions strict_put;
    strict_put.request = strict;
    auto refused = c->put(key, "strict", strict_put);
    REQUIRE_FALSE(refused);
    INFO(refused.error().to_string());
    CHECK(refused.error().message.find("pw=3 cannot be met") != std::string::npos);
    break;
  }

  // The fallbacks hold hints for the dead primary, visible to operators.
  auto hints = cluster.shell(0, {"admin", "hints", "--json"});
  INFO(hints.out << hints.err);
  CHECK(hints.out.find("\"primary\": \"" + dead + "\"") != std::string::npos);
  auto transfers = cluster.shell(1, {"admin", "transfers"});
  CHECK(transfers.out.find("hinted-primary-down") != std::string::npos);
  CHECK(test::status_number(cluster, 0, "fallback_vnodes") + test::status_number(cluster, 1, "fallback_vnodes") +
            test::status_number(cluster, 2, "fallback_vnodes") + test::status_number(cluster, 3, "fallback_vnodes") >
        0);

  // Hints survive a crash of the fallback node.
  std::size_t holder = 0;
  for (std::size_t i = 0; i < 4; ++i)
    if (test::status_number(cluster, i, "fallback_vnodes") > 0) holder = i;
  cluster.kill9(holder);
  cluster.start(holder);
  cluster.wait_ready(holder);
  REQUIRE(test::status_number(cluster, holder, "fallback_vnodes") > 0);

  // The primary returns: within a bounded time every write is on it, read
  // directly from the vnodes (no read repair), and no hint is left.
  cluster.start(4);
  cluster.wait_ready(4);
  std::string missing = wait_replicated(
      cluster, {0, 1, 2, 3, 4}, "hh", kKeys, [](int i) { return "v" + std::to_string(i); }, 60'000);
  INFO("not on all three primaries:" << missing);
  CHECK(missing.empty());
  CHECK(eventually(
      [&] {
        auto r = cluster.shell(2, {"admin", "hints", "--json"});
        return r.exit_code == 0 && r.out == "[]\n";
      },
      30'000));
  CHECK(sum_status(cluster, {0, 1, 2, 3, 4}, "read_repairs") == 0);
}

TEST_CASE("anti-entropy alone restores a wiped data directory, then goes quiet", "[healing]") {
  Cluster cluster(4, {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "1000"}, "aae-wipe");
  cluster.start_all();
  auto c = cluster.client({0, 1, 2, 3});
  constexpr int kKeys = 1500;
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(
        c->put(Key{"default", "wipe", "k" + std::to_string(i)}, "v" + std::to_string(i), put_w(net::Quorum::all())));
  for (int i = 0; i < 50; ++i)
    REQUIRE(c->update(Key{"sets", "wipe", "s"}, crdt::Orswot::Op::add("e" + std::to_string(i)), std::nullopt,
                      with_w(net::Quorum::all())));
  std::string why;
  REQUIRE(eventually([&] { return roots_converged(cluster, 0, &why); }, 20'000));

  // Stop n3, delete its data directory, start it again under the same name.
  REQUIRE(cluster.stop(2) == 0);
  std::filesystem::remove_all(cluster.node(2).data_dir);
  cluster.start(2);
  cluster.wait_ready(2);
  // (Whether the roots still differ now is a race with the first exchanges;
  // the repair counters below show there was work to do.)

  // Nobody reads: anti-entropy alone brings every key back.
  bool converged = eventually([&] { return roots_converged(cluster, 0, &why); }, 90'000);
  INFO(why);
  REQUIRE(converged);
  std::string missing = wait_replicated(
      cluster, {0, 1, 2, 3}, "wipe", kKeys, [](int i) { return "v" + std::to_string(i); }, 10'000);
  INFO("not on all three primaries:" << missing);
  CHECK(missing.empty());
  auto set_replicas = c->replica_get(Key{"sets", "wipe", "s"});
  REQUIRE(set_replicas);
  for (const auto& r : set_replicas.value()) {
    REQUIRE(r.status == 0);
    REQUIRE(r.object.value);
    CHECK(std::get<crdt::Orswot::Value>(r.object.value->value).size() == 50);
  }
  CHECK(sum_status(cluster, {0, 1, 2, 3}, "read_repairs") == 0);
  const auto repaired = sum_status(cluster, {0, 1, 2, 3}, "aae_repairs");
  CHECK(repaired >= kKeys / 2);

  // No repair loop: exchanges go on, repairs stay where they are.
  const auto exchanges = sum_status(cluster, {0, 1, 2, 3}, "aae_exchanges");
  std::this_thread::sleep_for(std::chrono::seconds(5));
  CHECK(sum_status(cluster, {0, 1, 2, 3}, "aae_exchanges") > exchanges);
  CHECK(sum_status(cluster, {0, 1, 2, 3}, "aae_repairs") == repaired);
  auto status = cluster.shell(0, {"admin", "aae", "status"});
  INFO(status.out);
  CHECK(status.out.find("in sync") != std::string::npos);
}

TEST_CASE("writes with w=1 while two replicas are down converge on all three", "[healing]") {
  Cluster cluster(5, {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "1000"}, "w1");
  cluster.start_all();
  cluster.kill9(3);
  cluster.kill9(4);
  wait_unreachable(cluster, 0, 3);
  wait_unreachable(cluster, 0, 4);
  auto c = cluster.client({0, 1, 2});
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(c->put(Key{"default", "w1", "k" + std::to_string(i)}, "v" + std::to_string(i), put_w(net::Quorum::of(1))));
  cluster.start(3);
  cluster.start(4);
  cluster.wait_ready(3);
  cluster.wait_ready(4);
  std::string missing = wait_replicated(
      cluster, {0, 1, 2, 3, 4}, "w1", kKeys, [](int i) { return "v" + std::to_string(i); }, 90'000);
  INFO("not on all three primaries:" << missing);
  CHECK(missing.empty());
  std::string why;
  CHECK(eventually([&] { return roots_converged(cluster, 0, &why); }, 30'000));
  INFO(why);
}

TEST_CASE("deletes: tombstones spread and are reaped; a node down during the delete does not bring values back",
          "[healing]") {
  Cluster cluster(4,
                  {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "1000",
                   "--tombstone-reap-delay-ms", "300"},
                  "deletes");
  cluster.start_all();
  auto c = cluster.client({0, 1, 2, 3});
  constexpr int kKeys = 100;
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(c->put(Key{"default", "del", "k" + std::to_string(i)}, "v" + std::to_string(i), put_w(net::Quorum::all())));
  cluster.kill9(3);
  wait_unreachable(cluster, 0, 3);
  auto live = cluster.client({0, 1, 2});
  for (int i = 0; i < kKeys; ++i) REQUIRE(live->del(Key{"default", "del", "k" + std::to_string(i)}));
  // A member is down: it may hold the old values (or hints of them), so no
  // tombstone is reaped; the live primaries keep theirs.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int tombstones = 0;
  for (int i = 0; i < kKeys; ++i) {
    auto replicas = live->replica_get(Key{"default", "del", "k" + std::to_string(i)});
    REQUIRE(replicas);
    for (const auto& r : replicas.value())
      tombstones += r.status == 0 && !r.object.siblings.empty() && r.object.siblings[0].deleted;
  }
  CHECK(tombstones >= kKeys * 2);
  CHECK(sum_status(cluster, {0, 1, 2}, "tombstones_reaped") == 0);

  // The node comes back with its old values: they do not return, and once
  // every replica holds the tombstone it is reaped everywhere.
  cluster.start(3);
  cluster.wait_ready(3);
  check_deleted_everywhere(cluster, *c, "del", kKeys);
  CHECK(sum_status(cluster, {0, 1, 2, 3}, "tombstones_reaped") >= kKeys * 3);
}

TEST_CASE("kv679: a vnode that lost its data takes a new incarnation; old history and new writes both survive",
          "[healing]") {
  Cluster cluster(3,
                  {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "1000",
                   "--tombstone-reap-delay-ms", "200"},
                  "kv679");
  cluster.start_all();
  // Three nodes, n_val 3: every node holds a replica of every key, so a
  // request sent to n1 is coordinated by n1's vnode.
  auto n1 = cluster.client({0});
  Key key{"default", "kv679", "k"};
  REQUIRE(n1->put(key, "old", put_w(net::Quorum::all())));
  Key doomed{"default", "kv679", "doomed"};
  REQUIRE(n1->put(doomed, "first", put_w(net::Quorum::all())));

  // The doomstone: the delete's tombstone is reaped on n1 and n2 but not
  // on n3 (its reap is lost).
  auto armed = cluster.shell(2, {"admin", "failpoint", "vnode.reap", "error"});
  REQUIRE(armed.exit_code == 0);
  REQUIRE(n1->del(doomed, std::nullopt, with_w(net::Quorum::all())));
  REQUIRE(eventually([&] { return test::status_number(cluster, 0, "tombstones_reaped") >= 1; }, 10'000));

  // n1 loses its data (and keeps its name).
  REQUIRE(cluster.stop(0) == 0);
  std::filesystem::remove_all(cluster.node(0).data_dir);
  cluster.start(0);
  cluster.wait_ready(0);
  cluster.wait_connected();
  REQUIRE(cluster.shell(2, {"admin", "failpoint", "vnode.reap", "off"}).exit_code == 0);

  // n1 coordinates new writes to the same keys, without a context.
  n1 = cluster.client({0});
  auto written = n1->put(key, "new", put_w(net::Quorum::all()));
  INFO((written ? "" : written.error().to_string()));
  REQUIRE(written);
  REQUIRE(n1->put(doomed, "second", put_w(net::Quorum::all())));

  std::string why;
  REQUIRE(eventually([&] { return roots_converged(cluster, 1, &why); }, 60'000));
  auto c = cluster.client({0, 1, 2});
  auto replicas = c->replica_get(key);
  REQUIRE(replicas);
  REQUIRE(replicas.value().size() == 3);
  for (const auto& r : replicas.value()) {
    std::set<std::string> values;
    for (const auto& s : r.object.siblings)
      if (!s.deleted) values.insert(s.value);
    INFO("replica " << r.node);
    // The new write did not reuse the old write's dot: both are kept as
    // concurrent siblings (a reused dot would have dropped one silently).
    CHECK(values == std::set<std::string>{"old", "new"});
  }
  // The tombstone left on n3 does not override the newer write.
  auto doomed_replicas = c->replica_get(doomed);
  REQUIRE(doomed_replicas);
  for (const auto& r : doomed_replicas.value()) {
    std::set<std::string> values;
    for (const auto& s : r.object.siblings)
      if (!s.deleted) values.insert(s.value);
    INFO("replica " << r.node);
    CHECK(values == std::set<std::string>{"second"});
  }
  auto read = c->get(doomed, all_replicas());
  REQUIRE(read);
  REQUIRE(read.value().found);
}

TEST_CASE("kill -9 in the middle of hinted handoff and of anti-entropy loses nothing; trees rebuild after it",
          "[healing]") {
  // A slow handoff (throttled) and small exchanges (key lists cut short at
  // a segment boundary too), so there is a middle to kill in.
  Cluster cluster(4,
                  {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "1000",
                   "--aae-keys-per-exchange", "40", "--aae-key-list-max", "25", "--transfer-bytes-per-s", "20000"},
                  "heal-crash");
  cluster.start_all();
  auto c = cluster.client({0, 1, 2, 3});
  constexpr int kKeys = 1200;
  net::RequestOptions durable;
  durable.w = net::Quorum::of(2);
  durable.dw = net::Quorum::of(2);
  client::PutOptions durable_put;
  durable_put.request = durable;

  // Hinted handoff: n4 is down while the keys are written (acknowledged with
  // dw=2), then returns; a node sending it hints is killed mid-transfer.
  cluster.kill9(3);
  wait_unreachable(cluster, 0, 3);
  auto live = cluster.client({0, 1, 2});
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(live->put(Key{"default", "crash", "k" + std::to_string(i)}, "v" + std::to_string(i), durable_put));
  cluster.start(3);
  cluster.wait_ready(3);
  std::optional<std::size_t> sender;
  REQUIRE(eventually(
      [&] {
        for (std::size_t i = 0; i < 3; ++i) {
          auto r = cluster.shell(i, {"admin", "transfers"});
          if (r.out.find(cluster.node(i).name + " -> " + cluster.node(3).name + "  hinted ") != std::string::npos) {
            sender = i;
            return true;
          }
        }
        return false;
      },
      30'000));
  cluster.kill9(*sender);
  cluster.start(*sender);
  cluster.wait_ready(*sender);

  // Anti-entropy: n3 loses its data; while exchanges rebuild it, n3 and an
  // exchanging partner are killed.
  REQUIRE(cluster.stop(2) == 0);
  std::filesystem::remove_all(cluster.node(2).data_dir);
  cluster.start(2);
  cluster.wait_ready(2);
  REQUIRE(eventually([&] { return sum_status(cluster, {0, 1, 3}, "aae_repairs") > 0; }, 30'000));
  cluster.kill9(2);
  cluster.kill9(0);
  cluster.start(2);
  cluster.start(0);
  cluster.wait_ready(2);
  cluster.wait_ready(0);
  // Their trees were not saved: they are rebuilt, then exchanges go on.
  CHECK(cluster.log(0).find("rebuilding its anti-entropy trees") != std::string::npos);

  std::string why;
  bool converged = eventually([&] { return roots_converged(cluster, 1, &why); }, 120'000);
  INFO(why);
  REQUIRE(converged);
  std::string missing = wait_replicated(
      cluster, {0, 1, 2, 3}, "crash", kKeys, [](int i) { return "v" + std::to_string(i); }, 30'000);
  INFO("not on all three primaries:" << missing);
  CHECK(missing.empty());
}

TEST_CASE("a tombstone is not reaped while a hint of its partition is pending, so the hint cannot revive the value",
          "[healing]") {
  Cluster cluster(4,
                  {"--ring-size", "16", "--gossip-interval-ms", "200", "--aae-interval-ms", "1000",
                   "--tombstone-reap-delay-ms", "200"},
                  "hint-tombstone");
  cluster.start_all();
  // n4 is down while the keys are written: fallbacks keep its share as hints.
  cluster.kill9(3);
  wait_unreachable(cluster, 0, 3);
  auto live = cluster.client({0, 1, 2});
  constexpr int kKeys = 60;
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(
        live->put(Key{"default", "ht", "k" + std::to_string(i)}, "old" + std::to_string(i), put_w(net::Quorum::all())));
  // The hints are held back; n4 returns (everyone is reachable again).
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(cluster.shell(i, {"admin", "failpoint", "handoff.hinted", "error"}).exit_code == 0);
  cluster.start(3);
  cluster.wait_ready(3);
  cluster.wait_connected();
  auto c = cluster.client({0, 1, 2, 3});
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(c->del(Key{"default", "ht", "k" + std::to_string(i)}, std::nullopt, with_w(net::Quorum::all())));

  // Keys of n4's partitions keep their tombstones while their hints wait.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int held = 0, hinted_keys = 0;
  for (int i = 0; i < kKeys; ++i) {
    auto replicas = c->replica_get(Key{"default", "ht", "k" + std::to_string(i)});
    REQUIRE(replicas);
    bool on_n4 = false;
    int tombstones = 0;
    for (const auto& r : replicas.value()) {
      on_n4 |= r.node == cluster.node(3).name;
      tombstones += r.status == 0 && !r.object.siblings.empty() && r.object.siblings[0].deleted;
    }
    if (!on_n4) continue;
    ++hinted_keys;
    held += tombstones == 3;
  }
  REQUIRE(hinted_keys > 0);
  CHECK(held == hinted_keys);

  // The hints go to n4 (the old values, older than the tombstones), then the
  // tombstones are reaped: nothing comes back.
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(cluster.shell(i, {"admin", "failpoint", "handoff.hinted", "off"}).exit_code == 0);
  check_deleted_everywhere(cluster, *c, "ht", kKeys);
}
