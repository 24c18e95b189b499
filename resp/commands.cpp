#include "resp/commands.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "base/codec.hpp"
#include "crdt/any_crdt.hpp"
#include "resp/reply.hpp"

namespace shoal::resp {

namespace {

using net::MessageType;
using net::ObjectView;
using net::RequestOptions;

// The version of Redis whose commands and replies the port follows, for
// clients that check it before using a feature.
constexpr std::string_view kRedisVersion = "7.0.0";
constexpr std::string_view kWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
// SRANDMEMBER with a negative count repeats members: at most this many, so
// one command cannot ask for an unbounded reply.
constexpr std::int64_t kRandomMembersMax = 100'000;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- one running command ------------------------------------------------------------------

struct Call {
  Backend& backend;
  std::shared_ptr<Session> session;
  Command args;
  Reply reply;

  ReplyWriter writer() const { return ReplyWriter(session->protocol); }
  void send(ReplyWriter& w) { reply(w.take()); }
  void error(std::string_view text) {
    auto w = writer();
    w.error(text);
    send(w);
  }
  void ok() {
    auto w = writer();
    w.ok();
    send(w);
  }
  void integer(std::int64_t n) {
    auto w = writer();
    w.integer(n);
    send(w);
  }
  void bulk_or_null(const std::optional<std::string>& value) {
    auto w = writer();
    if (value) {
      w.bulk(*value);
    } else {
      w.null();
    }
    send(w);
  }
  void syntax_error() { error("ERR syntax error"); }
  void fail(const Error& e) { error(error_text(e)); }

  static std::string error_text(const Error& e) {
    if (e.code == Errc::wrong_type) return std::string(kWrongType);
    if (e.message == "value is not an integer or out of range") return std::string(kNotInteger);
    return "ERR " + std::string(errc_name(e.code)) + ": " + e.message;
  }

  crdt::ObjectKey key(const std::string& name) const {
    return crdt::ObjectKey{backend.config().bucket_type, backend.config().bucket, name};
  }
  net::KeyRequest get_request(const std::string& name) const {
    net::KeyRequest r;
    r.type = MessageType::get;
    r.key = key(name);
    r.options.r = session->r;
    return r;
  }
  net::KeyRequest update_request(const std::string& name, crdt::AnyOp op) const {
    net::KeyRequest r;
    r.type = MessageType::update;
    r.key = key(name);
    r.op = std::move(op);
    r.options.w = session->w;
    return r;
  }
  net::KeyRequest delete_request(const std::string& name, std::string context) const {
    net::KeyRequest r;
    r.type = MessageType::del;
    r.key = key(name);
    r.context = std::move(context);
    r.options.w = session->w;
    return r;
  }
};
using CallPtr = std::shared_ptr<Call>;

// What a read found, in Redis' terms.
enum class Kind { none, string, set, hash, hll, other };

Kind kind_of(const ObjectView& view) {
  if (!view.found || !view.value) return Kind::none;
  switch (view.datatype) {
    case crdt::Datatype::register_: {
      const auto* v = std::get_if<crdt::LwwRegister::Value>(&view.value->value);
      return v && *v ? Kind::string : Kind::none;
    }
    case crdt::Datatype::counter:
      return Kind::string;
    // An emptied set or hash is no key, as in Redis (the node treats it so
    // too: another type may replace it and listings skip it).
    case crdt::Datatype::set: {
      const auto* members = std::get_if<crdt::Orswot::Value>(&view.value->value);
      return members && !members->empty() ? Kind::set : Kind::none;
    }
    case crdt::Datatype::map: {
      const auto* fields = std::get_if<crdt::MapValue>(&view.value->value);
      return fields && !fields->fields.empty() ? Kind::hash : Kind::none;
    }
    case crdt::Datatype::hll:
      return Kind::hll;
    default:
      return Kind::other;
  }
}

std::string_view type_name(Kind kind) {
  switch (kind) {
    case Kind::none:
      return "none";
    case Kind::string:
      return "string";
    case Kind::hll:
      return "string";  // as Redis reports a HyperLogLog
    case Kind::set:
      return "set";
    case Kind::hash:
      return "hash";
    case Kind::other:
      return "none";
  }
  return "none";
}

// A string key's value (a register's bytes or a counter in decimal).
std::optional<std::string> string_value(const ObjectView& view) {
  if (!view.value) return std::nullopt;
  if (const auto* v = std::get_if<crdt::LwwRegister::Value>(&view.value->value)) return *v;
  if (const auto* n = std::get_if<crdt::PnCounter::Value>(&view.value->value)) return std::to_string(*n);
  return std::nullopt;
}

const crdt::Orswot::Value* set_value(const ObjectView& view) {
  return view.value ? std::get_if<crdt::Orswot::Value>(&view.value->value) : nullptr;
}

// A hash: field -> value. A field written both by HSET (a register) and by
// HINCRBY (a counter) on two sides of a partition reads as the register's
// value: HSET replaces, and the next write of the field resolves it.
struct HashField {
  std::optional<std::string> text;     // the register
  std::optional<std::int64_t> number;  // the counter
  std::string value() const { return text ? *text : std::to_string(number.value_or(0)); }
};
std::map<std::string, HashField> hash_value(const ObjectView& view) {
  std::map<std::string, HashField> out;
  if (!view.value) return out;
  const auto* map = std::get_if<crdt::MapValue>(&view.value->value);
  if (!map) return out;
  for (const auto& [field, value] : map->fields) {
    if (field.type == crdt::TypeTag::lww_register) {
      if (const auto* v = std::get_if<crdt::LwwRegister::Value>(&value.value); v && *v) out[field.name].text = **v;
    } else if (field.type == crdt::TypeTag::pn_counter) {
      if (const auto* n = std::get_if<crdt::PnCounter::Value>(&value.value)) out[field.name].number = *n;
    }
  }
  return out;
}

// Reads one key, then runs `then` with the view (errors are replied).
void read_key(const CallPtr& call, const std::string& name, std::function<void(const ObjectView&)> then) {
  call->backend.key_request(call->get_request(name), [call, then = std::move(then)](Result<ObjectView> r) {
    if (!r) return call->fail(r.error());
    then(r.value());
  });
}

// Runs `requests` at once; `then` gets every result, in order.
void read_all(const CallPtr& call, std::vector<net::KeyRequest> requests,
              std::function<void(std::vector<Result<ObjectView>>&)> then) {
  struct Gather {
    std::vector<Result<ObjectView>> results;
    std::size_t left = 0;
    std::function<void(std::vector<Result<ObjectView>>&)> then;
  };
  auto gather = std::make_shared<Gather>();
  gather->results.assign(requests.size(), make_error(Errc::timeout, "not answered"));
  gather->left = requests.size();
  gather->then = std::move(then);
  if (requests.empty()) return gather->then(gather->results);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    call->backend.key_request(std::move(requests[i]), [gather, i](Result<ObjectView> r) {
      gather->results[i] = std::move(r);
      if (--gather->left == 0) gather->then(gather->results);
    });
  }
}

// Sends a write; `then` runs when it succeeded (errors are replied).
void write_key(const CallPtr& call, net::KeyRequest request, std::function<void(const ObjectView&)> then) {
  call->backend.key_request(std::move(request), [call, then = std::move(then)](Result<ObjectView> r) {
    if (!r) return call->fail(r.error());
    then(r.value());
  });
}

crdt::AnyOp register_op(std::string value) { return crdt::AnyOp{crdt::LwwRegister::Op{std::move(value), {}}}; }
crdt::AnyOp counter_op(std::int64_t delta) { return crdt::AnyOp{crdt::PnCounter::Op::increment(delta)}; }

std::vector<std::string> distinct_args(const Command& args, std::size_t from);

// ---- connection and server commands -------------------------------------------------------

void cmd_ping(const CallPtr& c) {
  auto w = c->writer();
  if (c->args.size() > 2) return c->error("ERR wrong number of arguments for 'ping' command");
  if (c->args.size() == 2) {
    w.bulk(c->args[1]);
  } else {
    w.simple("PONG");
  }
  c->send(w);
}

void cmd_echo(const CallPtr& c) {
  auto w = c->writer();
  w.bulk(c->args[1]);
  c->send(w);
}

// TIME: this node's clock, as Unix seconds and microseconds.
void cmd_time(const CallPtr& c) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto w = c->writer();
  w.array(2).bulk(std::to_string(us / 1'000'000)).bulk(std::to_string(us % 1'000'000));
  c->send(w);
}

void cmd_select(const CallPtr& c) {
  auto n = parse_integer(c->args[1]);
  if (!n) return c->error(kNotInteger);
  if (*n != 0) return c->error("ERR DB index is out of range (Shoal has one keyspace per port: database 0)");
  c->ok();
}

void cmd_quit(const CallPtr& c) {
  c->session->quit = true;
  c->ok();
}

