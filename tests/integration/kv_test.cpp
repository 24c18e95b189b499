// Plain key-value behaviour of a real 3-node cluster, through the client
// library: quorum options, siblings and their resolution, deletes, TTL,
// listings, return_body and refusals.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "tests/integration/cluster.hpp"

using namespace shoal;
using shoal::client::Key;
using shoal::test::Cluster;
using shoal::test::eventually;

namespace {

Cluster& shared_cluster() {
  static Cluster cluster(3, {"--ring-size", "16", "--tombstone-reap-delay-ms", "500",
                             "--expiry-sweep-interval-ms", "300"},
                         "kv");
  static bool started = false;
  if (!started) {
    cluster.start_all();
    started = true;
  }
  return cluster;
}

net::RequestOptions with(std::function<void(net::RequestOptions&)> f) {
  net::RequestOptions o;
  f(o);
  return o;
}

std::vector<std::string> values(const net::ObjectView& view) {
  std::vector<std::string> out;
  for (const auto& s : view.siblings) out.push_back(s.value);
  std::sort(out.begin(), out.end());
  return out;
}

int found_replicas(client::Client& c, const Key& key) {
  auto replicas = c.replica_get(key);
  REQUIRE(replicas);
  int found = 0;
  for (const auto& r : replicas.value()) found += r.status == 0;
  return found;
}

}  // namespace

TEST_CASE("writes and reads honour every quorum option", "[integration]") {
  Cluster& cluster = shared_cluster();
  auto c = cluster.client();
  Key key{"default", "quorum", "k1"};
  // Catch runs this case once per section: each run writes its own keys.
  static int run = 0;
  const std::string bucket = "quorum" + std::to_string(++run);

  for (const char* w : {"1", "2", "3", "one", "quorum", "all", "default"}) {
    auto q = net::Quorum::parse(w).value();
    client::PutOptions put;
    put.request.w = q;
    put.request.dw = net::Quorum::parse("one").value();
    put.request.return_body = true;
    auto r = c->put(Key{"default", bucket, std::string("w-") + w}, std::string("v-") + w, put);
    REQUIRE(r);
    CHECK(r.value().found);  // return_body
    REQUIRE(r.value().siblings.size() == 1);
    CHECK(r.value().siblings[0].value == std::string("v-") + w);
  }
  for (const char* r : {"1", "2", "3", "all", "quorum"}) {
    auto got = c->get(Key{"default", bucket, "w-all"}, with([&](auto& o) {
                        o.r = net::Quorum::parse(r).value();
                        o.pr = net::Quorum::parse(r).value();
                      }));
    REQUIRE(got);
    CHECK(got.value().found);
    CHECK(values(got.value()) == std::vector<std::string>{"v-all"});
  }
  // w=all was acknowledged by every replica: each holds it.
  CHECK(found_replicas(*c, Key{"default", bucket, "w-all"}) == 3);

  SECTION("values above n_val are refused with the reason") {
    auto r = c->put(key, "x", client::PutOptions{"text/plain", {}, {}, with([](auto& o) { o.w = net::Quorum::of(4); })});
    REQUIRE(!r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find("w=4 exceeds n_val=3") != std::string::npos);
    auto g = c->get(key, with([](auto& o) { o.pr = net::Quorum::of(5); }));
    REQUIRE(!g);
    CHECK(g.error().message.find("pr=5 exceeds n_val=3") != std::string::npos);
  }
  SECTION("unknown options and bucket types are refused") {
    auto g = c->get(Key{"nosuchtype", "b", "k"});
    REQUIRE(!g);
    CHECK(g.error().code == Errc::not_found);
    CHECK(g.error().message.find("nosuchtype") != std::string::npos);
  }
  SECTION("notfound_ok and basic_quorum decide reads of missing keys") {
    Key missing{"default", "quorum", "missing"};
    auto a = c->get(missing, with([](auto& o) { o.notfound_ok = true; }));
    REQUIRE(a);
    CHECK_FALSE(a.value().found);
    auto b = c->get(missing, with([](auto& o) {
      o.notfound_ok = false;
      o.basic_quorum = true;
    }));
    REQUIRE(b);
    CHECK_FALSE(b.value().found);
    auto d = c->get(missing, with([](auto& o) {
      o.notfound_ok = false;
      o.r = net::Quorum::all();
    }));
    REQUIRE(d);
    CHECK_FALSE(d.value().found);
  }
  SECTION("a request timeout is honoured") {
    auto r = c->get(key, with([](auto& o) { o.timeout_ms = 1; }));
    // A 1 ms budget either answers in time or fails with a timeout, never hangs.
    CHECK((r || r.error().code == Errc::timeout || r.error().code == Errc::unavailable));
  }
}

