#include "core/config.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/build_info.hpp"
#include "core/peer_messages.hpp"
#include "ring/partition.hpp"
#include "ring/preflist.hpp"

namespace po = boost::program_options;

namespace shoal::core {

namespace {

Result<std::uint16_t> parse_port(std::string_view text, std::string_view what) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535)
    return make_error(Errc::invalid_argument,
                      std::string(what) + ": port '" + std::string(text) + "' must be a number from 1 to 65535");
  return static_cast<std::uint16_t>(value);
}

Result<void> check_host(std::string_view host, std::string_view what) {
  if (host.empty()) return make_error(Errc::invalid_argument, std::string(what) + ": the host is empty");
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      return make_error(Errc::invalid_argument, std::string(what) + ": host '" + std::string(host) +
                                                    "' must be an IPv4 address or a host name");
  return ok();
}

}  // namespace

Result<NodeName> NodeName::parse(std::string_view text) {
  std::string location;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    location = std::string(text.substr(slash + 1));
    text = text.substr(0, slash);
    if (location.empty())
      return make_error(Errc::invalid_argument, "node '" + std::string(text) + "': empty location after '/'");
  }
  auto at = text.find('@');
  auto colon = text.rfind(':');
  if (at == std::string_view::npos || colon == std::string_view::npos || colon < at || at == 0)
    return make_error(Errc::invalid_argument, "node name '" + std::string(text) + "' must look like name@host:port");
  NodeName n;
  n.full = std::string(text);
  n.name = std::string(text.substr(0, at));
  n.host = std::string(text.substr(at + 1, colon - at - 1));
  for (char c : n.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return make_error(Errc::invalid_argument, "node name '" + std::string(text) +
                                                    "': the name part may use letters, digits, '_', '-' and '.'");
  SHOAL_TRYV(check_host(n.host, "node name " + n.full));
  SHOAL_TRY(port, parse_port(text.substr(colon + 1), "node name " + n.full));
  n.port = port;
  n.location = std::move(location);
  return n;
}

std::string NodeName::endpoint() const { return "tcp://" + host + ":" + std::to_string(port); }

Result<HostPort> HostPort::parse(std::string_view text, std::string_view what) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return make_error(Errc::invalid_argument, std::string(what) + ": '" + std::string(text) + "' must be host:port");
  HostPort hp;
  hp.host = std::string(text.substr(0, colon));
  SHOAL_TRYV(check_host(hp.host, what));
  SHOAL_TRY(port, parse_port(text.substr(colon + 1), what));
  hp.port = port;
  return hp;
}

crdt::ObjectLimits client_object_limits(const Limits& limits) {
  crdt::ObjectLimits l = kStoredObjectLimits;
  l.key_bytes_max = limits.key_bytes_max;
  l.value_bytes_max = limits.object_bytes_max;
  l.siblings_max = limits.siblings_max;
  return l;
}

codec::Limits message_decode_limits(std::size_t message_bytes_max, const Limits& limits) {
  codec::Limits l;
  l.bytes_max = message_bytes_max;
  l.bin_max = message_bytes_max;
  l.array_max = limits.decode_container_max;
  l.map_max = limits.decode_container_max;
  l.depth_max = limits.decode_depth_max;
  return l;
}

BucketTypes NodeConfig::bucket_types() const {
  BucketTypes types = BucketTypes::builtin(n_val, r, w);
  for (const auto& spec : bucket_type_specs) {
    auto added = types.add_spec(spec);
    SHOAL_ASSERT(added.has_value(), "bucket type specs are validated when the config is parsed");
  }
  return types;
}

