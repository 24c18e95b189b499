// The Shoal C++ client library. Links ZeroMQ and msgpack, nothing that
// touches LMDB.
//
//   auto client = shoal::client::Client::connect({.nodes = {"127.0.0.1:8101", "127.0.0.1:8102"}});
//   (connect fails with Errc::unavailable when no node answers within connect_timeout_ms)
//   auto put = client.value()->put({"default", "users", "alice"}, "{\"age\": 42}");
//   auto got = client.value()->get({"default", "users", "alice"});
//   for (auto& sibling : got.value().siblings) ...
//
// One background I/O thread owns one DEALER socket per node and pipelines
// any number of requests over them. Every call exists in a synchronous form
// (waits) and an asynchronous one (a callback, run on the I/O thread: it
// must not block, but may issue further requests). Each request goes to a
// healthy node, preferring the owner of the key's partition once the client
// has read the ring (so most writes need no forwarding).
//
// Failover retries only what is safe: a request that never left (the node's
// queue refused it, the node is known down, or the node answered overloaded
// or shutting_down), and idempotent requests (get, list, admin, and put or
// delete *with* a context) after a timeout. A write without a context that
// times out fails with Errc::unknown_outcome: it may have been applied.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "crdt/any_crdt.hpp"
#include "crdt/object.hpp"
#include "net/protocol.hpp"

namespace shoal::client {

using net::ObjectView;
using net::Quorum;
using net::RequestOptions;
using Key = crdt::ObjectKey;

struct ClientOptions {
  std::vector<std::string> nodes;            // "host:port" of client sockets; at least one
  std::uint32_t timeout_ms = 10'000;         // per attempt; also sent to the node unless the request sets one
  std::uint32_t retries = 2;                 // extra attempts on other nodes when retrying is safe
  bool route_by_ring = true;                 // read the ring and send each key to its partition's owner
  std::size_t in_flight_max = 100'000;       // requests queued or in flight; past it calls fail with overloaded
  std::uint32_t node_backoff_ms = 1'000;     // a node that failed is avoided this long
  std::uint32_t connect_timeout_ms = 3'000;  // connect() fails if no node answers a ping in this time
};

struct PutOptions {
  std::string content_type = "application/octet-stream";
  std::vector<std::pair<std::string, std::string>> user_metadata;
  std::optional<std::string> context;  // from a get: replaces exactly what was read
  RequestOptions request;
};

template <typename T>
using Callback = std::function<void(Result<T>)>;

class Client {
 public:
  static Result<std::unique_ptr<Client>> connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- synchronous ----
  Result<ObjectView> get(const Key& key, const RequestOptions& options = {});
  Result<ObjectView> put(const Key& key, std::string value, const PutOptions& options = {});
  Result<ObjectView> del(const Key& key, std::optional<std::string> context = std::nullopt,
                         const RequestOptions& options = {});
  // A CRDT operation; `context` is needed by removes of set elements and map
  // fields that this client read (without it the coordinating replica's own
  // view decides what is removed).
  Result<ObjectView> update(const Key& key, crdt::AnyOp op, std::optional<std::string> context = std::nullopt,
                            const RequestOptions& options = {});
  // get for a CRDT key: the value (nullopt when not found).
  Result<std::optional<crdt::AnyValue>> fetch(const Key& key, const RequestOptions& options = {});
  Result<std::vector<std::string>> list_keys(const std::string& bucket_type, const std::string& bucket,
                                             const RequestOptions& options = {});
  Result<std::vector<std::string>> list_buckets(const std::string& bucket_type, const RequestOptions& options = {});
  Result<std::vector<net::ReplicaView>> replica_get(const Key& key);
  // Admin calls go to `node` ("host:port" from the options) or to any node.
  Result<std::vector<std::pair<std::string, net::StatusValue>>> status(std::optional<std::string> node = {});
  Result<net::RingView> ring(std::optional<std::string> node = {});
  Result<std::vector<net::MembersView>> members(std::optional<std::string> node = {});
  Result<net::PingReply> ping(std::optional<std::string> node = {});
  Result<net::PingReply> ping_with_timeout(const std::string& node, std::uint32_t timeout_ms);
  // Arms (or with spec "off" disarms) a failpoint on one node; the node must
  // run with --enable-failpoints.
  Result<void> set_failpoint(const std::string& node, const std::string& name, const std::string& spec);
  // Cluster changes (join SEED, leave [NODE], force-remove NODE, replace OLD
  // NEW, plan, commit, clear, transfers); staged changes go to the claimant.
  Result<net::ClusterAdminReply> cluster_admin(std::optional<std::string> node, const std::string& command,
                                               const std::vector<std::string>& arguments = {});
  // Bucket types at run time: create / update NAME with "key=value,..."
  // properties, show NAME, list.
  Result<net::BucketTypeAdminReply> bucket_type_admin(std::optional<std::string> node, const std::string& command,
                                                      const std::string& name = {}, const std::string& properties = {});

  // ---- asynchronous: the callback runs on the client's I/O thread ----
  void get_async(const Key& key, const RequestOptions& options, Callback<ObjectView> done);
  void put_async(const Key& key, std::string value, const PutOptions& options, Callback<ObjectView> done);
  void del_async(const Key& key, std::optional<std::string> context, const RequestOptions& options,
                 Callback<ObjectView> done);
  void update_async(const Key& key, crdt::AnyOp op, std::optional<std::string> context, const RequestOptions& options,
                    Callback<ObjectView> done);
  // Pages of names as they arrive; `done` once with the outcome.
  void list_keys_async(const std::string& bucket_type, const std::string& bucket, const RequestOptions& options,
                       std::function<void(std::vector<std::string>)> page, Callback<bool> done);
  std::future<Result<ObjectView>> get_future(const Key& key, const RequestOptions& options = {});
  std::future<Result<ObjectView>> put_future(const Key& key, std::string value, const PutOptions& options = {});

  // Requests queued or in flight.
  std::size_t in_flight() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "type/bucket/key" -> Key (the key may contain '/'); invalid_argument otherwise.
Result<Key> parse_key(std::string_view text);
// "type/bucket" -> (type, bucket).
Result<std::pair<std::string, std::string>> parse_bucket(std::string_view text);

}  // namespace shoal::client
