// The Redis-protocol port of a node (`shoald --resp-listen HOST:PORT`).
//
// One thread serves every RESP connection with epoll. Each command becomes
// one or more requests of the native protocol, sent on a ZeroMQ DEALER
// socket to the node's own client port, exactly as the client library sends
// them: the RESP port adds no path into the database that the native
// protocol does not have. Replies are written back in the order the
// commands arrived (pipelining), whatever order the node answers in.
//
// Bounds (all configurable, see RespConfig): connections, one command's
// argument count and bulk length, the bytes a connection may hold unparsed
// or unsent, and the commands it may have in flight (over that, the server
// stops reading the connection until replies drain: backpressure, not an
// error). Over a hard bound the connection gets an error and is closed; the
// node and every other connection go on. The command mapping is in
// docs/redis.md.
//
// Thread-safety: start() and stop() from one thread; the rest is internal.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "base/result.hpp"
#include "resp/parser.hpp"

namespace shoal::resp {

struct RespConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: any free port (see RespServer::port)
  // The node's client socket, as a ZeroMQ endpoint ("tcp://127.0.0.1:8087",
  // or an inproc endpoint of `context`).
  std::string node_endpoint;
  // The node's ZeroMQ context, for an inproc endpoint (it must outlive the
  // server); nullptr: the server makes its own.
  zmq::context_t* context = nullptr;
  std::string node_name;  // for INFO
  std::string version;    // Shoal's version, for INFO and HELLO
  // The keyspace: every RESP key is a key of this bucket, whose type must
  // be of datatype any.
  std::string bucket_type = "redis";
  std::string bucket = "redis";
  ParserLimits parser;
  std::size_t connections_max = 10'000;
  // Unparsed input plus unsent replies of one connection.
  std::size_t buffer_bytes_max = 64ull * 1024 * 1024;
  std::size_t pipeline_max = 1024;            // commands in flight per connection
  std::uint32_t request_timeout_ms = 15'000;  // the node answers first (its own timeout is 10 s)
  std::size_t scan_keys_max = 10'000'000;     // keys a SCAN/KEYS listing may hold
};

class RespServer {
 public:
  // Binds the port and starts the thread; Errc::busy when the port is taken.
  static Result<std::unique_ptr<RespServer>> start(RespConfig config);
  ~RespServer();
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  // Closes every connection and joins the thread; idempotent.
  void stop();
  std::uint16_t port() const;

  struct Impl;

 private:
  explicit RespServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::resp
