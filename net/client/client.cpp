#include "net/client/client.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include "base/hash.hpp"

#include <algorithm>
#include <bit>

namespace shoal::client {

using net::MessageType;

namespace {

std::int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A reply handler: called with each reply message (streams: several) or
// with the final error (exactly one of the two is non-null); returns true
// when the request is complete.
using RawHandler = std::function<bool(net::Envelope* reply, const Error* error)>;

struct Request {
  std::uint64_t id = 0;
  std::string message;
  MessageType type = MessageType::ping;
  bool idempotent = true;
  bool write = false;
  std::optional<std::size_t> fixed_node;
  std::optional<std::uint64_t> key_hash;
  RawHandler handler;
  std::size_t node = SIZE_MAX;
  std::uint32_t attempts = 0;
  std::int64_t deadline_us = 0;
  std::uint32_t timeout_ms = 0;
  std::vector<std::size_t> tried;
  std::optional<Error> last_error;  // why the previous attempt did not go through
};

struct NodeConn {
  std::string address;  // host:port
  std::unique_ptr<zmq::socket_t> socket;
  std::string name;  // node name, learned by ping
  std::int64_t unhealthy_until_us = 0;
  std::uint32_t timeouts_in_a_row = 0;  // reset by any reply
};

}  // namespace

struct Client::Impl {
  ClientOptions options;
  zmq::context_t context{1};
  std::vector<NodeConn> nodes;
  int wake_fd = -1;
  std::thread io;
  std::atomic<bool> running{true};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> in_flight{0};

  std::mutex submit_mutex;
  std::vector<std::unique_ptr<Request>> submitted;
  std::vector<std::function<void()>> tasks;  // run on the I/O thread

  // I/O thread only.
  std::unordered_map<std::uint64_t, std::unique_ptr<Request>> pending;
  std::priority_queue<std::pair<std::int64_t, std::uint64_t>, std::vector<std::pair<std::int64_t, std::uint64_t>>,
                      std::greater<>>
      deadlines;
  std::size_t round_robin = 0;
  // Routing by ring: owner node name per partition, and node name -> index.
  std::vector<std::string> owners;
  std::unordered_map<std::string, std::size_t> node_by_name;

  ~Impl() {
    running = false;
    wake();
    if (io.joinable()) io.join();
    for (auto& n : nodes) n.socket->close();
    context.close();
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void wake() {
    std::uint64_t one = 1;
    ssize_t n = ::write(wake_fd, &one, sizeof one);
    (void)n;
  }

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(submit_mutex);
      tasks.push_back(std::move(task));
    }
    wake();
  }

  void submit(std::unique_ptr<Request> request) {
    if (in_flight.fetch_add(1) >= options.in_flight_max) {
      --in_flight;
      // Callbacks always run on the I/O thread, even this refusal.
      auto shared = std::make_shared<std::unique_ptr<Request>>(std::move(request));
      std::size_t max = options.in_flight_max;
      post([shared, max] {
        Error error = make_error(Errc::overloaded, "the client has " + std::to_string(max) + " requests in flight");
        (*shared)->handler(nullptr, &error);
      });
      return;
    }
    bool was_empty;
    {
      std::lock_guard lock(submit_mutex);
      was_empty = submitted.empty();
      submitted.push_back(std::move(request));
    }
    if (was_empty) wake();
  }

  // ---- I/O thread ----

