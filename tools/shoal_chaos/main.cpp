// shoal-chaos: a Jepsen-style test of a real Shoal cluster, run by users
// against their own builds. It starts its own cluster (a private network
// namespace as root), runs workloads through the client library while a
// seeded nemesis partitions, kills, pauses and skews nodes, heals
// everything, waits for the replicas to converge, reads the final state
// from every coordinator and every replica, and checks the history.
//
//   shoal-chaos scenarios
//   shoal-chaos run --scenario NAME [--time 60s] [--nodes 5] [--seed S] [--report DIR]
//
// Exit status: 0 every checker passed, 1 anomalies found, 2 the tool could
// not do its job. The last line is `verdict: PASS|FAIL lost=N unexpected=N
// resurrected=N partitions=N`.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/client/client.hpp"
#include "tools/shoal_chaos/checkers.hpp"
#include "tools/shoal_chaos/cluster.hpp"
#include "tools/shoal_chaos/history.hpp"
#include "tools/shoal_chaos/nemesis.hpp"
#include "tools/shoal_chaos/report.hpp"
#include "tools/shoal_chaos/scenarios.hpp"
#include "tools/shoal_chaos/workloads.hpp"

namespace shoal::chaos {
namespace {

namespace fs = std::filesystem;
using client::Client;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

constexpr const char* kFaketimeLibraries[] = {"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                                              "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"};

struct Options {
  std::string scenario;
  double time_s = 60;
  int nodes = 5;
  std::uint64_t seed = 0;
  bool seed_given = false;
  std::string report_dir;
  std::string shoald;
  double converge_timeout_s = 180;
  bool keep_data = false;
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: shoal-chaos scenarios\n"
               "       shoal-chaos run --scenario NAME [--time 60s] [--nodes 5] [--seed S] [--report DIR]\n"
               "                       [--converge-timeout 180s] [--shoald PATH] [--keep-data]\n"
               "\n"
               "Starts a cluster of real shoald processes (as root: each on its own loopback address in a\n"
               "private network namespace, so partitions are real packet drops), runs the scenario's\n"
               "workloads while a seeded nemesis injects faults, heals, waits for convergence and checks\n"
               "the history. Writes DIR/report.html and DIR/history.jsonl.\n"
               "Exit status: 0 pass, 1 anomalies found, 2 the tool could not do its job.\n");
}

// "90", "90s", "2m", "1h", "500ms" -> seconds.
std::optional<double> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  if (unit.empty() || unit == "s") return v;
  if (unit == "ms") return v / 1000;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  return std::nullopt;
}

std::string self_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string stamp() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::gmtime(&t));
  return buf;
}

class Runner {
 public:
  Runner(Options options, const Scenario& scenario) : options_(std::move(options)), scenario_(scenario) {}

  int run();

 private:
  // ---- phases ----
  bool start_cluster();
  void run_faults();
  void final_phase();
  int finish();

  // ---- helpers ----
  void log(const std::string& line);
  void event(const std::string& action, const std::string& kind, const std::string& detail);
  double elapsed_s() const { return static_cast<double>(history_->now_us()) / 1e6; }
  bool wait_until(double t_s, const Window* strobe_window);
  bool apply(Fault& fault);
  bool heal(const Fault& fault);
  bool leave(Fault& fault);
  bool rejoin(const Fault& fault);
  bool stage_and_commit(const std::string& node, const std::string& command, const std::vector<std::string>& args,
                        const std::string& expect_staged, std::string* why);
  bool all_reachable(int timeout_ms);
  bool in_sync(std::string* why);
  bool wait_in_sync(int timeout_ms, std::string* why);
  bool final_reads(std::vector<std::string>* disagreements);
  void progress(bool force);
  void tool_error(const std::string& message);

  Options options_;
  const Scenario& scenario_;
  std::vector<std::string> kinds_;
  std::vector<std::string> notes_;
  std::unique_ptr<ChaosCluster> cluster_;
  std::unique_ptr<History> history_;
  std::vector<std::unique_ptr<Workload>> workloads_;
  std::vector<std::unique_ptr<Client>> clients_;  // one per workload client
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_workloads_{false};
  std::unique_ptr<Client> admin_;
  std::vector<Window> schedule_;
  std::vector<ReportWindow> windows_;
  std::vector<std::string> nemesis_log_;
  std::vector<ReportFinding> findings_;
  bool faketime_ = false;
  bool tool_error_ = false;
  std::string tool_error_message_;
  int verified_partitions_ = 0;
  double convergence_s_ = -1;
  double fault_phase_s_ = 0;
  net::RequestOptions request_;
  std::string consistency_;
  std::string started_at_;
  double last_progress_ = -100;
  std::string current_fault_ = "none";
};

