// The pure accounting half of every request coordinator (riak_kv's get_core
// and put_core): given the replies seen so far, is the request's quorum met,
// impossible, or still open? No messages, no timers, no I/O, so every rule
// here is unit- and property-tested (tests/core/quorum_test.cpp); the
// coordinators in core/coordinator.hpp only feed replies in and act on the
// outcome. Values are thread-compatible.
//
// Reads count a replica as successful when it returned an object (a
// tombstone included: the merge decides what the client sees) or, with
// notfound_ok, when it returned not found. r counts successful replicas, pr
// successful primaries. basic_quorum (with notfound_ok off) gives up as soon
// as a majority of replicas answered not found or failed, without waiting
// for the rest. Writes count acknowledgements: w any replica, pw primaries,
// dw replicas that made the write durable (fsynced) before answering.
// A replica known to be unreachable before the request is sent is counted as
// failed at once, so a request that cannot succeed fails fast instead of
// waiting for its timeout.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.hpp"

namespace shoal::core {

enum class QuorumOutcome { pending, found, notfound, met, failed };

struct ReadQuorumSpec {
  std::uint32_t n = 3;          // replicas asked
  std::uint32_t primaries = 3;  // of which primaries
  std::uint32_t r = 2;
  std::uint32_t pr = 0;
  bool notfound_ok = true;
  bool basic_quorum = false;
};

struct WriteQuorumSpec {
  std::uint32_t n = 3;
  std::uint32_t primaries = 3;
  std::uint32_t w = 2;
  std::uint32_t pw = 0;
  std::uint32_t dw = 0;
};

// Checks r/pr (w/pw/dw) against n_val: each at most n_val, r and w at least 1.
// invalid_argument naming the value otherwise. r is raised to pr, w to pw
// and dw (a request cannot be satisfied by fewer replicas than it names).
Result<ReadQuorumSpec> make_read_spec(std::uint32_t n_val, std::uint32_t r, std::uint32_t pr, bool notfound_ok,
                                      bool basic_quorum);
Result<WriteQuorumSpec> make_write_spec(std::uint32_t n_val, std::uint32_t w, std::uint32_t pw, std::uint32_t dw);

class ReadQuorum {
 public:
  enum class Reply { found, notfound, failed };
  explicit ReadQuorum(const ReadQuorumSpec& spec) : spec_(spec) {}

  // One reply per replica. Precondition (asserted): no more replies than n,
  // no more primary replies than primaries.
  void add(Reply reply, bool primary);
  QuorumOutcome outcome() const;
  // Why the request failed (for QuorumOutcome::failed), e.g.
  // "r=2 not met: 1 of 3 replicas replied (2 failed)".
  std::string failure() const;
  bool all_replied() const { return replies() == spec_.n; }
  std::uint32_t replies() const { return found_ + notfound_ + failed_; }
  const ReadQuorumSpec& spec() const { return spec_; }

 private:
  std::uint32_t successes() const { return found_ + (spec_.notfound_ok ? notfound_ : 0); }
  std::uint32_t primary_successes() const { return primary_found_ + (spec_.notfound_ok ? primary_notfound_ : 0); }

  ReadQuorumSpec spec_;
  std::uint32_t found_ = 0, notfound_ = 0, failed_ = 0;
  std::uint32_t primary_found_ = 0, primary_notfound_ = 0, primary_failed_ = 0;
};

class WriteQuorum {
 public:
  explicit WriteQuorum(const WriteQuorumSpec& spec) : spec_(spec) {}

  // `durable`: the replica fsynced the write before acknowledging it.
  void add_ack(bool primary, bool durable);
  void add_failure(bool primary);
  QuorumOutcome outcome() const;
  // e.g. "pw=2 not met: 1 primary acknowledged (1 failed, 1 not a primary)".
  std::string failure() const;
  bool all_replied() const { return acks_ + failed_ == spec_.n; }
  const WriteQuorumSpec& spec() const { return spec_; }

 private:
  WriteQuorumSpec spec_;
  std::uint32_t acks_ = 0, primary_acks_ = 0, durable_acks_ = 0;
  std::uint32_t failed_ = 0, primary_failed_ = 0;
};

}  // namespace shoal::core
