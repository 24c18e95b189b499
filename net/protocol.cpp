#include "net/protocol.hpp"

#include <algorithm>
#include <charconv>
#include <type_traits>

#include "crdt/map.hpp"

namespace shoal::net {

namespace {

Error malformed(std::string_view what, std::string_view why) {
  return make_error(Errc::malformed, std::string(what) + ": " + std::string(why));
}

constexpr std::size_t kListPageNamesMax = 1u << 20;

}  // namespace

bool protocol_version_supported(std::uint32_t version) {
  return version >= kProtocolVersionMin && version <= kProtocolVersionMax;
}

bool is_client_request(std::uint8_t type) { return type >= 1 && type <= 15; }
bool is_peer_message(std::uint8_t type) { return type >= 128; }

std::string_view message_type_name(std::uint8_t type) {
  switch (static_cast<MessageType>(type & ~kReplyBit)) {
    case MessageType::ping:
      return "ping";
    case MessageType::get:
      return "get";
    case MessageType::put:
      return "put";
    case MessageType::del:
      return "delete";
    case MessageType::update:
      return "update";
    case MessageType::list_buckets:
      return "list_buckets";
    case MessageType::list_keys:
      return "list_keys";
    case MessageType::status:
      return "status";
    case MessageType::ring:
      return "ring";
    case MessageType::members:
      return "members";
    case MessageType::replica_get:
      return "replica_get";
    case MessageType::bucket_types:
      return "bucket_types";
    case MessageType::failpoint:
      return "failpoint";
    case MessageType::cluster_admin:
      return "cluster_admin";
    case MessageType::bucket_type_admin:
      return "bucket_type_admin";
    default:
      break;
  }
  switch (static_cast<MessageType>(type)) {
    case MessageType::error:
      return "error";
    case MessageType::hello:
      return "hello";
    case MessageType::challenge:
      return "challenge";
    case MessageType::auth:
      return "auth";
    case MessageType::welcome:
      return "welcome";
    case MessageType::refuse:
      return "refuse";
    case MessageType::heartbeat:
      return "heartbeat";
    case MessageType::vnode_get:
      return "vnode_get";
    case MessageType::vnode_get_reply:
      return "vnode_get_reply";
    case MessageType::vnode_put:
      return "vnode_put";
    case MessageType::vnode_put_reply:
      return "vnode_put_reply";
    case MessageType::vnode_fold:
      return "vnode_fold";
    case MessageType::vnode_fold_reply:
      return "vnode_fold_reply";
    case MessageType::vnode_reap:
      return "vnode_reap";
    case MessageType::vnode_reap_reply:
      return "vnode_reap_reply";
    case MessageType::vnode_coordinate:
      return "vnode_coordinate";
    case MessageType::vnode_coordinate_reply:
      return "vnode_coordinate_reply";
    case MessageType::forward:
      return "forward";
    case MessageType::forward_reply:
      return "forward_reply";
    case MessageType::node_view:
      return "node_view";
    case MessageType::node_view_reply:
      return "node_view_reply";
    case MessageType::batch:
      return "batch";
    case MessageType::gossip:
      return "gossip";
    case MessageType::vnode_fold_objects:
      return "vnode_fold_objects";
    case MessageType::vnode_fold_objects_reply:
      return "vnode_fold_objects_reply";
    case MessageType::handoff_batch:
      return "handoff_batch";
    case MessageType::handoff_batch_reply:
      return "handoff_batch_reply";
    case MessageType::vnode_handoff_mode:
      return "vnode_handoff_mode";
    case MessageType::handoff_forward:
      return "handoff_forward";
    case MessageType::transfer_view:
      return "transfer_view";
    case MessageType::transfer_view_reply:
      return "transfer_view_reply";
    case MessageType::vnode_aae:
      return "vnode_aae";
    case MessageType::vnode_aae_reply:
      return "vnode_aae_reply";
    default:
      return "unknown";
  }
}

Result<Envelope> decode_envelope(std::string_view bytes, const codec::Limits& limits, std::uint64_t* request_id_out) {
  SHOAL_TRY(handle, codec::unpack(bytes, limits));
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 3)
    return malformed("message", "expected an array [version, type, request_id, ...]");
  std::span<const msgpack::object> items(root.via.array.ptr, root.via.array.size);
  if (items[2].type == msgpack::type::POSITIVE_INTEGER && request_id_out) *request_id_out = items[2].via.u64;
  SHOAL_TRY(version, codec::expect_uint(items[0], "message version", UINT32_MAX));
  SHOAL_TRY(type, codec::expect_uint(items[1], "message type", 255));
  SHOAL_TRY(request_id, codec::expect_uint(items[2], "message request id"));
  if (!protocol_version_supported(static_cast<std::uint32_t>(version)))
    return make_error(Errc::unsupported_version,
                      "protocol version " + std::to_string(version) + " is not supported; this node speaks " +
                          std::to_string(kProtocolVersionMin) + ".." + std::to_string(kProtocolVersionMax));
  Envelope envelope;
  envelope.version = static_cast<std::uint32_t>(version);
  envelope.type = static_cast<std::uint8_t>(type);
  envelope.request_id = request_id;
  envelope.body = items.subspan(3);
  envelope.handle = std::move(handle);
  return envelope;
}

MessageWriter::MessageWriter(std::uint8_t type, std::uint64_t request_id, std::size_t body_fields) : packer_(buffer_) {
  packer_.pack_array(static_cast<std::uint32_t>(3 + body_fields));
  packer_.pack_uint32(kProtocolVersion);
  packer_.pack_uint8(type);
  packer_.pack_uint64(request_id);
}

MessageWriter::MessageWriter(MessageType type, std::uint64_t request_id, std::size_t body_fields)
    : MessageWriter(static_cast<std::uint8_t>(type), request_id, body_fields) {}

Result<std::string_view> expect_blob_view(const msgpack::object& o, std::string_view what, std::size_t size_max) {
  std::string_view view;
  if (o.type == msgpack::type::BIN) {
    view = std::string_view(o.via.bin.ptr, o.via.bin.size);
  } else if (o.type == msgpack::type::STR) {
    view = std::string_view(o.via.str.ptr, o.via.str.size);
  } else {
    return malformed(what, "expected a byte string");
  }
  if (view.size() > size_max)
    return make_error(Errc::too_large, std::string(what) + " of " + std::to_string(view.size()) +
                                           " bytes exceeds the limit of " + std::to_string(size_max));
  return view;
}

Result<std::string> expect_blob(const msgpack::object& o, std::string_view what, std::size_t size_max) {
  SHOAL_TRY(view, expect_blob_view(o, what, size_max));
  return std::string(view);
}

// ---- errors ------------------------------------------------------------------

std::string encode_error(std::uint64_t request_id, const Error& error) {
  MessageWriter writer(MessageType::error, request_id, 2);
  writer.packer().pack_uint32(static_cast<std::uint32_t>(error.code));
  writer.bytes(error.message);
  return writer.finish();
}

codec::Limits reply_decode_limits() {
  codec::Limits l;
  l.bytes_max = 1u << 30;
  l.bin_max = 1u << 30;
  return l;
}

Error decode_error_body(std::span<const msgpack::object> body) {
  if (body.size() != 2) return malformed("error reply", "expected [code, message]");
  auto code = codec::expect_uint(body[0], "error code", 1000);
  if (!code) return code.error();
  auto message = expect_blob(body[1], "error message", 64 * 1024);
  if (!message) return message.error();
  return Error{static_cast<Errc>(code.value()), std::move(message).value()};
}

// ---- options -------------------------------------------------------------------

Result<Quorum> Quorum::parse(std::string_view text) {
  if (text == "one") return Quorum::one();
  if (text == "quorum") return Quorum::majority();
  if (text == "all") return Quorum::all();
  if (text == "default") return Quorum{};
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    return make_error(Errc::invalid_argument,
                      "quorum value '" + std::string(text) + "' must be a number, one, quorum, all or default");
  return Quorum::of(n);
}