TEST_CASE("concurrent writers create siblings; a write with the context resolves them", "[integration]") {
  Cluster& cluster = shared_cluster();
  // Two clients pinned to different nodes write the same key without a context.
  auto a = cluster.client({0});
  auto b = cluster.client({1});
  Key key{"default", "siblings", "doc"};
  REQUIRE(a->put(key, "from-a"));
  REQUIRE(b->put(key, "from-b"));
  auto got = a->get(key);
  REQUIRE(got);
  CHECK(values(got.value()) == std::vector<std::string>{"from-a", "from-b"});

  // Resolve: write back with the context that was read.
  client::PutOptions put;
  put.context = got.value().context;
  REQUIRE(b->put(key, "merged", put));
  auto resolved = a->get(key, with([](auto& o) { o.r = net::Quorum::all(); }));
  REQUIRE(resolved);
  CHECK(values(resolved.value()) == std::vector<std::string>{"merged"});

  // A write with a stale context (from before the resolution) is concurrent
  // with it, so both survive: nothing is silently overwritten.
  REQUIRE(a->put(key, "late", put));
  auto both = b->get(key);
  REQUIRE(both);
  CHECK(values(both.value()) == std::vector<std::string>{"late", "merged"});

  SECTION("lww keeps one value: the latest") {
    Key lww{"lww", "siblings", "doc"};
    REQUIRE(a->put(lww, "first"));
    REQUIRE(b->put(lww, "second"));
    auto one = a->get(lww);
    REQUIRE(one);
    CHECK(values(one.value()) == std::vector<std::string>{"second"});
  }
}