void hello_reply(const CallPtr& c) {
  auto w = c->writer();
  w.map(7);
  w.bulk("server").bulk("shoal");
  w.bulk("version").bulk(c->backend.config().version);
  w.bulk("proto").integer(c->session->protocol);
  w.bulk("id").integer(static_cast<std::int64_t>(c->session->id));
  w.bulk("mode").bulk("standalone");
  w.bulk("role").bulk("master");
  w.bulk("modules").array(0);
  c->send(w);
}

void cmd_hello(const CallPtr& c) {
  int protocol = c->session->protocol;
  std::size_t i = 1;
  if (c->args.size() > 1) {
    auto v = parse_integer(c->args[1]);
    if (!v) return c->error("ERR Protocol version is not an integer or out of range");
    if (*v != 2 && *v != 3) return c->error("NOPROTO unsupported protocol version");
    protocol = static_cast<int>(*v);
    i = 2;
  }
  std::optional<std::string> name;
  for (; i < c->args.size(); ++i) {
    std::string option = lower(c->args[i]);
    if (option == "auth" && i + 2 < c->args.size()) {
      return c->error("ERR AUTH is not supported: Shoal's Redis port has no passwords; bind it to a trusted address");
    } else if (option == "setname" && i + 1 < c->args.size()) {
      name = c->args[++i];
    } else {
      return c->error("ERR Syntax error in HELLO option '" + c->args[i] + "'");
    }
  }
  c->session->protocol = protocol;
  if (name) c->session->name = *name;
  hello_reply(c);
}

void cmd_client(const CallPtr& c) {
  std::string sub = lower(c->args[1]);
  if (sub == "setname" && c->args.size() == 3) {
    for (char ch : c->args[2])
      if (ch <= ' ' || ch > '~')
        return c->error("ERR Client names cannot contain spaces, newlines or special characters.");
    c->session->name = c->args[2];
    return c->ok();
  }
  if (sub == "getname" && c->args.size() == 2) {
    auto w = c->writer();
    if (c->session->name.empty()) {
      w.null();
    } else {
      w.bulk(c->session->name);
    }
    return c->send(w);
  }
  if (sub == "id" && c->args.size() == 2) return c->integer(static_cast<std::int64_t>(c->session->id));
  if (sub == "setinfo" && c->args.size() == 4) return c->ok();  // lib-name / lib-ver: accepted, not kept
  if (sub == "info" && c->args.size() == 2) {
    auto w = c->writer();
    w.bulk("id=" + std::to_string(c->session->id) + " addr=" + c->session->peer + " name=" + c->session->name +
           " db=0 resp=" + std::to_string(c->session->protocol) + "\n");
    return c->send(w);
  }
  c->error("ERR unknown subcommand '" + c->args[1] + "'. Try CLIENT SETNAME, GETNAME, ID, INFO.");
}

void cmd_config(const CallPtr& c) {
  std::string sub = lower(c->args[1]);
  if (sub == "get") {
    // No Redis settings exist here: an empty answer, as Redis gives for a
    // parameter it does not have (redis-benchmark asks for `save`).
    auto w = c->writer();
    w.map(0);
    return c->send(w);
  }
  c->error("ERR CONFIG " + c->args[1] + " is not supported: configure Shoal with shoald's flags");
}

void cmd_consistency(const CallPtr& c) {
  if (c->args.size() == 1) {
    auto w = c->writer();
    w.array(2);
    w.bulk(c->session->r ? c->session->r->to_string() : "default");
    w.bulk(c->session->w ? c->session->w->to_string() : "default");
    return c->send(w);
  }
  if (c->args.size() != 3) return c->error("ERR wrong number of arguments for 'shoal.consistency' command");
  auto r = net::Quorum::parse(lower(c->args[1]));
  auto w = net::Quorum::parse(lower(c->args[2]));
  if (!r || !w) return c->error("ERR SHOAL.CONSISTENCY r w: each is a number, one, quorum, all or default");
  auto as_option = [](const net::Quorum& q) -> std::optional<net::Quorum> {
    if (q.kind == net::Quorum::Kind::default_) return std::nullopt;
    return q;
  };
  c->session->r = as_option(r.value());
  c->session->w = as_option(w.value());
  c->ok();
}

// ---- keys ---------------------------------------------------------------------------------

void cmd_type(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    auto w = c->writer();
    w.simple(type_name(kind_of(v)));
    c->send(w);
  });
}

void cmd_exists(const CallPtr& c) {
  std::vector<net::KeyRequest> reads;
  for (std::size_t i = 1; i < c->args.size(); ++i) reads.push_back(c->get_request(c->args[i]));
  read_all(c, std::move(reads), [c](std::vector<Result<ObjectView>>& results) {
    std::int64_t n = 0;
    for (auto& r : results) {
      if (!r) return c->fail(r.error());
      n += kind_of(r.value()) != Kind::none;
    }
    c->integer(n);
  });
}

// Reads each of `names[from, to)` (for its causal context) and deletes the
// live ones with it, so a write concurrent with the delete survives
// (docs/redis.md); `then` gets how many were deleted. An error is answered.
void delete_keys(const CallPtr& c, std::shared_ptr<const std::vector<std::string>> names, std::size_t from,
                 std::size_t to, std::function<void(std::int64_t)> then) {
  std::vector<net::KeyRequest> reads;
  for (std::size_t i = from; i < to; ++i) reads.push_back(c->get_request((*names)[i]));
  read_all(c, std::move(reads), [c, names, from, then = std::move(then)](std::vector<Result<ObjectView>>& results) {
    std::vector<net::KeyRequest> deletes;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i]) return c->fail(results[i].error());
      if (kind_of(results[i].value()) != Kind::none)
        deletes.push_back(c->delete_request((*names)[from + i], results[i].value().context));
    }
    const auto n = static_cast<std::int64_t>(deletes.size());
    read_all(c, std::move(deletes), [c, n, then](std::vector<Result<ObjectView>>& done) {
      for (auto& r : done)
        if (!r) return c->fail(r.error());
      then(n);
    });
  });
}

// DEL: a key named twice is deleted (and counted) once, as in Redis.
void cmd_del(const CallPtr& c) {
  auto names = std::make_shared<const std::vector<std::string>>(distinct_args(c->args, 1));
  delete_keys(c, names, 0, names->size(), [c](std::int64_t n) { c->integer(n); });
}

// A touch write of c->args[1]: its expiry becomes `ms` from now, or none
// (nullopt); the value is not changed. `then(false)` when there is no live key.
void touch_expiry(const CallPtr& c, std::optional<std::int64_t> ms, std::function<void(bool)> then) {
  auto request = c->update_request(c->args[1], counter_op(0));
  request.options.touch = true;
  if (ms) request.options.ttl_ms = static_cast<std::uint64_t>(*ms);
  c->backend.key_request(std::move(request), [c, then = std::move(then)](Result<ObjectView> r) {
    if (!r && r.error().code == Errc::not_found) return then(false);
    if (!r) return c->fail(r.error());
    then(true);
  });
}

// Sets (ms > 0) the expiry of c->args[1], or deletes the key (a deadline in
// the past, as in Redis); `then(false)` when there is no key. `read`: the key
// as already read, whose context the delete uses (else it reads it).
void set_expiry(const CallPtr& c, std::int64_t ms, const ObjectView* read, std::function<void(bool)> then) {
  if (ms > 0) return touch_expiry(c, ms, std::move(then));
  auto remove = [c, then = std::move(then)](const ObjectView& v) {
    if (kind_of(v) == Kind::none) return then(false);
    write_key(c, c->delete_request(c->args[1], v.context), [then](const ObjectView&) { then(true); });
  };
  if (read) return remove(*read);
  read_key(c, c->args[1], std::move(remove));
}

// EXPIRE/PEXPIRE key n [NX|XX|GT|LT]: a touch write that sets the expiry; 0
// when the key does not exist. With a condition the port reads the key's
// expiry first and answers 0 when it does not hold, as Redis 7 does (a key
// without expiry counts as an infinite one for GT and LT); the read and the
// write are not one atomic step.
void expire(const CallPtr& c, std::int64_t scale_ms, bool absolute = false) {
  auto amount = parse_integer(c->args[2]);
  if (!amount) return c->error(kNotInteger);
  // EXPIREAT/PEXPIREAT: a Unix time, turned into what is left of it now (a
  // time already passed deletes the key, as a non-positive EXPIRE does).
  if (absolute) {
    if (*amount > std::numeric_limits<std::int64_t>::max() / scale_ms)
      return c->error("ERR invalid expire time in '" + lower(c->args[0]) + "' command");
    *amount = *amount <= 0 ? 0 : *amount * scale_ms - now_ms();
    scale_ms = 1;
  }
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t i = 3; i < c->args.size(); ++i) {
    std::string o = lower(c->args[i]);
    bool* flag = o == "nx" ? &nx : o == "xx" ? &xx : o == "gt" ? &gt : o == "lt" ? &lt : nullptr;
    if (!flag) return c->error("ERR Unsupported option " + c->args[i]);
    *flag = true;
  }
  if (nx && (xx || gt || lt)) return c->error("ERR NX and XX, GT or LT options at the same time are not compatible");
  if (gt && lt) return c->error("ERR GT and LT options at the same time are not compatible");
  if (*amount > static_cast<std::int64_t>(net::kTtlMsMax) / scale_ms)
    return c->error("ERR invalid expire time in '" + lower(c->args[0]) + "' command");
  const std::int64_t ms = *amount * scale_ms;
  auto answer = [c](bool found) { c->integer(found); };
  if (!nx && !xx && !gt && !lt) return set_expiry(c, ms, nullptr, answer);
  read_key(c, c->args[1], [c, ms, nx, xx, gt, lt, answer](const ObjectView& v) {
    if (kind_of(v) == Kind::none) return c->integer(0);
    const std::optional<std::int64_t> current_ms =
        v.expires_at_us ? std::optional<std::int64_t>(*v.expires_at_us / 1000) : std::nullopt;
    const std::int64_t when_ms = now_ms() + ms;
    if ((nx && current_ms) || (xx && !current_ms) || (gt && (!current_ms || when_ms <= *current_ms)) ||
        (lt && current_ms && when_ms >= *current_ms))
      return c->integer(0);
    set_expiry(c, ms, &v, answer);
  });
}

