// The configuration of one node: every option can come from a config file
// (INI style, `key = value`) and from a command-line flag of the same name
// (`--key value`), the flag winning. docs/operations.md lists them all with
// their defaults; `shoald --help` prints the same list. Parsing never exits
// the process: errors are values naming the option. Values: thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/codec.hpp"
#include "base/result.hpp"
#include "core/bucket_types.hpp"
#include "crdt/object.hpp"
#include "storage/lmdb_engine.hpp"

namespace shoal::core {

// "name@host:port": the node's id, and where its peer socket listens.
struct NodeName {
  std::string full;  // as given
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  std::string location;  // from a "/location" suffix in --cluster lists
  static Result<NodeName> parse(std::string_view text);
  std::string endpoint() const;  // "tcp://host:port"
};

// "host:port"
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  static Result<HostPort> parse(std::string_view text, std::string_view what);
  std::string endpoint() const { return "tcp://" + host + ":" + std::to_string(port); }
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

struct Limits {
  std::size_t key_bytes_max = 64 * 1024;
  std::size_t object_bytes_warn = 5u << 20;
  std::size_t object_bytes_max = 50u << 20;
  std::size_t siblings_warn = 25;
  std::size_t siblings_max = 100;
  std::size_t client_message_bytes_max = 64u << 20;
  std::size_t peer_message_bytes_max = 256u << 20;
  std::uint32_t decode_depth_max = 32;
  std::size_t decode_container_max = 1u << 20;
  std::size_t requests_in_flight_max = 10'000;  // coordinators alive at once; past it: overloaded
  std::size_t mailbox_messages_max = 10'000;
  std::size_t peer_queue_messages_max = 100'000;  // ZMQ_SNDHWM of a peer link
  std::size_t list_page_keys_max = 10'000;
};

// Bounds a client write is held to (the stored-object decode bounds, with
// the node's key, object and sibling limits).
crdt::ObjectLimits client_object_limits(const Limits& limits);
// Decoding bounds for a message of at most `message_bytes_max` bytes.
codec::Limits message_decode_limits(std::size_t message_bytes_max, const Limits& limits);

// The Redis-protocol port (resp/server.hpp); off unless `listen` is set.
struct RespSettings {
  std::optional<HostPort> listen;
  std::string bucket_type = "redis";  // --resp-keyspace TYPE/BUCKET
  std::string bucket = "redis";
  std::size_t connections_max = 10'000;
  std::size_t args_max = 1024 * 1024;
  std::size_t bulk_bytes_max = 16u << 20;
  std::size_t buffer_bytes_max = 64u << 20;
  std::size_t pipeline_max = 1024;
};

struct NodeConfig {
  NodeName node;
  HostPort client_listen;
  // A second, in-process endpoint of the client socket (for a front end in
  // the same process, such as the Redis port); empty: none.
  std::string client_inproc;
  RespSettings resp;
  std::string data_dir;
  std::vector<NodeName> cluster;  // initial members of a new cluster; empty: a cluster of one
  std::string cluster_name = "shoal";
  std::string cluster_secret = "shoal";
  bool secret_is_default = true;
  std::uint32_t ring_size = 64;
  std::string location;
  std::uint32_t n_val = 3;
  net::Quorum r = net::Quorum::majority();
  net::Quorum w = net::Quorum::majority();
  storage::SyncMode sync_mode = storage::SyncMode::nosync;
  bool write_map = true;  // nosync mode: commit into an LMDB write map
  std::size_t map_bytes_max = 256ull << 30;
  std::string log_level = "info";
  std::vector<std::string> bucket_type_specs;
  std::uint32_t schedulers = 1;
  bool enable_failpoints = false;
  std::string failpoints;  // "name=spec;..." armed at start (needs enable_failpoints)
  std::uint32_t request_timeout_ms = 10'000;
  std::uint32_t tombstone_reap_delay_ms = 3'000;
  std::uint32_t expiry_sweep_interval_ms = 60'000;
  std::uint32_t heartbeat_interval_ms = 500;
  std::uint32_t peer_down_after_ms = 3'000;
  std::uint32_t restarts_max = 5;
  std::uint32_t restart_window_ms = 10'000;
  std::uint32_t vnode_set_restarts_max = 2;  // escalations tolerated before the node exits
  std::uint32_t shutdown_drain_ms = 5'000;
  std::uint32_t gossip_interval_ms = 1'000;
  std::uint32_t transfer_limit = 2;         // concurrent outbound transfers per node
  std::uint64_t transfer_bytes_per_s = 0;   // 0: unthrottled
  std::uint32_t aae_interval_ms = 120'000;  // 0: exchanges only on demand
  std::uint32_t aae_keys_per_exchange = 5'000;
  std::uint32_t aae_concurrency = 2;
  std::uint32_t aae_key_list_max = 50'000;  // below storage::DecodeLimits::keys_max
  Limits limits;

  BucketTypes bucket_types() const;  // built-ins with this node's defaults, plus the specs
};

// Parses argv (and the file named by --config). `help` receives the option
// list when --help is given (and parsing stops with a value-less result).
struct ParsedArgs {
  std::optional<NodeConfig> config;  // empty when --help or --version was asked
  std::string output;                // what to print for --help / --version
};
Result<ParsedArgs> parse_node_args(int argc, const char* const* argv);

}  // namespace shoal::core