  void run() {
    std::vector<zmq::pollitem_t> items;
    for (auto& n : nodes) items.push_back(zmq::pollitem_t{n.socket->handle(), 0, ZMQ_POLLIN, 0});
    items.push_back(zmq::pollitem_t{nullptr, wake_fd, ZMQ_POLLIN, 0});
    while (running) {
      long timeout_ms = 100;
      if (!deadlines.empty())
        timeout_ms = std::clamp<std::int64_t>((deadlines.top().first - monotonic_us()) / 1000 + 1, 0, 100);
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(timeout_ms));
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) return;
      }
      if (items.back().revents & ZMQ_POLLIN) {
        std::uint64_t count;
        ssize_t n = ::read(wake_fd, &count, sizeof count);
        (void)n;
      }
      std::vector<std::unique_ptr<Request>> batch;
      std::vector<std::function<void()>> todo;
      {
        std::lock_guard lock(submit_mutex);
        batch.swap(submitted);
        todo.swap(tasks);
      }
      for (auto& task : todo) task();
      for (auto& r : batch) dispatch(std::move(r));
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (items[i].revents & ZMQ_POLLIN) receive(i);
      expire();
    }
    // Fail whatever is left so no caller waits forever.
    std::vector<std::unique_ptr<Request>> left;
    {
      std::lock_guard lock(submit_mutex);
      left.swap(submitted);
    }
    for (auto& [id, r] : pending) left.push_back(std::move(r));
    pending.clear();
    for (auto& r : left) finish(*r, make_error(Errc::shutting_down, "the client is closing"));
  }

  std::optional<std::size_t> pick_node(const Request& r) {
    std::int64_t now = monotonic_us();
    auto usable = [&](std::size_t i) {
      return nodes[i].unhealthy_until_us <= now && std::find(r.tried.begin(), r.tried.end(), i) == r.tried.end();
    };
    if (r.fixed_node) return r.tried.empty() ? r.fixed_node : std::nullopt;
    if (r.key_hash && !owners.empty()) {
      std::size_t q = owners.size();
      std::size_t bits = static_cast<std::size_t>(std::countr_zero(q));
      std::size_t partition = static_cast<std::size_t>(*r.key_hash >> (64 - bits));
      auto it = node_by_name.find(owners[partition]);
      if (it != node_by_name.end() && usable(it->second)) return it->second;
    }
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      std::size_t i = (round_robin + k) % nodes.size();
      if (usable(i)) {
        round_robin = i + 1;
        return i;
      }
    }
    // Every node is backing off: try one we have not tried for this request.
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (std::find(r.tried.begin(), r.tried.end(), i) == r.tried.end()) return i;
    return std::nullopt;
  }

  void dispatch(std::unique_ptr<Request> r) {
    for (;;) {
      auto node = pick_node(*r);
      if (!node) {
        // Only attempts that certainly did no work are retried, so the last
        // attempt's error is the outcome.
        Error error = r->last_error ? *r->last_error
                                    : make_error(Errc::unavailable, "no Shoal node is reachable (tried " +
                                                                        std::to_string(r->tried.size()) + ")");
        return finish(*r, error);
      }
      r->tried.push_back(*node);
      bool sent = false;
      try {
        sent = nodes[*node].socket->send(zmq::buffer(r->message), zmq::send_flags::dontwait).has_value();
      } catch (const zmq::error_t&) {
        sent = false;
      }
      if (!sent) {
        // Never delivered (not connected, or its queue is full): always safe to retry.
        nodes[*node].unhealthy_until_us = monotonic_us() + std::int64_t{options.node_backoff_ms} * 1000;
        continue;
      }
      ++r->attempts;
      r->node = *node;
      r->deadline_us = monotonic_us() + std::int64_t{r->timeout_ms} * 1000 + 500'000;
      deadlines.emplace(r->deadline_us, r->id);
      std::uint64_t id = r->id;
      pending[id] = std::move(r);
      return;
    }
  }

  void finish(Request& r, const Error& error) {
    r.handler(nullptr, &error);
    --in_flight;
  }

  void retry_or_fail(std::unique_ptr<Request> r, Error error) {
    r->last_error = error;
    if (r->attempts <= options.retries) {
      dispatch(std::move(r));
      return;
    }
    finish(*r, std::move(error));
  }

  void receive(std::size_t node) {
    for (int n = 0; n < 1024; ++n) {
      zmq::message_t frame;
      try {
        if (!nodes[node].socket->recv(frame, zmq::recv_flags::dontwait)) return;
      } catch (const zmq::error_t&) {
        return;
      }
      auto decoded = net::decode_envelope(frame.to_string_view(), net::reply_decode_limits());
      if (!decoded) continue;
      net::Envelope envelope = std::move(decoded).value();
      auto it = pending.find(envelope.request_id);
      if (it == pending.end()) continue;  // late reply to a retried or finished request
      Request& r = *it->second;
      nodes[node].unhealthy_until_us = 0;
      nodes[node].timeouts_in_a_row = 0;
      if (envelope.type == static_cast<std::uint8_t>(MessageType::error)) {
        Error error = net::decode_error_body(envelope.body);
        // Refused before any work was done: safe to send elsewhere.
        if ((error.code == Errc::overloaded || error.code == Errc::shutting_down) && !r.fixed_node) {
          auto owned = std::move(it->second);
          pending.erase(it);
          retry_or_fail(std::move(owned), error);
          continue;
        }
      }
      bool complete = r.handler(&envelope, nullptr);
      if (complete) {
        pending.erase(it);
        --in_flight;
      } else {
        // A stream page: the next one has a fresh deadline.
        r.deadline_us = monotonic_us() + std::int64_t{r.timeout_ms} * 1000 + 500'000;
        deadlines.emplace(r.deadline_us, r.id);
      }
    }
  }

  void expire() {
    std::int64_t now = monotonic_us();
    while (!deadlines.empty() && deadlines.top().first <= now) {
      auto [deadline, id] = deadlines.top();
      deadlines.pop();
      auto it = pending.find(id);
      if (it == pending.end() || it->second->deadline_us != deadline) continue;
      auto r = std::move(it->second);
      pending.erase(it);
      NodeConn& node = nodes[r->node];
      // One slow answer is load, not a failure: back off a node only after
      // several timeouts in a row (a dead node is noticed when sends fail).
      if (++node.timeouts_in_a_row >= 3) node.unhealthy_until_us = now + std::int64_t{options.node_backoff_ms} * 1000;
      std::string where = node.name.empty() ? node.address : node.name;
      if (r->idempotent) {
        retry_or_fail(std::move(r), make_error(Errc::timeout, "no answer from " + where + " within " +
                                                                  std::to_string(r->timeout_ms) + " ms"));
      } else {
        finish(*r, make_error(Errc::unknown_outcome, "no answer from " + where + " within " +
                                                         std::to_string(r->timeout_ms) +
                                                         " ms: the write may or may not have been applied"));
      }
    }
  }
};

