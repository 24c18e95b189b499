// The history of a shoal-chaos run: every client operation as an invocation
// and a completion (ok, fail or info), as Jepsen records them, and the
// nemesis events. Written as JSON lines; read back by the checkers from
// memory. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace shoal::chaos {

// ok: it happened. fail: it certainly did not happen (the request never
// reached a replica, or the node refused it before writing). info: unknown
// (a timeout or an unmet quorum may have been applied in part), so a
// checker must allow both.
enum class Outcome : std::uint8_t { ok, fail, info };
const char* outcome_name(Outcome outcome);

struct Op {
  std::uint64_t id = 0;
  int process = 0;       // client number
  std::string node;      // the node the client talks to
  std::string workload;  // "set", "counter", "register", "map", "lww"
  std::string f;         // "add", "remove", "read", "incr", "write", "update"
  std::string key;
  std::string value;           // the argument as text (element, delta, written value)
  std::int64_t invoke_us = 0;  // since the start of the run
  std::int64_t complete_us = 0;
  Outcome outcome = Outcome::info;
  std::string error;
  // Reads: what was seen. A set read's elements, a register's siblings, a
  // counter's value (as text), a map's applied tags.
  std::vector<std::string> seen;
  std::optional<std::int64_t> number;  // a counter read
};

struct NemesisEvent {
  std::int64_t time_us = 0;
  std::string action;  // "start" or "stop" or "note"
  std::string kind;    // "partition", "crash", ...
  std::string detail;
};

class History {
 public:
  explicit History(std::int64_t start_us) : start_us_(start_us) {}
  std::int64_t start_us() const { return start_us_; }
  // Since the start of the run.
  std::int64_t now_us() const;

  void add(Op op);
  void add_event(NemesisEvent event);
  std::vector<Op> ops() const;
  std::vector<NemesisEvent> events() const;
  std::size_t size() const;

  // One JSON object per line, invocations and completions in time order,
  // then the nemesis events.
  bool write_jsonl(const std::string& path, std::string* error) const;

 private:
  std::int64_t start_us_;
  mutable std::mutex mutex_;
  std::vector<Op> ops_;
  std::vector<NemesisEvent> events_;
  std::uint64_t next_id_ = 1;
};

std::string json_quote(const std::string& text);

}  // namespace shoal::chaos