Result<ParsedArgs> parse_node_args(int argc, const char* const* argv) {
  po::options_description desc("shoald options (each also valid in the --config file as `key = value`)");
  // clang-format off
  desc.add_options()
    ("help", "print this list and exit")
    ("version", "print the version and exit")
    ("config", po::value<std::string>(), "config file (INI: key = value); flags override it")
    ("name", po::value<std::string>(), "this node: name@host:port (the peer socket listens there)")
    ("client-listen", po::value<std::string>(), "host:port of the client socket (default: host of --name, port + 1000)")
    ("resp-listen", po::value<std::string>(), "host:port of the Redis-protocol port (default: off)")
    ("resp-keyspace", po::value<std::string>()->default_value("redis/redis"), "TYPE/BUCKET holding the Redis keys (a bucket type of datatype any)")
    ("resp-connections-max", po::value<std::size_t>()->default_value(10'000), "Redis clients connected at once; past it new ones are refused")
    ("resp-args-max", po::value<std::size_t>()->default_value(1024 * 1024), "arguments of one Redis command")
    ("resp-bulk-bytes-max", po::value<std::size_t>()->default_value(16u << 20), "bytes of one Redis argument")
    ("resp-buffer-bytes-max", po::value<std::size_t>()->default_value(64u << 20), "unparsed input or unsent replies of one Redis connection; past it the connection is closed")
    ("resp-pipeline-max", po::value<std::size_t>()->default_value(1024), "commands of one Redis connection in flight; past it the port stops reading that connection")
    ("data", po::value<std::string>(), "data directory")
    ("cluster", po::value<std::string>(), "members of a new cluster: name@host:port,... (ignored once a ring is persisted)")
    ("cluster-name", po::value<std::string>()->default_value("shoal"), "cluster name; peers of another cluster are refused")
    ("cluster-secret", po::value<std::string>(), "shared secret every peer must prove it knows")
    ("ring-size", po::value<std::uint32_t>()->default_value(64), "partitions Q (power of two, 8..1024)")
    ("location", po::value<std::string>()->default_value(""), "location label (region/zone) used by claim")
    ("n-val", po::value<std::uint32_t>()->default_value(3), "default replicas per key")
    ("r", po::value<std::string>()->default_value("quorum"), "default read quorum")
    ("w", po::value<std::string>()->default_value("quorum"), "default write quorum")
    ("sync-mode", po::value<std::string>()->default_value("nosync"), "nosync (page cache; survives kill -9) or sync (fsync every commit)")
    ("map-bytes-max", po::value<std::size_t>()->default_value(256ull << 30), "largest LMDB map; past it writes fail with disk_full")
    ("write-map", po::value<bool>()->default_value(true), "nosync mode: commit into an LMDB write map (faster unless most writes ask for dw)")
    ("log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error")
    ("bucket-type", po::value<std::vector<std::string>>()->composing(), "NAME:key=value,... (repeatable)")
    ("schedulers", po::value<std::uint32_t>()->default_value(1), "scheduler threads running the actors")
    ("enable-failpoints", po::bool_switch(), "allow failpoints to be armed (tests and chaos runs)")
    ("failpoints", po::value<std::string>()->default_value(""), "failpoints to arm at start: name=spec;...")
    ("request-timeout-ms", po::value<std::uint32_t>()->default_value(10'000), "default request timeout")
    ("tombstone-reap-delay-ms", po::value<std::uint32_t>()->default_value(3'000), "delay before reaping a tombstone all primaries hold")
    ("expiry-sweep-interval-ms", po::value<std::uint32_t>()->default_value(60'000), "how often each vnode removes expired keys")
    ("heartbeat-interval-ms", po::value<std::uint32_t>()->default_value(500), "peer heartbeat interval")
    ("peer-down-after-ms", po::value<std::uint32_t>()->default_value(3'000), "a peer silent this long is unreachable")
    ("restarts-max", po::value<std::uint32_t>()->default_value(5), "restarts of one actor allowed per window")
    ("restart-window-ms", po::value<std::uint32_t>()->default_value(10'000), "restart intensity window")
    ("shutdown-drain-ms", po::value<std::uint32_t>()->default_value(5'000), "how long SIGTERM waits for in-flight requests")
    ("gossip-interval-ms", po::value<std::uint32_t>()->default_value(1'000), "ring and metadata gossip to a random peer")
    ("transfer-limit", po::value<std::uint32_t>()->default_value(2), "partitions this node hands off at once")
    ("transfer-bytes-per-s", po::value<std::uint64_t>()->default_value(0), "handoff throttle per transfer (0: none)")
    ("aae-interval-ms", po::value<std::uint32_t>()->default_value(120'000), "anti-entropy: every preference list is exchanged at least this often (0: only on demand)")
    ("aae-keys-per-exchange", po::value<std::uint32_t>()->default_value(5'000), "anti-entropy: keys repaired per exchange at most")
    ("aae-concurrency", po::value<std::uint32_t>()->default_value(2), "anti-entropy exchanges this node runs at once")
    ("aae-key-list-max", po::value<std::uint32_t>()->default_value(50'000), "anti-entropy: keys of one key list a vnode sends (it stops at a segment boundary past this)")
    ("key-bytes-max", po::value<std::size_t>()->default_value(64 * 1024), "largest key")
    ("object-bytes-warn", po::value<std::size_t>()->default_value(5u << 20), "log a warning for objects over this size")
    ("object-bytes-max", po::value<std::size_t>()->default_value(50u << 20), "refuse objects over this size")
    ("siblings-warn", po::value<std::size_t>()->default_value(25), "log a warning for objects with more siblings")
    ("siblings-max", po::value<std::size_t>()->default_value(100), "refuse writes that would leave more siblings")
    ("client-message-bytes-max", po::value<std::size_t>()->default_value(64u << 20), "largest client message (ZMQ_MAXMSGSIZE)")
    ("peer-message-bytes-max", po::value<std::size_t>()->default_value(256u << 20), "largest peer message (ZMQ_MAXMSGSIZE)")
    ("requests-in-flight-max", po::value<std::size_t>()->default_value(10'000), "concurrent requests; past it: overloaded")
    ("mailbox-messages-max", po::value<std::size_t>()->default_value(10'000), "messages queued per actor; past it: overloaded")
    ("peer-queue-messages-max", po::value<std::size_t>()->default_value(100'000), "messages queued per socket and peer link (ZeroMQ high-water mark)")
    ("list-page-keys-max", po::value<std::size_t>()->default_value(10'000), "largest page of a key or bucket listing")
    ("decode-depth-max", po::value<std::uint32_t>()->default_value(32), "deepest msgpack nesting a decoder accepts")
    ("decode-container-max", po::value<std::size_t>()->default_value(1u << 20), "most elements of one msgpack array or map");
  // clang-format on

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("config")) {
      std::string path = vm["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) return make_error(Errc::invalid_argument, "cannot read config file " + path);
      po::store(po::parse_config_file(file, desc), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return make_error(Errc::invalid_argument, e.what());
  }
  ParsedArgs parsed;
  if (vm.count("help")) {
    std::ostringstream out;
    out << "usage: shoald --name NAME@HOST:PORT --data DIR [--client-listen HOST:PORT] [--cluster ...] [--config "
           "FILE]\n\n"
        << desc;
    parsed.output = out.str();
    return parsed;
  }
  if (vm.count("version")) {
    parsed.output = "shoald " + build_info() + "\n";
    return parsed;
  }

  NodeConfig c;
  if (!vm.count("name")) return make_error(Errc::invalid_argument, "--name NAME@HOST:PORT is required");
  if (!vm.count("data")) return make_error(Errc::invalid_argument, "--data DIR is required");
  SHOAL_TRY(node, NodeName::parse(vm["name"].as<std::string>()));
  c.node = node;
  if (vm.count("client-listen")) {
    SHOAL_TRY(client, HostPort::parse(vm["client-listen"].as<std::string>(), "--client-listen"));
    c.client_listen = client;
  } else {
    if (node.port > 64535)
      return make_error(Errc::invalid_argument, "--client-listen is needed: peer port + 1000 is not a valid port");
    c.client_listen = HostPort{node.host, static_cast<std::uint16_t>(node.port + 1000)};
  }
  if (vm.count("resp-listen")) {
    SHOAL_TRY(resp, HostPort::parse(vm["resp-listen"].as<std::string>(), "--resp-listen"));
    c.resp.listen = resp;
  }
  {
    std::string keyspace = vm["resp-keyspace"].as<std::string>();
    auto slash = keyspace.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == keyspace.size())
      return make_error(Errc::invalid_argument, "--resp-keyspace must be TYPE/BUCKET");
    c.resp.bucket_type = keyspace.substr(0, slash);
    c.resp.bucket = keyspace.substr(slash + 1);
    c.resp.connections_max = vm["resp-connections-max"].as<std::size_t>();
    c.resp.args_max = vm["resp-args-max"].as<std::size_t>();
    c.resp.bulk_bytes_max = vm["resp-bulk-bytes-max"].as<std::size_t>();
    c.resp.buffer_bytes_max = vm["resp-buffer-bytes-max"].as<std::size_t>();
    c.resp.pipeline_max = vm["resp-pipeline-max"].as<std::size_t>();
    if (c.resp.connections_max == 0 || c.resp.args_max == 0 || c.resp.pipeline_max == 0)
      return make_error(Errc::invalid_argument,
                        "--resp-connections-max, --resp-args-max and --resp-pipeline-max must be at least 1");
    if (c.resp.bulk_bytes_max == 0 || c.resp.bulk_bytes_max > (512u << 20))
      return make_error(Errc::invalid_argument, "--resp-bulk-bytes-max must be 1..512 MiB");
    if (c.resp.buffer_bytes_max < c.resp.bulk_bytes_max + 1024)
      return make_error(Errc::invalid_argument,
                        "--resp-buffer-bytes-max must exceed --resp-bulk-bytes-max by at least 1 KiB (a whole "
                        "argument has to fit)");
  }
  c.data_dir = vm["data"].as<std::string>();
  if (c.data_dir.empty()) return make_error(Errc::invalid_argument, "--data must not be empty");
  if (vm.count("cluster")) {
    std::string_view list = vm["cluster"].as<std::string>();
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      if (item.empty()) continue;
      SHOAL_TRY(member, NodeName::parse(item));
      for (const auto& m : c.cluster)
        if (m.full == member.full) return make_error(Errc::invalid_argument, "--cluster names " + m.full + " twice");
      c.cluster.push_back(member);
    }
    bool self_listed = false;
    for (const auto& m : c.cluster) self_listed |= m.full == node.full;
    for (const auto& m : c.cluster)
      if (m.full == node.full && !m.location.empty() && vm.count("location") &&
          !vm["location"].as<std::string>().empty() && vm["location"].as<std::string>() != m.location)
        return make_error(Errc::invalid_argument, "--location differs from this node's location in --cluster");
    if (!c.cluster.empty() && !self_listed)
      return make_error(Errc::invalid_argument, "--cluster must include this node (" + node.full + ")");
  }
  c.cluster_name = vm["cluster-name"].as<std::string>();
  if (c.cluster_name.empty() || c.cluster_name.size() > 255)
    return make_error(Errc::invalid_argument, "--cluster-name must be 1..255 bytes");
  if (vm.count("cluster-secret")) {
    c.cluster_secret = vm["cluster-secret"].as<std::string>();
    c.secret_is_default = false;
    if (c.cluster_secret.empty()) return make_error(Errc::invalid_argument, "--cluster-secret must not be empty");
  }
  c.ring_size = vm["ring-size"].as<std::uint32_t>();
  SHOAL_TRYV(ring::validate_partition_count(c.ring_size));
  c.location = vm["location"].as<std::string>();
  for (const auto& m : c.cluster)
    if (m.full == node.full && c.location.empty()) c.location = m.location;
  c.n_val = vm["n-val"].as<std::uint32_t>();
  if (c.n_val == 0 || c.n_val > ring::kNValMax)
    return make_error(Errc::invalid_argument, "--n-val must be 1.." + std::to_string(ring::kNValMax));
  for (auto [flag, slot] : {std::pair{"r", &c.r}, std::pair{"w", &c.w}}) {
    auto q = net::Quorum::parse(vm[flag].as<std::string>());
    if (!q || q.value().kind == net::Quorum::Kind::default_)
      return make_error(Errc::invalid_argument, std::string("--") + flag + " must be a number, one, quorum or all");
    if (q.value().kind == net::Quorum::Kind::count && (q.value().count == 0 || q.value().count > c.n_val))
      return make_error(Errc::invalid_argument, std::string("--") + flag + " must be 1..n_val");
    *slot = q.value();
  }
  std::string sync = vm["sync-mode"].as<std::string>();
  if (sync == "sync") {
    c.sync_mode = storage::SyncMode::sync;
  } else if (sync == "nosync") {
    c.sync_mode = storage::SyncMode::nosync;
  } else {
    return make_error(Errc::invalid_argument, "--sync-mode must be sync or nosync");
  }
  c.map_bytes_max = vm["map-bytes-max"].as<std::size_t>();
  c.write_map = vm["write-map"].as<bool>();
  if (c.map_bytes_max < (64u << 20))
    return make_error(Errc::invalid_argument, "--map-bytes-max must be at least 64 MiB");
  c.log_level = vm["log-level"].as<std::string>();
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error")
    return make_error(Errc::invalid_argument, "--log-level must be trace, debug, info, warn or error");
  if (vm.count("bucket-type")) c.bucket_type_specs = vm["bucket-type"].as<std::vector<std::string>>();
  BucketTypes types = BucketTypes::builtin(c.n_val, c.r, c.w);
  for (const auto& spec : c.bucket_type_specs) SHOAL_TRYV(types.add_spec(spec));
  if (c.resp.listen) {
    const BucketProps* keyspace = types.find(c.resp.bucket_type);
    if (!keyspace || !keyspace->any_datatype)
      return make_error(Errc::invalid_argument, "--resp-keyspace: bucket type '" + c.resp.bucket_type +
                                                    "' must exist with datatype=any (one key, one type, as in Redis)");
  }
  c.schedulers = vm["schedulers"].as<std::uint32_t>();
  if (c.schedulers == 0 || c.schedulers > 64) return make_error(Errc::invalid_argument, "--schedulers must be 1..64");
  c.enable_failpoints = vm["enable-failpoints"].as<bool>();
  c.failpoints = vm["failpoints"].as<std::string>();
  if (!c.failpoints.empty() && !c.enable_failpoints)
    return make_error(Errc::invalid_argument, "--failpoints needs --enable-failpoints");
  c.request_timeout_ms = vm["request-timeout-ms"].as<std::uint32_t>();
  c.tombstone_reap_delay_ms = vm["tombstone-reap-delay-ms"].as<std::uint32_t>();
  c.expiry_sweep_interval_ms = vm["expiry-sweep-interval-ms"].as<std::uint32_t>();
  c.heartbeat_interval_ms = vm["heartbeat-interval-ms"].as<std::uint32_t>();
  c.peer_down_after_ms = vm["peer-down-after-ms"].as<std::uint32_t>();
  c.restarts_max = vm["restarts-max"].as<std::uint32_t>();
  c.restart_window_ms = vm["restart-window-ms"].as<std::uint32_t>();
  c.shutdown_drain_ms = vm["shutdown-drain-ms"].as<std::uint32_t>();
  c.gossip_interval_ms = vm["gossip-interval-ms"].as<std::uint32_t>();
  c.transfer_limit = vm["transfer-limit"].as<std::uint32_t>();
  c.transfer_bytes_per_s = vm["transfer-bytes-per-s"].as<std::uint64_t>();
  c.aae_interval_ms = vm["aae-interval-ms"].as<std::uint32_t>();
  c.aae_keys_per_exchange = vm["aae-keys-per-exchange"].as<std::uint32_t>();
  c.aae_concurrency = vm["aae-concurrency"].as<std::uint32_t>();
  c.aae_key_list_max = vm["aae-key-list-max"].as<std::uint32_t>();
  if (c.aae_key_list_max == 0 || c.aae_key_list_max > 60'000)
    return make_error(Errc::invalid_argument, "--aae-key-list-max must be 1..60000");
  if (c.aae_interval_ms != 0 && c.aae_interval_ms < 100)
    return make_error(Errc::invalid_argument, "--aae-interval-ms must be 0 or at least 100");
  if (c.aae_keys_per_exchange == 0 || c.aae_keys_per_exchange > 100'000)
    return make_error(Errc::invalid_argument, "--aae-keys-per-exchange must be 1..100000");
  if (c.aae_concurrency == 0 || c.aae_concurrency > 64)
    return make_error(Errc::invalid_argument, "--aae-concurrency must be 1..64");
  if (c.gossip_interval_ms < 50 || c.gossip_interval_ms > 60'000)
    return make_error(Errc::invalid_argument, "--gossip-interval-ms must be 50..60000");
  if (c.transfer_limit == 0 || c.transfer_limit > 64)
    return make_error(Errc::invalid_argument, "--transfer-limit must be 1..64");
  if (c.request_timeout_ms == 0 || c.request_timeout_ms > net::kTimeoutMsMax)
    return make_error(Errc::invalid_argument, "--request-timeout-ms must be 1.." + std::to_string(net::kTimeoutMsMax));
  if (c.heartbeat_interval_ms < 10 || c.peer_down_after_ms < 2 * c.heartbeat_interval_ms)
    return make_error(Errc::invalid_argument,
                      "--heartbeat-interval-ms must be at least 10 and --peer-down-after-ms at least twice it");
  if (c.expiry_sweep_interval_ms < 100)
    return make_error(Errc::invalid_argument, "--expiry-sweep-interval-ms must be at least 100");
  Limits& l = c.limits;
  l.key_bytes_max = vm["key-bytes-max"].as<std::size_t>();
  l.object_bytes_warn = vm["object-bytes-warn"].as<std::size_t>();
  l.object_bytes_max = vm["object-bytes-max"].as<std::size_t>();
  l.siblings_warn = vm["siblings-warn"].as<std::size_t>();
  l.siblings_max = vm["siblings-max"].as<std::size_t>();
  l.client_message_bytes_max = vm["client-message-bytes-max"].as<std::size_t>();
  l.peer_message_bytes_max = vm["peer-message-bytes-max"].as<std::size_t>();
  l.requests_in_flight_max = vm["requests-in-flight-max"].as<std::size_t>();
  l.mailbox_messages_max = vm["mailbox-messages-max"].as<std::size_t>();
  l.peer_queue_messages_max = vm["peer-queue-messages-max"].as<std::size_t>();
  l.list_page_keys_max = vm["list-page-keys-max"].as<std::size_t>();
  l.decode_depth_max = vm["decode-depth-max"].as<std::uint32_t>();
  l.decode_container_max = vm["decode-container-max"].as<std::size_t>();
  if (l.peer_queue_messages_max < 100 || l.peer_queue_messages_max > 10'000'000)
    return make_error(Errc::invalid_argument, "--peer-queue-messages-max must be 100..10000000");
  if (l.list_page_keys_max == 0 || l.list_page_keys_max > 100'000)
    return make_error(Errc::invalid_argument, "--list-page-keys-max must be 1..100000");
  if (l.decode_depth_max < 16 || l.decode_depth_max > 1024)
    return make_error(Errc::invalid_argument, "--decode-depth-max must be 16..1024 (CRDT maps nest up to 18 levels)");
  if (l.decode_container_max < 1024 || l.decode_container_max > (1u << 24))
    return make_error(Errc::invalid_argument, "--decode-container-max must be 1024..16777216");
  if (l.key_bytes_max == 0 || l.key_bytes_max > 64 * 1024)
    return make_error(Errc::invalid_argument, "--key-bytes-max must be 1..65536 (the storage layer's bound)");
  if (l.object_bytes_max > (64u << 20))
    return make_error(Errc::invalid_argument, "--object-bytes-max may be at most 64 MiB");
  if (l.client_message_bytes_max < l.object_bytes_max + (1u << 20))
    return make_error(Errc::invalid_argument,
                      "--client-message-bytes-max must exceed --object-bytes-max by at least 1 MiB");
  if (l.peer_message_bytes_max < 2 * l.client_message_bytes_max)
    return make_error(Errc::invalid_argument,
                      "--peer-message-bytes-max must be at least twice --client-message-bytes-max (replication "
                      "carries whole objects with their siblings)");
  if (l.siblings_max == 0 || l.siblings_max > 10'000)
    return make_error(Errc::invalid_argument, "--siblings-max must be 1..10000");
  if (l.requests_in_flight_max == 0 || l.mailbox_messages_max == 0)
    return make_error(Errc::invalid_argument, "--requests-in-flight-max and --mailbox-messages-max must be positive");
  parsed.config = std::move(c);
  return parsed;
}

}  // namespace shoal::core
