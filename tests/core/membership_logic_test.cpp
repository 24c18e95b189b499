// Pure logic behind membership: the phi-accrual failure detector, the
// transfer throttle, and the merge of gossiped cluster metadata.
#include <catch2/catch.hpp>

#include <random>

#include "core/cluster_state.hpp"
#include "core/failure_detector.hpp"
#include "core/handoff.hpp"
#include "core/peer_messages.hpp"
#include "net/protocol.hpp"
#include "ring/ring.hpp"
#include "tests/mutate.hpp"

using namespace shoal;
using namespace shoal::core;

namespace {

constexpr std::int64_t kMs = 1000;

PhiAccrualDetector steady_detector(std::int64_t interval_us, int beats, std::int64_t& now) {
  PhiAccrualDetector d;
  for (int i = 0; i < beats; ++i) {
    d.heartbeat(now);
    now += interval_us;
  }
  now -= interval_us;  // `now` is the last heartbeat
  return d;
}

}  // namespace

TEST_CASE("phi is zero before any heartbeat and right after one", "[membership][phi]") {
  PhiAccrualDetector d;
  CHECK_FALSE(d.heard());
  CHECK(d.phi(1'000'000) == 0.0);
  CHECK_FALSE(d.available(1'000'000));  // never heard: not available
  d.heartbeat(1'000'000);
  CHECK(d.heard());
  CHECK(d.phi(1'000'000) == 0.0);
  CHECK(d.available(1'000'000));
}