void cmd_persist(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    if (kind_of(v) == Kind::none || !v.expires_at_us) return c->integer(0);
    touch_expiry(c, std::nullopt, [c](bool found) { c->integer(found); });
  });
}

void ttl(const CallPtr& c, bool millis) {
  read_key(c, c->args[1], [c, millis](const ObjectView& v) {
    if (kind_of(v) == Kind::none) return c->integer(-2);
    if (!v.expires_at_us) return c->integer(-1);
    std::int64_t left_ms = std::max<std::int64_t>(0, *v.expires_at_us / 1000 - now_ms());
    c->integer(millis ? left_ms : (left_ms + 500) / 1000);
  });
}

// EXPIRETIME / PEXPIRETIME: the expiry as a Unix time; -1 without one, -2
// without the key. An expiry is stored as the coordinating node's clock
// plus a TTL, so one set by EXPIREAT t lands within milliseconds of t:
// the answer is rounded to the nearest second (millisecond), as TTL is.
void expire_time(const CallPtr& c, bool millis) {
  read_key(c, c->args[1], [c, millis](const ObjectView& v) {
    if (kind_of(v) == Kind::none) return c->integer(-2);
    if (!v.expires_at_us) return c->integer(-1);
    const std::int64_t unit = millis ? 1'000 : 1'000'000;
    c->integer((*v.expires_at_us + unit / 2) / unit);
  });
}

// ---- strings and counters -----------------------------------------------------------------

struct SetOptions {
  std::optional<RequestOptions::Condition> condition;
  std::optional<std::uint64_t> ttl_ms;
  bool keep_ttl = false;
  bool get = false;
};

std::optional<std::string> parse_set_options(const Command& args, std::size_t from, SetOptions& o) {
  bool expiry = false;
  for (std::size_t i = from; i < args.size(); ++i) {
    std::string a = lower(args[i]);
    if ((a == "nx" || a == "xx") && !o.condition) {
      o.condition = a == "nx" ? RequestOptions::Condition::absent : RequestOptions::Condition::present;
    } else if ((a == "ex" || a == "px" || a == "exat" || a == "pxat") && !expiry && !o.keep_ttl &&
               i + 1 < args.size()) {
      expiry = true;
      auto n = parse_integer(args[++i]);
      if (!n) return std::string(kNotInteger);
      std::int64_t ms = *n;
      if (a == "ex" || a == "exat") {
        if (ms > static_cast<std::int64_t>(net::kTtlMsMax) / 1000) return "ERR invalid expire time in 'set' command";
        ms *= 1000;
      }
      if (a == "exat" || a == "pxat") ms -= now_ms();
      if (*n <= 0 || ms <= 0 || static_cast<std::uint64_t>(ms) > net::kTtlMsMax)
        return "ERR invalid expire time in 'set' command";
      o.ttl_ms = static_cast<std::uint64_t>(ms);
    } else if (a == "keepttl" && !expiry) {
      o.keep_ttl = true;
    } else if (a == "get") {
      o.get = true;
    } else {
      return "ERR syntax error";
    }
  }
  return std::nullopt;
}

net::KeyRequest set_request(const CallPtr& c, const std::string& key, std::string value, const SetOptions& o) {
  auto request = c->update_request(key, register_op(std::move(value)));
  request.options.type_change = RequestOptions::TypeChange::replace;
  request.options.condition = o.condition;
  request.options.ttl_ms = o.ttl_ms;
  if (o.keep_ttl) request.options.keep_ttl = true;
  return request;
}

void cmd_set(const CallPtr& c) {
  SetOptions o;
  if (auto bad = parse_set_options(c->args, 3, o)) return c->error(*bad);
  auto write = [c, o](std::optional<std::optional<std::string>> old) {
    c->backend.key_request(set_request(c, c->args[1], c->args[2], o), [c, old](Result<ObjectView> r) {
      if (!r && r.error().code == Errc::condition_failed) return c->bulk_or_null(old ? *old : std::nullopt);
      if (!r) return c->fail(r.error());
      if (old) return c->bulk_or_null(*old);
      c->ok();
    });
  };
  if (!o.get) return write(std::nullopt);
  // SET ... GET: the old value is read first (not atomic with the write).
  read_key(c, c->args[1], [c, write](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::string) return c->error(kWrongType);
    write(std::optional<std::optional<std::string>>{string_value(v)});
  });
}

void cmd_setnx(const CallPtr& c) {
  SetOptions o;
  o.condition = RequestOptions::Condition::absent;
  c->backend.key_request(set_request(c, c->args[1], c->args[2], o), [c](Result<ObjectView> r) {
    if (!r && r.error().code == Errc::condition_failed) return c->integer(0);
    if (!r) return c->fail(r.error());
    c->integer(1);
  });
}

// SETEX key seconds value / PSETEX key ms value: SET key value EX|PX n.
void setex(const CallPtr& c, std::int64_t scale_ms) {
  auto n = parse_integer(c->args[2]);
  if (!n) return c->error(kNotInteger);
  if (*n <= 0 || *n > static_cast<std::int64_t>(net::kTtlMsMax) / scale_ms)
    return c->error("ERR invalid expire time in '" + lower(c->args[0]) + "' command");
  SetOptions o;
  o.ttl_ms = static_cast<std::uint64_t>(*n * scale_ms);
  write_key(c, set_request(c, c->args[1], c->args[3], o), [c](const ObjectView&) { c->ok(); });
}

// GETDEL: reads the string and deletes it with the context read (a write
// racing the delete survives it, as with DEL).
void cmd_getdel(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k == Kind::none) return c->bulk_or_null(std::nullopt);
    if (k != Kind::string) return c->error(kWrongType);
    write_key(c, c->delete_request(c->args[1], v.context),
              [c, old = string_value(v)](const ObjectView&) { c->bulk_or_null(old); });
  });
}

// GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]: reads the string,
// then changes its expiry with a touch write (not one atomic step).
void cmd_getex(const CallPtr& c) {
  std::optional<std::int64_t> ms;
  bool persist = false;
  for (std::size_t i = 2; i < c->args.size(); ++i) {
    std::string a = lower(c->args[i]);
    if (a == "persist" && !ms && !persist) {
      persist = true;
    } else if ((a == "ex" || a == "px" || a == "exat" || a == "pxat") && !ms && !persist && i + 1 < c->args.size()) {
      auto n = parse_integer(c->args[++i]);
      if (!n) return c->error(kNotInteger);
      const std::int64_t scale = a == "ex" || a == "exat" ? 1000 : 1;
      if (*n <= 0 || *n > std::numeric_limits<std::int64_t>::max() / scale)
        return c->error("ERR invalid expire time in 'getex' command");
      ms = *n * scale - (a == "exat" || a == "pxat" ? now_ms() : 0);
      if (*ms > static_cast<std::int64_t>(net::kTtlMsMax))
        return c->error("ERR invalid expire time in 'getex' command");
    } else {
      return c->error("ERR syntax error");
    }
  }
  read_key(c, c->args[1], [c, ms, persist](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k == Kind::none) return c->bulk_or_null(std::nullopt);
    if (k != Kind::string) return c->error(kWrongType);
    auto value = string_value(v);
    auto answer = [c, value](bool) { c->bulk_or_null(value); };
    if (ms) return set_expiry(c, *ms, &v, answer);  // a time already passed deletes the key
    if (persist && v.expires_at_us) return touch_expiry(c, std::nullopt, answer);
    c->bulk_or_null(value);
  });
}

void cmd_getset(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::string) return c->error(kWrongType);
    auto old = string_value(v);
    write_key(c, set_request(c, c->args[1], c->args[2], SetOptions{}),
              [c, old](const ObjectView&) { c->bulk_or_null(old); });
  });
}

void cmd_get(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k == Kind::none) return c->bulk_or_null(std::nullopt);
    if (k != Kind::string) return c->error(kWrongType);
    c->bulk_or_null(string_value(v));
  });
}