std::string Quorum::to_string() const {
  switch (kind) {
    case Kind::count:
      return std::to_string(count);
    case Kind::one:
      return "one";
    case Kind::quorum:
      return "quorum";
    case Kind::all:
      return "all";
    case Kind::default_:
      return "default";
  }
  return "?";
}

std::uint32_t Quorum::resolve(std::uint32_t n_val, std::uint32_t fallback) const {
  switch (kind) {
    case Kind::count:
      return count;
    case Kind::one:
      return 1;
    case Kind::quorum:
      return n_val / 2 + 1;
    case Kind::all:
      return n_val;
    case Kind::default_:
      return fallback;
  }
  return fallback;
}

namespace {

void pack_quorum(crdt::Packer& packer, const Quorum& q) {
  if (q.kind == Quorum::Kind::count) {
    packer.pack_uint32(q.count);
  } else {
    std::string text = q.to_string();
    packer.pack_str(static_cast<std::uint32_t>(text.size()));
    packer.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
  }
}

Result<Quorum> read_quorum(const msgpack::object& o, std::string_view name) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > 64) return malformed(name, "quorum count out of range");
    return Quorum::of(static_cast<std::uint32_t>(o.via.u64));
  }
  SHOAL_TRY(text, expect_blob_view(o, name, 16));
  auto parsed = Quorum::parse(text);
  if (!parsed) return malformed(name, parsed.error().message);
  if (parsed.value().kind == Quorum::Kind::count && parsed.value().count > 64)
    return malformed(name, "quorum count out of range");
  return parsed.value();
}

void pack_key_string(crdt::Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<std::uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

}  // namespace

namespace {
constexpr std::string_view kTypeChangeNames[] = {"refuse", "replace", "convert"};
constexpr std::string_view kConditionNames[] = {"absent", "present"};

// The index of `name` in `names`, or a malformed error naming the option.
template <std::size_t N>
Result<std::size_t> read_choice(const msgpack::object& o, std::string_view option, const std::string_view (&names)[N]) {
  SHOAL_TRY(name, expect_blob_view(o, option, 16));
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == name) return i;
  std::string all;
  for (auto n : names) all += (all.empty() ? "" : ", ") + std::string(n);
  return make_error(Errc::invalid_argument, std::string(option) + " '" + std::string(name) + "' must be one of " + all);
}
}  // namespace

void encode_options(crdt::Packer& packer, const RequestOptions& options) {
  std::uint32_t count = 0;
  for (const auto* q : {&options.r, &options.w, &options.pr, &options.pw, &options.dw}) count += q->has_value();
  count += options.timeout_ms.has_value() + options.return_body.has_value() + options.notfound_ok.has_value() +
           options.basic_quorum.has_value() + options.ttl_ms.has_value() + options.page_keys.has_value() +
           options.type_change.has_value() + options.condition.has_value() + options.keep_ttl.has_value() +
           options.touch.has_value() + options.state.has_value() + options.effect.has_value();
  packer.pack_map(count);
  const std::pair<const char*, const std::optional<Quorum>*> quorums[] = {
      {"r", &options.r}, {"w", &options.w}, {"pr", &options.pr}, {"pw", &options.pw}, {"dw", &options.dw}};
  for (const auto& [name, q] : quorums) {
    if (!q->has_value()) continue;
    pack_key_string(packer, name);
    pack_quorum(packer, **q);
  }
  if (options.timeout_ms) {
    pack_key_string(packer, "timeout_ms");
    packer.pack_uint32(*options.timeout_ms);
  }
  if (options.return_body) {
    pack_key_string(packer, "return_body");
    packer.pack(*options.return_body);
  }
  if (options.notfound_ok) {
    pack_key_string(packer, "notfound_ok");
    packer.pack(*options.notfound_ok);
  }
  if (options.basic_quorum) {
    pack_key_string(packer, "basic_quorum");
    packer.pack(*options.basic_quorum);
  }
  if (options.ttl_ms) {
    pack_key_string(packer, "ttl_ms");
    packer.pack_uint64(*options.ttl_ms);
  }
  if (options.page_keys) {
    pack_key_string(packer, "page_keys");
    packer.pack_uint32(*options.page_keys);
  }
  if (options.type_change) {
    pack_key_string(packer, "type_change");
    pack_key_string(packer, kTypeChangeNames[static_cast<std::size_t>(*options.type_change)]);
  }
  if (options.condition) {
    pack_key_string(packer, "condition");
    pack_key_string(packer, kConditionNames[static_cast<std::size_t>(*options.condition)]);
  }
  if (options.keep_ttl) {
    pack_key_string(packer, "keep_ttl");
    packer.pack(*options.keep_ttl);
  }
  if (options.touch) {
    pack_key_string(packer, "touch");
    packer.pack(*options.touch);
  }
  if (options.effect) {
    pack_key_string(packer, "effect");
    packer.pack(*options.effect);
  }
  if (options.state) {
    pack_key_string(packer, "state");
    packer.pack(*options.state);
  }
}

Result<RequestOptions> decode_options(const msgpack::object& o) {
  RequestOptions options;
  if (o.type == msgpack::type::NIL) return options;
  if (o.type != msgpack::type::MAP) return malformed("request options", "expected a map");
  if (o.via.map.size > 32) return malformed("request options", "too many entries");
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    SHOAL_TRY(name, expect_blob_view(kv.key, "request option name", 32));
    auto quorum_slot = [&]() -> std::optional<Quorum>* {
      if (name == "r") return &options.r;
      if (name == "w") return &options.w;
      if (name == "pr") return &options.pr;
      if (name == "pw") return &options.pw;
      if (name == "dw") return &options.dw;
      return nullptr;
    }();
    if (quorum_slot) {
      SHOAL_TRY(q, read_quorum(kv.val, name));
      *quorum_slot = q;
    } else if (name == "timeout_ms") {
      SHOAL_TRY(v, codec::expect_uint(kv.val, "timeout_ms", kTimeoutMsMax));
      if (v == 0) return malformed("timeout_ms", "must be at least 1");
      options.timeout_ms = static_cast<std::uint32_t>(v);
    } else if (name == "return_body") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "return_body"));
      options.return_body = v;
    } else if (name == "notfound_ok") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "notfound_ok"));
      options.notfound_ok = v;
    } else if (name == "basic_quorum") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "basic_quorum"));
      options.basic_quorum = v;
    } else if (name == "ttl_ms") {
      SHOAL_TRY(v, codec::expect_uint(kv.val, "ttl_ms", kTtlMsMax));
      if (v == 0) return malformed("ttl_ms", "must be at least 1");
      options.ttl_ms = v;
    } else if (name == "page_keys") {
      SHOAL_TRY(v, codec::expect_uint(kv.val, "page_keys", 100'000));
      if (v == 0) return malformed("page_keys", "must be at least 1");
      options.page_keys = static_cast<std::uint32_t>(v);
    } else if (name == "type_change") {
      SHOAL_TRY(choice, read_choice(kv.val, "type_change", kTypeChangeNames));
      options.type_change = static_cast<RequestOptions::TypeChange>(choice);
    } else if (name == "condition") {
      SHOAL_TRY(choice, read_choice(kv.val, "condition", kConditionNames));
      options.condition = static_cast<RequestOptions::Condition>(choice);
    } else if (name == "keep_ttl") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "keep_ttl"));
      options.keep_ttl = v;
    } else if (name == "touch") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "touch"));
      options.touch = v;
    } else if (name == "state") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "state"));
      options.state = v;
    } else if (name == "effect") {
      SHOAL_TRY(v, codec::expect_bool(kv.val, "effect"));
      options.effect = v;
    } else {
      return make_error(Errc::invalid_argument, "unknown request option '" + std::string(name) + "'");
    }
  }
  return options;
}