namespace {

std::unique_ptr<Request> make_request(Client::Impl& impl, MessageType type, std::uint64_t id, std::string message,
                                      RawHandler handler) {
  auto r = std::make_unique<Request>();
  r->id = id;
  r->type = type;
  r->message = std::move(message);
  r->handler = std::move(handler);
  r->timeout_ms = impl.options.timeout_ms;
  return r;
}

// Decodes the typed body of a single-reply request.
template <typename T>
RawHandler single(MessageType type, std::function<Result<T>(std::span<const msgpack::object>)> decode, Callback<T> done,
                  bool write) {
  return [type, decode = std::move(decode), done = std::move(done), write](net::Envelope* reply,
                                                                           const Error* failure) -> bool {
    if (!reply) {
      done(*failure);
      return true;
    }
    const net::Envelope& e = *reply;
    if (e.type == static_cast<std::uint8_t>(MessageType::error)) {
      Error error = net::decode_error_body(e.body);
      // A write the server timed out on may have been applied.
      if (write && error.code == Errc::timeout) error.code = Errc::unknown_outcome;
      done(std::move(error));
      return true;
    }
    if (e.type != static_cast<std::uint8_t>(net::reply_type(type))) {
      done(make_error(Errc::malformed, "unexpected reply type " + std::to_string(e.type)));
      return true;
    }
    done(decode(e.body));
    return true;
  };
}

template <typename T>
Result<T> wait(std::function<void(Callback<T>)> start) {
  std::promise<Result<T>> promise;
  auto future = promise.get_future();
  start([&promise](Result<T> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void apply_timeout(Request& r, const RequestOptions& options) {
  if (options.timeout_ms) r.timeout_ms = *options.timeout_ms;
}

}  // namespace

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::size_t Client::in_flight() const { return impl_->in_flight.load(); }

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  if (options.nodes.empty()) return make_error(Errc::invalid_argument, "the client needs at least one node address");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0) return make_error(Errc::io_error, "eventfd failed");
  for (const auto& address : options.nodes) {
    if (address.find(':') == std::string::npos)
      return make_error(Errc::invalid_argument, "node address '" + address + "' must be host:port");
    NodeConn conn;
    conn.address = address;
    conn.socket = std::make_unique<zmq::socket_t>(impl->context, zmq::socket_type::dealer);
    conn.socket->set(zmq::sockopt::linger, 0);
    conn.socket->set(zmq::sockopt::immediate, 1);  // a send to a node not connected fails at once
    conn.socket->set(zmq::sockopt::sndhwm, 100'000);
    conn.socket->set(zmq::sockopt::rcvhwm, 100'000);
    conn.socket->set(zmq::sockopt::reconnect_ivl, 100);
    conn.socket->set(zmq::sockopt::reconnect_ivl_max, 1000);
    try {
      conn.socket->connect("tcp://" + address);
    } catch (const zmq::error_t& e) {
      return make_error(Errc::invalid_argument, "cannot connect to " + address + ": " + e.what());
    }
    impl->nodes.push_back(std::move(conn));
  }
  Impl* raw = impl.get();
  impl->io = std::thread([raw] { raw->run(); });
  std::unique_ptr<Client> client(new Client(std::move(impl)));
  // Learn node names (to route by ring) and the ring; give connections a
  // moment to come up. No node answering at all is an error.
  bool any = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  while (!any && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < client->impl_->nodes.size(); ++i) {
      auto pong = client->ping_with_timeout(client->impl_->nodes[i].address, 300);
      if (!pong) continue;
      any = true;
      client->impl_->nodes[i].name = pong.value().node;
    }
    if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!any) {
    std::string list;
    for (const auto& n : options.nodes) list += (list.empty() ? "" : ", ") + n;
    return make_error(Errc::unavailable, "no Shoal node answered within " + std::to_string(options.connect_timeout_ms) +
                                             " ms (" + list + ")");
  }
  if (options.route_by_ring) {
    if (auto ring = client->ring(); ring) {
      std::vector<std::string> owners = ring.value().owners;
      std::unordered_map<std::string, std::size_t> by_name;
      for (std::size_t i = 0; i < client->impl_->nodes.size(); ++i)
        if (!client->impl_->nodes[i].name.empty()) by_name[client->impl_->nodes[i].name] = i;
      // Handed to the I/O thread, which alone reads them.
      Impl* impl_raw = client->impl_.get();
      if (std::has_single_bit(owners.size())) {
        impl_raw->post([impl_raw, owners = std::move(owners), by_name = std::move(by_name)]() mutable {
          impl_raw->owners = std::move(owners);
          impl_raw->node_by_name = std::move(by_name);
        });
      }
    }
  }
  return client;
}

// ---- key requests ------------------------------------------------------------------------

namespace {

std::unique_ptr<Request> key_request(Client::Impl& impl, net::KeyRequest request, Callback<ObjectView> done) {
  std::uint64_t id = impl.next_id.fetch_add(1);
  if (!request.options.timeout_ms && request.type != MessageType::replica_get)
    request.options.timeout_ms = impl.options.timeout_ms;
  bool write =
      request.type == MessageType::put || request.type == MessageType::del || request.type == MessageType::update;
  MessageType type = request.type;
  auto r = make_request(impl, type, id, net::encode_request(id, request),
                        single<ObjectView>(type, net::decode_object_view, std::move(done), write));
  r->write = write;
  // Retrying is safe for reads and for writes that carry a context (they
  // replace exactly what they saw); not for blind writes or CRDT updates.
  r->idempotent = !write || (type != MessageType::update && request.context.has_value());
  r->key_hash = key_hash(request.key.bucket_type, request.key.bucket, request.key.key);
  apply_timeout(*r, request.options);
  return r;
}

}  // namespace

void Client::get_async(const Key& key, const RequestOptions& options, Callback<ObjectView> done) {
  net::KeyRequest request;
  request.type = MessageType::get;
  request.key = key;
  request.options = options;
  impl_->submit(key_request(*impl_, std::move(request), std::move(done)));
}

void Client::put_async(const Key& key, std::string value, const PutOptions& options, Callback<ObjectView> done) {
  net::KeyRequest request;
  request.type = MessageType::put;
  request.key = key;
  request.value = std::move(value);
  request.content_type = options.content_type;
  request.user_metadata = options.user_metadata;
  request.context = options.context;
  request.options = options.request;
  impl_->submit(key_request(*impl_, std::move(request), std::move(done)));
}

void Client::del_async(const Key& key, std::optional<std::string> context, const RequestOptions& options,
                       Callback<ObjectView> done) {
  net::KeyRequest request;
  request.type = MessageType::del;
  request.key = key;
  request.context = std::move(context);
  request.options = options;
  impl_->submit(key_request(*impl_, std::move(request), std::move(done)));
}

void Client::update_async(const Key& key, crdt::AnyOp op, std::optional<std::string> context,
                          const RequestOptions& options, Callback<ObjectView> done) {
  net::KeyRequest request;
  request.type = MessageType::update;
  request.key = key;
  request.op = std::move(op);
  request.context = std::move(context);
  request.options = options;
  impl_->submit(key_request(*impl_, std::move(request), std::move(done)));
}

Result<ObjectView> Client::get(const Key& key, const RequestOptions& options) {
  return wait<ObjectView>([&](Callback<ObjectView> cb) { get_async(key, options, std::move(cb)); });
}

Result<ObjectView> Client::put(const Key& key, std::string value, const PutOptions& options) {
  return wait<ObjectView>([&](Callback<ObjectView> cb) { put_async(key, std::move(value), options, std::move(cb)); });
}

Result<ObjectView> Client::del(const Key& key, std::optional<std::string> context, const RequestOptions& options) {
  return wait<ObjectView>([&](Callback<ObjectView> cb) { del_async(key, std::move(context), options, std::move(cb)); });
}

Result<ObjectView> Client::update(const Key& key, crdt::AnyOp op, std::optional<std::string> context,
                                  const RequestOptions& options) {
  return wait<ObjectView>(
      [&](Callback<ObjectView> cb) { update_async(key, std::move(op), std::move(context), options, std::move(cb)); });
}

Result<std::optional<crdt::AnyValue>> Client::fetch(const Key& key, const RequestOptions& options) {
  SHOAL_TRY(view, get(key, options));
  if (!view.found) return std::optional<crdt::AnyValue>{};
  if (!view.value)
    return make_error(Errc::invalid_argument, "bucket type '" + key.bucket_type + "' holds plain objects: use get");
  return std::optional<crdt::AnyValue>{std::move(*view.value)};
}

std::future<Result<ObjectView>> Client::get_future(const Key& key, const RequestOptions& options) {
  auto promise = std::make_shared<std::promise<Result<ObjectView>>>();
  auto future = promise->get_future();
  get_async(key, options, [promise](Result<ObjectView> r) { promise->set_value(std::move(r)); });
  return future;
}

std::future<Result<ObjectView>> Client::put_future(const Key& key, std::string value, const PutOptions& options) {
  auto promise = std::make_shared<std::promise<Result<ObjectView>>>();
  auto future = promise->get_future();
  put_async(key, std::move(value), options, [promise](Result<ObjectView> r) { promise->set_value(std::move(r)); });
  return future;
}

Result<std::vector<net::ReplicaView>> Client::replica_get(const Key& key) {
  return wait<std::vector<net::ReplicaView>>([&](Callback<std::vector<net::ReplicaView>> cb) {
    net::KeyRequest request;
    request.type = MessageType::replica_get;
    request.key = key;
    std::uint64_t id = impl_->next_id.fetch_add(1);
    auto r = make_request(*impl_, MessageType::replica_get, id, net::encode_request(id, request),
                          single<std::vector<net::ReplicaView>>(MessageType::replica_get, net::decode_replica_views,
                                                                std::move(cb), false));
    impl_->submit(std::move(r));
  });
}

// ---- lists ---------------------------------------------------------------------------------

void Client::list_keys_async(const std::string& bucket_type, const std::string& bucket, const RequestOptions& options,
                             std::function<void(std::vector<std::string>)> page, Callback<bool> done) {
  net::ListRequest request;
  request.type = MessageType::list_keys;
  request.bucket_type = bucket_type;
  request.bucket = bucket;
  request.options = options;
  std::uint64_t id = impl_->next_id.fetch_add(1);
  auto handler = [page = std::move(page), done = std::move(done)](net::Envelope* reply, const Error* failure) -> bool {
    if (!reply) {
      done(*failure);
      return true;
    }
    const net::Envelope& e = *reply;
    if (e.type == static_cast<std::uint8_t>(MessageType::error)) {
      done(net::decode_error_body(e.body));
      return true;
    }
    auto decoded = net::decode_list_page(e.body);
    if (!decoded) {
      done(decoded.error());
      return true;
    }
    if (!decoded.value().names.empty()) page(std::move(decoded.value().names));
    if (decoded.value().done) done(true);
    return decoded.value().done;
  };
  auto r = make_request(*impl_, MessageType::list_keys, id, net::encode_request(id, request), std::move(handler));
  apply_timeout(*r, options);
  impl_->submit(std::move(r));
}

Result<std::vector<std::string>> Client::list_keys(const std::string& bucket_type, const std::string& bucket,
                                                   const RequestOptions& options) {
  auto names = std::make_shared<std::vector<std::string>>();
  SHOAL_TRYV(wait<bool>([&](Callback<bool> cb) {
    list_keys_async(
        bucket_type, bucket, options,
        [names](std::vector<std::string> page) {
          for (auto& n : page) names->push_back(std::move(n));
        },
        std::move(cb));
  }));
  return std::move(*names);
}

Result<std::vector<std::string>> Client::list_buckets(const std::string& bucket_type, const RequestOptions& options) {
  auto names = std::make_shared<std::vector<std::string>>();
  SHOAL_TRYV(wait<bool>([&](Callback<bool> cb) {
    net::ListRequest request;
    request.type = MessageType::list_buckets;
    request.bucket_type = bucket_type;
    request.options = options;
    std::uint64_t id = impl_->next_id.fetch_add(1);
    auto handler = [names, cb = std::move(cb)](net::Envelope* reply, const Error* failure) -> bool {
      if (!reply) {
        cb(*failure);
        return true;
      }
      const net::Envelope& e = *reply;
      if (e.type == static_cast<std::uint8_t>(MessageType::error)) {
        cb(net::decode_error_body(e.body));
        return true;
      }
      auto decoded = net::decode_list_page(e.body);
      if (!decoded) {
        cb(decoded.error());
        return true;
      }
      for (auto& n : decoded.value().names) names->push_back(std::move(n));
      if (decoded.value().done) cb(true);
      return decoded.value().done;
    };
    auto r = make_request(*impl_, MessageType::list_buckets, id, net::encode_request(id, request), std::move(handler));
    apply_timeout(*r, options);
    impl_->submit(std::move(r));
  }));
  return std::move(*names);
}

// ---- admin -----------------------------------------------------------------------------------

namespace {

template <typename T>
Result<T> admin(Client::Impl& impl, MessageType type, std::optional<std::string> node,
                std::function<Result<T>(std::span<const msgpack::object>)> decode, std::uint32_t timeout_ms = 5000,
                std::function<std::string(std::uint64_t)> encode = {}) {
  std::optional<std::size_t> fixed;
  if (node) {
    for (std::size_t i = 0; i < impl.nodes.size(); ++i)
      if (impl.nodes[i].address == *node || impl.nodes[i].name == *node) fixed = i;
    if (!fixed) return make_error(Errc::invalid_argument, "node " + *node + " is not one this client connected to");
  }
  return wait<T>([&](Callback<T> cb) {
    std::uint64_t id = impl.next_id.fetch_add(1);
    auto r = make_request(impl, type, id, encode ? encode(id) : net::encode_simple_request(type, id),
                          single<T>(type, std::move(decode), std::move(cb), false));
    r->fixed_node = fixed;
    if (fixed) r->timeout_ms = std::min<std::uint32_t>(r->timeout_ms, timeout_ms);
    impl.submit(std::move(r));
  });
}

}  // namespace

Result<std::vector<std::pair<std::string, net::StatusValue>>> Client::status(std::optional<std::string> node) {
  return admin<std::vector<std::pair<std::string, net::StatusValue>>>(*impl_, MessageType::status, std::move(node),
                                                                      net::decode_status);
}

Result<net::RingView> Client::ring(std::optional<std::string> node) {
  return admin<net::RingView>(*impl_, MessageType::ring, std::move(node), net::decode_ring_view);
}

Result<std::vector<net::MembersView>> Client::members(std::optional<std::string> node) {
  return admin<std::vector<net::MembersView>>(*impl_, MessageType::members, std::move(node), net::decode_members_view);
}

Result<net::PingReply> Client::ping(std::optional<std::string> node) {
  return admin<net::PingReply>(*impl_, MessageType::ping, std::move(node), net::decode_ping_reply);
}

Result<net::PingReply> Client::ping_with_timeout(const std::string& node, std::uint32_t timeout_ms) {
  return admin<net::PingReply>(*impl_, MessageType::ping, node, net::decode_ping_reply, timeout_ms);
}

Result<net::ClusterAdminReply> Client::cluster_admin(std::optional<std::string> node, const std::string& command,
                                                     const std::vector<std::string>& arguments) {
  return admin<net::ClusterAdminReply>(
      *impl_, MessageType::cluster_admin, std::move(node), net::decode_cluster_admin_reply, 15'000,
      [&](std::uint64_t id) { return net::encode_cluster_admin(id, command, arguments); });
}

Result<net::BucketTypeAdminReply> Client::bucket_type_admin(std::optional<std::string> node, const std::string& command,
                                                            const std::string& name, const std::string& properties) {
  return admin<net::BucketTypeAdminReply>(
      *impl_, MessageType::bucket_type_admin, std::move(node), net::decode_bucket_type_admin_reply, 15'000,
      [&](std::uint64_t id) { return net::encode_bucket_type_admin(id, command, name, properties); });
}

Result<void> Client::set_failpoint(const std::string& node, const std::string& name, const std::string& spec) {
  std::optional<std::size_t> fixed;
  for (std::size_t i = 0; i < impl_->nodes.size(); ++i)
    if (impl_->nodes[i].address == node || impl_->nodes[i].name == node) fixed = i;
  if (!fixed) return make_error(Errc::invalid_argument, "node " + node + " is not one this client connected to");
  SHOAL_TRYV(wait<bool>([&](Callback<bool> cb) {
    std::uint64_t id = impl_->next_id.fetch_add(1);
    auto r =
        make_request(*impl_, MessageType::failpoint, id, net::encode_failpoint_request(id, name, spec),
                     single<bool>(
                         MessageType::failpoint, [](std::span<const msgpack::object>) -> Result<bool> { return true; },
                         std::move(cb), false));
    r->fixed_node = fixed;
    impl_->submit(std::move(r));
  }));
  return ok();
}

// ---- parsing ---------------------------------------------------------------------------------

Result<Key> parse_key(std::string_view text) {
  auto first = text.find('/');
  auto second = first == std::string_view::npos ? first : text.find('/', first + 1);
  if (second == std::string_view::npos || first == 0 || second == first + 1 || second + 1 == text.size())
    return make_error(Errc::invalid_argument, "'" + std::string(text) + "' must be TYPE/BUCKET/KEY");
  return Key{std::string(text.substr(0, first)), std::string(text.substr(first + 1, second - first - 1)),
             std::string(text.substr(second + 1))};
}

Result<std::pair<std::string, std::string>> parse_bucket(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string_view::npos)
    return make_error(Errc::invalid_argument, "'" + std::string(text) + "' must be TYPE/BUCKET");
  return std::make_pair(std::string(text.substr(0, slash)), std::string(text.substr(slash + 1)));
}

}  // namespace shoal::client
