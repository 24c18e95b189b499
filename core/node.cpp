#include "core/node.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "base/failpoint.hpp"
#include "core/vnode.hpp"

namespace shoal::core {

namespace fs = std::filesystem;

namespace {

Error io_error(const std::string& what) { return make_error(Errc::io_error, what + ": " + std::strerror(errno)); }

}  // namespace

Result<void> write_file_atomically(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create " + tmp);
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = io_error("cannot write " + tmp);
      ::close(fd);
      return e;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Error e = io_error("cannot fsync " + tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot rename " + tmp + " to " + path);
  std::string dir = fs::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok();
}

Result<std::string> read_file(const std::string& path, std::size_t bytes_max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read " + path);
  std::string out;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    out.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (out.size() > bytes_max)
      return make_error(Errc::too_large, path + " is larger than " + std::to_string(bytes_max));
  }
  return out;
}

Node::Node(NodeConfig config) : config_(std::move(config)) {}

Node::~Node() {
  shutdown();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Node::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

Result<void> Node::lock_data_dir() {
  std::error_code ec;
  fs::create_directories(config_.data_dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot create data directory " + config_.data_dir + ": " + ec.message());
  if (::access(config_.data_dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return io_error("data directory " + config_.data_dir + " is not readable and writable");
  std::string path = config_.data_dir + "/LOCK";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return io_error("cannot open " + path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    char buffer[32] = {};
    if (::pread(lock_fd_, buffer, sizeof buffer - 1, 0) > 0) holder = std::string(buffer);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return make_error(Errc::busy, "data directory " + config_.data_dir + " is in use by another process" +
                                      (holder.empty() ? std::string() : " (pid " + holder + ")"));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0)
    return io_error("cannot write " + path);
  return ok();
}

Result<void> Node::check_meta() {
  std::string path = config_.data_dir + "/node.meta";
  std::string expected =
      "shoal-node " + std::to_string(kNodeFormatVersion) + " " + config_.cluster_name + " " + config_.node.full + "\n";
  if (!fs::exists(path)) {
    // A directory that has data but no meta file is not ours to take over.
    if (fs::exists(config_.data_dir + "/lmdb") || fs::exists(config_.data_dir + "/ring"))
      return make_error(Errc::refused, "data directory " + config_.data_dir +
                                           " holds Shoal data but no node.meta: refusing to guess whose it is");
    return write_file_atomically(path, expected);
  }
  SHOAL_TRY(text, read_file(path, 4096));
  std::istringstream in(text);
  std::string magic, cluster, node;
  std::uint32_t format = 0;
  if (!(in >> magic >> format >> cluster >> node) || magic != "shoal-node")
    return make_error(Errc::corruption, path + " is not a Shoal node metadata file");
  if (format > kNodeFormatVersion)
    return make_error(Errc::unsupported_version, "data directory " + config_.data_dir + " has format version " +
                                                     std::to_string(format) + "; this build reads up to " +
                                                     std::to_string(kNodeFormatVersion));
  if (cluster != config_.cluster_name)
    return make_error(Errc::refused, "data directory " + config_.data_dir + " belongs to cluster '" + cluster +
                                         "', not '" + config_.cluster_name + "'");
  if (node != config_.node.full)
    return make_error(Errc::refused, "data directory " + config_.data_dir + " holds the data of node " + node +
                                         ", not " + config_.node.full);
  return ok();
}

Result<ring::Ring> Node::load_or_found_ring() {
  std::string path = config_.data_dir + "/ring";
  if (fs::exists(path)) {
    SHOAL_TRY(bytes, read_file(path, 64u << 20));
    auto ring = ring::Ring::decode(bytes);
    if (!ring) return make_error(ring.error().code, "persisted ring " + path + ": " + ring.error().message);
    if (!config_.cluster.empty()) spdlog::info("using the persisted ring; --cluster is ignored once a ring exists");
    if (ring.value().partition_count() != config_.ring_size)
      spdlog::warn("the persisted ring has {} partitions; --ring-size {} is ignored", ring.value().partition_count(),
                   config_.ring_size);
    const ring::Member* me = ring.value().member(config_.node.full);
    if (!me) return make_error(Errc::refused, "the persisted ring does not list this node (" + config_.node.full + ")");
    if (me->status == ring::MemberStatus::exiting || me->status == ring::MemberStatus::removed)
      return make_error(Errc::refused, "this node left cluster '" + ring.value().cluster_name() + "' (it is " +
                                           std::string(ring::member_status_name(me->status)) +
                                           "): its data directory " + config_.data_dir +
                                           " is no longer used; remove it to start the node afresh");
    return ring;
  }
  std::vector<ring::ClaimNode> members;
  if (config_.cluster.empty()) {
    members.push_back(ring::ClaimNode{config_.node.full, config_.location});
  } else {
    for (const auto& m : config_.cluster)
      members.push_back(ring::ClaimNode{m.full, m.full == config_.node.full ? config_.location : m.location});
  }
  SHOAL_TRY(ring, ring::Ring::new_cluster(config_.cluster_name, config_.ring_size, members));
  SHOAL_TRYV(write_file_atomically(path, ring.encode()));
  spdlog::info("founded cluster '{}' with {} members and {} partitions", config_.cluster_name, members.size(),
               config_.ring_size);
  return ring;
}

Result<ClusterMetadata> Node::load_metadata() {
  // The config's types are the seed (version zero): what the cluster
  // created or updated at run time wins over them.
  ClusterMetadata metadata = ClusterMetadata::seed(config_.bucket_types());
  std::string path = config_.data_dir + "/metadata";
  if (fs::exists(path)) {
    SHOAL_TRY(bytes, read_file(path, 16u << 20));
    auto persisted = ClusterMetadata::decode(bytes);
    if (!persisted) return make_error(persisted.error().code, path + ": " + persisted.error().message);
    metadata.merge(persisted.value());
  }
  SHOAL_TRYV(write_file_atomically(path, metadata.encode()));
  return metadata;
}

// One line per preference list to fetch: "partition list source..."
Result<std::map<std::uint32_t, std::map<std::uint32_t, std::set<std::uint32_t>>>> Node::load_repairs() {
  std::map<std::uint32_t, std::map<std::uint32_t, std::set<std::uint32_t>>> repairs;
  std::string path = config_.data_dir + "/repairs";
  if (!fs::exists(path)) return repairs;
  SHOAL_TRY(text, read_file(path, 16u << 20));
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::uint32_t partition = 0, list = 0, source = 0;
    if (!(fields >> partition >> list)) continue;
    auto& sources = repairs[partition][list];
    while (fields >> source) sources.insert(source);
  }
  return repairs;
}

Result<ActorRef> Node::spawn_vnode(std::uint32_t partition) {
  auto services = vnode_services_;
  auto ref = runtime_->spawn([services, partition] { return Vnode::create(services, partition); });
  if (!ref)
    return make_error(ref.error().code, "opening vnode " + std::to_string(partition) + ": " + ref.error().message);
  std::lock_guard lock(vnodes_mutex_);
  vnode_refs_.push_back(ref.value());
  return ref;
}

void Node::retire_vnode(ActorRef ref, std::uint32_t partition) {
  {
    std::lock_guard lock(vnodes_mutex_);
    std::erase(vnode_refs_, ref);
  }
  std::shared_ptr<storage::LmdbEnvironment> env = storage_;
  runtime_->retire(ref, [env, partition] {
    if (auto dropped = env->drop_engine(storage::vnode_engine_name(partition)); !dropped)
      spdlog::error("deleting the copy of partition {}: {}", partition, dropped.error().to_string());
    else
      spdlog::info("deleted this node's copy of partition {}", partition);
  });
}

void Node::escalate(ActorRef ref, const std::string& reason) {
  if (ref == router_ref_) {
    std::lock_guard lock(failure_mutex_);
    failure_ = "the router failed: " + reason;
    failed_ = true;
    return;
  }
  int count = ++escalations_;
  if (count > static_cast<int>(config_.vnode_set_restarts_max)) {
    std::lock_guard lock(failure_mutex_);
    failure_ =
        "vnodes kept crashing after " + std::to_string(count - 1) + " restarts of the whole vnode set: " + reason;
    failed_ = true;
    return;
  }
  spdlog::error("supervisor: restarting every vnode ({} of {} allowed): {}", count, config_.vnode_set_restarts_max,
                reason);
  std::vector<ActorRef> vnodes;
  {
    std::lock_guard lock(vnodes_mutex_);
    vnodes = vnode_refs_;
  }
  for (ActorRef vnode : vnodes) {
    if (vnode == ref) {
      runtime_->revive(vnode);
    } else {
      runtime_->restart(vnode, "restart of the whole vnode set");
    }
  }
}

Result<std::unique_ptr<Node>> Node::start(NodeConfig config) {
  std::unique_ptr<Node> node(new Node(std::move(config)));
  NodeConfig& c = node->config_;
  SHOAL_TRYV(node->lock_data_dir());
  SHOAL_TRYV(node->check_meta());
  SHOAL_TRY(ring, node->load_or_found_ring());

  storage::LmdbOptions lmdb;
  lmdb.sync_mode = c.sync_mode;
  lmdb.map_bytes_max = c.map_bytes_max;
  lmdb.write_map = c.write_map;
  lmdb.limits.key_bytes_max = 65 * 1024;
  lmdb.limits.value_bytes_max = kStoredObjectLimits.value_bytes_max + (1u << 20);
  auto env = storage::LmdbEnvironment::open(c.data_dir + "/lmdb", lmdb);
  if (!env) return make_error(env.error().code, "opening storage in " + c.data_dir + "/lmdb: " + env.error().message);
  node->storage_ = env.value();

  node->zmq_ = std::make_unique<zmq::context_t>(1);
  node->zmq_->set(zmq::ctxopt::max_sockets, 4096);
  RuntimeOptions runtime_options;
  runtime_options.schedulers = c.schedulers;
  runtime_options.mailbox_messages_max = c.limits.mailbox_messages_max;
  runtime_options.restarts_max = c.restarts_max;
  runtime_options.restart_window_ms = c.restart_window_ms;
  node->runtime_ = std::make_unique<Runtime>(runtime_options);
  node->runtime_->set_escalation(
      [raw = node.get()](ActorRef ref, const std::string& reason) { raw->escalate(ref, reason); });

  SHOAL_TRY(metadata, node->load_metadata());
  SHOAL_TRY(repairs, node->load_repairs());
  auto cluster = std::make_shared<ClusterState>(ring, metadata);
  auto bucket_types = cluster->bucket_types();
  auto router_services = std::make_shared<RouterServices>();
  router_services->config = c;
  router_services->cluster = cluster;
  router_services->repairs_pending = repairs;
  router_services->stats = &node->stats_;
  router_services->clock = &SystemClock::instance();
  router_services->zmq = node->zmq_.get();
  router_services->storage = node->storage_;
  router_services->started_unix_us = SystemClock::instance().now_unix_us();
  if (fs::exists(c.data_dir + "/joining")) {
    SHOAL_TRY(seed, read_file(c.data_dir + "/joining", 4096));
    while (!seed.empty() && (seed.back() == '\n' || seed.back() == ' ')) seed.pop_back();
    if (!seed.empty()) router_services->join_seed = seed;
  }
  Node* raw_node = node.get();
  router_services->spawn_vnode = [raw_node](std::uint32_t partition) { return raw_node->spawn_vnode(partition); };
  router_services->retire_vnode = [raw_node](ActorRef ref, std::uint32_t partition) {
    raw_node->retire_vnode(ref, partition);
  };
  router_services->request_exit = [raw_node] { raw_node->exit_requested_ = true; };

  auto vnode_services = std::make_shared<VnodeServices>();
  std::shared_ptr<storage::LmdbEnvironment> env_ptr = node->storage_;
  vnode_services->open_engine = [env_ptr](std::uint32_t partition) {
    return env_ptr->open_engine(storage::vnode_engine_name(partition));
  };
  vnode_services->cluster = cluster;
  vnode_services->limits = c.limits;
  vnode_services->ring_size = ring.partition_count();
  vnode_services->expiry_sweep_interval_ms = c.expiry_sweep_interval_ms;
  vnode_services->sync_mode = c.sync_mode;
  vnode_services->stats = &node->stats_;
  vnode_services->clock = &SystemClock::instance();
  vnode_services->aae = std::make_shared<AaeRegistry>();
  vnode_services->aae_key_list_max = c.aae_key_list_max;
  router_services->aae = vnode_services->aae;

  // The router lives on scheduler 0 with the sockets; its ref is known
  // before the vnodes are spawned so they can answer it.
  auto router_owned = std::make_unique<Router>(router_services);
  Router* router = router_owned.get();
  auto slot = std::make_shared<std::unique_ptr<Router>>(std::move(router_owned));
  auto router_ref = node->runtime_->spawn(
      [slot]() -> Result<std::unique_ptr<Actor>> {
        if (*slot) return std::unique_ptr<Actor>(std::move(*slot));
        // A restarted router would need its sockets again; the node treats
        // a router crash as fatal instead (see escalate).
        return make_error(Errc::unavailable, "the router is not restartable in place");
      },
      0);
  if (!router_ref) return router_ref.error();
  node->router_ = router;
  node->router_ref_ = router_ref.value();
  vnode_services->router = node->router_ref_;
  node->vnode_services_ = vnode_services;

  // Vnodes for the partitions this node owns, the ones it is receiving, and
  // any copy left on disk (a transfer or a retirement cut short by a
  // crash): the router resumes the transfer or deletes the copy.
  std::set<std::uint32_t> partitions;
  for (ring::Partition p : ring.partitions_of(c.node.full)) partitions.insert(p);
  for (const auto& t : ring.pending_transfers())
    if (t.to == c.node.full) partitions.insert(t.partition);
  for (const auto& [p, lists] : repairs) partitions.insert(p);
  SHOAL_TRY(engines, node->storage_->list_engines());
  for (const auto& name : engines) {
    std::uint32_t p = 0;
    if (std::sscanf(name.c_str(), "vnode/%u", &p) == 1 && p < ring.partition_count()) partitions.insert(p);
  }
  for (std::uint32_t partition : partitions) {
    SHOAL_TRY(ref, node->spawn_vnode(partition));
    router_services->vnodes[partition] = ref;
  }
  SHOAL_TRYV(router->bind(*node->runtime_, node->router_ref_));
  std::size_t owners = 0;
  {
    std::set<std::string> distinct;
    for (const auto& o : ring.owners()) distinct.insert(o.node);
    owners = distinct.size();
  }
  std::string crowded;
  for (const auto& [name, props] : bucket_types->all())
    if (props.n_val > owners)
      crowded += (crowded.empty() ? "" : ", ") + name + " (n_val " + std::to_string(props.n_val) + ")";
  if (!crowded.empty())
    spdlog::warn("the cluster has {} node{}, fewer than the n_val of bucket types {}: their replicas share nodes",
                 owners, owners == 1 ? "" : "s", crowded);
  node->runtime_->start();
  spdlog::info("node {} serving clients on {} ({} vnodes of {} partitions, {} scheduler{})", c.node.full,
               c.client_listen.to_string(), node->vnode_refs_.size(), ring.partition_count(), c.schedulers,
               c.schedulers == 1 ? "" : "s");
  return node;
}

void Node::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  if (router_) {
    router_->begin_shutdown();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.shutdown_drain_ms);
    while (router_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (router_->in_flight() > 0)
      spdlog::warn("stopping with {} requests still in flight (they fail)", router_->in_flight());
  }
  if (runtime_) runtime_->stop();  // vnodes flush and close their storage; the router closes its sockets
  runtime_.reset();
  router_ = nullptr;
  if (storage_) {
    if (auto flushed = storage_->flush(); !flushed) spdlog::error("final flush: {}", flushed.error().to_string());
  }
  storage_.reset();
  if (zmq_) {
    zmq_->shutdown();
    zmq_->close();
  }
  zmq_.reset();
}

}  // namespace shoal::core
