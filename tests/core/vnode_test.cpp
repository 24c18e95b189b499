// The vnode actor over real LMDB storage, driven by messages as the router
// drives it: coordinated writes, the actor ids they use (kv679: a dot is
// never issued twice for one key, even after the key was reaped), merges,
// reaps, and what survives a restart.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "base/hash.hpp"
#include "core/vnode.hpp"
#include "storage/lmdb_engine.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace shoal;
using namespace shoal::core;
using net::MessageType;

namespace {

// Stands in for the router: keeps every message a vnode sends it.
class Collector final : public Actor {
 public:
  struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> messages;
  };
  explicit Collector(Shared* shared) : shared_(shared) {}
  std::string name() const override { return "collector"; }
  void receive(ActorContext&, Mail& mail) override {
    std::lock_guard lock(shared_->mutex);
    shared_->messages.push_back(mail.bytes);
    shared_->cv.notify_all();
  }

 private:
  Shared* shared_;
};

struct Harness {
  storage::test::TempDir dir;
  std::shared_ptr<storage::LmdbEnvironment> env;
  NodeStats stats;
  Collector::Shared shared;
  std::unique_ptr<Runtime> runtime;
  ActorRef collector = kNoActor;
  ActorRef vnode = kNoActor;
  std::uint64_t next_id = 1;

  Harness() { open(); }
  ~Harness() { close(); }

  void open() {
    env = storage::LmdbEnvironment::open(dir.sub("lmdb")).value();
    runtime = std::make_unique<Runtime>(RuntimeOptions{});
    collector =
        runtime->spawn([this] { return Result<std::unique_ptr<Actor>>(std::make_unique<Collector>(&shared)); }).value();
    auto services = std::make_shared<VnodeServices>();
    auto e = env;
    services->open_engine = [e](std::uint32_t p) { return e->open_engine(storage::vnode_engine_name(p)); };
    services->cluster = std::make_shared<ClusterState>(
        ring::Ring::new_cluster("test", 64, std::vector<ring::ClaimNode>{{"n1@127.0.0.1:7000", ""}}).value(),
        ClusterMetadata::seed(BucketTypes::builtin(3, net::Quorum::majority(), net::Quorum::majority())));
    services->router = collector;
    services->stats = &stats;
    services->clock = &SystemClock::instance();
    std::shared_ptr<const VnodeServices> shared_services = services;
    vnode = runtime->spawn([shared_services] { return Vnode::create(shared_services, 5); }).value();
    runtime->start();
  }
  void close() {
    runtime.reset();
    env.reset();
  }
  void reopen() {
    close();
    {
      std::lock_guard lock(shared.mutex);
      shared.messages.clear();
    }
    open();
  }

  // Sends and waits for `replies` messages back; returns them decoded.
  std::vector<net::Envelope> call(const std::string& message, std::size_t replies) {
    std::size_t before;
    {
      std::lock_guard lock(shared.mutex);
      before = shared.messages.size();
    }
    REQUIRE(runtime->send(vnode, Mail{message, collector}));
    std::unique_lock lock(shared.mutex);
    REQUIRE(
        shared.cv.wait_for(lock, std::chrono::seconds(5), [&] { return shared.messages.size() >= before + replies; }));
    std::vector<net::Envelope> out;
    for (std::size_t i = before; i < before + replies; ++i)
      out.push_back(net::decode_envelope(shared.messages[i], codec::kDefaultLimits).value());
    return out;
  }

  // The coordinating vnode's "ready" reply (after its ack, if it wrote).
  VnodeCoordinateReply coordinate_reply(const net::KeyRequest& request) {
    VnodeCoordinate c;
    c.partition = 5;
    c.request = net::encode_request(next_id, request);
    std::size_t before;
    {
      std::lock_guard lock(shared.mutex);
      before = shared.messages.size();
    }
    auto first = call(encode(next_id++, c), 1);
    REQUIRE(first[0].type == static_cast<std::uint8_t>(MessageType::vnode_coordinate_reply));
    auto ready = decode_vnode_coordinate_reply(first[0].body).value();
    if (ready.status != ReplyStatus::ok) return ready;
    std::unique_lock lock(shared.mutex);
    REQUIRE(shared.cv.wait_for(lock, std::chrono::seconds(5), [&] { return shared.messages.size() >= before + 2; }));
    auto ack = net::decode_envelope(shared.messages[before + 1], codec::kDefaultLimits).value();
    REQUIRE(decode_vnode_put_reply(ack.body).value().status == ReplyStatus::ok);
    return ready;
  }

