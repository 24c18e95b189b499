// A Shoal node: everything `shoald` runs, assembled from its config.
//
// start() locks the data directory (refusing one that another live process
// holds, that is unreadable, of another format version, or of another
// cluster or node), loads the persisted ring or founds one from the
// --cluster list (every founder computes the same ring; the persisted ring
// wins on restart), opens the node's LMDB environment, spawns one vnode
// actor per partition this node owns and the router, and starts the
// schedulers. shutdown() stops admitting requests, waits for the ones in
// flight (up to shutdown_drain_ms), stops every actor (vnodes flush and
// close their storage) and closes the environment.
//
// Data directory layout (docs/operations.md):
//   LOCK        flock()ed by the running node; holds its pid
//   node.meta   "shoal-node <format> <cluster> <node>" (one line)
//   ring        the encoded ring (written atomically on every change)
//   metadata    the cluster metadata: bucket types (likewise)
//   repairs     partitions this node must rebuild from their replicas
//   joining     the node this one asked to join, until the join is committed
//   lmdb/       the LMDB environment
//
// Thread-safety: start/shutdown from one thread (the process's main).
#pragma once

#include <zmq.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "base/result.hpp"
#include "core/cluster_state.hpp"
#include "core/config.hpp"
#include "core/router.hpp"
#include "core/runtime.hpp"
#include "core/stats.hpp"
#include "ring/ring.hpp"
#include "storage/lmdb_engine.hpp"

namespace shoal::core {

inline constexpr std::uint32_t kNodeFormatVersion = 1;

struct VnodeServices;

class Node {
 public:
  static Result<std::unique_ptr<Node>> start(NodeConfig config);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Graceful stop; idempotent.
  void shutdown();
  // Set when supervision gave up (the vnode set kept crashing): the process
  // should exit non-zero so its own supervisor restarts it.
  bool failed() const { return failed_.load(); }
  std::string failure() const;
  // Set when the node left the cluster (leave completed, or it was
  // removed): the process should stop, with status 0.
  bool exit_requested() const { return exit_requested_.load(); }
  const NodeConfig& config() const { return config_; }
  // The node's ZeroMQ context: a front end in this process connects to
  // config().client_inproc through it. Valid until shutdown().
  zmq::context_t* zmq_context() { return zmq_.get(); }

 private:
  explicit Node(NodeConfig config);
  Result<void> lock_data_dir();
  Result<void> check_meta();
  Result<ring::Ring> load_or_found_ring();
  Result<ClusterMetadata> load_metadata();
  Result<std::map<std::uint32_t, std::map<std::uint32_t, std::set<std::uint32_t>>>> load_repairs();
  Result<ActorRef> spawn_vnode(std::uint32_t partition);
  void retire_vnode(ActorRef ref, std::uint32_t partition);
  void escalate(ActorRef ref, const std::string& reason);

  NodeConfig config_;
  int lock_fd_ = -1;
  NodeStats stats_;
  std::unique_ptr<zmq::context_t> zmq_;
  std::shared_ptr<storage::LmdbEnvironment> storage_;
  std::unique_ptr<Runtime> runtime_;
  Router* router_ = nullptr;  // owned by the runtime
  ActorRef router_ref_ = kNoActor;
  std::shared_ptr<const VnodeServices> vnode_services_;
  std::mutex vnodes_mutex_;  // vnode_refs_: the router adds and retires, escalation reads
  std::vector<ActorRef> vnode_refs_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> exit_requested_{false};
  std::atomic<int> escalations_{0};
  mutable std::mutex failure_mutex_;
  std::string failure_;
  bool stopped_ = false;
};

// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
Result<void> write_file_atomically(const std::string& path, std::string_view bytes);
Result<std::string> read_file(const std::string& path, std::size_t bytes_max);

}  // namespace shoal::core
