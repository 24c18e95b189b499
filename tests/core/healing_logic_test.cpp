// Pure logic behind healing: a vnode's anti-entropy trees (the incremental
// update and the background rebuild agree with a tree built from scratch,
// whatever writes happen during the rebuild), the sloppy preference list,
// and the healing messages under hostile input.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "core/anti_entropy.hpp"
#include "core/peer_messages.hpp"
#include "core/router.hpp"
#include "net/protocol.hpp"
#include "ring/ring.hpp"
#include "storage/key.hpp"
#include "storage/memory_engine.hpp"
#include "tests/mutate.hpp"

using namespace shoal;
using namespace shoal::core;

namespace {

constexpr std::uint32_t kRing = 16;

BucketTypes types() { return BucketTypes::builtin(3, net::Quorum::majority(), net::Quorum::majority()); }

std::string storage_key(int i) {
  return storage::encode_storage_key(i % 3 == 0 ? "sets" : "default", "b", "k" + std::to_string(i));
}

// Trees of a fresh full rebuild of whatever `engine` holds.
std::vector<AaeTreeView> rebuilt(storage::Engine& engine) {
  VnodeTrees trees(kRing);
  trees.start_rebuild();
  auto t = types();
  for (;;) {
    auto done = trees.rebuild_step(engine, {}, t, 1000);
    REQUIRE(done);
    if (done.value()) break;
  }
  return trees.views();
}

bool same(const std::vector<AaeTreeView>& a, const std::vector<AaeTreeView>& b) {
  // A tree whose keys all went away has root 0, like a tree never created.
  std::map<storage::TreeId, std::uint64_t> x, y;
  for (const auto& v : a)
    if (v.root) x[v.id] = v.root;
  for (const auto& v : b)
    if (v.root) y[v.id] = v.root;
  return x == y;
}

}  // namespace

TEST_CASE("a tree updated write by write equals one rebuilt from storage", "[healing][trees]") {
  storage::MemoryEngine engine;
  VnodeTrees trees(kRing);
  trees.start_rebuild();
  auto t = types();
  REQUIRE(trees.rebuild_step(engine, {}, t, 10).value());  // empty storage: ready at once
  std::mt19937_64 rng(5);
  std::map<std::string, std::string> model;
  for (int n = 0; n < 5000; ++n) {
    std::string key = storage_key(static_cast<int>(rng() % 800));
    std::optional<std::string> old;
    if (auto it = model.find(key); it != model.end()) old = it->second;
    std::optional<std::string> next;
    if (rng() % 5 != 0) next = "v" + std::to_string(rng());
    trees.update(key, old, next, t);
    if (next) {
      model[key] = *next;
      REQUIRE(engine.put(key, *next));
    } else {
      model.erase(key);
      REQUIRE(engine.erase(key));
    }
  }
  CHECK(same(trees.views(), rebuilt(engine)));
  // One tree per (key partition, n_val): never more than the ring has lists.
  CHECK(trees.views().size() <= kRing);

  // The persisted form restores the same trees; garbage is refused.
  VnodeTrees restored(kRing);
  REQUIRE(restored.restore(trees.encode()));
  CHECK(same(restored.views(), trees.views()));
  CHECK(restored.ready());
  VnodeTrees broken(kRing);
  std::string bytes = trees.encode();
  CHECK_FALSE(broken.restore(bytes.substr(0, bytes.size() / 2)));
  CHECK_FALSE(broken.restore("not msgpack at all"));
}

TEST_CASE("writes during a background rebuild, staged or stored, end in the same trees as a full rebuild",
          "[healing][trees]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    storage::MemoryEngine engine;
    for (int i = 0; i < 600; ++i) REQUIRE(engine.put(storage_key(i), "initial" + std::to_string(i)));
    auto t = types();
    VnodeTrees trees(kRing);
    trees.start_rebuild();
    // The vnode's write-behind map: writes staged but not yet stored.
    std::map<std::string, std::optional<std::string>> staged;
    auto current = [&](const std::string& key) -> std::optional<std::string> {
      if (auto it = staged.find(key); it != staged.end()) return it->second;
      auto stored = engine.get(key);
      REQUIRE(stored);
      return stored.value();
    };
    bool done = false;
    while (!done) {
      for (int w = 0, n = static_cast<int>(rng() % 40); w < n; ++w) {
        std::string key = storage_key(static_cast<int>(rng() % 900));
        std::optional<std::string> next;
        if (rng() % 6 != 0) next = "w" + std::to_string(rng());
        trees.update(key, current(key), next, t);
        staged[key] = next;
      }
      // Some staged writes reach storage (a commit).
      if (rng() % 2 == 0) {
        for (auto& [key, value] : staged) {
          if (value) {
            REQUIRE(engine.put(key, *value));
          } else {
            REQUIRE(engine.erase(key));
          }
        }
        staged.clear();
      }
      auto step = trees.rebuild_step(engine, staged, t, 1 + rng() % 97);
      REQUIRE(step);
      done = step.value();
    }
    for (auto& [key, value] : staged) {
      if (value) {
        REQUIRE(engine.put(key, *value));
      } else {
        REQUIRE(engine.erase(key));
      }
    }
    INFO("seed " << seed);
    CHECK(same(trees.views(), rebuilt(engine)));
  }
}