// ---- keys ----------------------------------------------------------------------

void encode_key(crdt::Packer& packer, const crdt::ObjectKey& key) {
  codec::pack_bytes(packer, key.bucket_type);
  codec::pack_bytes(packer, key.bucket);
  codec::pack_bytes(packer, key.key);
}

Result<crdt::ObjectKey> decode_key(std::span<const msgpack::object> fields, const crdt::ObjectLimits& limits) {
  if (fields.size() < 3) return malformed("key", "expected bucket type, bucket and key");
  crdt::ObjectKey key;
  SHOAL_TRY(type, expect_blob(fields[0], "bucket type", limits.bucket_bytes_max));
  SHOAL_TRY(bucket, expect_blob(fields[1], "bucket", limits.bucket_bytes_max));
  SHOAL_TRY(name, expect_blob(fields[2], "key", limits.key_bytes_max));
  if (type.empty()) return make_error(Errc::invalid_argument, "bucket type must not be empty");
  if (bucket.empty()) return make_error(Errc::invalid_argument, "bucket must not be empty");
  if (name.empty()) return make_error(Errc::invalid_argument, "key must not be empty");
  key.bucket_type = std::move(type);
  key.bucket = std::move(bucket);
  key.key = std::move(name);
  return key;
}

// ---- CRDT ops ------------------------------------------------------------------

namespace {

void pack_string_list(crdt::Packer& packer, const auto& items) {
  packer.pack_array(static_cast<std::uint32_t>(items.size()));
  for (const auto& item : items) codec::pack_bytes(packer, item);
}

Result<std::vector<std::string>> read_string_list(const msgpack::object& o, std::string_view what,
                                                  std::size_t count_max, std::size_t bytes_max) {
  SHOAL_TRY(items, codec::expect_array(o, 0, count_max, what));
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    SHOAL_TRY(text, expect_blob(item, what, bytes_max));
    out.push_back(std::move(text));
  }
  return out;
}

bool is_crdt_tag(std::uint64_t tag) {
  return tag <= 255 && crdt::AnyCrdt::is_crdt_tag(static_cast<crdt::TypeTag>(tag));
}

Result<crdt::AnyOp> decode_op_at(const msgpack::object& o, const std::optional<crdt::VClock>& context,
                                 std::size_t depth) {
  if (depth > crdt::kMapDepthMax) return malformed("operation", "maps nested too deeply");
  SHOAL_TRY(items, codec::expect_array(o, 2, 4, "operation"));
  SHOAL_TRY(tag, codec::expect_uint(items[0], "operation type", 255));
  switch (static_cast<crdt::TypeTag>(tag)) {
    case crdt::TypeTag::pn_counter: {
      if (items.size() != 2) return malformed("counter operation", "expected [10, delta]");
      SHOAL_TRY(delta, codec::expect_int(items[1], "counter delta"));
      return crdt::AnyOp{crdt::PnCounter::Op::increment(delta)};
    }
    case crdt::TypeTag::orswot: {
      if (items.size() != 3) return malformed("set operation", "expected [11, kind, elements]");
      SHOAL_TRY(kind, codec::expect_uint(items[1], "set operation kind", 1));
      SHOAL_TRY(elements,
                read_string_list(items[2], "set element", crdt::kSetOpElementsMax, crdt::kSetElementBytesMax));
      if (elements.empty()) return make_error(Errc::invalid_argument, "set operation names no element");
      if (kind == 0) return crdt::AnyOp{crdt::Orswot::Op::add_all(std::move(elements))};
      return crdt::AnyOp{crdt::Orswot::Op::remove_all(std::move(elements), context)};
    }
    case crdt::TypeTag::lww_register: {
      if (items.size() != 2) return malformed("register operation", "expected [12, value]");
      SHOAL_TRY(value, expect_blob(items[1], "register value", crdt::kRegisterValueBytesMax));
      return crdt::AnyOp{crdt::LwwRegister::Op{std::move(value), {}}};
    }
    case crdt::TypeTag::mv_register: {
      if (items.size() != 2) return malformed("mv register operation", "expected [13, value]");
      SHOAL_TRY(value, expect_blob(items[1], "register value", crdt::kRegisterValueBytesMax));
      return crdt::AnyOp{crdt::MvRegister::Op{std::move(value)}};
    }
    case crdt::TypeTag::flag: {
      if (items.size() != 2) return malformed("flag operation", "expected [14, 0|1]");
      SHOAL_TRY(kind, codec::expect_uint(items[1], "flag operation", 1));
      return crdt::AnyOp{kind == 0 ? crdt::EnableWinsFlag::Op::enable : crdt::EnableWinsFlag::Op::disable};
    }
    case crdt::TypeTag::hll: {
      if (items.size() == 4) {
        // [16, [], precision, registers]: merge a whole sketch.
        SHOAL_TRY(none, codec::expect_array(items[1], 0, 0, "hll sketch merge elements"));
        (void)none;
        SHOAL_TRY(precision, codec::expect_uint(items[2], "hll sketch precision", crdt::kHllPrecisionMax));
        SHOAL_TRY(bytes, expect_blob_view(items[3], "hll sketch registers", std::size_t{1} << crdt::kHllPrecisionMax));
        crdt::Hll::Op op;
        op.precision = static_cast<unsigned>(precision);
        op.registers.assign(bytes.begin(), bytes.end());
        if (op.registers.empty()) return make_error(Errc::invalid_argument, "hll sketch merge without registers");
        if (auto checked = crdt::Hll::from_registers(op.precision, op.registers); !checked) return checked.error();
        return crdt::AnyOp{std::move(op)};
      }
      if (items.size() != 2)
        return malformed("hll operation", "expected [16, elements] or [16, [], precision, registers]");
      SHOAL_TRY(elements,
                read_string_list(items[1], "hll element", crdt::kSetOpElementsMax, crdt::kHllElementBytesMax));
      if (elements.size() != 1) {
        // One op adds one element; several become a map-free batch below.
        if (elements.empty()) return make_error(Errc::invalid_argument, "hll operation names no element");
        return make_error(Errc::invalid_argument, "an hll operation adds exactly one element");
      }
      return crdt::AnyOp{crdt::Hll::Op::add(std::move(elements.front()))};
    }
    case crdt::TypeTag::map: {
      if (items.size() != 2) return malformed("map operation", "expected [15, field operations]");
      SHOAL_TRY(fields, codec::expect_array(items[1], 1, crdt::kMapOpFieldsMax, "map field operations"));
      crdt::MapOp op;
      for (const auto& field : fields) {
        SHOAL_TRY(parts, codec::expect_array(field, 3, 4, "map field operation"));
        SHOAL_TRY(kind, codec::expect_uint(parts[0], "map field operation kind", 1));
        SHOAL_TRY(name, expect_blob(parts[1], "map field name", crdt::kMapFieldNameBytesMax));
        SHOAL_TRY(type, codec::expect_uint(parts[2], "map field type", 255));
        if (!is_crdt_tag(type)) return malformed("map field type", "not a CRDT type tag");
        if (kind == 0) {
          if (parts.size() != 4) return malformed("map field update", "expected [0, name, type, op]");
          SHOAL_TRY(nested, decode_op_at(parts[3], context, depth + 1));
          if (crdt::op_type_tag(nested) != static_cast<crdt::TypeTag>(type))
            return make_error(Errc::invalid_argument, "map field '" + name + "': operation does not match its type");
          op.fields.push_back(crdt::MapFieldOp::update(std::move(name), std::move(nested)));
        } else {
          if (parts.size() != 3) return malformed("map field remove", "expected [1, name, type]");
          op.fields.push_back(crdt::MapFieldOp::remove(std::move(name), static_cast<crdt::TypeTag>(type), context));
        }
      }
      return crdt::AnyOp{std::move(op)};
    }
    default:
      return malformed("operation", "unknown CRDT type tag " + std::to_string(tag));
  }
}

}  // namespace

