#include "tools/shoal_chaos/nemesis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

namespace shoal::chaos {

namespace {

std::vector<std::pair<int, int>> cut_between(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<std::pair<int, int>> out;
  for (int x : a)
    for (int y : b) {
      out.emplace_back(x, y);
      out.emplace_back(y, x);
    }
  return out;
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * std::uniform_real_distribution<double>(0, 1)(rng);
}

std::vector<int> shuffled(int n, std::mt19937_64& rng) {
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

// 1..(n-1)/2 distinct nodes.
std::vector<int> minority(int n, std::mt19937_64& rng, int at_most) {
  int max = std::max(1, std::min(at_most, (n - 1) / 2));
  int count = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(max));
  auto order = shuffled(n, rng);
  order.resize(static_cast<std::size_t>(count));
  std::sort(order.begin(), order.end());
  return order;
}

Fault make_fault(const std::string& kind, int n, std::mt19937_64& rng) {
  Fault f;
  f.kind = kind;
  if (kind == "partition") {
    static const char* kModes[] = {"halves", "isolate", "ring", "bridge"};
    f.mode = kModes[rng() % 4];
    auto order = shuffled(n, rng);
    if (f.mode == "halves") f.drops = partition_halves(order);
    if (f.mode == "isolate") f.drops = partition_isolate(order[0], n);
    if (f.mode == "ring") f.drops = partition_majorities_ring(order);
    if (f.mode == "bridge") f.drops = partition_bridge(order);
    if (f.drops.empty()) {  // too few nodes for the shape
      f.mode = "isolate";
      f.drops = partition_isolate(order[0], n);
    }
  } else if (kind == "crash" || kind == "pause") {
    f.nodes = minority(n, rng, 2);
  } else if (kind == "amnesia") {
    f.nodes = {static_cast<int>(rng() % static_cast<std::uint64_t>(n))};
  } else if (kind == "churn") {
    // Node 0 stays: the tool asks it for the cluster's reports.
    f.nodes = {n > 1 ? 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(n - 1)) : 0};
  } else if (kind == "clock") {
    f.mode = rng() % 2 ? "bump" : "strobe";
    f.nodes = minority(n, rng, n);
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
      double magnitude = std::round(uniform(rng, 2, 60));
      f.offsets_s.push_back(rng() % 2 ? magnitude : -magnitude);
    }
  }
  return f;
}

}  // namespace

std::string Fault::describe(const std::vector<std::string>& names) const {
  auto name = [&](int i) {
    return i >= 0 && static_cast<std::size_t>(i) < names.size() ? names[static_cast<std::size_t>(i)]
                                                                : "n?" + std::to_string(i);
  };
  auto list = [&](const std::vector<int>& which) {
    std::string out;
    for (int i : which) out += (out.empty() ? "" : ",") + name(i);
    return out;
  };
  if (kind == "partition") {
    // Groups of nodes by what they see.
    int n = static_cast<int>(names.size());
    auto reach = reachability(n, drops);
    std::string out = mode + ":";
    for (int i = 0; i < n; ++i) {
      std::vector<int> sees;
      for (int j = 0; j < n; ++j)
        if (reach[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)]) sees.push_back(j);
      if (static_cast<int>(sees.size()) == n) continue;
      out += " " + name(i) + "->{" + list(sees) + "}";
    }
    return out;
  }
  if (kind == "clock") {
    std::string out = mode;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " %s%+.0fs", name(nodes[i]).c_str(), i < offsets_s.size() ? offsets_s[i] : 0.0);
      out += buf;
    }
    return out;
  }
  if (kind == "crash") return "kill -9 " + list(nodes);
  if (kind == "amnesia") return "kill -9 " + list(nodes) + ", wipe its data directory";
  if (kind == "pause") return "SIGSTOP " + list(nodes);
  if (kind == "churn") return list(nodes) + " leaves the cluster, then joins again with an empty disk";
  return kind;
}

std::vector<std::pair<int, int>> partition_halves(const std::vector<int>& order) {
  auto half = order.size() / 2;
  std::vector<int> a(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half));
  std::vector<int> b(order.begin() + static_cast<std::ptrdiff_t>(half), order.end());
  return cut_between(a, b);
}

