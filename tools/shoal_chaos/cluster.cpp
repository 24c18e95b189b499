#include "tools/shoal_chaos/cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "net/client/client.hpp"

extern char** environ;

namespace shoal::chaos {

namespace fs = std::filesystem;

namespace {

constexpr const char* kNetnsPrefix = "shoal-chaos-";

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return 0;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct Probe {
  std::string from, to;
  int port = 0;
};

// Connects from each probe's `from` (an address of this namespace) to
// to:port, all at once. Per probe: "dropped" when nothing answered within
// the timeout, "open" when the connection was accepted or refused (a
// refusal is a packet that got through), "error: ..." when the test itself
// could not run.
std::vector<std::string> probe_all(const std::vector<Probe>& probes, int timeout_ms) {
  std::vector<std::string> result(probes.size(), "dropped");
  std::vector<pollfd> fds(probes.size(), pollfd{-1, POLLOUT, 0});
  for (std::size_t i = 0; i < probes.size(); ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      result[i] = std::string("error: socket: ") + std::strerror(errno);
      continue;
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, probes[i].from.c_str(), &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<std::uint16_t>(probes[i].port));
    ::inet_pton(AF_INET, probes[i].to.c_str(), &remote.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      result[i] = std::string("error: bind ") + probes[i].from + ": " + std::strerror(errno);
      ::close(fd);
      continue;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0 || errno == ECONNREFUSED) {
      result[i] = "open";
      ::close(fd);
      continue;
    }
    if (errno != EINPROGRESS) {
      result[i] = std::string("error: connect: ") + std::strerror(errno);
      ::close(fd);
      continue;
    }
    fds[i].fd = fd;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready <= 0) break;
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].fd >= 0 && fds[i].revents) {
        result[i] = "open";
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
  }
  for (auto& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  return result;
}
}  // namespace

ChaosCluster::ChaosCluster(ClusterOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.nodes; ++i) {
    Node n;
    n.name = "n" + std::to_string(i + 1);
    if (options_.use_netns) {
      n.host = "127.0.0." + std::to_string(i + 2);
      n.peer_port = kPeerPort;
      n.client_port = kClientPort;
    } else {
      n.host = "127.0.0.1";
      n.peer_port = free_port();
      n.client_port = free_port();
    }
    n.data_dir = options_.work_dir + "/" + n.name;
    n.log = options_.work_dir + "/" + n.name + ".log";
    n.clock_file = options_.work_dir + "/" + n.name + ".clock";
    nodes_.push_back(std::move(n));
  }
}

ChaosCluster::~ChaosCluster() { cleanup(); }