void encode_op(crdt::Packer& packer, const crdt::AnyOp& op) {
  std::visit(
      [&](const auto& typed) {
        using O = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<O, crdt::PnCounter::Op>) {
          packer.pack_array(2);
          packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::pn_counter));
          packer.pack_int64(typed.delta);
        } else if constexpr (std::is_same_v<O, crdt::Orswot::Op>) {
          packer.pack_array(3);
          packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::orswot));
          packer.pack_uint8(typed.kind == crdt::Orswot::Op::Kind::add ? 0 : 1);
          pack_string_list(packer, typed.elements);
        } else if constexpr (std::is_same_v<O, crdt::LwwRegister::Op>) {
          packer.pack_array(2);
          packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::lww_register));
          codec::pack_bytes(packer, typed.value);
        } else if constexpr (std::is_same_v<O, crdt::MvRegister::Op>) {
          packer.pack_array(2);
          packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::mv_register));
          codec::pack_bytes(packer, typed.value);
        } else if constexpr (std::is_same_v<O, crdt::EnableWinsFlag::Op>) {
          packer.pack_array(2);
          packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::flag));
          packer.pack_uint8(typed == crdt::EnableWinsFlag::Op::enable ? 0 : 1);
        } else if constexpr (std::is_same_v<O, crdt::MapOp>) {
          packer.pack_array(2);
          packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::map));
          packer.pack_array(static_cast<std::uint32_t>(typed.fields.size()));
          for (const auto& field : typed.fields) {
            bool update = field.kind == crdt::MapFieldOp::Kind::update;
            packer.pack_array(update ? 4 : 3);
            packer.pack_uint8(update ? 0 : 1);
            codec::pack_bytes(packer, field.field.name);
            packer.pack_uint8(static_cast<std::uint8_t>(field.field.type));
            if (update) encode_op(packer, field.op);
          }
        } else {
          static_assert(std::is_same_v<O, crdt::Hll::Op>);
          if (!typed.registers.empty()) {
            packer.pack_array(4);
            packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::hll));
            packer.pack_array(0);
            packer.pack_uint32(typed.precision);
            codec::pack_bytes(packer, std::string_view(reinterpret_cast<const char*>(typed.registers.data()),
                                                       typed.registers.size()));
          } else {
            packer.pack_array(2);
            packer.pack_uint8(static_cast<std::uint8_t>(crdt::TypeTag::hll));
            packer.pack_array(1);
            codec::pack_bytes(packer, typed.element);
          }
        }
      },
      op);
}

Result<crdt::AnyOp> decode_op(const msgpack::object& o, const std::optional<crdt::VClock>& context) {
  return decode_op_at(o, context, 1);
}

// ---- CRDT values ------------------------------------------------------------------

namespace {

void encode_value_body(crdt::Packer& packer, const crdt::AnyValue& value);

crdt::TypeTag value_tag(const crdt::AnyValue& value) {
  switch (value.value.index()) {
    case 0:
      return crdt::TypeTag::pn_counter;
    case 1:
      return crdt::TypeTag::orswot;
    case 2:
      return crdt::TypeTag::lww_register;
    case 3:
      return crdt::TypeTag::mv_register;
    case 4:
      return crdt::TypeTag::flag;
    case 5:
      return crdt::TypeTag::map;
    default:
      return crdt::TypeTag::hll;
  }
}

void encode_value_body(crdt::Packer& packer, const crdt::AnyValue& value) {
  std::visit(
      [&](const auto& typed) {
        using V = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<V, crdt::PnCounter::Value>) {
          packer.pack_int64(typed);
        } else if constexpr (std::is_same_v<V, crdt::Orswot::Value> || std::is_same_v<V, crdt::MvRegister::Value>) {
          pack_string_list(packer, typed);
        } else if constexpr (std::is_same_v<V, crdt::LwwRegister::Value>) {
          if (typed) {
            codec::pack_bytes(packer, *typed);
          } else {
            packer.pack_nil();
          }
        } else if constexpr (std::is_same_v<V, crdt::EnableWinsFlag::Value>) {
          packer.pack(typed);
        } else if constexpr (std::is_same_v<V, crdt::MapValue>) {
          packer.pack_array(static_cast<std::uint32_t>(typed.fields.size()));
          for (const auto& [field, nested] : typed.fields) {
            packer.pack_array(3);
            codec::pack_bytes(packer, field.name);
            packer.pack_uint8(static_cast<std::uint8_t>(field.type));
            encode_value_body(packer, nested);
          }
        } else {
          static_assert(std::is_same_v<V, crdt::Hll::Value>);
          packer.pack_uint64(typed);
        }
      },
      value.value);
}

Result<crdt::AnyValue> decode_value_body(crdt::TypeTag tag, const msgpack::object& o, std::size_t depth) {
  if (depth > crdt::kMapDepthMax) return malformed("value", "maps nested too deeply");
  switch (tag) {
    case crdt::TypeTag::pn_counter: {
      SHOAL_TRY(v, codec::expect_int(o, "counter value"));
      return crdt::AnyValue{v};
    }
    case crdt::TypeTag::orswot: {
      SHOAL_TRY(list, read_string_list(o, "set element", crdt::kSetElementsMax, crdt::kSetElementBytesMax));
      return crdt::AnyValue{crdt::Orswot::Value(list.begin(), list.end())};
    }
    case crdt::TypeTag::lww_register: {
      if (o.type == msgpack::type::NIL) return crdt::AnyValue{crdt::LwwRegister::Value{}};
      SHOAL_TRY(v, expect_blob(o, "register value", crdt::kRegisterValueBytesMax));
      return crdt::AnyValue{crdt::LwwRegister::Value{std::move(v)}};
    }
    case crdt::TypeTag::mv_register: {
      SHOAL_TRY(list, read_string_list(o, "register value", crdt::kRegisterEntriesMax, crdt::kRegisterValueBytesMax));
      return crdt::AnyValue{crdt::MvRegister::Value(std::move(list))};
    }
    case crdt::TypeTag::flag: {
      SHOAL_TRY(v, codec::expect_bool(o, "flag value"));
      return crdt::AnyValue{v};
    }
    case crdt::TypeTag::hll: {
      SHOAL_TRY(v, codec::expect_uint(o, "hll value"));
      return crdt::AnyValue{crdt::Hll::Value{v}};
    }
    case crdt::TypeTag::map: {
      SHOAL_TRY(fields, codec::expect_array(o, 0, crdt::kMapFieldsMax, "map value"));
      crdt::MapValue map;
      for (const auto& field : fields) {
        SHOAL_TRY(parts, codec::expect_array(field, 3, 3, "map field value"));
        SHOAL_TRY(name, expect_blob(parts[0], "map field name", crdt::kMapFieldNameBytesMax));
        SHOAL_TRY(type, codec::expect_uint(parts[1], "map field type", 255));
        if (!is_crdt_tag(type)) return malformed("map field type", "not a CRDT type tag");
        SHOAL_TRY(nested, decode_value_body(static_cast<crdt::TypeTag>(type), parts[2], depth + 1));
        map.fields.emplace_back(crdt::FieldKey{std::move(name), static_cast<crdt::TypeTag>(type)}, std::move(nested));
      }
      return crdt::AnyValue{std::move(map)};
    }
    default:
      return malformed("value", "unknown CRDT type tag");
  }
}

}  // namespace

void encode_value(crdt::Packer& packer, const crdt::AnyValue& value) {
  packer.pack_array(2);
  packer.pack_uint8(static_cast<std::uint8_t>(value_tag(value)));
  encode_value_body(packer, value);
}

