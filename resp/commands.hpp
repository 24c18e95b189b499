// The Redis commands Shoal's RESP port understands, each translated into
// requests of the native protocol (docs/redis.md has the mapping and what
// differs from Redis). Commands run on the RESP server's thread: they ask
// the Backend for native requests and finish with their reply later, from
// the Backend's callbacks. Internal to resp/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "net/protocol.hpp"
#include "resp/parser.hpp"
#include "resp/server.hpp"

namespace shoal::resp {

using StatusItems = std::vector<std::pair<std::string, net::StatusValue>>;

// What commands may ask of the server. Every callback runs on the server's
// thread, exactly once.
class Backend {
 public:
  virtual ~Backend() = default;
  // get, put, del or update; a write without return_body answers an empty view.
  virtual void key_request(net::KeyRequest request, std::function<void(Result<net::ObjectView>)> done) = 0;
  virtual void list_keys(std::function<void(Result<std::vector<std::string>>)> done) = 0;
  virtual void status(std::function<void(Result<StatusItems>)> done) = 0;
  // The properties of the keyspace's bucket type ("n_val=3,r=quorum,...").
  virtual void keyspace_props(std::function<void(Result<std::string>)> done) = 0;
  virtual const RespConfig& config() const = 0;
  // INFO's figures.
  virtual std::size_t connections() const = 0;
  virtual std::uint64_t connections_total() const = 0;
  virtual std::uint64_t commands_total() const = 0;
  virtual std::int64_t started_unix_s() const = 0;
};

// One connection's state.
struct Session {
  std::uint64_t id = 0;
  int protocol = 2;                 // 3 after HELLO 3
  std::string name;                 // CLIENT SETNAME
  std::string peer;                 // "ip:port"
  std::optional<net::Quorum> r, w;  // SHOAL.CONSISTENCY
  bool quit = false;                // QUIT: close once the reply is sent
  // The snapshot a SCAN walks (sorted keys), taken when its cursor was 0.
  std::vector<std::string> scan_keys;
  bool scan_valid = false;
};

// Finishes a command with its encoded reply.
using Reply = std::function<void(std::string bytes)>;

// Runs one command. The backend outlives every callback; the session is
// shared so that a callback may still use it after its connection closed.
void execute(Backend& backend, const std::shared_ptr<Session>& session, Command command, Reply reply);

// The keys a command reads or writes. The server runs a connection's
// commands on different keys at once and those that share a key in order,
// so a pipelined GET sees the SET before it. `all`: the command must wait
// for everything before it (SCAN, KEYS, DBSIZE, INFO, and the commands that
// change the connection's settings).
struct CommandKeys {
  bool all = false;
  std::vector<std::string> keys;
};
CommandKeys command_keys(const Command& command);
bool conflicts(const CommandKeys& a, const CommandKeys& b);

// Redis' glob matching (KEYS, SCAN MATCH): * ? [abc] [^a-z] and \ escapes.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace shoal::resp
