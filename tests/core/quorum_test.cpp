// The pure quorum accounting, checked exhaustively: every n up to 5, every
// r/pr (w/pw/dw), every setting of notfound_ok and basic_quorum, every
// sequence of replies. A decision must be justified by the replies so far
// and a failure must be final (no way to complete the remaining replies
// meets the quorum), as a brute-force model computes.
#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "core/quorum.hpp"

using namespace shoal;
using namespace shoal::core;

namespace {

struct ReadReply {
  ReadQuorum::Reply kind;
  bool primary;
};

bool read_met(const ReadQuorumSpec& spec, const std::vector<ReadReply>& replies) {
  std::uint32_t ok = 0, pok = 0;
  for (const auto& r : replies) {
    bool success = r.kind == ReadQuorum::Reply::found || (spec.notfound_ok && r.kind == ReadQuorum::Reply::notfound);
    ok += success;
    pok += success && r.primary;
  }
  return ok >= spec.r && pok >= spec.pr;
}

// Can some completion of `replies` (the remaining replicas answering
// anything) meet r and pr?
bool read_reachable(const ReadQuorumSpec& spec, std::vector<ReadReply> replies, std::uint32_t primaries_left,
                    std::uint32_t others_left) {
  if (read_met(spec, replies)) return true;
  if (primaries_left > 0) {
    replies.push_back({ReadQuorum::Reply::found, true});
    if (read_reachable(spec, replies, primaries_left - 1, others_left)) return true;
    replies.pop_back();
  }
  if (others_left > 0) {
    replies.push_back({ReadQuorum::Reply::found, false});
    if (read_reachable(spec, replies, primaries_left, others_left - 1)) return true;
  }
  return false;
}

void each_read_sequence(std::uint32_t n, std::uint32_t primaries,
                        const std::function<void(const std::vector<ReadReply>&)>& visit) {
  std::vector<ReadReply> seq;
  std::function<void(std::uint32_t, std::uint32_t)> rec = [&](std::uint32_t p_left, std::uint32_t o_left) {
    visit(seq);
    for (auto kind : {ReadQuorum::Reply::found, ReadQuorum::Reply::notfound, ReadQuorum::Reply::failed}) {
      if (p_left > 0) {
        seq.push_back({kind, true});
        rec(p_left - 1, o_left);
        seq.pop_back();
      }
      if (o_left > 0) {
        seq.push_back({kind, false});
        rec(p_left, o_left - 1);
        seq.pop_back();
      }
    }
  };
  rec(primaries, n - primaries);
}

}  // namespace