Result<crdt::AnyValue> decode_value(const msgpack::object& o) {
  SHOAL_TRY(items, codec::expect_array(o, 2, 2, "value"));
  SHOAL_TRY(tag, codec::expect_uint(items[0], "value type", 255));
  if (!is_crdt_tag(tag)) return malformed("value type", "not a CRDT type tag");
  return decode_value_body(static_cast<crdt::TypeTag>(tag), items[1], 1);
}

// ---- object views ---------------------------------------------------------------------

std::string encode_context(const crdt::VClock& clock) {
  msgpack::sbuffer buffer;
  crdt::Packer packer(buffer);
  clock.encode(packer);
  return std::string(buffer.data(), buffer.size());
}

Result<crdt::VClock> decode_context(std::string_view bytes) {
  if (bytes.empty()) return crdt::VClock{};
  auto handle = codec::unpack(bytes);
  if (!handle) return make_error(Errc::invalid_argument, "causal context does not decode: " + handle.error().message);
  auto clock = crdt::VClock::decode(handle.value().get());
  if (!clock) return make_error(Errc::invalid_argument, "causal context does not decode: " + clock.error().message);
  return std::move(clock).value();
}

void encode_object_view(crdt::Packer& packer, const ObjectView& view) {
  packer.pack(view.found);
  packer.pack_uint8(static_cast<std::uint8_t>(view.datatype));
  packer.pack_array(static_cast<std::uint32_t>(view.siblings.size()));
  for (const auto& s : view.siblings) {
    packer.pack_array(5);
    codec::pack_bytes(packer, s.value);
    codec::pack_bytes(packer, s.content_type);
    packer.pack_array(static_cast<std::uint32_t>(s.user_metadata.size() * 2));
    for (const auto& [k, v] : s.user_metadata) {
      codec::pack_bytes(packer, k);
      codec::pack_bytes(packer, v);
    }
    packer.pack_int64(s.last_modified_us);
    packer.pack(s.deleted);
  }
  if (view.value) {
    encode_value(packer, *view.value);
  } else {
    packer.pack_nil();
  }
  codec::pack_bytes(packer, view.context);
  if (view.expires_at_us) {
    packer.pack_int64(*view.expires_at_us);
  } else {
    packer.pack_nil();
  }
  // Only a get reply carries a state, only an update reply an effect; the
  // message's writer counts the extra fields (object_view_fields).
  if (view.state) {
    codec::pack_bytes(packer, *view.state);
  } else if (view.effect) {
    packer.pack_nil();
  }
  if (view.effect) packer.pack_int64(*view.effect);
}

std::size_t object_view_fields(const ObjectView& view) {
  if (view.effect) return kObjectViewFields + 2;
  return kObjectViewFields + (view.state ? 1 : 0);
}

Result<ObjectView> decode_object_view(std::span<const msgpack::object> fields) {
  if (fields.size() < kObjectViewFields || fields.size() > kObjectViewFields + 2)
    return malformed("object", "expected 6 fields (7 with a state, 8 with an effect)");
  ObjectView view;
  SHOAL_TRY(found, codec::expect_bool(fields[0], "object found"));
  SHOAL_TRY(datatype, codec::expect_uint(fields[1], "object datatype", crdt::kDatatypeMax));
  view.found = found;
  view.datatype = static_cast<crdt::Datatype>(datatype);
  SHOAL_TRY(siblings, codec::expect_array(fields[2], 0, 1u << 16, "object siblings"));
  for (const auto& item : siblings) {
    SHOAL_TRY(parts, codec::expect_array(item, 5, 5, "sibling"));
    SiblingView s;
    SHOAL_TRY(value, expect_blob(parts[0], "sibling value", 1u << 30));
    SHOAL_TRY(content_type, expect_blob(parts[1], "content type", 64 * 1024));
    SHOAL_TRY(meta, codec::expect_array(parts[2], 0, 1u << 17, "user metadata"));
    if (meta.size() % 2) return malformed("user metadata", "odd number of fields");
    for (std::size_t i = 0; i < meta.size(); i += 2) {
      SHOAL_TRY(k, expect_blob(meta[i], "user metadata key", 1u << 20));
      SHOAL_TRY(v, expect_blob(meta[i + 1], "user metadata value", 1u << 20));
      s.user_metadata.emplace_back(std::move(k), std::move(v));
    }
    SHOAL_TRY(modified, codec::expect_int(parts[3], "last modified"));
    SHOAL_TRY(deleted, codec::expect_bool(parts[4], "deleted"));
    s.value = std::move(value);
    s.content_type = std::move(content_type);
    s.last_modified_us = modified;
    s.deleted = deleted;
    view.siblings.push_back(std::move(s));
  }
  if (fields[3].type != msgpack::type::NIL) {
    SHOAL_TRY(value, decode_value(fields[3]));
    view.value = std::move(value);
  }
  SHOAL_TRY(context, expect_blob(fields[4], "context", 1u << 24));
  view.context = std::move(context);
  if (fields[5].type != msgpack::type::NIL) {
    SHOAL_TRY(expires, codec::expect_int(fields[5], "expires at"));
    view.expires_at_us = expires;
  }
  if (fields.size() > kObjectViewFields && fields[6].type != msgpack::type::NIL) {
    SHOAL_TRY(state, expect_blob(fields[6], "state", 1u << 30));
    view.state = std::move(state);
  }
  if (fields.size() > kObjectViewFields + 1) {
    SHOAL_TRY(effect, codec::expect_int(fields[7], "effect"));
    view.effect = effect;
  }
  return view;
}

ObjectView object_view(const crdt::Object& object, crdt::HlcTimestamp now) {
  ObjectView view;
  view.datatype = object.datatype();
  view.context = encode_context(object.context());
  if (object.expired(now) || object.is_tombstone()) return view;
  view.found = true;
  if (object.datatype() == crdt::Datatype::plain) {
    for (const auto& s : object.siblings()) {
      if (s.tombstone) continue;  // a delete concurrent with a write: the write is what a reader sees
      view.siblings.push_back(
          SiblingView{s.value, s.content_type, s.user_metadata, s.last_modified.physical_us, false});
    }
    if (view.siblings.empty()) view.found = false;
  } else {
    view.value = object.crdt().value();
  }
  if (auto expires = object.expires_at()) view.expires_at_us = expires->physical_us;
  return view;
}

// ---- requests ------------------------------------------------------------------------------

std::string encode_request(std::uint64_t request_id, const KeyRequest& request) {
  auto pack_context = [&](MessageWriter& w) {
    if (request.context) {
      w.bytes(*request.context);
    } else {
      w.packer().pack_nil();
    }
  };
  switch (request.type) {
    case MessageType::get: {
      MessageWriter w(request.type, request_id, 4);
      encode_key(w.packer(), request.key);
      encode_options(w.packer(), request.options);
      return w.finish();
    }
    case MessageType::put: {
      MessageWriter w(request.type, request_id, 8);
      encode_key(w.packer(), request.key);
      w.bytes(request.value);
      w.bytes(request.content_type);
      w.packer().pack_array(static_cast<std::uint32_t>(request.user_metadata.size() * 2));
      for (const auto& [k, v] : request.user_metadata) {
        w.bytes(k);
        w.bytes(v);
      }
      pack_context(w);
      encode_options(w.packer(), request.options);
      return w.finish();
    }
    case MessageType::del: {
      MessageWriter w(request.type, request_id, 5);
      encode_key(w.packer(), request.key);
      pack_context(w);
      encode_options(w.packer(), request.options);
      return w.finish();
    }
    case MessageType::update: {
      MessageWriter w(request.type, request_id, 6);
      encode_key(w.packer(), request.key);
      SHOAL_ASSERT(request.op.has_value(), "an update request needs an op");
      encode_op(w.packer(), *request.op);
      pack_context(w);
      encode_options(w.packer(), request.options);
      return w.finish();
    }
    case MessageType::replica_get: {
      MessageWriter w(request.type, request_id, 3);
      encode_key(w.packer(), request.key);
      return w.finish();
    }
    default:
      SHOAL_ASSERT(false, "not a key request type");
  }
  return {};
}

