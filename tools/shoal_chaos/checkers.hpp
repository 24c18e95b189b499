// The checkers of shoal-chaos: pure functions of a history and the final
// state the tool read after healing everything (Jepsen's semantics: an ok
// operation happened, a fail did not, an info may have). Unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/shoal_chaos/history.hpp"

namespace shoal::chaos {

struct CheckResult {
  std::string checker;
  bool ok = true;
  std::string summary;
  std::vector<std::string> details;
  std::int64_t lost = 0;
  std::int64_t unexpected = 0;
  std::int64_t resurrected = 0;
  std::int64_t duplicated = 0;
  std::int64_t recovered = 0;
};

// Key -> the final value's elements (nullopt: no final read succeeded, an
// anomaly of its own).
using FinalSets = std::map<std::string, std::optional<std::vector<std::string>>>;

// Set workload (and the lww negative control, whose final values are lists
// that may repeat an element): adds "add" of unique elements, "remove" of
// elements the client saw, "read" ops with `seen`. Reports lost,
// unexpected, resurrected (an acknowledged remove's element present at the
// end), duplicated, recovered (an info add present) and how long
// acknowledged elements took to become stably visible to reads.
CheckResult check_set(const std::string& name, const std::vector<Op>& ops, const FinalSets& finals);

// Counter workload: "incr" with a signed delta in `value`, "read" with
// `number`. Every read must be at most the sum of the increments that could
// have happened before it completed (ok or info, invoked before its
// completion; decrements may be missed by a sloppy read, so they do not
// lower this bound). The final value must lie within [sum of ok increments
// + every possible decrement, every possible increment + ok decrements].
CheckResult check_counter(const std::vector<Op>& ops, const std::map<std::string, std::optional<std::int64_t>>& finals);

// Register workload: one writer per key writes 1, 2, 3, ... ("write").
// The final siblings must contain the last acknowledged value or a later
// attempted one, hold only attempted values, and number at most
// writers + 1 + the writes of unknown outcome on the key (siblings grow
// with concurrent writes, not with acknowledged ones).
CheckResult check_register(const std::vector<Op>& ops, const FinalSets& finals, int writers_per_key);

// Map workload: each "update" (value "P-N", the Nth update of client P)
// adds tag "P-N" to set field tags, increments counter field hits, sets
// register field owner-P to N and increments profile-P.visits. The final
// map must equal the model of the updates it applied (named by its tags):
// hits = applied count, visits per client = applied count per client,
// owner-P = one of P's applied values (the highest, unless clocks were
// skewed: LWW then may keep an older one, reported as a note).
struct MapFinal {
  std::int64_t hits = 0;
  std::vector<std::string> tags;
  std::map<int, std::string> owners;
  std::map<int, std::int64_t> visits;
};
CheckResult check_map(const std::vector<Op>& ops, const std::map<std::string, std::optional<MapFinal>>& finals,
                      bool clock_skew);

// A duration in microseconds at quantile q (0..1) of `values` (sorted in place).
std::int64_t quantile(std::vector<std::int64_t>& values, double q);

}  // namespace shoal::chaos