void cmd_mget(const CallPtr& c) {
  std::vector<net::KeyRequest> reads;
  for (std::size_t i = 1; i < c->args.size(); ++i) reads.push_back(c->get_request(c->args[i]));
  read_all(c, std::move(reads), [c](std::vector<Result<ObjectView>>& results) {
    auto w = c->writer();
    w.array(results.size());
    for (auto& r : results) {
      if (!r) return c->fail(r.error());
      auto value = kind_of(r.value()) == Kind::string ? string_value(r.value()) : std::nullopt;
      if (value) {
        w.bulk(*value);
      } else {
        w.null();
      }
    }
    c->send(w);
  });
}

void cmd_mset(const CallPtr& c) {
  if (c->args.size() % 2 != 1) return c->error("ERR wrong number of arguments for 'mset' command");
  std::vector<net::KeyRequest> writes;
  for (std::size_t i = 1; i < c->args.size(); i += 2)
    writes.push_back(set_request(c, c->args[i], c->args[i + 1], SetOptions{}));
  read_all(c, std::move(writes), [c](std::vector<Result<ObjectView>>& results) {
    for (auto& r : results)
      if (!r) return c->fail(r.error());
    c->ok();
  });
}

void cmd_append(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::string) return c->error(kWrongType);
    std::string value = string_value(v).value_or("") + c->args[2];
    const auto length = static_cast<std::int64_t>(value.size());
    SetOptions o;
    o.keep_ttl = true;
    write_key(c, set_request(c, c->args[1], std::move(value), o),
              [c, length](const ObjectView&) { c->integer(length); });
  });
}

// GETRANGE key start end (and its old name SUBSTR): Redis' index rules,
// negative indexes counting from the end, both ends inclusive.
void cmd_getrange(const CallPtr& c) {
  auto start = parse_integer(c->args[2]);
  auto end = parse_integer(c->args[3]);
  if (!start || !end) return c->error(kNotInteger);
  read_key(c, c->args[1], [c, from = *start, to = *end](const ObjectView& v) mutable {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::string) return c->error(kWrongType);
    const std::string value = string_value(v).value_or("");
    const auto size = static_cast<std::int64_t>(value.size());
    if (from < 0 && to < 0 && from > to) return c->bulk_or_null(std::string());
    if (from < 0) from = std::max<std::int64_t>(0, size + from);
    if (to < 0) to = std::max<std::int64_t>(0, size + to);
    to = std::min(to, size - 1);
    if (size == 0 || from > to) return c->bulk_or_null(std::string());
    c->bulk_or_null(value.substr(static_cast<std::size_t>(from), static_cast<std::size_t>(to - from + 1)));
  });
}

void cmd_strlen(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k == Kind::none) return c->integer(0);
    if (k != Kind::string) return c->error(kWrongType);
    c->integer(static_cast<std::int64_t>(string_value(v).value_or("").size()));
  });
}

// INCR and friends: a PN-counter update; a register holding an integer is
// converted (type_change=convert) and a new key starts at 0.
void incr(const CallPtr& c, std::int64_t delta) {
  auto request = c->update_request(c->args[1], counter_op(delta));
  request.options.type_change = RequestOptions::TypeChange::convert;
  request.options.keep_ttl = true;
  request.options.return_body = true;
  c->backend.key_request(std::move(request), [c](Result<ObjectView> r) {
    if (!r && r.error().code == Errc::too_large) return c->error("ERR increment or decrement would overflow");
    if (!r) return c->fail(r.error());
    const auto* n = r.value().value ? std::get_if<crdt::PnCounter::Value>(&r.value().value->value) : nullptr;
    if (!n) return c->error("ERR the node answered without the counter's value");
    c->integer(*n);
  });
}

void incr_by(const CallPtr& c, int sign) {
  auto n = parse_integer(c->args[2]);
  if (!n || (sign < 0 && *n == std::numeric_limits<std::int64_t>::min())) return c->error(kNotInteger);
  incr(c, sign * *n);
}

// ---- sets ---------------------------------------------------------------------------------

// SPOP's and SRANDMEMBER's choices (the port's thread).
std::mt19937_64& random_engine() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

std::vector<std::string> distinct_args(const Command& args, std::size_t from) {
  std::set<std::string> seen(args.begin() + static_cast<std::ptrdiff_t>(from), args.end());
  return {seen.begin(), seen.end()};
}

// One write, no read first: the coordinating replica counts the members
// that were new (the update option `effect`) and refuses a key of another
// type (WRONGTYPE).
void cmd_sadd(const CallPtr& c) {
  auto request = c->update_request(c->args[1], crdt::AnyOp{crdt::Orswot::Op::add_all(distinct_args(c->args, 2))});
  request.options.keep_ttl = true;
  request.options.effect = true;
  write_key(c, std::move(request), [c](const ObjectView& v) {
    if (!v.effect) return c->error("ERR the node did not count the new members (a node older than this port?)");
    c->integer(*v.effect);
  });
}

void cmd_srem(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k == Kind::none) return c->integer(0);
    if (k != Kind::set) return c->error(kWrongType);
    std::vector<std::string> gone;
    for (auto& m : distinct_args(c->args, 2))
      if (set_value(v)->contains(m)) gone.push_back(std::move(m));
    if (gone.empty()) return c->integer(0);
    const auto n = static_cast<std::int64_t>(gone.size());
    auto request = c->update_request(c->args[1], crdt::AnyOp{crdt::Orswot::Op::remove_all(std::move(gone))});
    request.context = v.context;
    request.options.keep_ttl = true;
    write_key(c, std::move(request), [c, n](const ObjectView&) { c->integer(n); });
  });
}

// Reads a set (empty when absent) and runs `then` with it.
void read_set(const CallPtr& c, std::function<void(const crdt::Orswot::Value&)> then) {
  read_key(c, c->args[1], [c, then = std::move(then)](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::set) return c->error(kWrongType);
    static const crdt::Orswot::Value kEmpty;
    then(k == Kind::none ? kEmpty : *set_value(v));
  });
}

void cmd_smembers(const CallPtr& c) {
  read_set(c, [c](const crdt::Orswot::Value& members) {
    auto w = c->writer();
    w.set(members.size());
    for (const auto& m : members) w.bulk(m);
    c->send(w);
  });
}

void cmd_sismember(const CallPtr& c) {
  read_set(c, [c](const crdt::Orswot::Value& members) { c->integer(members.contains(c->args[2])); });
}

void cmd_smismember(const CallPtr& c) {
  read_set(c, [c](const crdt::Orswot::Value& members) {
    auto w = c->writer();
    w.array(c->args.size() - 2);
    for (std::size_t i = 2; i < c->args.size(); ++i) w.integer(members.contains(c->args[i]));
    c->send(w);
  });
}

void cmd_scard(const CallPtr& c) {
  read_set(c, [c](const crdt::Orswot::Value& members) { c->integer(static_cast<std::int64_t>(members.size())); });
}

// SPOP key [count]: reads the set, picks members at random and removes
// them with the context read. Not atomic: two clients popping at once can
// get the same member (docs/redis.md).
void cmd_spop(const CallPtr& c) {
  std::optional<std::int64_t> count;
  if (c->args.size() > 3) return c->error("ERR syntax error");
  if (c->args.size() == 3) {
    count = parse_integer(c->args[2]);
    if (!count || *count < 0) return c->error("ERR value is out of range, must be positive");
  }
  read_key(c, c->args[1], [c, count](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::set) return c->error(kWrongType);
    std::vector<std::string> members;
    if (k == Kind::set) members.assign(set_value(v)->begin(), set_value(v)->end());
    std::shuffle(members.begin(), members.end(), random_engine());
    members.resize(std::min(members.size(), static_cast<std::size_t>(count.value_or(1))));
    auto answer = [c, count](const std::vector<std::string>& popped) {
      if (!count) return c->bulk_or_null(popped.empty() ? std::nullopt : std::optional<std::string>(popped.front()));
      auto w = c->writer();
      w.set(popped.size());
      for (const auto& m : popped) w.bulk(m);
      c->send(w);
    };
    if (members.empty()) return answer(members);
    auto request = c->update_request(c->args[1], crdt::AnyOp{crdt::Orswot::Op::remove_all(members)});
    request.context = v.context;
    request.options.keep_ttl = true;
    write_key(c, std::move(request), [answer, members](const ObjectView&) { answer(members); });
  });
}

// Whether every result of a read of several keys is a set or no key;
// otherwise the error (or WRONGTYPE) is answered.
bool all_sets(const CallPtr& c, const std::vector<Result<ObjectView>>& results) {
  for (const auto& r : results) {
    if (!r) {
      c->fail(r.error());
      return false;
    }
    Kind k = kind_of(r.value());
    if (k != Kind::none && k != Kind::set) {
      c->error(kWrongType);
      return false;
    }
  }
  return true;
}