Result<KeyRequest> decode_key_request(MessageType type, std::span<const msgpack::object> body,
                                      const crdt::ObjectLimits& limits) {
  std::size_t expected = 0;
  switch (type) {
    case MessageType::get:
      expected = 4;
      break;
    case MessageType::put:
      expected = 8;
      break;
    case MessageType::del:
      expected = 5;
      break;
    case MessageType::update:
      expected = 6;
      break;
    case MessageType::replica_get:
      expected = 3;
      break;
    default:
      return malformed("request", "not a key request");
  }
  std::string what(message_type_name(static_cast<std::uint8_t>(type)));
  if (body.size() != expected)
    return malformed(what + " request",
                     "expected " + std::to_string(expected) + " fields, got " + std::to_string(body.size()));
  KeyRequest request;
  request.type = type;
  SHOAL_TRY(key, decode_key(body, limits));
  request.key = std::move(key);
  auto read_context = [&](const msgpack::object& o) -> Result<void> {
    if (o.type == msgpack::type::NIL) return ok();
    SHOAL_TRY(context, expect_blob(o, "context", 1u << 24));
    request.context = std::move(context);
    return ok();
  };
  switch (type) {
    case MessageType::get: {
      SHOAL_TRY(options, decode_options(body[3]));
      request.options = options;
      break;
    }
    case MessageType::put: {
      // The value's own limit is the node's object limit, checked by the coordinator.
      SHOAL_TRY(value, expect_blob(body[3], "value", limits.value_bytes_max));
      SHOAL_TRY(content_type, expect_blob(body[4], "content type", limits.content_type_bytes_max));
      SHOAL_TRY(meta, codec::expect_array(body[5], 0, 2 * limits.metadata_entries_max, "user metadata"));
      if (meta.size() % 2) return malformed("user metadata", "expected key, value pairs");
      for (std::size_t i = 0; i < meta.size(); i += 2) {
        SHOAL_TRY(k, expect_blob(meta[i], "user metadata key", limits.metadata_bytes_max));
        SHOAL_TRY(v, expect_blob(meta[i + 1], "user metadata value", limits.metadata_bytes_max));
        request.user_metadata.emplace_back(std::move(k), std::move(v));
      }
      std::sort(request.user_metadata.begin(), request.user_metadata.end());
      for (std::size_t i = 1; i < request.user_metadata.size(); ++i)
        if (request.user_metadata[i - 1].first == request.user_metadata[i].first)
          return make_error(Errc::invalid_argument,
                            "user metadata key '" + request.user_metadata[i].first + "' given twice");
      request.value = std::move(value);
      request.content_type = std::move(content_type);
      SHOAL_TRYV(read_context(body[6]));
      SHOAL_TRY(options, decode_options(body[7]));
      request.options = options;
      break;
    }
    case MessageType::del: {
      SHOAL_TRYV(read_context(body[3]));
      SHOAL_TRY(options, decode_options(body[4]));
      request.options = options;
      break;
    }
    case MessageType::update: {
      SHOAL_TRYV(read_context(body[4]));
      std::optional<crdt::VClock> context;
      if (request.context) {
        SHOAL_TRY(clock, decode_context(*request.context));
        context = std::move(clock);
      }
      SHOAL_TRY(op, decode_op(body[3], context));
      request.op = std::move(op);
      SHOAL_TRY(options, decode_options(body[5]));
      request.options = options;
      break;
    }
    default:
      break;
  }
  return request;
}

std::string encode_request(std::uint64_t request_id, const ListRequest& request) {
  bool keys = request.type == MessageType::list_keys;
  MessageWriter w(request.type, request_id, keys ? 3 : 2);
  w.bytes(request.bucket_type);
  if (keys) w.bytes(request.bucket);
  encode_options(w.packer(), request.options);
  return w.finish();
}

Result<ListRequest> decode_list_request(MessageType type, std::span<const msgpack::object> body,
                                        const crdt::ObjectLimits& limits) {
  bool keys = type == MessageType::list_keys;
  if (body.size() != (keys ? 3u : 2u)) return malformed("list request", "wrong number of fields");
  ListRequest request;
  request.type = type;
  SHOAL_TRY(bucket_type, expect_blob(body[0], "bucket type", limits.bucket_bytes_max));
  if (bucket_type.empty()) return make_error(Errc::invalid_argument, "bucket type must not be empty");
  request.bucket_type = std::move(bucket_type);
  if (keys) {
    SHOAL_TRY(bucket, expect_blob(body[1], "bucket", limits.bucket_bytes_max));
    if (bucket.empty()) return make_error(Errc::invalid_argument, "bucket must not be empty");
    request.bucket = std::move(bucket);
  }
  SHOAL_TRY(options, decode_options(body[keys ? 2 : 1]));
  request.options = options;
  return request;
}

std::string encode_list_page(MessageType request, std::uint64_t request_id, const ListPage& page) {
  MessageWriter w(reply_type(request), request_id, 2);
  w.packer().pack(page.done);
  pack_string_list(w.packer(), page.names);
  return w.finish();
}

Result<ListPage> decode_list_page(std::span<const msgpack::object> body) {
  if (body.size() != 2) return malformed("list reply", "expected [done, names]");
  ListPage page;
  SHOAL_TRY(done, codec::expect_bool(body[0], "list reply done"));
  SHOAL_TRY(names, read_string_list(body[1], "list reply name", kListPageNamesMax, 1u << 17));
  page.done = done;
  page.names = std::move(names);
  return page;
}

std::string encode_simple_request(MessageType type, std::uint64_t request_id) {
  MessageWriter w(type, request_id, 0);
  return w.finish();
}

std::string encode_failpoint_request(std::uint64_t request_id, std::string_view name, std::string_view spec) {
  MessageWriter w(MessageType::failpoint, request_id, 2);
  w.bytes(name);
  w.bytes(spec);
  return w.finish();
}

Result<std::pair<std::string, std::string>> decode_failpoint_request(std::span<const msgpack::object> body) {
  if (body.size() != 2) return malformed("failpoint request", "expected [name, spec]");
  SHOAL_TRY(name, expect_blob(body[0], "failpoint name", 256));
  SHOAL_TRY(spec, expect_blob(body[1], "failpoint spec", 256));
  return std::make_pair(std::move(name), std::move(spec));
}

std::string encode_cluster_admin(std::uint64_t request_id, std::string_view command,
                                 const std::vector<std::string>& arguments) {
  MessageWriter w(MessageType::cluster_admin, request_id, 2);
  w.bytes(command);
  pack_string_list(w.packer(), arguments);
  return w.finish();
}

Result<std::pair<std::string, std::vector<std::string>>> decode_cluster_admin(std::span<const msgpack::object> body) {
  if (body.size() != 2) return malformed("cluster_admin request", "expected [command, arguments]");
  SHOAL_TRY(command, expect_blob(body[0], "cluster_admin command", 64));
  SHOAL_TRY(arguments, read_string_list(body[1], "cluster_admin argument", 8, 1024));
  return std::make_pair(std::move(command), std::move(arguments));
}

namespace {
void pack_value(msgpack::packer<msgpack::sbuffer>& p, const StatusValue& value) {
  if (!value.is_text) {
    p.pack_int64(value.number);
  } else {
    codec::pack_bytes(p, value.text);
  }
}

Result<StatusValue> read_value(const msgpack::object& o, std::string_view what, std::size_t text_bytes_max) {
  if (o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER) {
    SHOAL_TRY(v, codec::expect_int(o, what));
    return StatusValue::of(v);
  }
  SHOAL_TRY(text, expect_blob(o, what, text_bytes_max));
  return StatusValue::of(std::move(text));
}
}  // namespace