void Runner::log(const std::string& line) {
  if (::isatty(1)) std::printf("\r\033[K");
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void Runner::event(const std::string& action, const std::string& kind, const std::string& detail) {
  double t = history_ ? elapsed_s() : 0;
  if (history_) history_->add_event({history_->now_us(), action, kind, detail});
  std::string line = fmt("%7.1fs ", t) + kind + " " + action + ": " + detail;
  nemesis_log_.push_back(line);
  log("nemesis " + line);
}

void Runner::tool_error(const std::string& message) {
  if (!tool_error_) {
    tool_error_ = true;
    tool_error_message_ = message;
  }
  log("shoal-chaos: " + message);
}

void Runner::progress(bool force) {
  double t = elapsed_s();
  bool tty = ::isatty(1);
  if (!force && t - last_progress_ < (tty ? 1.0 : 10.0)) return;
  last_progress_ = t;
  std::size_t ok = 0, fail = 0, info = 0;
  for (const auto& op : history_->ops()) {
    if (op.outcome == Outcome::ok) ++ok;
    if (op.outcome == Outcome::fail) ++fail;
    if (op.outcome == Outcome::info) ++info;
  }
  int up = 0;
  for (int i = 0; i < cluster_->size(); ++i)
    if (cluster_->running(i) && !cluster_->node(i).paused) ++up;
  char line[512];
  std::snprintf(line, sizeof line, "[%5.0fs/%.0fs] ops %zu (ok %zu, fail %zu, info %zu)  nodes up %d/%d  fault: %s", t,
                options_.time_s, ok + fail + info, ok, fail, info, up, cluster_->size(), current_fault_.c_str());
  if (tty) {
    std::printf("\r\033[K%s", line);
  } else {
    std::printf("%s\n", line);
  }
  std::fflush(stdout);
}

bool Runner::wait_until(double t_s, const Window* strobe_window) {
  bool strobe_on = false;
  while (elapsed_s() < t_s) {
    if (g_interrupted.load()) return false;
    progress(false);
    if (strobe_window) {
      // Strobing clocks: flip between the offset and none every second.
      strobe_on = !strobe_on;
      for (const auto& f : strobe_window->faults) {
        if (f.kind != "clock" || f.mode != "strobe") continue;
        for (std::size_t i = 0; i < f.nodes.size(); ++i) {
          std::string error;
          cluster_->set_clock_offset(f.nodes[i], strobe_on ? f.offsets_s[i] : 0, &error);
        }
      }
    }
    double left = t_s - elapsed_s();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(static_cast<int>(std::max(0.0, std::min(left, strobe_window ? 1.0 : 0.25)) * 1000)));
  }
  return true;
}