  crdt::Object coordinate(net::KeyRequest request) {
    auto ready = coordinate_reply(request);
    REQUIRE(ready.status == ReplyStatus::ok);
    return decode_object(ready.object).value();
  }

  crdt::Object put(const std::string& key, const std::string& value, std::optional<std::string> context = {}) {
    net::KeyRequest r;
    r.type = MessageType::put;
    r.key = {"default", "b", key};
    r.value = value;
    r.context = std::move(context);
    return coordinate(r);
  }

  std::optional<std::string> get_bytes(const std::string& key) {
    VnodeGet g;
    g.partition = 5;
    g.key = {"default", "b", key};
    auto reply = decode_vnode_get_reply(call(encode(next_id++, g), 1)[0].body).value();
    if (reply.status == ReplyStatus::notfound) return std::nullopt;
    REQUIRE(reply.status == ReplyStatus::ok);
    return reply.object;
  }
};

std::vector<std::string> actors_of(const crdt::Object& o) {
  std::vector<std::string> out;
  const crdt::VClock clock = o.context();
  for (const auto& [actor, counter] : clock.entries()) out.push_back(actor);
  return out;
}

std::uint64_t epoch_of(const std::string& actor) {
  REQUIRE(actor.size() == kActorIdBytes);
  std::uint64_t v = 0;
  for (unsigned char c : actor.substr(17)) v = (v << 8) | c;
  return v;
}

}  // namespace

TEST_CASE("a vnode reuses its actor on a key it holds and takes a fresh epoch for a key it does not") {
  Harness h;
  auto first = h.put("k", "v1");
  auto actors = actors_of(first);
  REQUIRE(actors.size() == 1);
  CHECK(static_cast<std::uint8_t>(actors[0][0]) == kActorIdVersion);
  auto second = h.put("k", "v2", net::encode_context(first.context()));
  CHECK(actors_of(second) == actors);  // the clock does not grow with every write
  CHECK(second.context().get(actors[0]) == 2);
  auto other = h.put("other", "x");
  REQUIRE(actors_of(other).size() == 1);
  CHECK(epoch_of(actors_of(other)[0]) > epoch_of(actors[0]));
}

TEST_CASE("after a key is reaped, a new write never reissues an old dot (kv679)") {
  Harness h;
  auto written = h.put("k", "v1");
  net::KeyRequest del;
  del.type = MessageType::del;
  del.key = {"default", "b", "k"};
  del.context = net::encode_context(written.context());
  auto tombstone = h.coordinate(del);
  REQUIRE(tombstone.is_tombstone());
  auto bytes = h.get_bytes("k");
  REQUIRE(bytes);
  VnodeReap reap;
  reap.partition = 5;
  reap.key = del.key;
  reap.value_hash = hash64(*bytes);
  auto reaped = decode_vnode_reap_reply(h.call(encode(h.next_id++, reap), 1)[0].body).value();
  CHECK(reaped.reaped);
  CHECK_FALSE(h.get_bytes("k"));
  // Another replica may still hold the old value with dots (actor, 1..2).
  auto fresh = h.put("k", "v2");
  auto old_actor = actors_of(tombstone)[0];
  auto new_actors = actors_of(fresh);
  REQUIRE(new_actors.size() == 1);
  CHECK(new_actors[0] != old_actor);
  // So merging the stale copy keeps both writes apart instead of dropping one.
  crdt::Object merged = merge_replicas(fresh, written, BucketProps{});
  CHECK(merged.siblings().size() == 2);
}

TEST_CASE("a reap of a tombstone that changed since is refused") {
  Harness h;
  auto written = h.put("k", "v1");
  VnodeReap reap;
  reap.partition = 5;
  reap.key = {"default", "b", "k"};
  reap.value_hash = hash64("not what is stored");
  CHECK_FALSE(decode_vnode_reap_reply(h.call(encode(h.next_id++, reap), 1)[0].body).value().reaped);
  reap.value_hash = hash64(*h.get_bytes("k"));
  // Not a tombstone: never reaped.
  CHECK_FALSE(decode_vnode_reap_reply(h.call(encode(h.next_id++, reap), 1)[0].body).value().reaped);
  CHECK(h.get_bytes("k"));
}

