// The named scenarios shoal-chaos ships: which workloads run and which
// faults the nemesis injects.
#pragma once

#include <string>
#include <vector>

namespace shoal::chaos {

struct Scenario {
  std::string name;
  std::string description;
  std::vector<std::string> workloads;  // make_workload names
  std::vector<std::string> nemeses;    // fault kinds
  bool compose = false;                // two faults at once sometimes
};

inline const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> kScenarios = {
      {"set-partitions",
       "CRDT set adds and removes under network partitions (halves, isolate, majorities ring, bridge)",
       {"set"},
       {"partition"}},
      {"counter-partitions",
       "PN-counter increments and decrements under network partitions",
       {"counter"},
       {"partition"}},
      {"register-siblings",
       "one writer per key on an allow_mult register, under partitions and kill -9 (some nodes come back with an "
       "empty disk)",
       {"register"},
       {"partition", "crash", "amnesia"}},
      {"map-converge",
       "nested map updates from every client under partitions and clock offsets",
       {"map"},
       {"partition", "clock"}},
      {"kill9-churn",
       "sets and counters while nodes are killed with kill -9, and leave and join the cluster",
       {"set", "counter"},
       {"crash", "churn"}},
      {"pause",
       "sets and registers while nodes are frozen with SIGSTOP for up to 30 s",
       {"set", "register"},
       {"pause"}},
      {"partition-and-crash",
       "every workload under partitions, kill -9, pauses and clock offsets, sometimes two at once",
       {"set", "counter", "register", "map"},
       {"partition", "crash", "pause", "clock"},
       true},
      {"lww-negative-control",
       "a read-modify-write set in a last-write-wins bucket under partitions: it must lose writes, or the checker is "
       "broken",
       {"lww"},
       {"partition"}},
  };
  return kScenarios;
}

inline const Scenario* find_scenario(const std::string& name) {
  for (const auto& s : scenarios())
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace shoal::chaos
