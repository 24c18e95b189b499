#include "resp/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <zmq.hpp>

#include "resp/commands.hpp"
#include "resp/reply.hpp"

namespace shoal::resp {

namespace {

using net::MessageType;

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// epoll user data: which kind of descriptor, in the top bits.
constexpr std::uint64_t kListenTag = 1;
constexpr std::uint64_t kWakeTag = 2;
constexpr std::uint64_t kNodeTag = 3;
constexpr std::uint64_t kConnectionBase = 16;

constexpr std::size_t kReadChunk = 64 * 1024;

bool lower_equals(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() && std::equal(a.begin(), a.end(), lower.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

}  // namespace

struct Connection {
  int fd = -1;
  std::shared_ptr<Session> session;
  RequestParser parser;
  std::string in;   // unparsed input
  std::string out;  // replies to write
  std::size_t out_sent = 0;
  // Replies in command order: slot i holds command (first_seq + i)'s reply
  // once it is ready.
  std::deque<std::optional<std::string>> slots;
  std::size_t slot_bytes = 0;  // ready replies held in slots, not yet in `out`
  std::uint64_t first_seq = 0;
  bool reading = true;   // EPOLLIN armed
  bool writing = false;  // EPOLLOUT armed
  bool closing = false;  // no more input: close once everything is sent
  bool busy = false;     // process_input is running commands (a command may finish inside it)
  // Commands parsed but waiting for an earlier one on the same key, and
  // those running (done: finished, dropped at the end of process_input).
  struct Waiting {
    std::uint64_t seq;
    Command command;
    CommandKeys keys;
    std::size_t bytes;  // of its arguments
  };
  struct Running {
    std::uint64_t seq;
    CommandKeys keys;
    std::size_t bytes;
    bool done = false;
  };
  // Argument bytes of the commands parsed and not yet answered: they count
  // against the buffer bound like unparsed input.
  std::size_t command_bytes = 0;
  std::list<Waiting> waiting;
  std::list<Running> running;
  explicit Connection(const ParserLimits& limits) : parser(limits) {}
};

struct RespServer::Impl : Backend {
  RespConfig config_;
  std::unique_ptr<zmq::context_t> own_context_;  // when the node's is not shared
  zmq::socket_t node_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  bool stopped_ = false;

  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t next_connection_ = kConnectionBase;
  std::uint64_t connections_total_ = 0;
  std::uint64_t commands_total_ = 0;
  std::int64_t started_unix_s_ = 0;

  // Native requests in flight: id -> what to do with the answer. Ids grow
  // with time, so the oldest (first to time out) come first.
  struct Pending {
    std::int64_t deadline_ms = 0;
    // Returns true when the request is finished (a listing takes several
    // replies); nullptr envelope: it failed with `failure`.
    std::function<bool(const net::Envelope*, const Error*)> handle;
  };
  std::map<std::uint64_t, Pending> pending_;
  std::uint64_t next_request_ = 1;
  std::int64_t next_sweep_ms_ = 0;
  std::unique_ptr<char[]> read_buffer_ = std::make_unique<char[]>(kReadChunk);

  ~Impl() override {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  // ---- Backend ---------------------------------------------------------------------------

  const RespConfig& config() const override { return config_; }
  std::size_t connections() const override { return connections_.size(); }
  std::uint64_t connections_total() const override { return connections_total_; }
  std::uint64_t commands_total() const override { return commands_total_; }
  std::int64_t started_unix_s() const override { return started_unix_s_; }

  void send_request(std::uint64_t id, const std::string& bytes, Pending pending) {
    pending.deadline_ms = monotonic_ms() + config_.request_timeout_ms;
    try {
      if (!node_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait)) {
        Error e = make_error(Errc::overloaded, "the node's request queue is full; try again");
        pending.handle(nullptr, &e);
        return;
      }
    } catch (const zmq::error_t& ex) {
      Error e = make_error(Errc::unavailable, std::string("cannot reach the node: ") + ex.what());
      pending.handle(nullptr, &e);
      return;
    }
    pending_.emplace(id, std::move(pending));
  }

  void key_request(net::KeyRequest request, std::function<void(Result<net::ObjectView>)> done) override {
    std::uint64_t id = next_request_++;
    const MessageType type = request.type;
    const bool write = type != MessageType::get;
    Pending p;
    p.handle = [type, write, done = std::move(done)](const net::Envelope* reply, const Error* failure) {
      if (!reply) {
        done(*failure);
        return true;
      }
      if (reply->type == static_cast<std::uint8_t>(MessageType::error)) {
        Error error = net::decode_error_body(reply->body);
        if (write && error.code == Errc::timeout) error.code = Errc::unknown_outcome;
        done(std::move(error));
        return true;
      }
      if (reply->type != static_cast<std::uint8_t>(net::reply_type(type))) {
        done(make_error(Errc::malformed, "unexpected reply type " + std::to_string(reply->type)));
        return true;
      }
      done(net::decode_object_view(reply->body));
      return true;
    };
    send_request(id, net::encode_request(id, request), std::move(p));
  }

  void list_keys(std::function<void(Result<std::vector<std::string>>)> done) override {
    std::uint64_t id = next_request_++;
    net::ListRequest request;
    request.type = MessageType::list_keys;
    request.bucket_type = config_.bucket_type;
    request.bucket = config_.bucket;
    auto keys = std::make_shared<std::vector<std::string>>();
    const std::size_t max = config_.scan_keys_max;
    Pending p;
    p.handle = [keys, max, done = std::move(done)](const net::Envelope* reply, const Error* failure) {
      if (!reply) {
        done(*failure);
        return true;
      }
      if (reply->type == static_cast<std::uint8_t>(MessageType::error)) {
        done(net::decode_error_body(reply->body));
        return true;
      }
      auto page = net::decode_list_page(reply->body);
      if (!page) {
        done(page.error());
        return true;
      }
      for (auto& name : page.value().names) keys->push_back(std::move(name));
      if (keys->size() > max) {
        done(make_error(Errc::too_large,
                        "the keyspace holds more than " + std::to_string(max) + " keys, the limit of one listing"));
        return true;
      }
      if (!page.value().done) return false;
      done(std::move(*keys));
      return true;
    };
    send_request(id, net::encode_request(id, request), std::move(p));
  }

  void status(std::function<void(Result<StatusItems>)> done) override {
    std::uint64_t id = next_request_++;
    Pending p;
    p.handle = [done = std::move(done)](const net::Envelope* reply, const Error* failure) {
      if (!reply) {
        done(*failure);
      } else if (reply->type == static_cast<std::uint8_t>(MessageType::error)) {
        done(net::decode_error_body(reply->body));
      } else {
        done(net::decode_status(reply->body));
      }
      return true;
    };
    send_request(id, net::encode_simple_request(MessageType::status, id), std::move(p));
  }

  void keyspace_props(std::function<void(Result<std::string>)> done) override {
    std::uint64_t id = next_request_++;
    Pending p;
    p.handle = [type = config_.bucket_type, done = std::move(done)](const net::Envelope* reply, const Error* failure) {
      if (!reply) {
        done(*failure);
      } else if (reply->type == static_cast<std::uint8_t>(MessageType::error)) {
        done(net::decode_error_body(reply->body));
      } else if (auto view = net::decode_ring_view(reply->body); !view) {
        done(view.error());
      } else {
        for (const auto& [name, props] : view.value().bucket_types)
          if (name == type) return done(props), true;
        done(make_error(Errc::not_found, "no bucket type '" + type + "'"));
      }
      return true;
    };
    send_request(id, net::encode_simple_request(MessageType::bucket_types, id), std::move(p));
  }

  // ---- the node's replies ------------------------------------------------------------------

  void drain_node() {
    for (;;) {
      zmq::message_t frame;
      try {
        if (!node_.recv(frame, zmq::recv_flags::dontwait)) return;
      } catch (const zmq::error_t& e) {
        spdlog::error("resp: node socket: {}", e.what());
        return;
      }
      std::uint64_t id = 0;
      auto envelope = net::decode_envelope(frame.to_string_view(), net::reply_decode_limits(), &id);
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;  // a late answer to a request that timed out
      bool finished = true;
      if (envelope) {
        finished = it->second.handle(&envelope.value(), nullptr);
      } else {
        it->second.handle(nullptr, &envelope.error());
      }
      if (finished) pending_.erase(id);
    }
  }

  void sweep_timeouts() {
    const std::int64_t now = monotonic_ms();
    if (now < next_sweep_ms_) return;
    next_sweep_ms_ = now + 100;
    while (!pending_.empty() && pending_.begin()->second.deadline_ms <= now) {
      auto handle = std::move(pending_.begin()->second.handle);
      pending_.erase(pending_.begin());
      Error e = make_error(Errc::unknown_outcome, "the node did not answer in time");
      handle(nullptr, &e);
    }
  }

  // ---- connections -------------------------------------------------------------------------

  void update_events(std::uint64_t id, Connection& c) {
    // Backpressure: a client that does not read its replies stops being read
    // once half the buffer bound is waiting for it.
    const bool want_read = !c.closing && c.slots.size() < config_.pipeline_max &&
                           c.in.size() < config_.buffer_bytes_max && unsent(c) < config_.buffer_bytes_max / 2 &&
                           c.command_bytes < config_.buffer_bytes_max / 2;
    const bool want_write = c.out_sent < c.out.size();
    if (want_read == c.reading && want_write == c.writing) return;
    c.reading = want_read;
    c.writing = want_write;
    epoll_event ev{};
    ev.events = (want_read ? EPOLLIN : 0u) | (want_write ? EPOLLOUT : 0u);
    ev.data.u64 = id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void close_connection(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
    ::close(it->second->fd);
    connections_.erase(it);
  }

  void accept_connections() {
    for (;;) {
      sockaddr_in addr{};
      socklen_t len = sizeof addr;
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          spdlog::warn("resp: accept: {}", std::strerror(errno));
        return;
      }
      if (connections_.size() >= config_.connections_max) {
        static constexpr char kFull[] = "-ERR max number of clients reached\r\n";
        (void)!::write(fd, kFull, sizeof kFull - 1);
        ::close(fd);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::uint64_t id = next_connection_++;
      auto c = std::make_unique<Connection>(config_.parser);
      c->fd = fd;
      c->session = std::make_shared<Session>();
      c->session->id = id - kConnectionBase + 1;
      char ip[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
      c->session->peer = std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      connections_.emplace(id, std::move(c));
      ++connections_total_;
    }
  }

  // Appends the ready replies at the front of the queue to the output.
  // Replies held for a connection: written to `out` but not sent, and ready
  // in slots behind one that is not.
  static std::size_t unsent(const Connection& c) { return c.out.size() - c.out_sent + c.slot_bytes; }

  void flush_slots(Connection& c) {
    while (!c.slots.empty() && c.slots.front().has_value()) {
      c.slot_bytes -= c.slots.front()->size();
      c.out.append(*c.slots.front());
      c.slots.pop_front();
      ++c.first_seq;
    }
  }

  // Writes what it can; false when the connection is gone.
  bool write_out(std::uint64_t id, Connection& c) {
    while (c.out_sent < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        close_connection(id);
        return false;
      }
      c.out_sent += static_cast<std::size_t>(n);
    }
    if (c.out_sent == c.out.size()) {
      c.out.clear();
      c.out_sent = 0;
    } else if (c.out_sent > (1u << 20)) {
      c.out.erase(0, c.out_sent);
      c.out_sent = 0;
    }
    if (c.closing && c.slots.empty() && c.waiting.empty() && c.out.empty()) {
      close_connection(id);
      return false;
    }
    // Over the bound: a client that does not read its replies is cut off
    // (so is one reply larger than the bound: raise --resp-buffer-bytes-max
    // for KEYS over a very large keyspace).
    if (unsent(c) > config_.buffer_bytes_max) {
      spdlog::warn("resp: closing client {}: {} bytes of replies unread (limit {})", c.session->peer, unsent(c),
                   config_.buffer_bytes_max);
      close_connection(id);
      return false;
    }
    update_events(id, c);
    return true;
  }

  void complete(std::uint64_t id, std::uint64_t seq, std::string bytes) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;  // the client went away
    Connection& c = *it->second;
    if (seq < c.first_seq || seq - c.first_seq >= c.slots.size()) return;
    c.slot_bytes += bytes.size();
    c.slots[seq - c.first_seq] = std::move(bytes);
    for (auto& r : c.running) {
      if (r.seq == seq && !r.done) {
        r.done = true;
        c.command_bytes -= r.bytes;
      }
    }
    // process_input starts what this unblocked, flushes and writes (unless
    // it is running already: then it does so when its loop ends).
    process_input(id);
  }

  // Starts the waiting commands that share no key with an earlier command
  // still running or waiting; true if it started any.
  bool start_ready(std::uint64_t id, Connection& c) {
    bool started = false;
    std::vector<const CommandKeys*> blockers;
    for (const auto& r : c.running)
      if (!r.done) blockers.push_back(&r.keys);
    for (auto it = c.waiting.begin(); it != c.waiting.end();) {
      bool blocked = false;
      for (const auto* b : blockers) blocked = blocked || conflicts(it->keys, *b);
      if (blocked) {
        blockers.push_back(&it->keys);
        ++it;
        continue;
      }
      const std::uint64_t seq = it->seq;
      Command command = std::move(it->command);
      auto& running = c.running.emplace_back(Connection::Running{seq, std::move(it->keys), it->bytes, false});
      it = c.waiting.erase(it);
      blockers.push_back(&running.keys);
      started = true;
      execute(*this, c.session, std::move(command),
              [this, id, seq](std::string bytes) { complete(id, seq, std::move(bytes)); });
    }
    return started;
  }

  // Parses and runs the buffered commands, as many as the pipeline allows.
  void process_input(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = *it->second;
    if (c.busy) return;
    c.busy = true;
    std::size_t used = 0;
    while (!c.closing && c.slots.size() < config_.pipeline_max && used < c.in.size() &&
           c.command_bytes < config_.buffer_bytes_max / 2) {
      std::size_t consumed = 0;
      auto parsed = c.parser.parse(std::string_view(c.in).substr(used), consumed);
      used += consumed;
      if (!parsed) {
        // As Redis: the error, then the connection closes.
        std::string error = ReplyWriter(c.session->protocol).error("ERR " + parsed.error().message).take();
        c.slot_bytes += error.size();
        c.slots.emplace_back(std::move(error));
        c.closing = true;
        break;
      }
      if (!parsed.value()) {
        if (consumed == 0) break;
        continue;
      }
      ++commands_total_;
      const std::uint64_t seq = c.first_seq + c.slots.size();
      c.slots.emplace_back();
      CommandKeys keys = command_keys(*parsed.value());
      std::size_t bytes = 0;
      for (const auto& arg : *parsed.value()) bytes += arg.size() + 16;
      c.command_bytes += bytes;
      c.waiting.push_back(Connection::Waiting{seq, std::move(*parsed.value()), std::move(keys), bytes});
      if (lower_equals(c.waiting.back().command[0], "quit")) c.closing = true;  // nothing after QUIT runs
    }
    // A command may finish inside execute and unblock a later one.
    while (start_ready(id, c)) {
      c.running.remove_if([](const Connection::Running& r) { return r.done; });
    }
    c.running.remove_if([](const Connection::Running& r) { return r.done; });
    c.busy = false;
    c.in.erase(0, used);
    flush_slots(c);
    if (c.closing && c.slots.empty() && c.waiting.empty() && c.out_sent == c.out.size()) {
      close_connection(id);
      return;
    }
    write_out(id, c);
  }

  void read_connection(std::uint64_t id) {
    for (;;) {
      auto it = connections_.find(id);
      if (it == connections_.end()) return;
      Connection& c = *it->second;
      if (!c.reading) return;
      // Into a scratch buffer, then appended: growing `in` by a whole chunk
      // first would zero 64 KiB for every few-byte command.
      ssize_t n = ::recv(c.fd, read_buffer_.get(), kReadChunk, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        // The client closed (or reset) its side: nothing more to do for it.
        close_connection(id);
        return;
      }
      c.in.append(read_buffer_.get(), static_cast<std::size_t>(n));
      process_input(id);
      it = connections_.find(id);
      if (it == connections_.end()) return;
      if (it->second->in.size() >= config_.buffer_bytes_max) {
        spdlog::warn("resp: closing client {}: {} bytes of unparsed input (limit {})", it->second->session->peer,
                     it->second->in.size(), config_.buffer_bytes_max);
        static constexpr char kOver[] = "-ERR Protocol error: the connection's input buffer is full\r\n";
        (void)!::send(it->second->fd, kOver, sizeof kOver - 1, MSG_NOSIGNAL);
        close_connection(id);
        return;
      }
      if (static_cast<std::size_t>(n) < kReadChunk) return;
    }
  }

  void run() {
    std::vector<epoll_event> events(256);
    for (;;) {
      int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
      if (n < 0 && errno != EINTR) {
        spdlog::error("resp: epoll_wait: {}", std::strerror(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
        const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
        if (tag == kWakeTag) {
          for (auto& [id, c] : connections_) ::close(c->fd);
          connections_.clear();
          return;
        }
        if (tag == kListenTag) {
          accept_connections();
        } else if (tag == kNodeTag) {
          drain_node();
        } else {
          if (what & (EPOLLERR | EPOLLHUP)) {
            // The peer is gone (or reset): its replies have nowhere to go.
            close_connection(tag);
            continue;
          }
          if (what & EPOLLOUT) {
            auto it = connections_.find(tag);
            if (it != connections_.end() && write_out(tag, *it->second)) process_input(tag);
          }
          if (what & EPOLLIN) read_connection(tag);
        }
      }
      // ZMQ_FD signals edges only: always drain what the node answered.
      drain_node();
      sweep_timeouts();
    }
  }
};

Result<std::unique_ptr<RespServer>> RespServer::start(RespConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config_ = std::move(config);
  // One command's arguments must fit in the connection's buffer bound.
  impl->config_.parser.command_bytes_max =
      std::min(impl->config_.parser.command_bytes_max, impl->config_.buffer_bytes_max);
  impl->started_unix_s_ =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  Impl& s = *impl;
  s.listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.listen_fd_ < 0) return make_error(Errc::io_error, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(s.listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(s.config_.listen_port);
  if (::inet_pton(AF_INET, s.config_.listen_host.c_str(), &addr.sin_addr) != 1)
    return make_error(Errc::invalid_argument, "--resp-listen: '" + s.config_.listen_host + "' is not an IPv4 address");
  const std::string where = s.config_.listen_host + ":" + std::to_string(s.config_.listen_port);
  if (::bind(s.listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return make_error(Errc::busy, "cannot listen for Redis clients on " + where + ": " + std::strerror(errno));
  if (::listen(s.listen_fd_, 1024) != 0)
    return make_error(Errc::busy, "cannot listen for Redis clients on " + where + ": " + std::strerror(errno));
  socklen_t len = sizeof addr;
  ::getsockname(s.listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  s.port_ = ntohs(addr.sin_port);

  try {
    zmq::context_t* context = s.config_.context;
    if (!context) {
      s.own_context_ = std::make_unique<zmq::context_t>(1);
      context = s.own_context_.get();
    }
    s.node_ = zmq::socket_t(*context, zmq::socket_type::dealer);
    s.node_.set(zmq::sockopt::linger, 0);
    s.node_.set(zmq::sockopt::sndhwm, 100'000);
    s.node_.set(zmq::sockopt::rcvhwm, 100'000);
    s.node_.connect(s.config_.node_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error(Errc::invalid_argument,
                      "cannot connect to the node at " + s.config_.node_endpoint + ": " + e.what());
  }
  s.epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  s.wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.epoll_fd_ < 0 || s.wake_fd_ < 0)
    return make_error(Errc::io_error, "epoll/eventfd: " + std::string(std::strerror(errno)));
  auto add = [&](int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return ::epoll_ctl(s.epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  int node_fd = s.node_.get(zmq::sockopt::fd);
  if (!add(s.listen_fd_, kListenTag) || !add(s.wake_fd_, kWakeTag) || !add(node_fd, kNodeTag))
    return make_error(Errc::io_error, "epoll_ctl: " + std::string(std::strerror(errno)));
  s.thread_ = std::thread([&s] { s.run(); });
  spdlog::info("listening for Redis clients on {}:{} (keyspace {}/{})", s.config_.listen_host, s.port_,
               s.config_.bucket_type, s.config_.bucket);
  return std::unique_ptr<RespServer>(new RespServer(std::move(impl)));
}

RespServer::RespServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RespServer::~RespServer() { stop(); }

void RespServer::stop() {
  if (!impl_ || impl_->stopped_) return;
  impl_->stopped_ = true;
  std::uint64_t one = 1;
  (void)!::write(impl_->wake_fd_, &one, sizeof one);
  if (impl_->thread_.joinable()) impl_->thread_.join();
  impl_->node_.close();  // before the node's context closes
}

std::uint16_t RespServer::port() const { return impl_->port_; }

}  // namespace shoal::resp