int ChaosCluster::run_program(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t got = ::read(pipefd[0], buf, sizeof buf);
    if (got > 0) {
      out.append(buf, static_cast<std::size_t>(got));
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ChaosCluster::setup(std::string* error) {
  fs::create_directories(options_.work_dir);
  if (!options_.use_netns) return true;
  // Namespaces of runs whose tool is gone.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/run/netns", ec)) {
    std::string name = entry.path().filename();
    if (name.rfind(kNetnsPrefix, 0) != 0) continue;
    auto pid = std::atoi(name.c_str() + std::strlen(kNetnsPrefix));
    if (pid > 0 && ::kill(pid, 0) == 0) continue;
    std::string pids;
    run_program({"ip", "netns", "pids", name}, &pids);
    std::istringstream in(pids);
    for (int p; in >> p;) ::kill(p, SIGKILL);
    run_program({"ip", "netns", "del", name});
    std::fprintf(stderr, "removed the stale namespace %s of an earlier run\n", name.c_str());
  }
  netns_ = kNetnsPrefix + std::to_string(::getpid());
  std::string out;
  if (run_program({"ip", "netns", "add", netns_}, &out) != 0) {
    *error = "ip netns add " + netns_ + " failed: " + out;
    netns_.clear();
    return false;
  }
  int fd = ::open(("/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    *error = "cannot enter the namespace " + netns_ + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  ::close(fd);
  if (run_program({"ip", "link", "set", "lo", "up"}, &out) != 0) {
    *error = "ip link set lo up failed in " + netns_ + ": " + out;
    return false;
  }
  if (run_program({"iptables", "-w", "-F", "INPUT"}, &out) != 0) {
    *error = "iptables does not work in the namespace: " + out;
    return false;
  }
  return true;
}

std::vector<std::string> ChaosCluster::client_addresses() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n.client_address());
  return out;
}

pid_t ChaosCluster::spawn(const Node& node) {
  std::string members;
  for (const auto& n : nodes_) members += (members.empty() ? "" : ",") + n.full_name();
  std::vector<std::string> argv = {options_.shoald,       "--name", node.full_name(), "--client-listen",
                                   node.client_address(), "--data", node.data_dir};
  if (!node.alone) {
    argv.push_back("--cluster");
    argv.push_back(members);
  }
  argv.insert(argv.end(), options_.node_args.begin(), options_.node_args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  if (options_.faketime) {
    if (!fs::exists(node.clock_file)) std::ofstream(node.clock_file) << "+0\n";
    env.push_back("LD_PRELOAD=" + options_.faketime_library);
    env.push_back("FAKETIME_TIMESTAMP_FILE=" + node.clock_file);
    env.push_back("FAKETIME_CACHE_DURATION=1");
    env.push_back("FAKETIME_DONT_FAKE_MONOTONIC=1");
    env.push_back("FAKETIME_DONT_RESET=1");
  }
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string log = node.log;
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, 0);
  ::execve(args[0], args.data(), envp.data());
  ::_exit(127);
}

bool ChaosCluster::start(int i, std::string* error) {
  auto& n = node(i);
  if (running(i)) return true;
  n.pid = spawn(n);
  n.paused = false;
  if (n.pid < 0) {
    *error = "fork failed for " + n.name;
    return false;
  }
  return true;
}

bool ChaosCluster::start_all(std::string* error) {
  for (int i = 0; i < size(); ++i)
    if (!start(i, error)) return false;
  for (int i = 0; i < size(); ++i)
    if (!wait_ready(i, 30'000, error)) return false;
  return true;
}

bool ChaosCluster::running(int i) {
  auto& n = node(i);
  if (n.pid <= 0) return false;
  int status = 0;
  if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {
    n.pid = -1;
    return false;
  }
  return true;
}

void ChaosCluster::kill9(int i) {
  auto& n = node(i);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  int status = 0;
  while (::waitpid(n.pid, &status, 0) < 0 && errno == EINTR) {
  }
  n.pid = -1;
  n.paused = false;
}

void ChaosCluster::pause(int i) {
  auto& n = node(i);
  if (n.pid > 0 && !n.paused && ::kill(n.pid, SIGSTOP) == 0) n.paused = true;
}

void ChaosCluster::resume(int i) {
  auto& n = node(i);
  if (n.pid > 0 && n.paused) ::kill(n.pid, SIGCONT);
  n.paused = false;
}

bool ChaosCluster::wipe(int i, std::string* error) {
  auto& n = node(i);
  if (running(i)) {
    *error = "cannot wipe " + n.name + ": it is running";
    return false;
  }
  std::error_code ec;
  fs::remove_all(n.data_dir, ec);
  if (ec) {
    *error = "cannot delete " + n.data_dir + ": " + ec.message();
    return false;
  }
  return true;
}

bool ChaosCluster::wait_ready(int i, int timeout_ms, std::string* error) {
  auto& n = node(i);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto client = client::Client::connect({.nodes = {n.client_address()},
                                         .timeout_ms = 1'000,
                                         .retries = 0,
                                         .route_by_ring = false,
                                         .connect_timeout_ms = static_cast<std::uint32_t>(timeout_ms)});
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running(i)) {
      *error = n.name + " exited during start; see " + n.log;
      return false;
    }
    if (client && client.value()->ping_with_timeout(n.client_address(), 1'000)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = n.name + " did not answer within " + std::to_string(timeout_ms) + " ms; see " + n.log;
  return false;
}

bool ChaosCluster::partition(const std::vector<std::pair<int, int>>& drops, std::string* error) {
  if (!options_.use_netns) {
    *error = "partitions need the network namespace (run as root)";
    return false;
  }
  std::string out;
  for (auto [a, b] : drops) {
    if (run_program({"iptables", "-w", "-A", "INPUT", "-s", node(a).host, "-d", node(b).host, "-j", "DROP"}, &out) !=
        0) {
      *error = "iptables failed: " + out;
      heal(&out);
      return false;
    }
  }
  std::vector<Probe> probes;
  for (auto [a, b] : drops) probes.push_back({node(a).host, node(b).host, node(b).peer_port});
  auto results = probe_all(probes, 300);
  for (std::size_t k = 0; k < drops.size(); ++k) {
    if (results[k] == "dropped") continue;
    auto [a, b] = drops[k];
    *error = "the partition did not take: a connect from " + node(a).name + " (" + node(a).host + ") to " +
             node(b).name + " (" + node(b).host + ":" + std::to_string(node(b).peer_port) + ") was " + results[k];
    heal(&out);
    return false;
  }
  return true;
}

bool ChaosCluster::heal(std::string* error) {
  if (!options_.use_netns) return true;
  std::string out;
  if (run_program({"iptables", "-w", "-F", "INPUT"}, &out) != 0) {
    *error = "iptables -F failed: " + out;
    return false;
  }
  // A healed pair must pass packets again.
  std::vector<Probe> probes;
  std::vector<std::pair<int, int>> pairs;
  for (int a = 0; a < size(); ++a)
    for (int b = 0; b < size(); ++b)
      if (a != b) {
        probes.push_back({node(a).host, node(b).host, node(b).peer_port});
        pairs.emplace_back(a, b);
      }
  auto results = probe_all(probes, 1'000);
  for (std::size_t k = 0; k < pairs.size(); ++k)
    if (results[k] != "open") {
      *error = "after healing, a connect from " + node(pairs[k].first).name + " to " + node(pairs[k].second).name +
               " was " + results[k];
      return false;
    }
  return true;
}

bool ChaosCluster::set_clock_offset(int i, double seconds, std::string* error) {
  if (!options_.faketime) {
    *error = "clock faults need libfaketime";
    return false;
  }
  auto& n = node(i);
  char text[32];
  std::snprintf(text, sizeof text, "%+.0f\n", seconds);
  std::string tmp = n.clock_file + ".tmp";
  { std::ofstream(tmp) << text; }
  std::error_code ec;
  fs::rename(tmp, n.clock_file, ec);
  if (ec) {
    *error = "cannot write " + n.clock_file + ": " + ec.message();
    return false;
  }
  return true;
}

void ChaosCluster::cleanup() {
  if (cleaned_) return;
  cleaned_ = true;
  for (int i = 0; i < size(); ++i) {
    resume(i);
    kill9(i);
  }
  if (!netns_.empty()) {
    std::string out;
    run_program({"iptables", "-w", "-F", "INPUT"}, &out);
    run_program({"ip", "netns", "del", netns_}, &out);
    netns_.clear();
  }
}

}  // namespace shoal::chaos