TEST_CASE("read quorum decisions are justified and failures are final, exhaustively") {
  std::size_t checked = 0;
  for (std::uint32_t n = 1; n <= 5; ++n) {
    for (std::uint32_t primaries = 0; primaries <= n; ++primaries) {
      for (std::uint32_t r = 1; r <= n; ++r) {
        for (std::uint32_t pr = 0; pr <= primaries; ++pr) {
          for (bool notfound_ok : {false, true}) {
            for (bool basic : {false, true}) {
              ReadQuorumSpec spec{n, primaries, std::max(r, pr), pr, notfound_ok, basic};
              each_read_sequence(n, primaries, [&](const std::vector<ReadReply>& seq) {
                ReadQuorum q(spec);
                std::uint32_t p_used = 0;
                for (const auto& reply : seq) {
                  q.add(reply.kind, reply.primary);
                  p_used += reply.primary;
                }
                ++checked;
                QuorumOutcome outcome = q.outcome();
                bool met = read_met(spec, seq);
                bool reachable = read_reachable(spec, seq, primaries - p_used,
                                                (n - primaries) - (static_cast<std::uint32_t>(seq.size()) - p_used));
                INFO("n=" << n << " primaries=" << primaries << " r=" << spec.r << " pr=" << pr
                          << " notfound_ok=" << notfound_ok << " basic=" << basic << " replies=" << seq.size());
                if (met) {
                  // Met: answered at once, found iff some replica had it.
                  bool any_found = false;
                  for (const auto& reply : seq) any_found |= reply.kind == ReadQuorum::Reply::found;
                  REQUIRE(outcome == (any_found ? QuorumOutcome::found : QuorumOutcome::notfound));
                } else if (!reachable) {
                  // Impossible: decided (failed, or not found when the not-founds decide it).
                  REQUIRE(outcome != QuorumOutcome::pending);
                  REQUIRE(outcome != QuorumOutcome::found);
                  if (outcome == QuorumOutcome::failed) REQUIRE_FALSE(q.failure().empty());
                } else if (!basic || notfound_ok) {
                  // Still possible and no early give-up asked for: wait.
                  REQUIRE(outcome == QuorumOutcome::pending);
                } else {
                  REQUIRE(outcome != QuorumOutcome::found);
                }
                if (q.all_replied()) REQUIRE(outcome != QuorumOutcome::pending);
              });
            }
          }
        }
      }
    }
  }
  CHECK(checked > 100'000);
}

TEST_CASE("read quorum failures name the setting that was not met") {
  auto spec = make_read_spec(3, 2, 3, true, false).value();
  ReadQuorum q(spec);
  q.add(ReadQuorum::Reply::found, true);
  q.add(ReadQuorum::Reply::failed, true);
  REQUIRE(q.outcome() == QuorumOutcome::failed);
  CHECK(q.failure() == "pr=3 not met: 1 primary replied (1 failed or unreachable)");

  ReadQuorum r(make_read_spec(3, 3, 0, true, false).value());
  r.add(ReadQuorum::Reply::failed, true);
  REQUIRE(r.outcome() == QuorumOutcome::failed);
  CHECK(r.failure() == "r=3 not met: 0 replicas replied (1 failed or unreachable)");
}

TEST_CASE("basic_quorum gives up on a majority of not found without waiting") {
  ReadQuorum q(make_read_spec(5, 2, 0, false, true).value());
  q.add(ReadQuorum::Reply::notfound, true);
  q.add(ReadQuorum::Reply::notfound, true);
  CHECK(q.outcome() == QuorumOutcome::pending);
  q.add(ReadQuorum::Reply::failed, true);
  CHECK(q.outcome() == QuorumOutcome::notfound);  // 3 of 5 answered without the object
  ReadQuorum patient(make_read_spec(5, 2, 0, false, false).value());
  for (int i = 0; i < 2; ++i) patient.add(ReadQuorum::Reply::notfound, true);
  patient.add(ReadQuorum::Reply::failed, true);
  CHECK(patient.outcome() == QuorumOutcome::pending);  // two more replies could still meet r=2
}

TEST_CASE("quorum settings are checked against n_val") {
  CHECK(make_read_spec(3, 4, 0, true, false).error().message == "r=4 exceeds n_val=3");
  CHECK(make_read_spec(3, 0, 0, true, false).error().message == "r must be at least 1");
  CHECK(make_write_spec(3, 2, 4, 0).error().message == "pw=4 exceeds n_val=3");
  CHECK(make_write_spec(3, 1, 2, 3).value().w == 3);  // w is raised to pw and dw
  CHECK(make_read_spec(3, 1, 2, true, false).value().r == 2);
}

TEST_CASE("write quorum decisions are justified and failures are final, exhaustively") {
  std::size_t checked = 0;
  for (std::uint32_t n = 1; n <= 5; ++n) {
    for (std::uint32_t primaries = 0; primaries <= n; ++primaries) {
      for (std::uint32_t w = 1; w <= n; ++w) {
        for (std::uint32_t pw = 0; pw <= primaries; ++pw) {
          for (std::uint32_t dw = 0; dw <= n; ++dw) {
            WriteQuorumSpec spec{n, primaries, std::max({w, pw, dw}), pw, dw};
            // A reply: 0 ack, 1 durable ack, 2 failure; primary or not.
            std::vector<std::pair<int, bool>> seq;
            std::function<void(std::uint32_t, std::uint32_t)> rec = [&](std::uint32_t p_left, std::uint32_t o_left) {
              WriteQuorum q(spec);
              std::uint32_t acks = 0, packs = 0, dacks = 0;
              for (auto [kind, primary] : seq) {
                if (kind == 2) {
                  q.add_failure(primary);
                } else {
                  q.add_ack(primary, kind == 1);
                  ++acks;
                  packs += primary;
                  dacks += kind == 1;
                }
              }
              ++checked;
              bool met = acks >= spec.w && packs >= pw && dacks >= dw;
              // Best completion: every remaining replica acks durably.
              bool reachable = acks + p_left + o_left >= spec.w && packs + p_left >= pw && dacks + p_left + o_left >= dw;
              QuorumOutcome outcome = q.outcome();
              if (met) {
                REQUIRE(outcome == QuorumOutcome::met);
              } else if (!reachable) {
                REQUIRE(outcome == QuorumOutcome::failed);
                REQUIRE_FALSE(q.failure().empty());
              } else {
                REQUIRE(outcome == QuorumOutcome::pending);
              }
              for (int kind = 0; kind < 3; ++kind) {
                if (p_left > 0) {
                  seq.emplace_back(kind, true);
                  rec(p_left - 1, o_left);
                  seq.pop_back();
                }
                if (o_left > 0) {
                  seq.emplace_back(kind, false);
                  rec(p_left, o_left - 1);
                  seq.pop_back();
                }
              }
            };
            rec(primaries, n - primaries);
          }
        }
      }
    }
  }
  CHECK(checked > 100'000);
}

TEST_CASE("write quorum failures say which setting failed") {
  WriteQuorum q(make_write_spec(3, 2, 2, 0).value());
  q.add_ack(true, false);
  q.add_failure(true);
  q.add_failure(true);
  REQUIRE(q.outcome() == QuorumOutcome::failed);
  CHECK(q.failure() == "pw=2 not met: 1 primary acknowledged (2 failed or unreachable)");
  WriteQuorum d(make_write_spec(3, 1, 0, 2).value());
  d.add_ack(true, false);
  REQUIRE(d.outcome() == QuorumOutcome::pending);
  d.add_ack(true, false);  // only one replica is left: two durable acks are out of reach
  REQUIRE(d.outcome() == QuorumOutcome::failed);
  CHECK(d.failure() == "dw=2 not met: 0 replicas made the write durable");
}
