// A cluster of real shoald processes on loopback for integration tests:
// free ports picked at start (so the suite runs beside a tools/up cluster),
// a temporary directory per cluster, nodes started, killed (SIGKILL),
// stopped (SIGTERM) and restarted by PID, and the shell run as a
// subprocess. Every process it started is killed when it goes away.
// Tests drive the nodes only through public interfaces: the client
// library, the shoal shell, sockets, and the command line.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/client/client.hpp"

extern char** environ;

namespace shoal::test {

inline std::string bin_dir() { return SHOAL_BIN_DIR; }

// A TCP port nobody listens on right now (the kernel picks it).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion, capturing stdout and stderr; `input` goes to stdin.
inline ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = {},
                                 int timeout_s = 60) {
  std::string dir = std::filesystem::temp_directory_path() /
                    ("shoal-run-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  std::string out_path = dir + "/out", err_path = dir + "/err", in_path = dir + "/in";
  { std::ofstream(in_path) << input; }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + argv[0]);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::stringstream o, e;
  o << std::ifstream(out_path).rdbuf();
  e << std::ifstream(err_path).rdbuf();
  result.out = o.str();
  result.err = e.str();
  std::filesystem::remove_all(dir);
  return result;
}

class Cluster {
 public:
  struct Node {
    std::string name;  // nI@HOST:PEER
    std::string host = "127.0.0.1";
    int peer_port = 0;
    int client_port = 0;
    std::string data_dir;
    std::string log;
    std::vector<std::string> extra;
    std::string secret = "test-secret";
    std::string cluster_list;  // --cluster for this node; empty: every member
    std::string cluster_name = "shoal";
    pid_t pid = -1;
    std::string client_address() const { return host + ":" + std::to_string(client_port); }
  };