bool Runner::all_reachable(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    // Every node's view (members gathers them all): every member reachable.
    auto views = admin_->members(cluster_->node(0).client_address());
    bool all = views && views.value().size() == static_cast<std::size_t>(cluster_->size());
    if (all)
      for (const auto& view : views.value()) {
        if (!view.answered) all = false;
        for (const auto& m : view.members)
          if (!m.reachable) all = false;
      }
    if (all) return true;
    if (g_interrupted.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return false;
}

// Every preference list has one root on all its replicas and no fallback
// holds hints.
bool Runner::in_sync(std::string* why) {
  std::string node = cluster_->node(0).client_address();
  auto hints = admin_->cluster_admin(node, "hints");
  if (!hints) {
    *why = "hints: " + hints.error().to_string();
    return false;
  }
  if (!hints.value().table.rows.empty()) {
    *why = std::to_string(hints.value().table.rows.size()) + " fallback vnodes hold hints";
    return false;
  }
  auto transfers = admin_->cluster_admin(node, "transfers");
  if (!transfers) {
    *why = "transfers: " + transfers.error().to_string();
    return false;
  }
  if (!transfers.value().transfers.empty()) {
    *why = std::to_string(transfers.value().transfers.size()) + " partition transfers pending";
    return false;
  }
  auto roots = admin_->cluster_admin(node, "merkle-roots");
  if (!roots) {
    *why = "merkle-roots: " + roots.error().to_string();
    return false;
  }
  const auto& t = roots.value().table;
  auto col = [&](const std::string& name) {
    for (std::size_t i = 0; i < t.columns.size(); ++i)
      if (t.columns[i] == name) return i;
    return t.columns.size();
  };
  std::size_t list = col("preflist"), n = col("n_val"), root = col("root"), state = col("tree_state");
  if (list == t.columns.size() || root == t.columns.size() || state == t.columns.size() || n == t.columns.size()) {
    *why = "merkle-roots has no preflist/n_val/root/tree_state columns";
    return false;
  }
  std::map<std::string, std::set<std::string>> by_list;
  std::map<std::string, std::int64_t> replicas, n_vals;
  for (const auto& row : t.rows) {
    if (row.size() != t.columns.size()) continue;
    std::string id = std::to_string(row[list].number) + "/" + std::to_string(row[n].number);
    by_list[id].insert(row[state].text == "ready" ? row[root].text : "tree " + row[state].text);
    ++replicas[id];
    n_vals[id] = row[n].number;
  }
  if (by_list.empty()) {
    *why = "no merkle roots reported";
    return false;
  }
  int differing = 0;
  for (const auto& [id, set] : by_list) {
    if (set.size() != 1 || replicas[id] != n_vals[id]) ++differing;
  }
  if (differing) {
    *why = std::to_string(differing) + " of " + std::to_string(by_list.size()) +
           " preference lists differ between replicas (or miss one)";
    return false;
  }
  return true;
}

bool Runner::wait_in_sync(int timeout_ms, std::string* why) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto last_exchange = Clock::now() - std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (g_interrupted.load()) return false;
    if (Clock::now() - last_exchange > std::chrono::seconds(3)) {
      (void)admin_->cluster_admin(cluster_->node(0).client_address(), "aae-exchange");
      last_exchange = Clock::now();
    }
    if (in_sync(why)) return true;
    if (history_) progress(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return false;
}

bool Runner::start_cluster() {
  std::vector<std::string> args = {"--aae-interval-ms", "10000", "--ring-size", "32", "--log-level", "warn"};
  for (const auto& w : workloads_) {
    args.push_back("--bucket-type");
    args.push_back(w->bucket_type() + ":" + w->bucket_type_props());
  }
  ClusterOptions co;
  co.nodes = options_.nodes;
  co.shoald = options_.shoald;
  co.work_dir = options_.report_dir + "/cluster";
  co.use_netns = ::geteuid() == 0;
  co.node_args = args;
  for (const char* lib : kFaketimeLibraries)
    if (fs::exists(lib)) {
      co.faketime_library = lib;
      break;
    }
  faketime_ = !co.faketime_library.empty() && std::find(kinds_.begin(), kinds_.end(), "clock") != kinds_.end();
  co.faketime = faketime_;
  cluster_ = std::make_unique<ChaosCluster>(co);
  std::string error;
  if (!cluster_->setup(&error)) {
    tool_error("setup failed: " + error);
    return false;
  }
  return true;
}

bool Runner::apply(Fault& fault) {
  std::string error;
  auto names = std::vector<std::string>();
  for (int i = 0; i < cluster_->size(); ++i) names.push_back(cluster_->node(i).name);
  if (fault.kind == "partition") {
    if (!cluster_->partition(fault.drops, &error)) {
      tool_error(error);
      return false;
    }
    ++verified_partitions_;
  } else if (fault.kind == "crash") {
    for (int i : fault.nodes) cluster_->kill9(i);
  } else if (fault.kind == "amnesia") {
    // Only one wiped node at a time, and only once the cluster is in sync
    // (every acknowledged write on every replica): otherwise a wipe could
    // destroy the last copy of a write and no database could pass.
    std::string why;
    if (!wait_in_sync(30'000, &why)) {
      event("note", "amnesia", "not in sync (" + why + "): kill -9 without the wipe");
      fault.kind = "crash";
      for (int i : fault.nodes) cluster_->kill9(i);
      return true;
    }
    for (int i : fault.nodes) {
      cluster_->kill9(i);
      if (!cluster_->wipe(i, &error)) {
        tool_error(error);
        return false;
      }
    }
  } else if (fault.kind == "churn") {
    return leave(fault);
  } else if (fault.kind == "pause") {
    for (int i : fault.nodes) cluster_->pause(i);
  } else if (fault.kind == "clock") {
    for (std::size_t k = 0; k < fault.nodes.size(); ++k)
      if (!cluster_->set_clock_offset(fault.nodes[k], fault.offsets_s[k], &error)) {
        tool_error(error);
        return false;
      }
  }
  return true;
}

// Stages a change (unless command is empty), waits until the claimant's
// plan shows `expect_staged`, and commits it; retried for 60 s (plan
// refuses while an earlier commit's transfers run).
bool Runner::stage_and_commit(const std::string& node, const std::string& command, const std::vector<std::string>& args,
                              const std::string& expect_staged, std::string* why) {
  auto deadline = Clock::now() + std::chrono::seconds(60);
  bool staged = command.empty();
  while (Clock::now() < deadline && !g_interrupted.load()) {
    progress(false);
    if (!staged) {
      auto r = admin_->cluster_admin(node, command, args);
      staged = r.has_value();
      if (!r) *why = command + ": " + r.error().to_string();
    }
    if (staged) {
      auto plan = admin_->cluster_admin(node, "plan");
      bool listed = plan && std::find(plan.value().staged.begin(), plan.value().staged.end(), expect_staged) !=
                                plan.value().staged.end();
      if (!plan) *why = "plan: " + plan.error().to_string();
      if (listed) {
        auto commit = admin_->cluster_admin(node, "commit");
        if (commit) return true;
        *why = "commit: " + commit.error().to_string();
      } else if (plan) {
        *why = "the plan does not list '" + expect_staged + "' yet";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return false;
}

// Churn, first half: the node leaves (staged, planned, committed); it hands
// its partitions off and stops by itself.
bool Runner::leave(Fault& fault) {
  int x = fault.nodes.at(0);
  std::string why;
  const auto& n = cluster_->node(x);
  if (!stage_and_commit(cluster_->node(0).client_address(), "leave", {n.full_name()}, "leave " + n.full_name(), &why)) {
    (void)admin_->cluster_admin(cluster_->node(0).client_address(), "clear");
    event("note", "churn", n.name + " could not leave (" + why + "): skipped");
    fault.kind = "none";
  }
  return true;
}

// Churn, second half: once the node has stopped, it starts with an empty
// data directory, asks to join, and the join is committed.
bool Runner::rejoin(const Fault& fault) {
  int x = fault.nodes.at(0);
  auto& n = cluster_->node(x);
  auto deadline = Clock::now() + std::chrono::seconds(180);
  while (cluster_->running(x)) {
    if (Clock::now() > deadline || g_interrupted.load()) {
      tool_error(n.name + " did not finish leaving within 180 s (see " + n.log + ")");
      return false;
    }
    progress(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::string error;
  n.alone = true;
  if (!cluster_->wipe(x, &error) || !cluster_->start(x, &error) || !cluster_->wait_ready(x, 60'000, &error)) {
    tool_error("rejoin of " + n.name + " failed: " + error);
    return false;
  }
  // The admin client may still avoid the node's address for a moment after its restart.
  auto joined = admin_->cluster_admin(n.client_address(), "join", {cluster_->node(0).full_name()});
  for (int attempt = 0; !joined && attempt < 40 && !g_interrupted.load(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    joined = admin_->cluster_admin(n.client_address(), "join", {cluster_->node(0).full_name()});
  }
  if (!joined) {
    tool_error("join of " + n.name + " failed: " + joined.error().to_string());
    return false;
  }
  std::string why;
  if (!stage_and_commit(cluster_->node(0).client_address(), "", {}, "join " + n.full_name(), &why)) {
    tool_error("the join of " + n.name + " was not committed: " + why);
    return false;
  }
  return true;
}

bool Runner::heal(const Fault& fault) {
  std::string error;
  if (fault.kind == "partition") {
    if (!cluster_->heal(&error)) {
      tool_error(error);
      return false;
    }
  } else if (fault.kind == "crash" || fault.kind == "amnesia") {
    for (int i : fault.nodes) {
      if (!cluster_->start(i, &error) || !cluster_->wait_ready(i, 60'000, &error)) {
        tool_error("restart failed: " + error);
        return false;
      }
    }
  } else if (fault.kind == "pause") {
    for (int i : fault.nodes) cluster_->resume(i);
  } else if (fault.kind == "churn") {
    return rejoin(fault);
  } else if (fault.kind == "clock") {
    for (int i : fault.nodes) cluster_->set_clock_offset(i, 0, &error);
  }
  return true;
}

void Runner::run_faults() {
  std::vector<std::string> names;
  for (int i = 0; i < cluster_->size(); ++i) names.push_back(cluster_->node(i).name);
  for (auto& window : schedule_) {
    if (!wait_until(window.start_s, nullptr)) return;
    std::string what;
    bool strobe = false;
    for (auto& fault : window.faults) {
      std::string detail = fault.describe(names);
      if (!apply(fault)) return;
      double at = elapsed_s();
      event("start", fault.kind, fault.describe(names) + (fault.kind == "partition" ? " (drop verified)" : ""));
      windows_.push_back({at, at, fault.kind, fault.describe(names), true});
      what += (what.empty() ? "" : " + ") + fault.kind + " " + fault.describe(names);
      if (fault.kind == "clock" && fault.mode == "strobe") strobe = true;
    }
    current_fault_ = what;
    std::size_t first = windows_.size() - window.faults.size();
    if (!wait_until(window.end_s, strobe ? &window : nullptr)) return;
    for (std::size_t k = 0; k < window.faults.size(); ++k) {
      const auto& fault = window.faults[k];
      if (!heal(fault)) return;
      windows_[first + k].end_s = elapsed_s();
      event("stop", fault.kind,
            fault.kind == "partition"                          ? "healed (connects pass again)"
            : fault.kind == "crash" || fault.kind == "amnesia" ? "restarted " + fault.describe(names).substr(8)
            : fault.kind == "pause"                            ? "SIGCONT"
            : fault.kind == "churn"                            ? "joined again (commit done)"
                                                               : "clocks reset");
    }
    current_fault_ = "none";
  }
  wait_until(options_.time_s, nullptr);
}

bool Runner::final_reads(std::vector<std::string>* disagreements) {
  disagreements->clear();
  net::RequestOptions all;
  all.r = net::Quorum::all();
  all.timeout_ms = 10'000;
  std::vector<std::unique_ptr<Client>> readers;
  for (int i = 0; i < cluster_->size(); ++i) {
    auto c = Client::connect({.nodes = {cluster_->node(i).client_address()},
                              .timeout_ms = 12'000,
                              .retries = 0,
                              .route_by_ring = false,
                              .connect_timeout_ms = 5'000});
    if (!c) {
      disagreements->push_back(cluster_->node(i).name + " does not answer: " + c.error().to_string());
      return false;
    }
    readers.push_back(std::move(c.value()));
  }
  for (auto& w : workloads_) {
    for (const auto& k : w->keys()) {
      auto key = w->key(k);
      std::string where = w->name() + " key " + k;
      // Each replica's own copy first: a coordinated read would repair them.
      auto replicas = admin_->replica_get(key);
      std::optional<FinalView> agreed;
      bool ok = true;
      if (!replicas) {
        disagreements->push_back(where + ": replica read failed: " + replicas.error().to_string());
        ok = false;
      } else {
        for (const auto& r : replicas.value()) {
          if (!r.error.empty() || !r.primary) {
            disagreements->push_back(where + ": replica " + r.node + " " +
                                     (r.error.empty() ? "is a fallback" : "failed: " + r.error));
            ok = false;
            continue;
          }
          auto v = final_view(r.object);
          if (!agreed) {
            agreed = v;
          } else if (!(v == *agreed)) {
            disagreements->push_back(where + ": replica " + r.node + " holds " + describe(v) + ", another " +
                                     describe(*agreed));
            ok = false;
          }
        }
      }
      // Then r=all through every node as coordinator.
      std::optional<FinalView> coordinated;
      for (int i = 0; i < cluster_->size(); ++i) {
        auto got = readers[static_cast<std::size_t>(i)]->get(key, all);
        if (!got) {
          disagreements->push_back(where + ": r=all through " + cluster_->node(i).name +
                                   " failed: " + got.error().to_string());
          ok = false;
          continue;
        }
        auto v = final_view(got.value());
        if (!coordinated) {
          coordinated = v;
        } else if (!(v == *coordinated)) {
          disagreements->push_back(where + ": r=all through " + cluster_->node(i).name + " reads " + describe(v) +
                                   ", through another node " + describe(*coordinated));
          ok = false;
        }
      }
      if (coordinated && agreed && !(*coordinated == *agreed)) {
        disagreements->push_back(where + ": the replicas hold " + describe(*agreed) + ", coordinators read " +
                                 describe(*coordinated));
        ok = false;
      }
      w->record_final(k, coordinated ? coordinated : agreed);
      (void)ok;
    }
  }
  return disagreements->empty();
}

void Runner::final_phase() {
  log("final phase: healing everything, restarting what is down, waiting for convergence");
  double heal_start = elapsed_s();
  std::string error;
  if (!cluster_->heal(&error)) return tool_error(error);
  for (int i = 0; i < cluster_->size(); ++i) {
    cluster_->resume(i);
    if (faketime_) cluster_->set_clock_offset(i, 0, &error);
    if (!cluster_->running(i)) {
      if (!cluster_->start(i, &error) || !cluster_->wait_ready(i, 60'000, &error))
        return tool_error("restart failed: " + error);
    }
  }
  event("stop", "all", "healed, every node running");
  auto deadline = heal_start + options_.converge_timeout_s;
  std::string why = "not checked";
  std::vector<std::string> disagreements;
  bool converged = false;
  while (elapsed_s() < deadline && !g_interrupted.load()) {
    int left_ms = static_cast<int>((deadline - elapsed_s()) * 1000);
    if (!all_reachable(std::min(left_ms, 5'000))) {
      why = "not every node sees every other as reachable";
      continue;
    }
    if (!wait_in_sync(std::min(left_ms, 5'000), &why)) continue;
    if (final_reads(&disagreements)) {
      converged = true;
      break;
    }
    why = disagreements.front();
  }
  ReportFinding f;
  f.checker = "convergence";
  if (converged) {
    convergence_s_ = elapsed_s() - heal_start;
    f.summary = "every replica and every coordinator (r=all) agree on every key; merkle roots equal; converged " +
                fmt("%.1f", convergence_s_) + " s after healing";
  } else {
    f.ok = false;
    // One last read so the checkers have final values.
    final_reads(&disagreements);
    f.summary = "did not converge within " + fmt("%.0f", options_.converge_timeout_s) + " s: " + why;
    f.details = disagreements;
  }
  log("convergence: " + f.summary);
  findings_.push_back(f);
}

int Runner::run() {
  started_at_ = now_iso8601();
  for (const auto& name : scenario_.workloads) workloads_.push_back(make_workload(name));
  bool root = ::geteuid() == 0;
  for (const auto& kind : scenario_.nemeses) {
    if (kind == "partition" && !root) {
      notes_.push_back("not root: no network namespace, so no partitions (process faults only); partitions=0");
      continue;
    }
    kinds_.push_back(kind);
  }
  std::error_code ec;
  fs::create_directories(options_.report_dir, ec);
  if (ec) {
    std::fprintf(stderr, "shoal-chaos: cannot create %s: %s\n", options_.report_dir.c_str(), ec.message().c_str());
    std::printf("verdict: FAIL lost=0 unexpected=0 resurrected=0 partitions=0\n");
    return 2;
  }
  if (!start_cluster()) {
    std::printf("verdict: FAIL lost=0 unexpected=0 resurrected=0 partitions=0\n");
    return 2;
  }
  if (std::find(kinds_.begin(), kinds_.end(), "clock") != kinds_.end() && !faketime_) {
    kinds_.erase(std::find(kinds_.begin(), kinds_.end(), "clock"));
    notes_.push_back("libfaketime is not installed (Debian package faketime): no clock faults");
  }
  request_.r = net::Quorum::majority();
  request_.w = net::Quorum::majority();
  request_.dw = net::Quorum::majority();
  request_.timeout_ms = 2'000;
  consistency_ = "n_val=3 r=quorum w=quorum dw=quorum, request timeout 2 s, one client per node and workload";

  ScheduleOptions so;
  so.nodes = options_.nodes;
  so.duration_s = options_.time_s;
  so.kinds = kinds_;
  so.compose = scenario_.compose;
  schedule_ = make_schedule(so, options_.seed);

  std::printf("shoal-chaos: scenario %s (%s)\n", scenario_.name.c_str(), scenario_.description.c_str());
  std::printf("  seed %llu (replay with --seed %llu), %d nodes, %.0f s of faults, report in %s\n",
              static_cast<unsigned long long>(options_.seed), static_cast<unsigned long long>(options_.seed),
              options_.nodes, options_.time_s, options_.report_dir.c_str());
  std::printf("  cluster: %s\n", cluster_->partitions_possible()
                                     ? ("network namespace " + cluster_->netns() + ", nodes on 127.0.0.2..").c_str()
                                     : "127.0.0.1 (not root: no partitions)");
  std::printf("  workloads: ");
  for (const auto& w : scenario_.workloads) std::printf("%s ", w.c_str());
  std::printf(" (%s)\n  nemeses: ", consistency_.c_str());
  for (const auto& k : kinds_) std::printf("%s ", k.c_str());
  std::printf("\n");
  for (const auto& n : notes_) std::printf("  note: %s\n", n.c_str());
  std::printf("  schedule:\n");
  {
    std::vector<std::string> names;
    for (int i = 0; i < cluster_->size(); ++i) names.push_back(cluster_->node(i).name);
    for (const auto& w : schedule_)
      for (const auto& f : w.faults)
        std::printf("    %6.1fs-%6.1fs %-9s %s\n", w.start_s, w.end_s, f.kind.c_str(), f.describe(names).c_str());
  }
  std::fflush(stdout);

  std::string error;
  if (!cluster_->start_all(&error)) {
    tool_error(error);
    return finish();
  }
  {
    auto admin = Client::connect({.nodes = cluster_->client_addresses(),
                                  .timeout_ms = 10'000,
                                  .retries = 2,
                                  .route_by_ring = false,
                                  .connect_timeout_ms = 10'000});
    if (!admin) {
      tool_error("cannot connect to the cluster: " + admin.error().to_string());
      return finish();
    }
    admin_ = std::move(admin.value());
  }
  if (!all_reachable(30'000)) {
    tool_error("the nodes did not all see each other within 30 s");
    return finish();
  }
  history_ = std::make_unique<History>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
  log("cluster up: " + std::to_string(cluster_->size()) + " nodes; running workloads");

  WorkloadContext ctx;
  ctx.history = history_.get();
  ctx.stop = &stop_workloads_;
  ctx.request = request_;
  int process = 0;
  for (auto& w : workloads_) {
    for (int i = 0; i < cluster_->size(); ++i) {
      auto c = Client::connect({.nodes = {cluster_->node(i).client_address()},
                                .timeout_ms = 3'000,
                                .retries = 0,
                                .route_by_ring = false,
                                .node_backoff_ms = 200,
                                .connect_timeout_ms = 5'000});
      if (!c) {
        tool_error("cannot connect a client to " + cluster_->node(i).name + ": " + c.error().to_string());
        stop_workloads_ = true;
        break;
      }
      clients_.push_back(std::move(c.value()));
      Client* client = clients_.back().get();
      Workload* workload = w.get();
      std::string node = cluster_->node(i).name;
      std::uint64_t seed = options_.seed * 1000003 + static_cast<std::uint64_t>(process);
      threads_.emplace_back([workload, client, node, ctx, seed, p = process, n = cluster_->size()] {
        workload->run_client(p, n, *client, node, ctx, seed);
      });
      ++process;
    }
  }
  if (!tool_error_) run_faults();
  fault_phase_s_ = elapsed_s();
  stop_workloads_ = true;
  for (auto& t : threads_) t.join();
  progress(true);
  if (::isatty(1)) std::printf("\n");
  if (!tool_error_ && !g_interrupted.load()) final_phase();
  return finish();
}

int Runner::finish() {
  if (g_interrupted.load()) tool_error("interrupted: stopping every node and removing the namespace");
  std::vector<Op> ops = history_ ? history_->ops() : std::vector<Op>{};
  // Checkers (only after a complete run: a partial one has no final state).
  std::int64_t lost = 0, unexpected = 0, resurrected = 0;
  bool anomalies = false;
  bool clock_skew = std::find(kinds_.begin(), kinds_.end(), "clock") != kinds_.end();
  if (!tool_error_) {
    for (const auto& w : workloads_) {
      std::vector<Op> mine;
      for (const auto& op : ops)
        if (op.workload == w->name()) mine.push_back(op);
      auto r = w->check(mine, clock_skew);
      lost += r.lost;
      unexpected += r.unexpected;
      resurrected += r.resurrected;
      ReportFinding f{r.checker, r.ok, r.summary, r.details};
      if (w->negative_control()) {
        if (r.lost == 0) {
          tool_error("the negative control lost no writes: its checker or the fault injection is broken");
          f.summary += " -- expected lost writes, found none";
        } else {
          f.summary += " -- lost writes, as a last-write-wins read-modify-write must: the checker works";
        }
      }
      if (!r.ok) anomalies = true;
      findings_.push_back(f);
    }
    for (const auto& f : findings_)
      if (!f.ok) anomalies = true;
  }

  // Summary table: per workload and operation.
  std::vector<std::vector<std::string>> table = {
      {"workload", "op", "total", "ok", "fail", "info", "avail. in faults", "avail. otherwise"}};
  std::map<std::pair<std::string, std::string>, std::array<std::int64_t, 7>> counts;
  auto in_fault = [&](std::int64_t t_us) {
    double t = static_cast<double>(t_us) / 1e6;
    for (const auto& w : windows_)
      if (t >= w.start_s && t <= w.end_s) return true;
    return false;
  };
  for (const auto& op : ops) {
    auto& c = counts[{op.workload, op.f}];
    // 0 total, 1 ok, 2 fail, 3 info, 4 invoked in a fault window, 5 of those ok, 6 invoked outside
    ++c[0];
    ++c[1 + static_cast<std::size_t>(op.outcome)];
    if (in_fault(op.invoke_us)) {
      ++c[4];
      if (op.outcome == Outcome::ok) ++c[5];
    } else {
      ++c[6];
    }
  }
  auto pct = [](std::int64_t part, std::int64_t whole) {
    return whole == 0 ? std::string("-")
                      : fmt("%.2f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  };
  for (const auto& [k, c] : counts) {
    std::int64_t ok_in_fault = c[5];
    table.push_back({k.first, k.second, std::to_string(c[0]), std::to_string(c[1]), std::to_string(c[2]),
                     std::to_string(c[3]), pct(ok_in_fault, c[4]), pct(c[1] - ok_in_fault, c[6])});
  }

  int exit_code = tool_error_ ? 2 : anomalies ? 1 : 0;
  char verdict[256];
  std::snprintf(verdict, sizeof verdict, "verdict: %s lost=%lld unexpected=%lld resurrected=%lld partitions=%d",
                exit_code == 0 ? "PASS" : "FAIL", static_cast<long long>(lost), static_cast<long long>(unexpected),
                static_cast<long long>(resurrected), verified_partitions_);

  // Files.
  std::string error;
  if (history_ && !history_->write_jsonl(options_.report_dir + "/history.jsonl", &error))
    std::fprintf(stderr, "shoal-chaos: %s\n", error.c_str());
  ReportInput in;
  in.scenario = scenario_.name;
  in.description = scenario_.description;
  in.seed = std::to_string(options_.seed);
  in.started_at = started_at_;
  in.duration_s = fault_phase_s_ > 0 ? fault_phase_s_ : options_.time_s;
  in.nodes = options_.nodes;
  in.consistency = consistency_;
  in.nemeses = kinds_;
  in.workloads = scenario_.workloads;
  for (const auto& op : ops)
    in.ops.push_back(
        {op.process, op.workload + " " + op.f, outcome_name(op.outcome), static_cast<double>(op.invoke_us) / 1e6,
         static_cast<double>(op.complete_us - op.invoke_us) / 1000.0, op.node, op.key, op.value, op.error});
  in.windows = windows_;
  in.findings = findings_;
  if (tool_error_) in.findings.push_back({"tool", false, tool_error_message_, notes_});
  in.summary = table;
  in.nemesis_log = nemesis_log_;
  for (const auto& n : notes_) in.nemesis_log.push_back("note: " + n);
  in.convergence_s = convergence_s_;
  in.verdict = verdict;
  {
    std::ofstream out(options_.report_dir + "/report.html", std::ios::trunc);
    out << render_report(in);
  }
  std::error_code ec;
  if (!options_.keep_data && cluster_) {
    cluster_->cleanup();
    for (int i = 0; i < cluster_->size(); ++i) fs::remove_all(cluster_->node(i).data_dir, ec);
  }
  if (cluster_) cluster_->cleanup();

  // Terminal summary.
  std::printf("\n");
  std::vector<std::size_t> widths(table[0].size(), 0);
  for (const auto& row : table)
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  for (const auto& row : table) {
    for (std::size_t i = 0; i < row.size(); ++i)
      std::printf(i < 2 ? "%-*s  " : "%*s  ", static_cast<int>(widths[i]), row[i].c_str());
    std::printf("\n");
  }
  std::printf("\nfault windows: %zu (%d partitions verified by a connect test)\n", windows_.size(),
              verified_partitions_);
  for (const auto& f : findings_) {
    std::printf("%s %-11s %s\n", f.ok ? "ok  " : "FAIL", f.checker.c_str(), f.summary.c_str());
    std::size_t shown = 0;
    for (const auto& d : f.details) {
      if (!f.ok || d.rfind("stable", 0) == 0 || d.rfind("final value", 0) == 0) {
        if (++shown > 10) {
          std::printf("       ... and more in the report\n");
          break;
        }
        std::printf("       %s\n", d.c_str());
      }
    }
  }
  if (convergence_s_ >= 0) std::printf("convergence: %.1f s after healing\n", convergence_s_);
  if (tool_error_) std::printf("tool error: %s\n", tool_error_message_.c_str());
  std::printf("report: %s/report.html\nhistory: %s/history.jsonl\n", options_.report_dir.c_str(),
              options_.report_dir.c_str());
  std::printf("%s\n", verdict);
  std::fflush(stdout);
  return exit_code;
}

int list_scenarios() {
  for (const auto& s : scenarios()) {
    std::string nemeses, workloads;
    for (const auto& n : s.nemeses) nemeses += (nemeses.empty() ? "" : ",") + n;
    for (const auto& w : s.workloads) workloads += (workloads.empty() ? "" : ",") + w;
    std::printf("%-22s %s\n%-22s workloads: %s; faults: %s%s\n", s.name.c_str(), s.description.c_str(), "",
                workloads.c_str(), nemeses.c_str(), s.compose ? " (sometimes two at once)" : "");
  }
  return 0;
}

int main_impl(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "scenarios") return list_scenarios();
  if (args[0] != "run") {
    std::fprintf(stderr, "shoal-chaos: unknown command '%s' (commands: run, scenarios)\n", args[0].c_str());
    return 2;
  }
  Options o;
  o.shoald = self_dir() + "/shoald";
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "shoal-chaos: %s needs a value\n", a.c_str());
        return std::nullopt;
      }
      return args[++i];
    };
    std::optional<std::string> v;
    if (a == "--keep-data") {
      o.keep_data = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
    if (!(v = value())) return 2;
    if (a == "--scenario") {
      o.scenario = *v;
    } else if (a == "--time" || a == "--converge-timeout") {
      auto d = parse_duration(*v);
      if (!d || *d < 5 || *d > 24 * 3600) {
        std::fprintf(stderr, "shoal-chaos: %s must be a duration of 5s..24h, like 120s or 2m (got '%s')\n", a.c_str(),
                     v->c_str());
        return 2;
      }
      (a == "--time" ? o.time_s : o.converge_timeout_s) = *d;
    } else if (a == "--nodes") {
      try {
        std::size_t used = 0;
        o.nodes = std::stoi(*v, &used);
        if (used != v->size()) throw std::invalid_argument("");
      } catch (...) {
        o.nodes = 0;
      }
      if (o.nodes < 3 || o.nodes > 9) {
        std::fprintf(stderr, "shoal-chaos: --nodes must be 3..9 (got '%s')\n", v->c_str());
        return 2;
      }
    } else if (a == "--seed") {
      try {
        std::size_t used = 0;
        o.seed = std::stoull(*v, &used);
        if (used != v->size() || (*v)[0] == '-') throw std::invalid_argument("");
      } catch (...) {
        std::fprintf(stderr, "shoal-chaos: --seed must be a non-negative integer (got '%s')\n", v->c_str());
        return 2;
      }
      o.seed_given = true;
    } else if (a == "--report") {
      o.report_dir = *v;
    } else if (a == "--shoald") {
      o.shoald = *v;
    } else {
      std::fprintf(stderr, "shoal-chaos: unknown option %s (see shoal-chaos --help)\n", a.c_str());
      return 2;
    }
  }
  if (o.scenario.empty()) {
    std::fprintf(stderr, "shoal-chaos: run needs --scenario NAME (shoal-chaos scenarios lists them)\n");
    return 2;
  }
  const Scenario* scenario = find_scenario(o.scenario);
  if (!scenario) {
    std::fprintf(stderr, "shoal-chaos: unknown scenario '%s' (shoal-chaos scenarios lists them)\n", o.scenario.c_str());
    return 2;
  }
  if (::access(o.shoald.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "shoal-chaos: cannot run %s (build shoald, or pass --shoald PATH)\n", o.shoald.c_str());
    return 2;
  }
  if (!o.seed_given) o.seed = std::random_device{}() % 1'000'000'000;
  if (o.report_dir.empty()) o.report_dir = "chaos-reports/" + o.scenario + "-" + stamp();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  Runner runner(o, *scenario);
  return runner.run();
}

}  // namespace
}  // namespace shoal::chaos

int main(int argc, char** argv) { return shoal::chaos::main_impl(argc, argv); }