std::vector<std::pair<int, int>> partition_isolate(int node, int n) {
  std::vector<int> rest;
  for (int i = 0; i < n; ++i)
    if (i != node) rest.push_back(i);
  return cut_between({node}, rest);
}

std::vector<std::pair<int, int>> partition_majorities_ring(const std::vector<int>& order) {
  int n = static_cast<int>(order.size());
  int majority = n / 2 + 1;
  int k = majority / 2;  // neighbours on each side
  if (n < 4) return {};  // every node would see every other
  std::vector<std::pair<int, int>> out;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      int d = std::abs(i - j);
      d = std::min(d, n - d);
      if (d > k) out.emplace_back(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
  return out;
}

std::vector<std::pair<int, int>> partition_bridge(const std::vector<int>& order) {
  if (order.size() < 3) return {};
  auto half = order.size() / 2;
  std::vector<int> a(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half));
  std::vector<int> b(order.begin() + static_cast<std::ptrdiff_t>(half) + 1, order.end());
  return cut_between(a, b);  // order[half] is the bridge
}

std::vector<std::vector<bool>> reachability(int n, const std::vector<std::pair<int, int>>& drops) {
  std::vector<std::vector<bool>> reach(static_cast<std::size_t>(n),
                                       std::vector<bool>(static_cast<std::size_t>(n), true));
  for (auto [a, b] : drops)
    if (a >= 0 && b >= 0 && a < n && b < n) reach[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] = false;
  return reach;
}

namespace {

// A random draw can leave an enabled kind out of a whole run (a scenario
// "under partitions" with no partition). Each missing kind takes over a
// window whose kinds all occur in another window too, so nothing that was
// drawn disappears; schedules that already hold every kind are unchanged.
void cover_every_kind(std::vector<Window>& windows, const ScheduleOptions& options, std::mt19937_64& rng) {
  auto count = [&](const std::string& kind) {
    std::size_t n = 0;
    for (const auto& w : windows)
      n += std::any_of(w.faults.begin(), w.faults.end(), [&](const Fault& f) { return f.kind == kind; });
    return n;
  };
  for (const auto& kind : options.kinds) {
    if (count(kind) > 0) continue;
    std::vector<std::size_t> spare;
    for (std::size_t i = 0; i < windows.size(); ++i) {
      const auto& faults = windows[i].faults;
      if (std::all_of(faults.begin(), faults.end(), [&](const Fault& f) { return count(f.kind) > 1; }))
        spare.push_back(i);
    }
    if (spare.empty()) continue;  // fewer windows than kinds: as drawn
    Window& w = windows[spare[rng() % spare.size()]];
    w.faults = {make_fault(kind, options.nodes, rng)};
    if (kind == "pause") w.end_s = std::min(w.end_s, w.start_s + options.pause_max_s);
  }
}

}  // namespace

std::vector<Window> make_schedule(const ScheduleOptions& options, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Window> out;
  if (options.kinds.empty()) return out;
  double t = uniform(rng, options.quiet_min_s, options.quiet_max_s);
  // Leave the last stretch of the run quiet.
  while (t + options.window_min_s < options.duration_s - 2) {
    Window w;
    w.start_s = t;
    double length = uniform(rng, options.window_min_s, options.window_max_s);
    std::string kind = options.kinds[rng() % options.kinds.size()];
    w.faults.push_back(make_fault(kind, options.nodes, rng));
    // Amnesia goes alone (the runner waits for the cluster to be in sync
    // before it), and so does churn (a membership change needs every
    // member reachable).
    auto alone = [](const std::string& k) { return k == "amnesia" || k == "churn"; };
    if (options.compose && !alone(kind) && options.kinds.size() > 1 && rng() % 100 < 35) {
      std::string second = options.kinds[rng() % options.kinds.size()];
      if (second != kind && !alone(second)) w.faults.push_back(make_fault(second, options.nodes, rng));
    }
    for (const auto& f : w.faults)
      if (f.kind == "pause") length = std::min(length, options.pause_max_s);
    w.end_s = std::min(t + length, options.duration_s - 1);
    out.push_back(w);
    t = w.end_s + uniform(rng, options.quiet_min_s, options.quiet_max_s);
  }
  cover_every_kind(out, options, rng);
  return out;
}

}  // namespace shoal::chaos
