// The cluster under test: real shoald processes, each on its own loopback
// address (127.0.0.2, 127.0.0.3, ...) inside a private network namespace
// the tool creates, so that partitions are real packet drops (iptables
// rules in that namespace), verified by a connect test before they count.
// Without root it runs the nodes on 127.0.0.1 and offers process faults
// only. Every process it starts dies with it (PR_SET_PDEATHSIG) and is
// killed by PID on cleanup; the namespace goes with the tool.
//
// Not thread-safe: the tool's main thread drives it (the nemesis runs
// there); processes are started from that thread so that their
// parent-death signal is tied to a thread that lives to the end.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace shoal::chaos {

struct ClusterOptions {
  int nodes = 5;
  std::string shoald;     // path of the shoald binary
  std::string work_dir;   // data directories and logs go here
  bool use_netns = true;  // false: 127.0.0.1, no partitions
  bool faketime = false;  // LD_PRELOAD libfaketime (clock nemesis)
  std::string faketime_library;
  std::vector<std::string> node_args;  // extra shoald arguments for every node
};

class ChaosCluster {
 public:
  struct Node {
    std::string name;  // n1, n2, ...
    std::string host;  // 127.0.0.2, ...
    int peer_port = 0;
    int client_port = 0;
    std::string data_dir;
    std::string log;
    std::string clock_file;  // libfaketime offset file
    pid_t pid = -1;
    bool paused = false;
    bool alone = false;  // start without --cluster (it joins a running cluster)
    std::string full_name() const { return name + "@" + host + ":" + std::to_string(peer_port); }
    std::string client_address() const { return host + ":" + std::to_string(client_port); }
  };

  explicit ChaosCluster(ClusterOptions options);
  ~ChaosCluster();
  ChaosCluster(const ChaosCluster&) = delete;
  ChaosCluster& operator=(const ChaosCluster&) = delete;

  // Removes namespaces of earlier runs whose tool is gone; with use_netns,
  // creates this run's namespace and moves the calling process into it
  // (call before any thread exists: threads created later inherit it).
  bool setup(std::string* error);
  const std::string& netns() const { return netns_; }
  bool partitions_possible() const { return options_.use_netns; }

  int size() const { return static_cast<int>(nodes_.size()); }
  Node& node(int i) { return nodes_.at(static_cast<std::size_t>(i)); }
  std::vector<std::string> client_addresses() const;

  bool start(int i, std::string* error);
  bool start_all(std::string* error);
  bool running(int i);
  void kill9(int i);
  void pause(int i);
  void resume(int i);
  // Deletes a stopped node's data directory (amnesia).
  bool wipe(int i, std::string* error);
  // Waits until the node answers a ping on its client port.
  bool wait_ready(int i, int timeout_ms, std::string* error);

  // Drops traffic from a to b for every pair (node indexes), then checks
  // each pair with a connect from a's address to b's peer port, which must
  // time out. False (and the rules removed) if a drop did not take.
  bool partition(const std::vector<std::pair<int, int>>& drops, std::string* error);
  bool heal(std::string* error);
  // Clock offset of one node in seconds (needs faketime); 0 resets.
  bool set_clock_offset(int i, double seconds, std::string* error);

  // Kills every node (resuming paused ones first) and removes the
  // namespace. Idempotent.
  void cleanup();

  // Runs a program (in the tool's namespace) and waits; exit status, or -1.
  static int run_program(const std::vector<std::string>& argv, std::string* output = nullptr);

 private:
  pid_t spawn(const Node& node);
  ClusterOptions options_;
  std::vector<Node> nodes_;
  std::string netns_;
  bool cleaned_ = false;
};

// Names of the ports shoald uses inside the namespace.
inline constexpr int kPeerPort = 7000;
inline constexpr int kClientPort = 8000;

}  // namespace shoal::chaos