  // `extra` flags go to every node (e.g. {"--ring-size", "16"}).
  // `hosts`: the loopback address of each node (default 127.0.0.1 for all).
  explicit Cluster(int nodes, std::vector<std::string> extra = {}, std::string tag = "cluster",
                   std::vector<std::string> hosts = {})
      : extra_(std::move(extra)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("shoal-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::create_directories(dir_);
    for (int i = 1; i <= nodes; ++i) {
      Node n;
      n.host = hosts.empty() ? "127.0.0.1" : hosts.at(static_cast<std::size_t>(i - 1));
      n.peer_port = free_port();
      n.client_port = free_port();
      n.name = "n" + std::to_string(i) + "@" + n.host + ":" + std::to_string(n.peer_port);
      n.data_dir = dir_ + "/n" + std::to_string(i);
      n.log = dir_ + "/n" + std::to_string(i) + ".log";
      nodes_.push_back(n);
    }
  }

  // A node that is not in the founding list: it starts alone (a cluster of
  // itself) until it joins. Returns its index; start it with start(i).
  std::size_t add_node(std::vector<std::string> extra = {}) {
    Node n;
    std::size_t i = nodes_.size() + 1;
    n.peer_port = free_port();
    n.client_port = free_port();
    n.name = "n" + std::to_string(i) + "@" + n.host + ":" + std::to_string(n.peer_port);
    n.data_dir = dir_ + "/n" + std::to_string(i);
    n.log = dir_ + "/n" + std::to_string(i) + ".log";
    n.cluster_list = n.name;
    n.extra = std::move(extra);
    nodes_.push_back(n);
    return nodes_.size() - 1;
  }

  // Waits for a node to exit by itself (after leaving the cluster); its exit code, or -1 on timeout.
  int wait_exit(std::size_t i, int timeout_s = 60) {
    Node& n = nodes_.at(i);
    if (n.pid <= 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {
        n.pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  ~Cluster() {
    for (auto& n : nodes_) kill9(n);
    if (std::getenv("SHOAL_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::string members() const {
    std::string out;
    for (const auto& n : nodes_) out += (out.empty() ? "" : ",") + n.name;
    return out;
  }

  std::vector<std::string> argv(const Node& n) const {
    std::vector<std::string> a = {bin_dir() + "/shoald",
                                  "--name",
                                  n.name,
                                  "--client-listen",
                                  n.client_address(),
                                  "--data",
                                  n.data_dir,
                                  "--cluster",
                                  n.cluster_list.empty() ? members() : n.cluster_list,
                                  "--cluster-secret",
                                  n.secret,
                                  "--cluster-name",
                                  n.cluster_name,
                                  "--enable-failpoints"};
    // Fast failure detection unless the test sets its own.
    for (const auto& [flag, value] :
         {std::pair<std::string, std::string>{"--heartbeat-interval-ms", "100"}, {"--peer-down-after-ms", "1000"}}) {
      if (std::find(extra_.begin(), extra_.end(), flag) == extra_.end()) {
        a.push_back(flag);
        a.push_back(value);
      }
    }
    for (const auto& e : extra_) a.push_back(e);
    for (const auto& e : n.extra) a.push_back(e);
    return a;
  }

  void start(std::size_t i) {
    Node& n = nodes_.at(i);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    auto args_s = argv(n);
    std::vector<char*> args;
    for (auto& a : args_s) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&n.pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start shoald");
  }

  void start_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) start(i);
    for (std::size_t i = 0; i < nodes_.size(); ++i) wait_ready(i);
    wait_connected();
  }

  // Waits until the node answers a ping.
  void wait_ready(std::size_t i, int timeout_s = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = run_process({bin_dir() + "/shoal", "-h", nodes_[i].client_address(), "ping", "--timeout-ms", "500"});
      if (r.exit_code == 0) return;
      if (!alive(i)) throw std::runtime_error("node " + nodes_[i].name + " exited:\n" + log(i));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("node " + nodes_[i].name + " did not answer:\n" + log(i));
  }

  // Waits until every running node sees every other running node reachable.
  void wait_connected(int timeout_s = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::string seen;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      seen.clear();
      for (std::size_t i = 0; i < nodes_.size() && all; ++i) {
        if (nodes_[i].pid < 0) continue;
        auto r = run_process({bin_dir() + "/shoal", "-h", nodes_[i].client_address(), "status", "--json"});
        std::size_t running = 0;
        for (const auto& n : nodes_) running += n.pid > 0;
        all = r.exit_code == 0 && r.out.find("\"members_reachable\": " + std::to_string(running)) != std::string::npos;
        if (!all) seen = nodes_[i].name + " (of " + std::to_string(running) + " running) answered:\n" + r.out + r.err;
      }
      if (all) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::string logs;
    for (std::size_t i = 0; i < nodes_.size(); ++i) logs += "--- log of " + nodes_[i].name + ":\n" + log_tail(i, 40);
    throw std::runtime_error("the nodes did not connect to each other; " + seen + logs);
  }

  // The last `lines` lines of a node's log.
  std::string log_tail(std::size_t i, std::size_t lines) const {
    std::string all = log(i);
    std::size_t start = all.size();
    for (std::size_t n = 0; n <= lines; ++n) {
      if (start == 0) return all;
      std::size_t nl = all.rfind('\n', start - 1);
      if (nl == std::string::npos) return all;
      start = nl;
    }
    return all.substr(start + 1);
  }

  bool alive(std::size_t i) {
    Node& n = nodes_[i];
    if (n.pid <= 0) return false;
    int status = 0;
    if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {
      exit_codes_.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      n.pid = -1;
      return false;
    }
    return true;
  }

  void kill9(std::size_t i) { kill9(nodes_.at(i)); }
  void kill9(Node& n) {
    if (n.pid <= 0) return;
    ::kill(n.pid, SIGKILL);
    ::waitpid(n.pid, nullptr, 0);
    n.pid = -1;
  }

  // SIGTERM and wait; returns the exit code.
  int stop(std::size_t i, int timeout_s = 30) {
    Node& n = nodes_.at(i);
    if (n.pid <= 0) return -1;
    ::kill(n.pid, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
      if (::waitpid(n.pid, &status, WNOHANG) == n.pid) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(n.pid, SIGKILL);
        ::waitpid(n.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    n.pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void restart(std::size_t i) {
    start(i);
    wait_ready(i);
  }

  std::string log(std::size_t i) const {
    std::stringstream s;
    s << std::ifstream(nodes_[i].log).rdbuf();
    return s.str();
  }

  std::unique_ptr<client::Client> client(std::vector<std::size_t> which = {}, std::uint32_t timeout_ms = 10'000) {
    client::ClientOptions options;
    if (which.empty())
      for (std::size_t i = 0; i < nodes_.size(); ++i) which.push_back(i);
    for (auto i : which) options.nodes.push_back(nodes_[i].client_address());
    options.timeout_ms = timeout_ms;
    auto c = client::Client::connect(options);
    if (!c) throw std::runtime_error("client: " + c.error().to_string());
    return std::move(c).value();
  }

  // Runs the shell against node i.
  ProcessResult shell(std::size_t i, std::vector<std::string> args, const std::string& input = {}) {
    std::vector<std::string> argv = {bin_dir() + "/shoal", "-h", nodes_[i].client_address()};
    for (auto& a : args) argv.push_back(std::move(a));
    return run_process(argv, input);
  }

  Node& node(std::size_t i) { return nodes_.at(i); }
  std::size_t size() const { return nodes_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  std::vector<Node> nodes_;
  std::vector<int> exit_codes_;
};

// A counter of `shoal status` on node i (a test fails without it).
inline std::int64_t status_number(Cluster& cluster, std::size_t node, const std::string& name) {
  auto c = cluster.client({node});
  auto status = c->status(cluster.node(node).client_address());
  if (!status) throw std::runtime_error("status: " + status.error().to_string());
  for (const auto& [n, v] : status.value())
    if (n == name) return v.number;
  throw std::runtime_error("no status value " + name);
}

// Polls `condition` until it holds or `timeout_ms` passes.
inline bool eventually(const std::function<bool()>& condition, int timeout_ms = 10'000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

}  // namespace shoal::test