TEST_CASE("phi grows with silence and crosses the threshold within seconds on a steady link", "[membership][phi]") {
  std::int64_t now = 10'000'000;
  auto d = steady_detector(100 * kMs, 50, now);
  const std::int64_t last = now;
  double previous = 0;
  std::int64_t suspected_after = -1;
  for (std::int64_t silence = 0; silence <= 5'000 * kMs; silence += 10 * kMs) {
    double phi = d.phi(last + silence);
    CHECK(phi >= previous);  // monotone in the silence
    previous = phi;
    if (suspected_after < 0 && !d.available(last + silence)) suspected_after = silence;
  }
  // 100 ms heartbeats: a 300 ms hiccup is not a failure; 2 s of silence is.
  CHECK(d.available(last + 300 * kMs));
  REQUIRE(suspected_after > 0);
  CHECK(suspected_after > 500 * kMs);
  CHECK(suspected_after < 2'000 * kMs);
  // A heartbeat clears the suspicion at once.
  d.heartbeat(last + 3'000 * kMs);
  CHECK(d.available(last + 3'000 * kMs));
}

TEST_CASE("phi adapts: a jittery link is suspected later than a steady one", "[membership][phi]") {
  std::int64_t now = 0;
  auto steady = steady_detector(100 * kMs, 100, now);
  const std::int64_t steady_last = now;

  PhiAccrualDetector jittery;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int64_t> interval(20 * kMs, 900 * kMs);
  std::int64_t t = 0;
  for (int i = 0; i < 100; ++i) {
    jittery.heartbeat(t);
    t += interval(rng);
  }
  // find the last heartbeat time: replay the same sequence
  std::mt19937 replay(7);
  std::int64_t jittery_last = 0;
  for (int i = 0; i < 99; ++i) jittery_last += interval(replay);

  const std::int64_t silence = 1'500 * kMs;
  CHECK(steady.phi(steady_last + silence) > jittery.phi(jittery_last + silence));
  CHECK_FALSE(steady.available(steady_last + silence));
  CHECK(jittery.available(jittery_last + silence));
}

TEST_CASE("the heartbeat window forgets old intervals", "[membership][phi]") {
  PhiOptions options;
  options.window = 10;
  PhiAccrualDetector d(options);
  std::int64_t now = 0;
  for (int i = 0; i < 10; ++i) {
    d.heartbeat(now);
    now += 2'000 * kMs;
  }
  for (int i = 0; i < 20; ++i) {
    d.heartbeat(now);
    now += 100 * kMs;
  }
  CHECK(d.mean_interval_us() == Approx(100 * kMs));
  d.reset();
  CHECK_FALSE(d.heard());
  CHECK(d.mean_interval_us() == Approx(options.first_interval_estimate_us));
}

TEST_CASE("heartbeats out of order or repeated do not corrupt the detector", "[membership][phi]") {
  PhiAccrualDetector d;
  d.heartbeat(5'000 * kMs);
  d.heartbeat(4'000 * kMs);  // older: ignored
  d.heartbeat(5'000 * kMs);  // same instant: no zero interval
  CHECK(d.mean_interval_us() == Approx(d.options().first_interval_estimate_us));
  d.heartbeat(5'100 * kMs);
  CHECK(d.mean_interval_us() == Approx(100 * kMs));
  CHECK(d.phi(4'000 * kMs) == 0.0);  // a clock before the last heartbeat
}

TEST_CASE("the transfer throttle keeps the average rate and sizes batches to it", "[membership][throttle]") {
  CHECK(transfer_batch_bytes(0) == kTransferBatchBytes);
  CHECK(transfer_batch_bytes(800'000) == 100'000);
  CHECK(transfer_batch_bytes(1000) == 4096);  // a floor, so a batch holds a key
  CHECK(transfer_batch_bytes(1ull << 40) == kTransferBatchBytes);

  CHECK(transfer_wait_ms(0, 0, 0, 1ull << 40) == 0);  // unthrottled
  const std::uint64_t rate = 1'000'000;
  // One batch may go at once; more must wait until the average allows it.
  CHECK(transfer_wait_ms(rate, 0, 0, transfer_batch_bytes(rate)) == 0);
  std::uint32_t wait = transfer_wait_ms(rate, 0, 0, transfer_batch_bytes(rate) + 500'000);
  CHECK(wait >= 500);
  CHECK(wait <= 501);
  CHECK(transfer_wait_ms(rate, 0, 500'000, transfer_batch_bytes(rate) + 500'000) == 0);
  // Never more than a second at a time, so a changed limit takes effect.
  CHECK(transfer_wait_ms(rate, 0, 0, 100'000'000) == 1001);

  // Simulated: a sender that sends a batch whenever allowed averages the rate.
  std::int64_t now = 0;
  std::uint64_t sent = 0;
  while (now < 10'000'000) {
    auto w = transfer_wait_ms(rate, 0, now, sent);
    if (w > 0) {
      now += std::int64_t{w} * 1000;
      continue;
    }
    sent += transfer_batch_bytes(rate);
  }
  double achieved = static_cast<double>(sent) / 10.0;
  CHECK(achieved == Approx(static_cast<double>(rate)).epsilon(0.05));
}

TEST_CASE("cluster metadata merges commutatively, associatively and idempotently", "[membership][metadata]") {
  auto seed = ClusterMetadata::seed(BucketTypes::builtin(3, net::Quorum::majority(), net::Quorum::majority()));
  BucketProps small;
  small.n_val = 2;
  BucketProps counters;
  counters.datatype = crdt::Datatype::counter;
  BucketProps later;
  later.n_val = 5;

  ClusterMetadata a = seed, b = seed, c = seed;
  a.put("t", small, crdt::HlcTimestamp{100, 0}, "n1@h:1");
  b.put("t", later, crdt::HlcTimestamp{200, 0}, "n2@h:1");
  b.put("u", counters, crdt::HlcTimestamp{150, 0}, "n2@h:1");
  c.put("t", small, crdt::HlcTimestamp{200, 0}, "n3@h:1");  // same version as b's: the origin breaks the tie

  auto merged = [](ClusterMetadata x, const ClusterMetadata& y) {
    x.merge(y);
    return x;
  };
  CHECK(merged(a, b) == merged(b, a));
  CHECK(merged(merged(a, b), c) == merged(a, merged(b, c)));
  CHECK(merged(a, a) == a);
  auto all = merged(merged(a, b), c);
  const auto& t = all.entries().at("t");
  CHECK(t.origin == "n3@h:1");
  CHECK(t.props.n_val == 2);
  CHECK(all.entries().at("u").props.datatype == crdt::Datatype::counter);
  auto types = all.bucket_types();
  REQUIRE(types.find("default") != nullptr);
  REQUIRE(types.find("u") != nullptr);

  SECTION("encoding round-trips and garbage is refused") {
    auto bytes = all.encode();
    auto back = ClusterMetadata::decode(bytes);
    REQUIRE(back);
    CHECK(back.value() == all);
    CHECK_FALSE(ClusterMetadata::decode(""));
    CHECK_FALSE(ClusterMetadata::decode("not metadata at all"));
    for (std::size_t cut = 0; cut < bytes.size(); cut += 7) CHECK_FALSE(ClusterMetadata::decode(bytes.substr(0, cut)));
    std::string flipped = bytes;
    flipped[0] = static_cast<char>(flipped[0] ^ 0x40);
    CHECK_FALSE(ClusterMetadata::decode(flipped));
  }
}

TEST_CASE("membership messages survive truncation, corruption and hostile sizes", "[membership][decode]") {
  std::vector<ring::ClaimNode> nodes{{"n1@127.0.0.1:1", ""}, {"n2@127.0.0.1:2", ""}, {"n3@127.0.0.1:3", ""}};
  auto ring = ring::Ring::new_cluster("shoal", 16, nodes);
  REQUIRE(ring);
  auto metadata = ClusterMetadata::seed(BucketTypes::builtin(3, net::Quorum::majority(), net::Quorum::majority()));

  std::vector<std::string> samples;
  samples.push_back(encode(1, Gossip{ring.value().encode(), metadata.encode()}));
  VnodeFoldObjects fold;
  fold.partition = 3;
  fold.start_after = "o/some/storage/key";
  samples.push_back(encode(2, fold));
  VnodeFoldObjectsReply page;
  page.partition = 3;
  page.objects = {std::string(100, 'a'), std::string(50, 'b')};
  page.resume_after = "o/x";
  samples.push_back(encode(3, page));
  samples.push_back(encode(4, HandoffBatch{5, {std::string(200, 'c'), "d"}}));
  samples.push_back(encode(5, HandoffBatchReply{5, ReplyStatus::error, Error{Errc::disk_full, "full"}}));
  samples.push_back(encode(6, VnodeHandoffMode{7, true}));
  samples.push_back(encode_handoff_forward(7, std::string(64, 'e')));
  samples.push_back(encode_transfer_view(8, "n1@127.0.0.1:1", "\x94\x01\x4e\x08\x90"));
  samples.push_back(net::encode_cluster_admin(9, "replace", {"n1@127.0.0.1:1", "n4@127.0.0.1:4"}));
  net::ClusterAdminReply admin;
  admin.message = "ok";
  admin.staged = {"join n4@127.0.0.1:4"};
  admin.transfers.push_back(net::TransferView{1, "a", "b", "running", 10, 1000, 100, 5000, 3});
  admin.ownership.push_back(net::OwnershipView{"a", 5, 4});
  samples.push_back(net::encode_cluster_admin_reply(10, admin));
  samples.push_back(net::encode_bucket_type_admin(11, "create", "carts", "{\"n_val\": 3}"));

  auto decode_all = [&](const net::Envelope& env) {
    // Every decoder on every body: none may crash or accept nonsense silently.
    int accepted = 0;
    accepted += static_cast<bool>(decode_gossip(env.body));
    accepted += static_cast<bool>(decode_vnode_fold_objects(env.body));
    accepted += static_cast<bool>(decode_vnode_fold_objects_reply(env.body));
    accepted += static_cast<bool>(decode_handoff_batch(env.body));
    accepted += static_cast<bool>(decode_handoff_batch_reply(env.body));
    accepted += static_cast<bool>(decode_vnode_handoff_mode(env.body));
    accepted += static_cast<bool>(decode_handoff_forward(env.body));
    accepted += static_cast<bool>(decode_transfer_view(env.body));
    accepted += static_cast<bool>(net::decode_cluster_admin(env.body));
    accepted += static_cast<bool>(net::decode_cluster_admin_reply(env.body));
    accepted += static_cast<bool>(net::decode_bucket_type_admin(env.body));
    if (auto g = decode_gossip(env.body)) {
      (void)ring::Ring::decode(g.value().ring);
      (void)ClusterMetadata::decode(g.value().metadata);
    }
    return accepted;
  };

  // Each sample decodes as itself.
  for (const auto& bytes : samples) {
    auto env = net::decode_envelope(bytes, codec::kDefaultLimits);
    REQUIRE(env);
    CHECK(decode_all(env.value()) >= 1);
  }
  auto gossip = decode_gossip(net::decode_envelope(samples[0], codec::kDefaultLimits).value().body);
  REQUIRE(gossip);
  auto back = ring::Ring::decode(gossip.value().ring);
  REQUIRE(back);
  CHECK(back.value().digest() == ring.value().digest());

  std::mt19937_64 rng(11);
  std::size_t refused = 0;
  for (const auto& message : samples) {
    for (int round = 0; round < 2000; ++round) {
      std::string bytes = test::mutate(message, rng, round);
      auto env = net::decode_envelope(bytes, codec::kDefaultLimits);
      if (!env) {
        ++refused;
        continue;
      }
      (void)decode_all(env.value());
    }
  }
  CHECK(refused > 1000);

  // A ring or metadata blob inside well-formed gossip that is itself garbage is refused.
  auto bad = encode(1, Gossip{"not a ring", "not metadata"});
  auto env = net::decode_envelope(bad, codec::kDefaultLimits);
  REQUIRE(env);
  auto g = decode_gossip(env.value().body);
  REQUIRE(g);
  CHECK_FALSE(ring::Ring::decode(g.value().ring));
  CHECK_FALSE(ClusterMetadata::decode(g.value().metadata));
}