TEST_CASE("the sloppy preference list puts fallbacks in the slots of unreachable primaries", "[healing][preflist]") {
  std::vector<ring::ClaimNode> nodes;
  for (int i = 1; i <= 5; ++i) nodes.push_back({"n" + std::to_string(i) + "@127.0.0.1:" + std::to_string(i), ""});
  auto ring = ring::Ring::new_cluster("shoal", 64, nodes);
  REQUIRE(ring);
  for (std::uint64_t hash : {0ull, 1ull << 40, 7ull << 60, ~0ull}) {
    ring::Preflist strict = ring.value().preference_list(hash, 3);
    REQUIRE(strict.complete);
    const std::string down = strict.entries[1].node;
    auto list = sloppy_preference_list(ring.value(), hash, 3, [&](const std::string& n) { return n != down; });
    REQUIRE(list.entries.size() == 3);
    CHECK(list.entries[0] == strict.entries[0]);
    CHECK(list.entries[2] == strict.entries[2]);
    CHECK(list.entries[1].role == ring::Role::fallback);
    CHECK(list.entries[1].primary_node == down);
    CHECK(list.entries[1].partition == strict.entries[1].partition);
    std::set<std::string> distinct;
    for (const auto& e : list.entries) distinct.insert(e.node);
    CHECK(distinct.size() == 3);
    CHECK(distinct.count(down) == 0);

    // Only two nodes reachable: no fallback is left for the dead primaries,
    // which keep their slots (and count as failed).
    std::set<std::string> up{strict.entries[0].node, strict.entries[2].node};
    auto thin = sloppy_preference_list(ring.value(), hash, 3, [&](const std::string& n) { return up.contains(n); });
    REQUIRE(thin.entries.size() == 3);
    CHECK(thin.entries[1] == strict.entries[1]);

    // Everyone up: the strict list.
    auto all = sloppy_preference_list(ring.value(), hash, 3, [](const std::string&) { return true; });
    CHECK(all.entries == strict.entries);
  }
}

TEST_CASE("healing messages survive truncation, corruption and hostile sizes", "[healing][decode]") {
  std::vector<std::string> samples;
  VnodeAae ask;
  ask.partition = 3;
  ask.tree_start = 2;
  ask.n_val = 3;
  ask.step = AaeStep::keys;
  ask.indices = {1, 5, 4095};
  samples.push_back(encode(1, ask));
  ask.step = AaeStep::fetch;
  ask.indices.clear();
  ask.keys = {storage_key(1), storage_key(2)};
  samples.push_back(encode(2, ask));
  VnodeAaeReply answer;
  answer.partition = 3;
  answer.step = AaeStep::fetch;
  answer.payload = std::string(40, 'p');
  answer.objects = {std::string(30, 'o'), ""};
  answer.segments_covered = 7;
  samples.push_back(encode(3, answer));
  samples.push_back(encode_heartbeat(0, {1, 2, 63}));
  samples.push_back(encode_transfer_view_request(4, "merkle-roots"));
  net::ClusterAdminReply report;
  report.table.columns = {"node", "partition", "root"};
  report.table.rows.push_back({net::StatusValue::of(std::string("n1")), net::StatusValue::of(std::int64_t{3}),
                               net::StatusValue::of(std::string("00ff"))});
  samples.push_back(net::encode_cluster_admin_reply(5, report));

  // Round trips.
  {
    auto env = net::decode_envelope(samples[0], codec::kDefaultLimits);
    REQUIRE(env);
    auto back = decode_vnode_aae(env.value().body);
    REQUIRE(back);
    CHECK(back.value().indices == std::vector<std::uint32_t>{1, 5, 4095});
    CHECK(back.value().step == AaeStep::keys);
    auto r = decode_vnode_aae_reply(net::decode_envelope(samples[2], codec::kDefaultLimits).value().body);
    REQUIRE(r);
    CHECK(r.value().objects == answer.objects);
    CHECK(r.value().segments_covered == 7);
    auto hb = decode_heartbeat(net::decode_envelope(samples[3], codec::kDefaultLimits).value().body);
    REQUIRE(hb);
    CHECK(hb.value() == std::vector<std::uint32_t>{1, 2, 63});
    auto what = decode_transfer_view_request(net::decode_envelope(samples[4], codec::kDefaultLimits).value().body);
    REQUIRE(what);
    CHECK(what.value() == "merkle-roots");
    auto table = net::decode_cluster_admin_reply(net::decode_envelope(samples[5], codec::kDefaultLimits).value().body);
    REQUIRE(table);
    CHECK(table.value().table.rows == report.table.rows);
  }
  // A step out of range is refused.
  {
    VnodeAae bad = ask;
    bad.step = static_cast<AaeStep>(9);
    auto env = net::decode_envelope(encode(6, bad), codec::kDefaultLimits);
    REQUIRE(env);
    CHECK_FALSE(decode_vnode_aae(env.value().body));
  }

  std::mt19937_64 rng(17);
  for (const auto& message : samples) {
    for (int round = 0; round < 2000; ++round) {
      std::string bytes = test::mutate(message, rng, round);
      auto env = net::decode_envelope(bytes, codec::kDefaultLimits);
      if (!env) continue;
      // None may crash; what decodes must be within its bounds.
      if (auto m = decode_vnode_aae(env.value().body)) CHECK(static_cast<int>(m.value().step) <= kAaeStepMax);
      if (auto m = decode_vnode_aae_reply(env.value().body)) CHECK(static_cast<int>(m.value().step) <= kAaeStepMax);
      (void)decode_heartbeat(env.value().body);
      (void)decode_transfer_view_request(env.value().body);
      if (auto m = net::decode_cluster_admin_reply(env.value().body))
        for (const auto& row : m.value().table.rows) CHECK(row.size() == m.value().table.columns.size());
    }
  }
}