TEST_CASE("delete then re-create, for plain keys and for counters", "[integration]") {
  Cluster& cluster = shared_cluster();
  auto c = cluster.client();
  Key key{"default", "recreate", "k"};
  REQUIRE(c->put(key, "one"));
  auto got = c->get(key);
  REQUIRE(got);
  REQUIRE(c->del(key, got.value().context));
  auto gone = c->get(key, with([](auto& o) { o.r = net::Quorum::all(); }));
  REQUIRE(gone);
  CHECK_FALSE(gone.value().found);
  REQUIRE(c->put(key, "two", client::PutOptions{"text/plain", {}, gone.value().context, {}}));
  auto again = c->get(key);
  REQUIRE(again);
  CHECK(values(again.value()) == std::vector<std::string>{"two"});

  // Every primary acknowledged the delete: the tombstone is reaped after the delay.
  Key reaped{"default", "recreate", "reaped"};
  REQUIRE(c->put(reaped, "x"));
  auto read = c->get(reaped);
  REQUIRE(c->del(reaped, read.value().context, with([](auto& o) { o.w = net::Quorum::all(); })));
  CHECK(eventually([&] { return found_replicas(*c, reaped) == 0; }, 10'000));
  // A new write after the reap starts a fresh history (no old dot is reused).
  REQUIRE(c->put(reaped, "fresh"));
  auto fresh = c->get(reaped, with([](auto& o) { o.r = net::Quorum::all(); }));
  REQUIRE(fresh);
  CHECK(values(fresh.value()) == std::vector<std::string>{"fresh"});

  // A delete without a context removes what the coordinating replica has seen.
  Key blind{"default", "recreate", "blind"};
  REQUIRE(c->put(blind, "x", client::PutOptions{"text/plain", {}, {}, with([](auto& o) { o.w = net::Quorum::all(); })}));
  REQUIRE(c->del(blind));
  auto blind_gone = c->get(blind, with([](auto& o) { o.r = net::Quorum::all(); }));
  REQUIRE(blind_gone);
  CHECK_FALSE(blind_gone.value().found);

  Key counter{"counters", "recreate", "c"};
  auto all = with([](auto& o) { o.w = net::Quorum::all(); });
  REQUIRE(c->update(counter, crdt::PnCounter::Op::increment(10), std::nullopt, all));
  auto before = c->fetch(counter);
  REQUIRE(before);
  REQUIRE(before.value());
  CHECK(std::get<crdt::PnCounter::Value>(before.value()->value) == 10);
  REQUIRE(c->del(counter, std::nullopt, all));
  auto deleted = c->fetch(counter);
  REQUIRE(deleted);
  CHECK_FALSE(deleted.value().has_value());
  REQUIRE(c->update(counter, crdt::PnCounter::Op::increment(3), std::nullopt, all));
  auto after = c->fetch(counter, with([](auto& o) { o.r = net::Quorum::all(); }));
  REQUIRE(after);
  REQUIRE(after.value());
  // The deleted increments do not come back.
  CHECK(std::get<crdt::PnCounter::Value>(after.value()->value) == 3);
}

TEST_CASE("list-keys and list-buckets cover the whole cluster", "[integration]") {
  Cluster& cluster = shared_cluster();
  auto c = cluster.client();
  std::set<std::string> expected;
  std::vector<std::future<Result<net::ObjectView>>> writes;
  for (int i = 0; i < 500; ++i) {
    std::string k = "key-" + std::to_string(i);
    expected.insert(k);
    writes.push_back(c->put_future(Key{"default", "listing", k}, "v"));
  }
  for (auto& w : writes) REQUIRE(w.get());
  REQUIRE(c->put(Key{"default", "listing-other", "x"}, "v"));
  auto keys = c->list_keys("default", "listing");
  REQUIRE(keys);
  std::set<std::string> got(keys.value().begin(), keys.value().end());
  CHECK(keys.value().size() == 500);  // each key exactly once
  CHECK(got == expected);
  auto buckets = c->list_buckets("default");
  REQUIRE(buckets);
  std::set<std::string> bucket_set(buckets.value().begin(), buckets.value().end());
  CHECK(bucket_set.count("listing") == 1);
  CHECK(bucket_set.count("listing-other") == 1);
  // A deleted key is not listed.
  auto read = c->get(Key{"default", "listing", "key-7"});
  REQUIRE(c->del(Key{"default", "listing", "key-7"}, read.value().context));
  auto after = c->list_keys("default", "listing");
  REQUIRE(after);
  CHECK(after.value().size() == 499);
}

TEST_CASE("a key with a TTL expires on every replica at its deadline", "[integration]") {
  Cluster& cluster = shared_cluster();
  auto c = cluster.client();
  Key key{"default", "ttl", "short"};
  client::PutOptions put;
  put.request.ttl_ms = 1500;
  put.request.w = net::Quorum::all();
  REQUIRE(c->put(key, "soon gone", put));
  Key counter{"counters", "ttl", "c"};
  REQUIRE(c->update(counter, crdt::PnCounter::Op::increment(1), std::nullopt,
                    with([](auto& o) { o.ttl_ms = 1500; })));
  auto live = c->get(key);
  REQUIRE(live);
  CHECK(live.value().found);
  REQUIRE(live.value().expires_at_us);
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));
  // Every node, as coordinator, reads it as not found.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    auto one = cluster.client({i});
    auto r = one->get(key, with([](auto& o) { o.r = net::Quorum::all(); }));
    REQUIRE(r);
    CHECK_FALSE(r.value().found);
    auto cr = one->fetch(counter);
    REQUIRE(cr);
    CHECK_FALSE(cr.value().has_value());
  }
  // The background sweep removes it from every replica.
  CHECK(eventually([&] { return found_replicas(*c, key) == 0; }, 10'000));
  // A write after expiry starts afresh: the expired value does not come back.
  REQUIRE(c->put(key, "new"));
  auto fresh = c->get(key);
  REQUIRE(fresh);
  CHECK(values(fresh.value()) == std::vector<std::string>{"new"});
}

TEST_CASE("writes of the wrong kind are refused with the reason", "[integration]") {
  Cluster& cluster = shared_cluster();
  auto c = cluster.client();
  auto put_counter = c->put(Key{"counters", "b", "k"}, "1");
  REQUIRE(!put_counter);
  CHECK(put_counter.error().code == Errc::invalid_argument);
  CHECK(put_counter.error().message.find("CRDT update") != std::string::npos);
  auto update_plain = c->update(Key{"default", "b", "k"}, crdt::PnCounter::Op::increment(1));
  REQUIRE(!update_plain);
  CHECK(update_plain.error().message.find("plain objects") != std::string::npos);
  auto wrong_op = c->update(Key{"sets", "b", "k"}, crdt::PnCounter::Op::increment(1));
  REQUIRE(!wrong_op);
  CHECK(wrong_op.error().message.find("another datatype") != std::string::npos);
  auto remove_absent = c->update(Key{"sets", "b", "never"}, crdt::Orswot::Op::remove("x"));
  REQUIRE(!remove_absent);
  CHECK(remove_absent.error().code == Errc::precondition_failed);
  std::string big_key(65 * 1024, 'k');
  auto too_long = c->put(Key{"default", "b", big_key}, "v");
  REQUIRE(!too_long);
  CHECK(too_long.error().code == Errc::too_large);
}