// SMOVE src dst member: removes the member from src (with the context
// read) and adds it to dst; 1 if src held it. Two writes, not atomic.
void cmd_smove(const CallPtr& c) {
  std::vector<net::KeyRequest> reads{c->get_request(c->args[1]), c->get_request(c->args[2])};
  read_all(c, std::move(reads), [c](std::vector<Result<ObjectView>>& results) {
    if (!all_sets(c, results)) return;
    const ObjectView& src = results[0].value();
    if (kind_of(src) != Kind::set || !set_value(src)->contains(c->args[3])) return c->integer(0);
    auto add = c->update_request(c->args[2], crdt::AnyOp{crdt::Orswot::Op::add_all({c->args[3]})});
    add.options.keep_ttl = true;
    write_key(c, std::move(add), [c, context = src.context](const ObjectView&) {
      if (c->args[1] == c->args[2]) return c->integer(1);
      auto remove = c->update_request(c->args[1], crdt::AnyOp{crdt::Orswot::Op::remove_all({c->args[3]})});
      remove.context = context;
      remove.options.keep_ttl = true;
      write_key(c, std::move(remove), [c](const ObjectView&) { c->integer(1); });
    });
  });
}

// SINTER / SUNION / SDIFF key [key ...]: the keys are read at once; a
// missing key is an empty set, a key of another type WRONGTYPE.
enum class SetAlgebra { inter, unite, diff };

void set_algebra(const CallPtr& c, SetAlgebra what) {
  std::vector<net::KeyRequest> reads;
  for (std::size_t i = 1; i < c->args.size(); ++i) reads.push_back(c->get_request(c->args[i]));
  read_all(c, std::move(reads), [c, what](std::vector<Result<ObjectView>>& results) {
    if (!all_sets(c, results)) return;
    std::optional<crdt::Orswot::Value> out;
    for (auto& r : results) {
      static const crdt::Orswot::Value kEmpty;
      const crdt::Orswot::Value& members = kind_of(r.value()) == Kind::set ? *set_value(r.value()) : kEmpty;
      if (!out) {
        out = members;
      } else if (what == SetAlgebra::unite) {
        out->insert(members.begin(), members.end());
      } else {
        std::erase_if(*out, [&](const std::string& m) { return members.contains(m) == (what == SetAlgebra::diff); });
      }
    }
    auto w = c->writer();
    w.set(out->size());
    for (const auto& m : *out) w.bulk(m);
    c->send(w);
  });
}

// SRANDMEMBER key [count]: without count one member (nil if none); a
// positive count that many distinct members at most; a negative count
// |count| members that may repeat, as in Redis.
void cmd_srandmember(const CallPtr& c) {
  std::optional<std::int64_t> count;
  if (c->args.size() > 3) return c->error("ERR syntax error");
  if (c->args.size() == 3) {
    count = parse_integer(c->args[2]);
    if (!count || *count == std::numeric_limits<std::int64_t>::min()) return c->error(kNotInteger);
    if (*count < -kRandomMembersMax)
      return c->error("ERR value is out of range (Shoal repeats at most " + std::to_string(kRandomMembersMax) +
                      " random members)");
  }
  read_set(c, [c, count](const crdt::Orswot::Value& members) {
    auto& rng = random_engine();
    std::vector<const std::string*> all;
    all.reserve(members.size());
    for (const auto& m : members) all.push_back(&m);
    if (!count) {
      if (all.empty()) return c->bulk_or_null(std::nullopt);
      return c->bulk_or_null(*all[rng() % all.size()]);
    }
    auto w = c->writer();
    if (*count >= 0) {
      std::shuffle(all.begin(), all.end(), rng);
      all.resize(std::min(all.size(), static_cast<std::size_t>(*count)));
      w.array(all.size());
      for (const auto* m : all) w.bulk(*m);
    } else {
      const auto n = all.empty() ? 0 : static_cast<std::size_t>(-*count);
      w.array(n);
      for (std::size_t i = 0; i < n; ++i) w.bulk(*all[rng() % all.size()]);
    }
    c->send(w);
  });
}

// ---- hashes -------------------------------------------------------------------------------

void read_hash(const CallPtr& c, std::function<void(const ObjectView&, const std::map<std::string, HashField>&)> then) {
  read_key(c, c->args[1], [c, then = std::move(then)](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::hash) return c->error(kWrongType);
    then(v, hash_value(v));
  });
}

// HSET: each field becomes a register; a counter of the same name (from
// HINCRBY) is removed in the same op, with the context read.
void hset(const CallPtr& c, bool reply_ok) {
  if (c->args.size() % 2 != 0) return c->error("ERR wrong number of arguments for '" + lower(c->args[0]) + "' command");
  read_hash(c, [c, reply_ok](const ObjectView& v, const std::map<std::string, HashField>& fields) {
    crdt::MapOp op;
    std::map<std::string, std::string> writes;
    for (std::size_t i = 2; i < c->args.size(); i += 2) writes[c->args[i]] = c->args[i + 1];
    std::int64_t added = 0;
    for (auto& [name, value] : writes) {
      auto it = fields.find(name);
      added += it == fields.end();
      if (it != fields.end() && it->second.number)
        op.fields.push_back(crdt::MapFieldOp::remove(name, crdt::TypeTag::pn_counter));
      op.fields.push_back(crdt::MapFieldOp::update(name, register_op(std::move(value))));
    }
    auto request = c->update_request(c->args[1], crdt::AnyOp{std::move(op)});
    request.context = v.context;
    request.options.keep_ttl = true;
    write_key(c, std::move(request), [c, added, reply_ok](const ObjectView&) {
      if (reply_ok) return c->ok();
      c->integer(added);
    });
  });
}

// HSETNX: reads the hash; writes the field (as HSET) only if it is absent.
// The read and the write are not one atomic step.
void cmd_hsetnx(const CallPtr& c) {
  read_hash(c, [c](const ObjectView& v, const std::map<std::string, HashField>& fields) {
    if (fields.contains(c->args[2])) return c->integer(0);
    crdt::MapOp op;
    op.fields.push_back(crdt::MapFieldOp::update(c->args[2], register_op(c->args[3])));
    auto request = c->update_request(c->args[1], crdt::AnyOp{std::move(op)});
    request.context = v.context;
    request.options.keep_ttl = true;
    write_key(c, std::move(request), [c](const ObjectView&) { c->integer(1); });
  });
}

void cmd_hget(const CallPtr& c) {
  read_hash(c, [c](const ObjectView&, const std::map<std::string, HashField>& fields) {
    auto it = fields.find(c->args[2]);
    c->bulk_or_null(it == fields.end() ? std::nullopt : std::optional<std::string>(it->second.value()));
  });
}

void cmd_hmget(const CallPtr& c) {
  read_hash(c, [c](const ObjectView&, const std::map<std::string, HashField>& fields) {
    auto w = c->writer();
    w.array(c->args.size() - 2);
    for (std::size_t i = 2; i < c->args.size(); ++i) {
      auto it = fields.find(c->args[i]);
      if (it == fields.end()) {
        w.null();
      } else {
        w.bulk(it->second.value());
      }
    }
    c->send(w);
  });
}

void cmd_hgetall(const CallPtr& c) {
  read_hash(c, [c](const ObjectView&, const std::map<std::string, HashField>& fields) {
    auto w = c->writer();
    w.map(fields.size());
    for (const auto& [name, field] : fields) w.bulk(name).bulk(field.value());
    c->send(w);
  });
}

void cmd_hkeys_hvals(const CallPtr& c, bool keys) {
  read_hash(c, [c, keys](const ObjectView&, const std::map<std::string, HashField>& fields) {
    auto w = c->writer();
    w.array(fields.size());
    for (const auto& [name, field] : fields) w.bulk(keys ? name : field.value());
    c->send(w);
  });
}

void cmd_hstrlen(const CallPtr& c) {
  read_hash(c, [c](const ObjectView&, const std::map<std::string, HashField>& fields) {
    auto it = fields.find(c->args[2]);
    c->integer(it == fields.end() ? 0 : static_cast<std::int64_t>(it->second.value().size()));
  });
}

void cmd_hlen(const CallPtr& c) {
  read_hash(c, [c](const ObjectView&, const std::map<std::string, HashField>& fields) {
    c->integer(static_cast<std::int64_t>(fields.size()));
  });
}

void cmd_hexists(const CallPtr& c) {
  read_hash(c, [c](const ObjectView&, const std::map<std::string, HashField>& fields) {
    c->integer(fields.contains(c->args[2]));
  });
}

void cmd_hdel(const CallPtr& c) {
  read_hash(c, [c](const ObjectView& v, const std::map<std::string, HashField>& fields) {
    crdt::MapOp op;
    std::int64_t n = 0;
    for (const auto& name : distinct_args(c->args, 2)) {
      auto it = fields.find(name);
      if (it == fields.end()) continue;
      ++n;
      if (it->second.text) op.fields.push_back(crdt::MapFieldOp::remove(name, crdt::TypeTag::lww_register));
      if (it->second.number) op.fields.push_back(crdt::MapFieldOp::remove(name, crdt::TypeTag::pn_counter));
    }
    if (n == 0) return c->integer(0);
    auto request = c->update_request(c->args[1], crdt::AnyOp{std::move(op)});
    request.context = v.context;
    request.options.keep_ttl = true;
    write_key(c, std::move(request), [c, n](const ObjectView&) { c->integer(n); });
  });
}