TEST_CASE("replicated objects merge; epochs keep rising across restarts") {
  Harness h;
  auto a = h.put("k", "a");
  std::uint64_t before = epoch_of(actors_of(a)[0]);
  // A concurrent write from another replica (another actor) merges in as a sibling.
  auto remote = crdt::Object::make({"default", "b", "k"}, crdt::Datatype::plain).value();
  crdt::Sibling s;
  s.value = "b";
  s.last_modified = crdt::HlcTimestamp{1, 0};
  REQUIRE(remote.put(s, crdt::VClock{}, std::string("remote-actor"), crdt::MergePolicy{}));
  VnodePut put;
  put.partition = 5;
  put.object = encode_object(remote);
  auto reply = decode_vnode_put_reply(h.call(encode(h.next_id++, put), 1)[0].body).value();
  CHECK(reply.status == ReplyStatus::ok);
  auto stored = decode_object(*h.get_bytes("k")).value();
  CHECK(stored.siblings().size() == 2);

  h.reopen();
  auto later = h.put("new-key", "x");
  CHECK(epoch_of(actors_of(later)[0]) > before);
  auto kept = decode_object(*h.get_bytes("k")).value();
  CHECK(kept.siblings().size() == 2);
}

TEST_CASE("the update option effect counts the set members an op changed on the coordinating replica") {
  Harness h;
  auto sadd = [&](const std::string& key, std::vector<std::string> members, bool effect = true) {
    net::KeyRequest r;
    r.type = MessageType::update;
    r.key = {"redis", "redis", key};
    r.op = crdt::AnyOp{crdt::Orswot::Op::add_all(std::move(members))};
    if (effect) r.options.effect = true;
    return h.coordinate_reply(r);
  };
  CHECK(sadd("s", {"a", "b"}).effect == 2);
  CHECK(sadd("s", {"a", "c", "c"}).effect == 1);
  CHECK(sadd("s", {"a", "b", "c"}).effect == 0);
  CHECK_FALSE(sadd("s", {"d"}, false).effect.has_value());

  // A register op has no count; a set op on a register is refused.
  net::KeyRequest set_string;
  set_string.type = MessageType::update;
  set_string.key = {"redis", "redis", "text"};
  set_string.op = crdt::AnyOp{crdt::LwwRegister::Op{"v", {}}};
  set_string.options.effect = true;
  auto written = h.coordinate_reply(set_string);
  REQUIRE(written.status == ReplyStatus::ok);
  CHECK_FALSE(written.effect.has_value());
  auto refused = sadd("text", {"a"});
  REQUIRE(refused.status == ReplyStatus::error);
  CHECK(refused.error.code == Errc::wrong_type);

  // The reply's sixth field survives the peer encoding.
  VnodeCoordinateReply m;
  m.partition = 5;
  m.object = "o";
  m.effect = 7;
  auto env = net::decode_envelope(encode(1, m), codec::kDefaultLimits).value();
  CHECK(decode_vnode_coordinate_reply(env.body).value().effect == 7);
}

TEST_CASE("under datatype any, an emptied set counts as no key: another datatype replaces it") {
  Harness h;
  auto update = [&](const std::string& key, crdt::AnyOp op) {
    net::KeyRequest r;
    r.type = MessageType::update;
    r.key = {"redis", "redis", key};
    r.op = std::move(op);
    return h.coordinate_reply(r);
  };
  REQUIRE(update("s", crdt::AnyOp{crdt::Orswot::Op::add_all({"a"})}).status == ReplyStatus::ok);
  crdt::MapOp hset;
  hset.fields.push_back(crdt::MapFieldOp::update("f", crdt::AnyOp{crdt::LwwRegister::Op{"v", {}}}));
  // While the set holds a member, a map op is refused...
  auto refused = update("s", crdt::AnyOp{hset});
  REQUIRE(refused.status == ReplyStatus::error);
  CHECK(refused.error.code == Errc::wrong_type);
  // ...once its last member is removed, the map replaces it.
  REQUIRE(update("s", crdt::AnyOp{crdt::Orswot::Op::remove_all({"a"})}).status == ReplyStatus::ok);
  auto replaced = update("s", crdt::AnyOp{hset});
  REQUIRE(replaced.status == ReplyStatus::ok);
  CHECK(decode_object(replaced.object).value().datatype() == crdt::Datatype::map);
}
