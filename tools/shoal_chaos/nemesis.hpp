// Fault schedules of shoal-chaos: a seeded random sequence of fault windows
// (the same seed and settings give the same schedule, printed at the start
// so a run can be replayed), and the partition shapes Jepsen uses.
// Pure functions (unit-tested); the runner applies them to the cluster.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace shoal::chaos {

// One fault of a window.
struct Fault {
  std::string kind;                        // "partition", "crash", "amnesia", "pause", "clock", "churn"
  std::string mode;                        // partition: halves, isolate, ring, bridge; clock: bump, strobe
  std::vector<int> nodes;                  // crash/amnesia/pause/clock/churn targets
  std::vector<std::pair<int, int>> drops;  // partition: traffic from first to second is dropped
  std::vector<double> offsets_s;           // clock: one offset per target
  std::string describe(const std::vector<std::string>& names) const;
};

// Faults applied together at `start_s` and healed at `end_s`.
struct Window {
  double start_s = 0;
  double end_s = 0;
  std::vector<Fault> faults;
};

struct ScheduleOptions {
  int nodes = 5;
  double duration_s = 60;
  std::vector<std::string> kinds;  // enabled fault kinds
  bool compose = false;            // sometimes two kinds in one window (never amnesia or churn)
  double quiet_min_s = 3, quiet_max_s = 6;
  double window_min_s = 6, window_max_s = 14;
  double pause_max_s = 30;
};

std::vector<Window> make_schedule(const ScheduleOptions& options, std::uint64_t seed);

// Partition shapes over nodes 0..n-1 (`order` is a permutation), as
// directed drop pairs, both directions of each cut link.
std::vector<std::pair<int, int>> partition_halves(const std::vector<int>& order);
std::vector<std::pair<int, int>> partition_isolate(int node, int n);
// Each node sees a majority (itself and its neighbours in `order`), and no
// two nodes see the same majority.
std::vector<std::pair<int, int>> partition_majorities_ring(const std::vector<int>& order);
// Two halves joined by one node that sees both.
std::vector<std::pair<int, int>> partition_bridge(const std::vector<int>& order);

// Which nodes each node can reach under `drops` (for tests and the log).
std::vector<std::vector<bool>> reachability(int n, const std::vector<std::pair<int, int>>& drops);

}  // namespace shoal::chaos