// HINCRBY: the field becomes (or stays) a counter; a register holding an
// integer is folded into it in the same op.
void cmd_hincrby(const CallPtr& c) {
  auto delta = parse_integer(c->args[3]);
  if (!delta) return c->error(kNotInteger);
  read_hash(c, [c, delta = *delta](const ObjectView& v, const std::map<std::string, HashField>& fields) {
    const std::string& name = c->args[2];
    crdt::MapOp op;
    std::int64_t start = 0;
    auto it = fields.find(name);
    if (it != fields.end() && it->second.text) {
      auto n = parse_integer(*it->second.text);
      if (!n) return c->error("ERR hash value is not an integer");
      start = *n - it->second.number.value_or(0);
      op.fields.push_back(crdt::MapFieldOp::remove(name, crdt::TypeTag::lww_register));
    }
    std::int64_t add = 0;
    if (__builtin_add_overflow(start, delta, &add)) return c->error("ERR increment or decrement would overflow");
    op.fields.push_back(crdt::MapFieldOp::update(name, counter_op(add)));
    auto request = c->update_request(c->args[1], crdt::AnyOp{std::move(op)});
    request.context = v.context;
    request.options.keep_ttl = true;
    request.options.return_body = true;
    write_key(c, std::move(request), [c, name](const ObjectView& after) {
      auto now = hash_value(after);
      auto f = now.find(name);
      if (f == now.end() || !f->second.number) return c->error("ERR the node answered without the field's value");
      c->integer(*f->second.number);
    });
  });
}

// ---- HyperLogLog --------------------------------------------------------------------------

std::optional<std::uint64_t> hll_count(const ObjectView& v) {
  if (!v.value) return std::nullopt;
  if (const auto* n = std::get_if<crdt::Hll::Value>(&v.value->value)) return *n;
  return std::nullopt;
}

// PFADD: one op per element (an hll op adds one); 1 when the estimate
// changed or the key was created, as Redis answers when a register changed.
void cmd_pfadd(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& v) {
    Kind k = kind_of(v);
    if (k != Kind::none && k != Kind::hll) return c->error(kWrongType);
    std::vector<std::string> elements = distinct_args(c->args, 2);
    // Redis creates an empty sketch here; Shoal stores no empty sketch.
    if (elements.empty()) return c->error("ERR PFADD needs at least one element (Shoal stores no empty sketch)");
    const std::uint64_t before = hll_count(v).value_or(0);
    const bool created = k == Kind::none;
    std::vector<net::KeyRequest> writes;
    for (auto& e : elements) {
      auto request = c->update_request(c->args[1], crdt::AnyOp{crdt::Hll::Op::add(std::move(e))});
      request.options.keep_ttl = true;
      request.options.return_body = true;
      writes.push_back(std::move(request));
    }
    read_all(c, std::move(writes), [c, before, created](std::vector<Result<ObjectView>>& results) {
      std::uint64_t after = before;
      for (auto& r : results) {
        if (!r) return c->fail(r.error());
        after = std::max(after, hll_count(r.value()).value_or(0));
      }
      c->integer(created || after != before);
    });
  });
}

// Reads the sketches of args[from..] (with their state); `then` gets the
// union of those that exist (nullopt: none), or the reply is WRONGTYPE.
void read_sketches(const CallPtr& c, std::size_t from, std::function<void(std::optional<crdt::Hll>)> then) {
  std::vector<net::KeyRequest> reads;
  for (std::size_t i = from; i < c->args.size(); ++i) {
    auto request = c->get_request(c->args[i]);
    request.options.state = true;
    reads.push_back(std::move(request));
  }
  read_all(c, std::move(reads), [c, then = std::move(then)](std::vector<Result<ObjectView>>& results) {
    std::optional<crdt::Hll> sum;
    for (auto& r : results) {
      if (!r) return c->fail(r.error());
      Kind k = kind_of(r.value());
      if (k == Kind::none) continue;
      if (k != Kind::hll) return c->error(kWrongType);
      if (!r.value().state) return c->error("ERR the node answered without the sketch");
      auto handle = codec::unpack(*r.value().state);
      if (!handle) return c->fail(handle.error());
      auto decoded = crdt::AnyCrdt::decode(handle.value().get());
      if (!decoded) return c->fail(decoded.error());
      const auto* hll = decoded.value().get_if<crdt::Hll>();
      if (!hll) return c->error(kWrongType);
      if (sum) {
        sum->merge(*hll);
      } else {
        sum = *hll;
      }
    }
    then(std::move(sum));
  });
}

// PFCOUNT of one key reads its estimate; of several, the estimate of the
// union of their sketches (read with their state and merged here).
void cmd_pfcount(const CallPtr& c) {
  if (c->args.size() == 2) {
    return read_key(c, c->args[1], [c](const ObjectView& v) {
      Kind k = kind_of(v);
      if (k == Kind::none) return c->integer(0);
      if (k != Kind::hll) return c->error(kWrongType);
      c->integer(static_cast<std::int64_t>(hll_count(v).value_or(0)));
    });
  }
  read_sketches(c, 1,
                [c](std::optional<crdt::Hll> sum) { c->integer(sum ? static_cast<std::int64_t>(sum->value()) : 0); });
}

// PFMERGE dest src...: the union of the sources' sketches is merged into
// dest by one op (a sketch merge), so concurrent PFADDs to dest survive.
void cmd_pfmerge(const CallPtr& c) {
  read_key(c, c->args[1], [c](const ObjectView& dest) {
    Kind k = kind_of(dest);
    if (k != Kind::none && k != Kind::hll) return c->error(kWrongType);
    read_sketches(c, 2, [c](std::optional<crdt::Hll> sum) {
      // Nothing to merge: Redis would create an empty sketch; Shoal stores none.
      if (!sum) return c->ok();
      auto request = c->update_request(c->args[1], crdt::AnyOp{crdt::Hll::Op::merge_sketch(*sum)});
      request.options.keep_ttl = true;
      write_key(c, std::move(request), [c](const ObjectView&) { c->ok(); });
    });
  });
}

// ---- the keyspace -------------------------------------------------------------------------

void cmd_dbsize(const CallPtr& c) {
  c->backend.list_keys([c](Result<std::vector<std::string>> keys) {
    if (!keys) return c->fail(keys.error());
    c->integer(static_cast<std::int64_t>(keys.value().size()));
  });
}

// FLUSHDB / FLUSHALL [ASYNC|SYNC]: lists the keyspace (as KEYS does) and
// deletes every key as DEL does (read, then delete with the context read,
// so a write racing the flush survives it), kFlushBatch keys at a time.
// Answers OK once every listed key is deleted; on an error it stops and
// answers it, with the keys before it deleted. Both options run it the
// same way, before the reply.
constexpr std::size_t kFlushBatch = 128;

void flush_from(const CallPtr& c, std::shared_ptr<const std::vector<std::string>> keys, std::size_t from) {
  if (from >= keys->size()) return c->ok();
  const std::size_t to = std::min(keys->size(), from + kFlushBatch);
  delete_keys(c, keys, from, to, [c, keys, to](std::int64_t) { flush_from(c, keys, to); });
}

void cmd_flush(const CallPtr& c) {
  if (c->args.size() > 2) return c->error("ERR syntax error");
  if (c->args.size() == 2 && lower(c->args[1]) != "async" && lower(c->args[1]) != "sync")
    return c->error("ERR syntax error");
  c->backend.list_keys([c](Result<std::vector<std::string>> keys) {
    if (!keys) return c->fail(keys.error());
    flush_from(c, std::make_shared<const std::vector<std::string>>(std::move(keys).value()), 0);
  });
}

void cmd_keys(const CallPtr& c) {
  c->backend.list_keys([c](Result<std::vector<std::string>> keys) {
    if (!keys) return c->fail(keys.error());
    std::sort(keys.value().begin(), keys.value().end());
    std::vector<const std::string*> matched;
    for (const auto& k : keys.value())
      if (glob_match(c->args[1], k)) matched.push_back(&k);
    auto w = c->writer();
    w.array(matched.size());
    for (const auto* k : matched) w.bulk(*k);
    c->send(w);
  });
}