void pack_table(msgpack::packer<msgpack::sbuffer>& p, const Table& table) {
  pack_string_list(p, table.columns);
  p.pack_array(static_cast<std::uint32_t>(table.rows.size()));
  for (const auto& row : table.rows) {
    p.pack_array(static_cast<std::uint32_t>(row.size()));
    for (const auto& cell : row) pack_value(p, cell);
  }
}

Result<Table> read_table(const msgpack::object& columns, const msgpack::object& rows) {
  Table t;
  SHOAL_TRY(names, read_string_list(columns, "table column", 64, 256));
  t.columns = std::move(names);
  SHOAL_TRY(items, codec::expect_array(rows, 0, 1u << 20, "table rows"));
  for (const auto& item : items) {
    SHOAL_TRY(cells, codec::expect_array(item, t.columns.size(), t.columns.size(), "table row"));
    std::vector<StatusValue> row;
    row.reserve(cells.size());
    for (const auto& cell : cells) {
      SHOAL_TRY(v, read_value(cell, "table cell", 64 * 1024));
      row.push_back(std::move(v));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string encode_cluster_admin_reply(std::uint64_t request_id, const ClusterAdminReply& reply) {
  const bool table = !reply.table.columns.empty();
  MessageWriter w(reply_type(MessageType::cluster_admin), request_id, table ? 6 : 4);
  auto& p = w.packer();
  codec::pack_bytes(p, reply.message);
  pack_string_list(p, reply.staged);
  p.pack_array(static_cast<std::uint32_t>(reply.transfers.size()));
  for (const auto& t : reply.transfers) {
    p.pack_array(9);
    p.pack_uint32(t.partition);
    codec::pack_bytes(p, t.from);
    codec::pack_bytes(p, t.to);
    codec::pack_bytes(p, t.state);
    p.pack_uint64(t.keys_sent);
    p.pack_uint64(t.bytes_sent);
    p.pack_uint64(t.keys_estimate);
    p.pack_uint64(t.bytes_per_s);
    p.pack_int64(t.eta_s);
  }
  p.pack_array(static_cast<std::uint32_t>(reply.ownership.size()));
  for (const auto& o : reply.ownership) {
    p.pack_array(3);
    codec::pack_bytes(p, o.node);
    p.pack_uint32(o.partitions_now);
    p.pack_uint32(o.partitions_after);
  }
  if (table) pack_table(p, reply.table);
  return w.finish();
}

Result<ClusterAdminReply> decode_cluster_admin_reply(std::span<const msgpack::object> body) {
  if (body.size() != 4 && body.size() != 6) return malformed("cluster_admin reply", "expected 4 or 6 fields");
  ClusterAdminReply r;
  SHOAL_TRY(message, expect_blob(body[0], "cluster_admin message", 1u << 20));
  SHOAL_TRY(staged, read_string_list(body[1], "staged change", 4096, 4096));
  SHOAL_TRY(transfers, codec::expect_array(body[2], 0, 1u << 16, "transfers"));
  r.message = std::move(message);
  r.staged = std::move(staged);
  for (const auto& item : transfers) {
    SHOAL_TRY(f, codec::expect_array(item, 9, 9, "transfer"));
    TransferView t;
    SHOAL_TRY(partition, codec::expect_uint(f[0], "transfer partition", UINT32_MAX));
    SHOAL_TRY(from, expect_blob(f[1], "transfer from", 1024));
    SHOAL_TRY(to, expect_blob(f[2], "transfer to", 1024));
    SHOAL_TRY(state, expect_blob(f[3], "transfer state", 64));
    SHOAL_TRY(keys, codec::expect_uint(f[4], "transfer keys"));
    SHOAL_TRY(bytes, codec::expect_uint(f[5], "transfer bytes"));
    SHOAL_TRY(estimate, codec::expect_uint(f[6], "transfer estimate"));
    SHOAL_TRY(rate, codec::expect_uint(f[7], "transfer rate"));
    SHOAL_TRY(eta, codec::expect_int(f[8], "transfer eta"));
    t.partition = static_cast<std::uint32_t>(partition);
    t.from = std::move(from);
    t.to = std::move(to);
    t.state = std::move(state);
    t.keys_sent = keys;
    t.bytes_sent = bytes;
    t.keys_estimate = estimate;
    t.bytes_per_s = rate;
    t.eta_s = eta;
    r.transfers.push_back(std::move(t));
  }
  SHOAL_TRY(ownership, codec::expect_array(body[3], 0, 4096, "ownership"));
  for (const auto& item : ownership) {
    SHOAL_TRY(f, codec::expect_array(item, 3, 3, "ownership entry"));
    SHOAL_TRY(node, expect_blob(f[0], "ownership node", 1024));
    SHOAL_TRY(now, codec::expect_uint(f[1], "partitions now", UINT32_MAX));
    SHOAL_TRY(after, codec::expect_uint(f[2], "partitions after", UINT32_MAX));
    r.ownership.push_back(
        OwnershipView{std::move(node), static_cast<std::uint32_t>(now), static_cast<std::uint32_t>(after)});
  }
  if (body.size() == 6) {
    SHOAL_TRY(table, read_table(body[4], body[5]));
    r.table = std::move(table);
  }
  return r;
}

std::string encode_bucket_type_admin(std::uint64_t request_id, std::string_view command, std::string_view name,
                                     std::string_view properties) {
  MessageWriter w(MessageType::bucket_type_admin, request_id, 3);
  w.bytes(command);
  w.bytes(name);
  w.bytes(properties);
  return w.finish();
}

Result<BucketTypeAdminRequest> decode_bucket_type_admin(std::span<const msgpack::object> body) {
  if (body.size() != 3) return malformed("bucket_type_admin request", "expected [command, name, properties]");
  BucketTypeAdminRequest r;
  SHOAL_TRY(command, expect_blob(body[0], "bucket_type_admin command", 16));
  SHOAL_TRY(name, expect_blob(body[1], "bucket type name", 255));
  SHOAL_TRY(properties, expect_blob(body[2], "bucket type properties", 4096));
  r.command = std::move(command);
  r.name = std::move(name);
  r.properties = std::move(properties);
  return r;
}

std::string encode_bucket_type_admin_reply(std::uint64_t request_id, const BucketTypeAdminReply& reply) {
  MessageWriter w(reply_type(MessageType::bucket_type_admin), request_id, 2);
  w.bytes(reply.message);
  w.packer().pack_array(static_cast<std::uint32_t>(reply.types.size()));
  for (const auto& [name, props] : reply.types) {
    w.packer().pack_array(2);
    w.bytes(name);
    w.bytes(props);
  }
  return w.finish();
}

Result<BucketTypeAdminReply> decode_bucket_type_admin_reply(std::span<const msgpack::object> body) {
  if (body.size() != 2) return malformed("bucket_type_admin reply", "expected [message, types]");
  BucketTypeAdminReply r;
  SHOAL_TRY(message, expect_blob(body[0], "bucket_type_admin message", 1u << 16));
  SHOAL_TRY(types, codec::expect_array(body[1], 0, 4096, "bucket types"));
  r.message = std::move(message);
  for (const auto& t : types) {
    SHOAL_TRY(parts, codec::expect_array(t, 2, 2, "bucket type"));
    SHOAL_TRY(name, expect_blob(parts[0], "bucket type name", 255));
    SHOAL_TRY(props, expect_blob(parts[1], "bucket type properties", 4096));
    r.types.emplace_back(std::move(name), std::move(props));
  }
  return r;
}

// ---- admin replies ------------------------------------------------------------------------

std::string encode_ping_reply(std::uint64_t request_id, const PingReply& reply) {
  MessageWriter w(reply_type(MessageType::ping), request_id, 2);
  w.bytes(reply.node);
  w.bytes(reply.version);
  return w.finish();
}

Result<PingReply> decode_ping_reply(std::span<const msgpack::object> body) {
  if (body.size() != 2) return malformed("ping reply", "expected [node, version]");
  SHOAL_TRY(node, expect_blob(body[0], "ping node", 1024));
  SHOAL_TRY(version, expect_blob(body[1], "ping version", 1024));
  return PingReply{std::move(node), std::move(version)};
}

std::string encode_replica_views(std::uint64_t request_id, const std::vector<ReplicaView>& replicas) {
  MessageWriter w(reply_type(MessageType::replica_get), request_id, 1);
  auto& p = w.packer();
  p.pack_array(static_cast<std::uint32_t>(replicas.size()));
  for (const auto& r : replicas) {
    p.pack_array(5);
    codec::pack_bytes(p, r.node);
    p.pack_uint32(r.partition);
    p.pack(r.primary);
    p.pack_uint8(r.status);
    if (r.status == 2) {
      codec::pack_bytes(p, r.error);
    } else {
      p.pack_array(static_cast<std::uint32_t>(kObjectViewFields));
      encode_object_view(p, r.object);
    }
  }
  return w.finish();
}

Result<std::vector<ReplicaView>> decode_replica_views(std::span<const msgpack::object> body) {
  if (body.size() != 1) return malformed("replica_get reply", "expected [replicas]");
  SHOAL_TRY(items, codec::expect_array(body[0], 0, 64, "replicas"));
  std::vector<ReplicaView> out;
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 5, 5, "replica"));
    ReplicaView r;
    SHOAL_TRY(node, expect_blob(parts[0], "replica node", 1024));
    SHOAL_TRY(partition, codec::expect_uint(parts[1], "replica partition", UINT32_MAX));
    SHOAL_TRY(primary, codec::expect_bool(parts[2], "replica primary"));
    SHOAL_TRY(status, codec::expect_uint(parts[3], "replica status", 2));
    r.node = std::move(node);
    r.partition = static_cast<std::uint32_t>(partition);
    r.primary = primary;
    r.status = static_cast<std::uint8_t>(status);
    if (r.status == 2) {
      SHOAL_TRY(error, expect_blob(parts[4], "replica error", 64 * 1024));
      r.error = std::move(error);
    } else {
      SHOAL_TRY(fields, codec::expect_array(parts[4], kObjectViewFields, kObjectViewFields, "replica object"));
      SHOAL_TRY(view, decode_object_view(fields));
      r.object = std::move(view);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string encode_ring_view(std::uint64_t request_id, const RingView& view, MessageType type) {
  MessageWriter w(reply_type(type), request_id, 5);
  auto& p = w.packer();
  codec::pack_bytes(p, view.cluster);
  p.pack_uint32(view.ring_size);
  pack_string_list(p, view.owners);
  p.pack_array(static_cast<std::uint32_t>(view.members.size()));
  for (const auto& m : view.members) {
    p.pack_array(3);
    codec::pack_bytes(p, m.node);
    codec::pack_bytes(p, m.status);
    codec::pack_bytes(p, m.location);
  }
  p.pack_array(static_cast<std::uint32_t>(view.bucket_types.size()));
  for (const auto& [name, props] : view.bucket_types) {
    p.pack_array(2);
    codec::pack_bytes(p, name);
    codec::pack_bytes(p, props);
  }
  return w.finish();
}

Result<RingView> decode_ring_view(std::span<const msgpack::object> body) {
  if (body.size() != 5) return malformed("ring reply", "expected 5 fields");
  RingView view;
  SHOAL_TRY(cluster, expect_blob(body[0], "ring cluster", 255));
  SHOAL_TRY(ring_size, codec::expect_uint(body[1], "ring size", 1u << 20));
  SHOAL_TRY(owners, read_string_list(body[2], "ring owner", 1u << 20, 1024));
  SHOAL_TRY(members, codec::expect_array(body[3], 0, 4096, "ring members"));
  view.cluster = std::move(cluster);
  view.ring_size = static_cast<std::uint32_t>(ring_size);
  view.owners = std::move(owners);
  for (const auto& m : members) {
    SHOAL_TRY(parts, codec::expect_array(m, 3, 3, "ring member"));
    SHOAL_TRY(node, expect_blob(parts[0], "member node", 1024));
    SHOAL_TRY(status, expect_blob(parts[1], "member status", 64));
    SHOAL_TRY(location, expect_blob(parts[2], "member location", 1024));
    view.members.push_back(RingMember{std::move(node), std::move(status), std::move(location)});
  }
  SHOAL_TRY(types, codec::expect_array(body[4], 0, 4096, "bucket types"));
  for (const auto& t : types) {
    SHOAL_TRY(parts, codec::expect_array(t, 2, 2, "bucket type"));
    SHOAL_TRY(name, expect_blob(parts[0], "bucket type name", 255));
    SHOAL_TRY(props, expect_blob(parts[1], "bucket type props", 4096));
    view.bucket_types.emplace_back(std::move(name), std::move(props));
  }
  return view;
}

std::string encode_members_view(std::uint64_t request_id, const std::vector<MembersView>& views) {
  MessageWriter w(reply_type(MessageType::members), request_id, 1);
  auto& p = w.packer();
  p.pack_array(static_cast<std::uint32_t>(views.size()));
  for (const auto& v : views) {
    p.pack_array(3);
    codec::pack_bytes(p, v.viewer);
    p.pack(v.answered);
    p.pack_array(static_cast<std::uint32_t>(v.members.size()));
    for (const auto& m : v.members) {
      p.pack_array(3);
      codec::pack_bytes(p, m.node);
      codec::pack_bytes(p, m.status);
      p.pack(m.reachable);
    }
  }
  return w.finish();
}

Result<std::vector<MembersView>> decode_members_view(std::span<const msgpack::object> body) {
  if (body.size() != 1) return malformed("members reply", "expected [views]");
  SHOAL_TRY(items, codec::expect_array(body[0], 0, 4096, "member views"));
  std::vector<MembersView> out;
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 3, 3, "member view"));
    MembersView v;
    SHOAL_TRY(viewer, expect_blob(parts[0], "viewer", 1024));
    SHOAL_TRY(answered, codec::expect_bool(parts[1], "answered"));
    SHOAL_TRY(members, codec::expect_array(parts[2], 0, 4096, "members"));
    v.viewer = std::move(viewer);
    v.answered = answered;
    for (const auto& m : members) {
      SHOAL_TRY(fields, codec::expect_array(m, 3, 3, "member"));
      SHOAL_TRY(node, expect_blob(fields[0], "member node", 1024));
      SHOAL_TRY(status, expect_blob(fields[1], "member status", 64));
      SHOAL_TRY(reachable, codec::expect_bool(fields[2], "member reachable"));
      v.members.push_back(MemberState{std::move(node), std::move(status), reachable});
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::string encode_status(std::uint64_t request_id, const std::vector<std::pair<std::string, StatusValue>>& items) {
  MessageWriter w(reply_type(MessageType::status), request_id, 1);
  auto& p = w.packer();
  p.pack_array(static_cast<std::uint32_t>(items.size()));
  for (const auto& [name, value] : items) {
    p.pack_array(2);
    codec::pack_bytes(p, name);
    pack_value(p, value);
  }
  return w.finish();
}

Result<std::vector<std::pair<std::string, StatusValue>>> decode_status(std::span<const msgpack::object> body) {
  if (body.size() != 1) return malformed("status reply", "expected [items]");
  SHOAL_TRY(items, codec::expect_array(body[0], 0, 65536, "status items"));
  std::vector<std::pair<std::string, StatusValue>> out;
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 2, 2, "status item"));
    SHOAL_TRY(name, expect_blob(parts[0], "status name", 1024));
    SHOAL_TRY(v, read_value(parts[1], "status value", 1u << 20));
    out.emplace_back(std::move(name), std::move(v));
  }
  return out;
}

}  // namespace shoal::net