// SCAN cursor [MATCH p] [COUNT n] [TYPE t]. Cursor 0 takes a snapshot of
// the keyspace (one coverage listing: every key of the bucket, from a
// covering set of vnodes) into the connection; later cursors walk it. A
// cursor that does not belong to the snapshot starts a new one and skips as
// many keys (docs/redis.md: the cost, and what SCAN guarantees).
void cmd_scan(const CallPtr& c) {
  auto cursor = parse_integer(c->args[1]);
  if (!cursor || *cursor < 0) return c->error("ERR invalid cursor");
  std::string match = "*";
  std::int64_t count = 10;
  std::optional<std::string> type;
  for (std::size_t i = 2; i < c->args.size(); ++i) {
    std::string o = lower(c->args[i]);
    if (i + 1 >= c->args.size()) return c->syntax_error();
    if (o == "match") {
      match = c->args[++i];
    } else if (o == "count") {
      auto n = parse_integer(c->args[++i]);
      if (!n) return c->error(kNotInteger);
      if (*n < 1) return c->syntax_error();
      count = *n;
    } else if (o == "type") {
      type = lower(c->args[++i]);
    } else {
      return c->syntax_error();
    }
  }
  auto walk = [c, match, count, type](std::size_t from) {
    auto& keys = c->session->scan_keys;
    std::size_t end = std::min(keys.size(), from + static_cast<std::size_t>(count));
    std::vector<std::string> page;
    for (std::size_t i = from; i < end; ++i)
      if (glob_match(match, keys[i])) page.push_back(keys[i]);
    const std::string next = end >= keys.size() ? "0" : std::to_string(end);
    auto answer = [c, next](const std::vector<std::string>& names) {
      auto w = c->writer();
      w.array(2);
      w.bulk(next);
      w.array(names.size());
      for (const auto& n : names) w.bulk(n);
      c->send(w);
    };
    if (!type || page.empty()) return answer(page);
    // TYPE: one read per candidate key.
    std::vector<net::KeyRequest> reads;
    for (const auto& k : page) reads.push_back(c->get_request(k));
    read_all(c, std::move(reads), [c, page, type, answer](std::vector<Result<ObjectView>>& results) {
      std::vector<std::string> kept;
      for (std::size_t i = 0; i < results.size(); ++i)
        if (results[i] && type_name(kind_of(results[i].value())) == *type) kept.push_back(page[i]);
      answer(kept);
    });
  };
  const auto from = static_cast<std::size_t>(*cursor);
  if (from != 0 && c->session->scan_valid && from <= c->session->scan_keys.size()) return walk(from);
  c->backend.list_keys([c, walk, from](Result<std::vector<std::string>> keys) {
    if (!keys) return c->fail(keys.error());
    c->session->scan_keys = std::move(keys.value());
    std::sort(c->session->scan_keys.begin(), c->session->scan_keys.end());
    c->session->scan_valid = true;
    walk(std::min(from, c->session->scan_keys.size()));
  });
}

void cmd_info(const CallPtr& c) {
  std::set<std::string> wanted;
  for (std::size_t i = 1; i < c->args.size(); ++i) wanted.insert(lower(c->args[i]));
  auto want = [wanted](const std::string& section) {
    return wanted.empty() || wanted.contains(section) || wanted.contains("all") || wanted.contains("everything") ||
           (wanted.contains("default") && section != "shoal");
  };
  auto with_status = [c, want](const StatusItems* status, std::optional<std::size_t> keys, const std::string& props) {
    const RespConfig& config = c->backend.config();
    std::string out;
    auto section = [&](const std::string& name) {
      if (!out.empty()) out += "\r\n";
      out += "# " + std::string(1, static_cast<char>(std::toupper(name[0]))) + name.substr(1) + "\r\n";
    };
    auto field = [&](const std::string& k, const std::string& v) { out += k + ":" + v + "\r\n"; };
    if (want("server")) {
      section("server");
      field("redis_version", std::string(kRedisVersion));
      field("shoal_version", config.version);
      field("redis_mode", "standalone");
      field("tcp_port", std::to_string(config.listen_port));
      field("uptime_in_seconds", std::to_string(now_ms() / 1000 - c->backend.started_unix_s()));
    }
    if (want("clients")) {
      section("clients");
      field("connected_clients", std::to_string(c->backend.connections()));
      field("maxclients", std::to_string(config.connections_max));
    }
    if (want("stats")) {
      section("stats");
      field("total_connections_received", std::to_string(c->backend.connections_total()));
      field("total_commands_processed", std::to_string(c->backend.commands_total()));
    }
    if (want("keyspace")) {
      section("keyspace");
      if (keys && *keys > 0) field("db0", "keys=" + std::to_string(*keys) + ",expires=0,avg_ttl=0");
    }
    if (want("shoal")) {
      section("shoal");
      field("keyspace", config.bucket_type + "/" + config.bucket);
      field("keyspace_props", props);
      field("connection_r", c->session->r ? c->session->r->to_string() : "default");
      field("connection_w", c->session->w ? c->session->w->to_string() : "default");
      if (status) {
        for (const auto& [name, value] : *status) {
          if (name == "bucket_types") continue;
          field(name, value.is_text ? value.text : std::to_string(value.number));
        }
      }
    }
    auto w = c->writer();
    w.bulk(out);
    c->send(w);
  };
  // The shoal section asks the node for its status and the keyspace's
  // properties; the keyspace section lists the keys (as DBSIZE does).
  struct Gathered {
    std::optional<StatusItems> status;
    std::optional<std::size_t> keys;
    std::string props;
    int left = 0;
  };
  auto g = std::make_shared<Gathered>();
  auto finish = [g, with_status] {
    if (--g->left == 0) with_status(g->status ? &*g->status : nullptr, g->keys, g->props);
  };
  g->left = 1 + (want("shoal") ? 2 : 0) + (want("keyspace") ? 1 : 0);
  if (want("shoal")) {
    c->backend.status([g, finish](Result<StatusItems> r) {
      if (r) g->status = std::move(r.value());
      finish();
    });
    c->backend.keyspace_props([g, finish](Result<std::string> r) {
      g->props = r ? r.value() : "unknown (" + r.error().message + ")";
      finish();
    });
  }
  if (want("keyspace")) {
    c->backend.list_keys([g, finish](Result<std::vector<std::string>> keys) {
      if (keys) g->keys = keys.value().size();
      finish();
    });
  }
  finish();
}

// ---- the command table --------------------------------------------------------------------

struct CommandSpec {
  std::string_view name;
  int arity;  // as Redis: exact when positive, at least -arity when negative
  std::string_view flags;
  int first_key, last_key, step;
  void (*run)(const CallPtr&);
};

#define SHOAL_RESP_LAMBDA(body) [](const CallPtr& c) { body; }
const CommandSpec kCommands[] = {
    {"ping", -1, "fast", 0, 0, 0, cmd_ping},
    {"echo", 2, "fast", 0, 0, 0, cmd_echo},
    {"time", 1, "fast", 0, 0, 0, cmd_time},
    {"select", 2, "fast", 0, 0, 0, cmd_select},
    {"quit", -1, "fast", 0, 0, 0, cmd_quit},
    {"hello", -1, "fast", 0, 0, 0, cmd_hello},
    {"client", -2, "admin", 0, 0, 0, cmd_client},
    {"config", -2, "admin", 0, 0, 0, cmd_config},
    {"command", -1, "loading", 0, 0, 0, nullptr},
    {"info", -1, "loading", 0, 0, 0, cmd_info},
    {"dbsize", 1, "readonly", 0, 0, 0, cmd_dbsize},
    {"flushdb", -1, "write", 0, 0, 0, cmd_flush},
    {"flushall", -1, "write", 0, 0, 0, cmd_flush},
    {"keys", 2, "readonly", 0, 0, 0, cmd_keys},
    {"scan", -2, "readonly", 0, 0, 0, cmd_scan},
    {"shoal.consistency", -1, "fast", 0, 0, 0, cmd_consistency},
    {"type", 2, "readonly", 1, 1, 1, cmd_type},
    {"exists", -2, "readonly", 1, -1, 1, cmd_exists},
    {"del", -2, "write", 1, -1, 1, cmd_del},
    {"unlink", -2, "write", 1, -1, 1, cmd_del},
    {"expire", -3, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(expire(c, 1000))},
    {"pexpire", -3, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(expire(c, 1))},
    {"expireat", -3, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(expire(c, 1000, true))},
    {"pexpireat", -3, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(expire(c, 1, true))},
    {"persist", 2, "write", 1, 1, 1, cmd_persist},
    {"expiretime", 2, "readonly", 1, 1, 1, SHOAL_RESP_LAMBDA(expire_time(c, false))},
    {"pexpiretime", 2, "readonly", 1, 1, 1, SHOAL_RESP_LAMBDA(expire_time(c, true))},
    {"ttl", 2, "readonly", 1, 1, 1, SHOAL_RESP_LAMBDA(ttl(c, false))},
    {"pttl", 2, "readonly", 1, 1, 1, SHOAL_RESP_LAMBDA(ttl(c, true))},
    {"get", 2, "readonly", 1, 1, 1, cmd_get},
    {"set", -3, "write", 1, 1, 1, cmd_set},
    {"setnx", 3, "write", 1, 1, 1, cmd_setnx},
    {"setex", 4, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(setex(c, 1000))},
    {"psetex", 4, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(setex(c, 1))},
    {"getset", 3, "write", 1, 1, 1, cmd_getset},
    {"getdel", 2, "write", 1, 1, 1, cmd_getdel},
    {"getex", -2, "write", 1, 1, 1, cmd_getex},
    {"mget", -2, "readonly", 1, -1, 1, cmd_mget},
    {"mset", -3, "write", 1, -1, 2, cmd_mset},
    {"append", 3, "write", 1, 1, 1, cmd_append},
    {"strlen", 2, "readonly", 1, 1, 1, cmd_strlen},
    {"getrange", 4, "readonly", 1, 1, 1, cmd_getrange},
    {"substr", 4, "readonly", 1, 1, 1, cmd_getrange},
    {"incr", 2, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(incr(c, 1))},
    {"decr", 2, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(incr(c, -1))},
    {"incrby", 3, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(incr_by(c, 1))},
    {"decrby", 3, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(incr_by(c, -1))},
    {"incrbyfloat", 3, "write", 1, 1, 1,
     SHOAL_RESP_LAMBDA(c->error("ERR INCRBYFLOAT is not supported: Shoal counters are integers (PN-counters)"))},
    {"sadd", -3, "write", 1, 1, 1, cmd_sadd},
    {"srem", -3, "write", 1, 1, 1, cmd_srem},
    {"smembers", 2, "readonly", 1, 1, 1, cmd_smembers},
    {"sismember", 3, "readonly", 1, 1, 1, cmd_sismember},
    {"smismember", -3, "readonly", 1, 1, 1, cmd_smismember},
    {"scard", 2, "readonly", 1, 1, 1, cmd_scard},
    {"srandmember", -2, "readonly", 1, 1, 1, cmd_srandmember},
    {"spop", -2, "write", 1, 1, 1, cmd_spop},
    {"smove", 4, "write", 1, 2, 1, cmd_smove},
    {"sinter", -2, "readonly", 1, -1, 1, SHOAL_RESP_LAMBDA(set_algebra(c, SetAlgebra::inter))},
    {"sunion", -2, "readonly", 1, -1, 1, SHOAL_RESP_LAMBDA(set_algebra(c, SetAlgebra::unite))},
    {"sdiff", -2, "readonly", 1, -1, 1, SHOAL_RESP_LAMBDA(set_algebra(c, SetAlgebra::diff))},
    {"hset", -4, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(hset(c, false))},
    {"hmset", -4, "write", 1, 1, 1, SHOAL_RESP_LAMBDA(hset(c, true))},
    {"hsetnx", 4, "write", 1, 1, 1, cmd_hsetnx},
    {"hget", 3, "readonly", 1, 1, 1, cmd_hget},
    {"hmget", -3, "readonly", 1, 1, 1, cmd_hmget},
    {"hdel", -3, "write", 1, 1, 1, cmd_hdel},
    {"hgetall", 2, "readonly", 1, 1, 1, cmd_hgetall},
    {"hkeys", 2, "readonly", 1, 1, 1, SHOAL_RESP_LAMBDA(cmd_hkeys_hvals(c, true))},
    {"hvals", 2, "readonly", 1, 1, 1, SHOAL_RESP_LAMBDA(cmd_hkeys_hvals(c, false))},
    {"hlen", 2, "readonly", 1, 1, 1, cmd_hlen},
    {"hstrlen", 3, "readonly", 1, 1, 1, cmd_hstrlen},
    {"hexists", 3, "readonly", 1, 1, 1, cmd_hexists},
    {"hincrby", 4, "write", 1, 1, 1, cmd_hincrby},
    {"hincrbyfloat", 4, "write", 1, 1, 1,
     SHOAL_RESP_LAMBDA(c->error("ERR HINCRBYFLOAT is not supported: Shoal counters are integers (PN-counters)"))},
    {"pfadd", -2, "write", 1, 1, 1, cmd_pfadd},
    {"pfcount", -2, "readonly", 1, -1, 1, cmd_pfcount},
    {"pfmerge", -2, "write", 1, -1, 1, cmd_pfmerge},
};
#undef SHOAL_RESP_LAMBDA

const CommandSpec* find_command(std::string_view name) {
  for (const auto& spec : kCommands)
    if (spec.name == name) return &spec;
  return nullptr;
}

void command_info(ReplyWriter& w, const CommandSpec& spec) {
  w.array(10);
  w.bulk(spec.name);
  w.integer(spec.arity);
  w.set(1).simple(spec.flags);
  w.integer(spec.first_key).integer(spec.last_key).integer(spec.step);
  w.set(0);    // ACL categories
  w.set(0);    // tips
  w.array(0);  // key specs
  w.array(0);  // subcommands
}

void cmd_command(const CallPtr& c) {
  auto w = c->writer();
  std::string sub = c->args.size() > 1 ? lower(c->args[1]) : "";
  if (sub.empty()) {
    w.array(std::size(kCommands));
    for (const auto& spec : kCommands) command_info(w, spec);
  } else if (sub == "count") {
    w.integer(static_cast<std::int64_t>(std::size(kCommands)));
  } else if (sub == "info") {
    w.array(c->args.size() - 2);
    for (std::size_t i = 2; i < c->args.size(); ++i) {
      if (const auto* spec = find_command(lower(c->args[i]))) {
        command_info(w, *spec);
      } else {
        w.null_array();
      }
    }
  } else if (sub == "docs") {
    w.map(0);  // no documentation here: clients fall back to plain input
  } else {
    return c->error("ERR unknown subcommand '" + c->args[1] + "'. Try COMMAND INFO, COUNT, DOCS.");
  }
  c->send(w);
}

}  // namespace

CommandKeys command_keys(const Command& command) {
  CommandKeys out;
  const std::string name = lower(command[0]);
  const CommandSpec* spec = find_command(name);
  if (!spec) return out;
  if (name == "scan" || name == "keys" || name == "dbsize" || name == "flushdb" || name == "flushall" ||
      name == "info" || name == "hello" || name == "shoal.consistency" || name == "select" || name == "client" ||
      name == "quit") {
    out.all = true;
    return out;
  }
  if (spec->first_key <= 0) return out;
  const auto argc = static_cast<int>(command.size());
  const int last = spec->last_key < 0 ? argc + spec->last_key : spec->last_key;
  for (int i = spec->first_key; i <= last && i < argc; i += spec->step)
    out.keys.push_back(command[static_cast<std::size_t>(i)]);
  return out;
}

bool conflicts(const CommandKeys& a, const CommandKeys& b) {
  if (a.all || b.all) return true;
  for (const auto& k : a.keys)
    if (std::find(b.keys.begin(), b.keys.end(), k) != b.keys.end()) return true;
  return false;
}

namespace {

// Matches one pattern element (not '*') at p[pi] against `ch`; sets `next`
// to the index after the element.
bool match_one(std::string_view p, std::size_t pi, char ch, std::size_t& next) {
  if (p[pi] == '?') {
    next = pi + 1;
    return true;
  }
  if (p[pi] == '\\' && pi + 1 < p.size()) {
    next = pi + 2;
    return p[pi + 1] == ch;
  }
  if (p[pi] != '[') {
    next = pi + 1;
    return p[pi] == ch;
  }
  std::size_t i = pi + 1;
  const bool negate = i < p.size() && p[i] == '^';
  if (negate) ++i;
  bool match = false;
  while (i < p.size() && p[i] != ']') {
    if (p[i] == '\\' && i + 1 < p.size()) {
      match |= p[i + 1] == ch;
      i += 2;
    } else if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      const char lo = std::min(p[i], p[i + 2]), hi = std::max(p[i], p[i + 2]);
      match |= ch >= lo && ch <= hi;
      i += 3;
    } else {
      match |= p[i] == ch;
      ++i;
    }
  }
  next = i < p.size() ? i + 1 : i;  // an unterminated class ends the pattern, as in Redis
  return negate ? !match : match;
}

}  // namespace

// Iterative, with backtracking to the last '*' only: O(pattern x text) at
// worst, so no pattern can stall the port (a recursive matcher is
// exponential in the number of stars).
bool glob_match(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0;
  std::size_t star = std::string_view::npos, star_si = 0;
  while (si < s.size()) {
    std::size_t next = 0;
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      star_si = si;
    } else if (pi < p.size() && match_one(p, pi, s[si], next)) {
      pi = next;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++star_si;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

void execute(Backend& backend, const std::shared_ptr<Session>& session, Command command, Reply reply) {
  auto call = std::make_shared<Call>(Call{backend, session, std::move(command), std::move(reply)});
  const std::string name = lower(call->args[0]);
  const CommandSpec* spec = find_command(name);
  if (!spec) {
    std::string args;
    for (std::size_t i = 1; i < call->args.size() && args.size() < 128; ++i)
      args += "'" + call->args[i].substr(0, 128 - args.size()) + "' ";
    return call->error("ERR unknown command '" + call->args[0].substr(0, 128) + "', with args beginning with: " + args);
  }
  const auto argc = static_cast<int>(call->args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity))
    return call->error("ERR wrong number of arguments for '" + name + "' command");
  if (!spec->run) return cmd_command(call);
  spec->run(call);
}

}  // namespace shoal::resp
