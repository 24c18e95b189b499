#include "core/peer_messages.hpp"

#include <sodium.h>

#include <mutex>

#include "base/codec.hpp"
#include "crdt/dvvset.hpp"

namespace shoal::core {

using net::expect_blob;
using net::MessageType;
using net::MessageWriter;

namespace {

Error malformed(std::string_view what, std::string_view why) {
  return make_error(Errc::malformed, std::string(what) + ": " + std::string(why));
}

Result<void> expect_fields(std::span<const msgpack::object> body, std::size_t n, std::string_view what) {
  if (body.size() != n)
    return malformed(what, "expected " + std::to_string(n) + " fields, got " + std::to_string(body.size()));
  return ok();
}

constexpr std::size_t kNodeBytesMax = 512;
constexpr std::size_t kObjectBytesMax = 1u << 30;  // bounded by the socket's ZMQ_MAXMSGSIZE first
constexpr std::size_t kMessageBytesMax = 64 * 1024;

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] { SHOAL_ASSERT(sodium_init() >= 0, "libsodium failed to initialise"); });
}

void pack_error(crdt::Packer& p, const Error& e) {
  p.pack_uint32(static_cast<std::uint32_t>(e.code));
  codec::pack_bytes(p, e.message);
}

struct RemoteError {
  Error error;
};

Result<RemoteError> read_error(const msgpack::object& code, const msgpack::object& message) {
  SHOAL_TRY(c, codec::expect_uint(code, "error code", 1000));
  SHOAL_TRY(m, expect_blob(message, "error message", kMessageBytesMax));
  return RemoteError{Error{static_cast<Errc>(c), std::move(m)}};
}

Result<ReplyStatus> read_status(const msgpack::object& o) {
  SHOAL_TRY(s, codec::expect_uint(o, "reply status", 2));
  return static_cast<ReplyStatus>(s);
}

Result<std::uint32_t> read_partition(const msgpack::object& o) {
  SHOAL_TRY(p, codec::expect_uint(o, "partition", 1u << 20));
  return static_cast<std::uint32_t>(p);
}

}  // namespace

// ---- handshake ---------------------------------------------------------------------

std::string encode(std::uint64_t id, const Hello& m) {
  MessageWriter w(MessageType::hello, id, 8);
  w.bytes(m.node);
  w.packer().pack_uint32(m.protocol_min);
  w.packer().pack_uint32(m.protocol_max);
  w.bytes(m.cluster);
  w.packer().pack_uint32(m.ring_size);
  w.packer().pack_uint64(m.ring_digest);
  w.packer().pack_uint64(m.bucket_types_digest);
  w.bytes(m.nonce);
  return w.finish();
}

Result<Hello> decode_hello(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 8, "hello"));
  Hello m;
  SHOAL_TRY(node, expect_blob(body[0], "hello node", kNodeBytesMax));
  SHOAL_TRY(pmin, codec::expect_uint(body[1], "hello protocol min", UINT32_MAX));
  SHOAL_TRY(pmax, codec::expect_uint(body[2], "hello protocol max", UINT32_MAX));
  SHOAL_TRY(cluster, expect_blob(body[3], "hello cluster", 255));
  SHOAL_TRY(ring_size, codec::expect_uint(body[4], "hello ring size", UINT32_MAX));
  SHOAL_TRY(ring_digest, codec::expect_uint(body[5], "hello ring digest"));
  SHOAL_TRY(types_digest, codec::expect_uint(body[6], "hello bucket types digest"));
  SHOAL_TRY(nonce, expect_blob(body[7], "hello nonce", 64));
  m.node = std::move(node);
  m.protocol_min = static_cast<std::uint32_t>(pmin);
  m.protocol_max = static_cast<std::uint32_t>(pmax);
  m.cluster = std::move(cluster);
  m.ring_size = static_cast<std::uint32_t>(ring_size);
  m.ring_digest = ring_digest;
  m.bucket_types_digest = types_digest;
  m.nonce = std::move(nonce);
  return m;
}

std::string encode(std::uint64_t id, const Challenge& m) {
  MessageWriter w(MessageType::challenge, id, 3);
  w.bytes(m.node);
  w.bytes(m.nonce);
  w.bytes(m.proof);
  return w.finish();
}

Result<Challenge> decode_challenge(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 3, "challenge"));
  Challenge m;
  SHOAL_TRY(node, expect_blob(body[0], "challenge node", kNodeBytesMax));
  SHOAL_TRY(nonce, expect_blob(body[1], "challenge nonce", 64));
  SHOAL_TRY(proof, expect_blob(body[2], "challenge proof", 64));
  m.node = std::move(node);
  m.nonce = std::move(nonce);
  m.proof = std::move(proof);
  return m;
}

std::string encode(std::uint64_t id, const Auth& m) {
  MessageWriter w(MessageType::auth, id, 1);
  w.bytes(m.proof);
  return w.finish();
}

Result<Auth> decode_auth(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 1, "auth"));
  SHOAL_TRY(proof, expect_blob(body[0], "auth proof", 64));
  return Auth{std::move(proof)};
}

std::string encode_refuse(std::uint64_t id, std::string_view reason) {
  MessageWriter w(MessageType::refuse, id, 1);
  w.bytes(reason);
  return w.finish();
}

Result<std::string> decode_refuse(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 1, "refuse"));
  return expect_blob(body[0], "refuse reason", kMessageBytesMax);
}

std::string encode_welcome(std::uint64_t id) { return MessageWriter(MessageType::welcome, id, 0).finish(); }
std::string encode_heartbeat(std::uint64_t id, const std::vector<std::uint32_t>& busy_partitions) {
  if (busy_partitions.empty()) return MessageWriter(MessageType::heartbeat, id, 0).finish();
  MessageWriter w(MessageType::heartbeat, id, 1);
  w.packer().pack_array(static_cast<std::uint32_t>(busy_partitions.size()));
  for (auto p : busy_partitions) w.packer().pack_uint32(p);
  return w.finish();
}

Result<std::vector<std::uint32_t>> decode_heartbeat(std::span<const msgpack::object> body) {
  std::vector<std::uint32_t> out;
  if (body.empty()) return out;
  SHOAL_TRYV(expect_fields(body, 1, "heartbeat"));
  SHOAL_TRY(items, codec::expect_array(body[0], 0, 1u << 16, "heartbeat partitions"));
  for (const auto& item : items) {
    SHOAL_TRY(p, read_partition(item));
    out.push_back(p);
  }
  return out;
}

std::string mac(std::string_view secret, std::initializer_list<std::string_view> parts) {
  ensure_sodium();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  for (std::string_view part : parts) {
    unsigned char length[8];
    std::uint64_t n = part.size();
    for (auto& b : length) {
      b = static_cast<unsigned char>(n & 0xff);
      n >>= 8;
    }
    crypto_auth_hmacsha256_update(&state, length, sizeof length);
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  }
  std::string out(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

bool mac_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(std::size_t n) {
  ensure_sodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

// ---- vnode messages ---------------------------------------------------------------

std::string encode(std::uint64_t id, const VnodeGet& m) {
  MessageWriter w(MessageType::vnode_get, id, 4);
  w.packer().pack_uint32(m.partition);
  net::encode_key(w.packer(), m.key);
  return w.finish();
}

Result<VnodeGet> decode_vnode_get(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 4, "vnode_get"));
  VnodeGet m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(key, net::decode_key(body.subspan(1), crdt::kDefaultObjectLimits));
  m.partition = p;
  m.key = std::move(key);
  return m;
}

std::string encode(std::uint64_t id, const VnodeGetReply& m) {
  MessageWriter w(MessageType::vnode_get_reply, id, 4);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint8(static_cast<std::uint8_t>(m.status));
  if (m.status == ReplyStatus::error) {
    pack_error(w.packer(), m.error);
  } else {
    w.bytes(m.object);
    w.packer().pack_nil();
  }
  return w.finish();
}

Result<VnodeGetReply> decode_vnode_get_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 4, "vnode_get_reply"));
  VnodeGetReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(status, read_status(body[1]));
  m.partition = p;
  m.status = status;
  if (status == ReplyStatus::error) {
    SHOAL_TRY(e, read_error(body[2], body[3]));
    m.error = std::move(e.error);
  } else {
    SHOAL_TRY(object, expect_blob(body[2], "vnode_get_reply object", kObjectBytesMax));
    m.object = std::move(object);
  }
  return m;
}

std::string encode(std::uint64_t id, const VnodePut& m) {
  MessageWriter w(MessageType::vnode_put, id, 3);
  w.packer().pack_uint32(m.partition);
  w.packer().pack(m.durable);
  w.bytes(m.object);
  return w.finish();
}

Result<VnodePut> decode_vnode_put(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 3, "vnode_put"));
  VnodePut m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(durable, codec::expect_bool(body[1], "vnode_put durable"));
  SHOAL_TRY(object, expect_blob(body[2], "vnode_put object", kObjectBytesMax));
  m.partition = p;
  m.durable = durable;
  m.object = std::move(object);
  return m;
}

std::string encode(std::uint64_t id, const VnodePutReply& m) {
  MessageWriter w(MessageType::vnode_put_reply, id, 5);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint8(static_cast<std::uint8_t>(m.status));
  w.packer().pack(m.durable);
  pack_error(w.packer(), m.status == ReplyStatus::error ? m.error : Error{Errc::unavailable, ""});
  return w.finish();
}

Result<VnodePutReply> decode_vnode_put_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 5, "vnode_put_reply"));
  VnodePutReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(status, read_status(body[1]));
  SHOAL_TRY(durable, codec::expect_bool(body[2], "vnode_put_reply durable"));
  SHOAL_TRY(e, read_error(body[3], body[4]));
  m.partition = p;
  m.status = status;
  m.durable = durable;
  m.error = std::move(e.error);
  return m;
}

std::string encode(std::uint64_t id, const VnodeCoordinate& m) {
  MessageWriter w(MessageType::vnode_coordinate, id, 4);
  w.packer().pack_uint32(m.partition);
  w.packer().pack(m.durable);
  w.packer().pack_uint64(m.ttl_ms);
  w.bytes(m.request);
  return w.finish();
}

Result<VnodeCoordinate> decode_vnode_coordinate(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 4, "vnode_coordinate"));
  VnodeCoordinate m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(durable, codec::expect_bool(body[1], "vnode_coordinate durable"));
  SHOAL_TRY(ttl, codec::expect_uint(body[2], "vnode_coordinate ttl", net::kTtlMsMax));
  SHOAL_TRY(request, expect_blob(body[3], "vnode_coordinate request", kObjectBytesMax));
  m.partition = p;
  m.durable = durable;
  m.ttl_ms = ttl;
  m.request = std::move(request);
  return m;
}

std::string encode(std::uint64_t id, const VnodeCoordinateReply& m) {
  MessageWriter w(MessageType::vnode_coordinate_reply, id, m.effect ? 6 : 5);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint8(static_cast<std::uint8_t>(m.status));
  if (m.status == ReplyStatus::error) {
    pack_error(w.packer(), m.error);
  } else {
    w.bytes(m.object);
    w.packer().pack_nil();
  }
  w.bytes(m.delta);
  if (m.effect) w.packer().pack_int64(*m.effect);
  return w.finish();
}

Result<VnodeCoordinateReply> decode_vnode_coordinate_reply(std::span<const msgpack::object> body) {
  if (body.size() != 6) SHOAL_TRYV(expect_fields(body, 5, "vnode_coordinate_reply"));
  VnodeCoordinateReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(status, read_status(body[1]));
  m.partition = p;
  m.status = status;
  if (status == ReplyStatus::error) {
    SHOAL_TRY(e, read_error(body[2], body[3]));
    m.error = std::move(e.error);
  } else {
    SHOAL_TRY(object, expect_blob(body[2], "vnode_coordinate_reply object", kObjectBytesMax));
    m.object = std::move(object);
  }
  SHOAL_TRY(delta, expect_blob(body[4], "vnode_coordinate_reply delta", kObjectBytesMax));
  m.delta = std::move(delta);
  if (body.size() == 6) {
    SHOAL_TRY(effect, codec::expect_int(body[5], "vnode_coordinate_reply effect"));
    m.effect = effect;
  }
  return m;
}

std::string encode(std::uint64_t id, const VnodeFold& m) {
  MessageWriter w(MessageType::vnode_fold, id, 8);
  w.packer().pack_uint32(m.partition);
  w.packer().pack(m.buckets);
  w.bytes(m.bucket_type);
  w.bytes(m.bucket);
  w.bytes(m.start_after);
  w.packer().pack_uint32(m.limit);
  w.packer().pack_uint32(m.ring_size);
  w.packer().pack_uint32(m.key_partition);
  return w.finish();
}

Result<VnodeFold> decode_vnode_fold(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 8, "vnode_fold"));
  VnodeFold m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(buckets, codec::expect_bool(body[1], "vnode_fold buckets"));
  SHOAL_TRY(type, expect_blob(body[2], "vnode_fold bucket type", 255));
  SHOAL_TRY(bucket, expect_blob(body[3], "vnode_fold bucket", 255));
  SHOAL_TRY(start, expect_blob(body[4], "vnode_fold start", 64 * 1024));
  SHOAL_TRY(limit, codec::expect_uint(body[5], "vnode_fold limit", 100'000));
  SHOAL_TRY(ring_size, codec::expect_uint(body[6], "vnode_fold ring size", 1u << 20));
  SHOAL_TRY(key_partition, codec::expect_uint(body[7], "vnode_fold key partition", 1u << 20));
  m.key_partition = static_cast<std::uint32_t>(key_partition);
  m.partition = p;
  m.buckets = buckets;
  m.bucket_type = std::move(type);
  m.bucket = std::move(bucket);
  m.start_after = std::move(start);
  m.limit = static_cast<std::uint32_t>(std::max<std::uint64_t>(limit, 1));
  m.ring_size = static_cast<std::uint32_t>(ring_size);
  return m;
}

std::string encode(std::uint64_t id, const VnodeFoldReply& m) {
  MessageWriter w(MessageType::vnode_fold_reply, id, 7);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint8(static_cast<std::uint8_t>(m.status));
  w.packer().pack(m.done);
  w.packer().pack_array(static_cast<std::uint32_t>(m.names.size()));
  for (const auto& name : m.names) w.bytes(name);
  w.bytes(m.resume_after);
  pack_error(w.packer(), m.status == ReplyStatus::error ? m.error : Error{Errc::unavailable, ""});
  return w.finish();
}

Result<VnodeFoldReply> decode_vnode_fold_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 7, "vnode_fold_reply"));
  VnodeFoldReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(status, read_status(body[1]));
  SHOAL_TRY(done, codec::expect_bool(body[2], "vnode_fold_reply done"));
  SHOAL_TRY(names, codec::expect_array(body[3], 0, 100'000, "vnode_fold_reply names"));
  for (const auto& name : names) {
    SHOAL_TRY(n, expect_blob(name, "vnode_fold_reply name", 64 * 1024));
    m.names.push_back(std::move(n));
  }
  SHOAL_TRY(resume, expect_blob(body[4], "vnode_fold_reply resume", 64 * 1024));
  m.resume_after = std::move(resume);
  SHOAL_TRY(e, read_error(body[5], body[6]));
  m.partition = p;
  m.status = status;
  m.done = done;
  m.error = std::move(e.error);
  return m;
}

std::string encode(std::uint64_t id, const VnodeReap& m) {
  MessageWriter w(MessageType::vnode_reap, id, 5);
  w.packer().pack_uint32(m.partition);
  net::encode_key(w.packer(), m.key);
  w.packer().pack_uint64(m.value_hash);
  return w.finish();
}

Result<VnodeReap> decode_vnode_reap(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 5, "vnode_reap"));
  VnodeReap m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(key, net::decode_key(body.subspan(1, 3), crdt::kDefaultObjectLimits));
  SHOAL_TRY(hash, codec::expect_uint(body[4], "vnode_reap hash"));
  m.partition = p;
  m.key = std::move(key);
  m.value_hash = hash;
  return m;
}

std::string encode(std::uint64_t id, const VnodeReapReply& m) {
  MessageWriter w(MessageType::vnode_reap_reply, id, 2);
  w.packer().pack_uint32(m.partition);
  w.packer().pack(m.reaped);
  return w.finish();
}

Result<VnodeReapReply> decode_vnode_reap_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "vnode_reap_reply"));
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(reaped, codec::expect_bool(body[1], "vnode_reap_reply reaped"));
  return VnodeReapReply{p, reaped};
}

Result<std::uint32_t> leading_partition(std::span<const msgpack::object> body) {
  if (body.empty()) return malformed("vnode message", "no partition");
  return read_partition(body[0]);
}

std::optional<std::string> vnode_error_reply(std::uint8_t request_type, std::uint64_t id, std::uint32_t partition,
                                             const Error& error) {
  switch (static_cast<MessageType>(request_type)) {
    case MessageType::vnode_get: {
      VnodeGetReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      return encode(id, r);
    }
    case MessageType::vnode_put: {
      VnodePutReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      return encode(id, r);
    }
    case MessageType::vnode_coordinate: {
      VnodeCoordinateReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      return encode(id, r);
    }
    case MessageType::vnode_fold: {
      VnodeFoldReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      r.done = true;
      return encode(id, r);
    }
    case MessageType::vnode_reap:
      return encode(id, VnodeReapReply{partition, false});
    case MessageType::vnode_aae: {
      VnodeAaeReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      return encode(id, r);
    }
    case MessageType::vnode_fold_objects: {
      VnodeFoldObjectsReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      r.done = true;
      return encode(id, r);
    }
    case MessageType::handoff_batch: {
      HandoffBatchReply r;
      r.partition = partition;
      r.status = ReplyStatus::error;
      r.error = error;
      return encode(id, r);
    }
    default:
      return std::nullopt;
  }
}

// ---- membership -------------------------------------------------------------------------

std::string encode(std::uint64_t id, const Gossip& m) {
  MessageWriter w(MessageType::gossip, id, 2);
  w.bytes(m.ring);
  w.bytes(m.metadata);
  return w.finish();
}

Result<Gossip> decode_gossip(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "gossip"));
  SHOAL_TRY(ring, expect_blob(body[0], "gossip ring", 64u << 20));
  SHOAL_TRY(metadata, expect_blob(body[1], "gossip metadata", 16u << 20));
  return Gossip{std::move(ring), std::move(metadata)};
}

std::string encode(std::uint64_t id, const VnodeFoldObjects& m) {
  MessageWriter w(MessageType::vnode_fold_objects, id, 6);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint32(m.key_partition);
  w.packer().pack_uint32(m.ring_size);
  w.bytes(m.start_after);
  w.packer().pack_uint32(m.limit_keys);
  w.packer().pack_uint32(m.limit_bytes);
  return w.finish();
}

Result<VnodeFoldObjects> decode_vnode_fold_objects(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 6, "vnode_fold_objects"));
  VnodeFoldObjects m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(key_partition, codec::expect_uint(body[1], "vnode_fold_objects key partition", UINT32_MAX));
  SHOAL_TRY(ring_size, codec::expect_uint(body[2], "vnode_fold_objects ring size", 1u << 20));
  SHOAL_TRY(start, expect_blob(body[3], "vnode_fold_objects start", 128 * 1024));
  SHOAL_TRY(limit_keys, codec::expect_uint(body[4], "vnode_fold_objects key limit", 100'000));
  SHOAL_TRY(limit_bytes, codec::expect_uint(body[5], "vnode_fold_objects byte limit", 64u << 20));
  m.partition = p;
  m.key_partition = static_cast<std::uint32_t>(key_partition);
  m.ring_size = static_cast<std::uint32_t>(ring_size);
  m.start_after = std::move(start);
  m.limit_keys = static_cast<std::uint32_t>(std::max<std::uint64_t>(limit_keys, 1));
  m.limit_bytes = static_cast<std::uint32_t>(std::max<std::uint64_t>(limit_bytes, 1));
  return m;
}

std::string encode(std::uint64_t id, const VnodeFoldObjectsReply& m) {
  MessageWriter w(MessageType::vnode_fold_objects_reply, id, 8);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint8(static_cast<std::uint8_t>(m.status));
  w.packer().pack(m.done);
  w.packer().pack_array(static_cast<std::uint32_t>(m.objects.size()));
  for (const auto& o : m.objects) w.bytes(o);
  w.bytes(m.resume_after);
  w.packer().pack_uint64(m.keys_estimate);
  pack_error(w.packer(), m.status == ReplyStatus::error ? m.error : Error{Errc::unavailable, ""});
  return w.finish();
}

Result<VnodeFoldObjectsReply> decode_vnode_fold_objects_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 8, "vnode_fold_objects_reply"));
  VnodeFoldObjectsReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(status, read_status(body[1]));
  SHOAL_TRY(done, codec::expect_bool(body[2], "vnode_fold_objects_reply done"));
  SHOAL_TRY(objects, codec::expect_array(body[3], 0, 100'000, "vnode_fold_objects_reply objects"));
  for (const auto& o : objects) {
    SHOAL_TRY(bytes, expect_blob(o, "folded object", kObjectBytesMax));
    m.objects.push_back(std::move(bytes));
  }
  SHOAL_TRY(resume, expect_blob(body[4], "vnode_fold_objects_reply resume", 128 * 1024));
  SHOAL_TRY(estimate, codec::expect_uint(body[5], "vnode_fold_objects_reply estimate"));
  SHOAL_TRY(e, read_error(body[6], body[7]));
  m.partition = p;
  m.status = status;
  m.done = done;
  m.resume_after = std::move(resume);
  m.keys_estimate = estimate;
  m.error = std::move(e.error);
  return m;
}

std::string encode(std::uint64_t id, const HandoffBatch& m) {
  MessageWriter w(MessageType::handoff_batch, id, 2);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_array(static_cast<std::uint32_t>(m.objects.size()));
  for (const auto& o : m.objects) w.bytes(o);
  return w.finish();
}

Result<HandoffBatch> decode_handoff_batch(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "handoff_batch"));
  HandoffBatch m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(objects, codec::expect_array(body[1], 0, 100'000, "handoff_batch objects"));
  for (const auto& o : objects) {
    SHOAL_TRY(bytes, expect_blob(o, "handoff object", kObjectBytesMax));
    m.objects.push_back(std::move(bytes));
  }
  m.partition = p;
  return m;
}

std::string encode(std::uint64_t id, const HandoffBatchReply& m) {
  MessageWriter w(MessageType::handoff_batch_reply, id, 4);
  w.packer().pack_uint32(m.partition);
  w.packer().pack_uint8(static_cast<std::uint8_t>(m.status));
  pack_error(w.packer(), m.status == ReplyStatus::error ? m.error : Error{Errc::unavailable, ""});
  return w.finish();
}

Result<HandoffBatchReply> decode_handoff_batch_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 4, "handoff_batch_reply"));
  HandoffBatchReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(status, read_status(body[1]));
  SHOAL_TRY(e, read_error(body[2], body[3]));
  m.partition = p;
  m.status = status;
  m.error = std::move(e.error);
  return m;
}

std::string encode(std::uint64_t id, const VnodeHandoffMode& m) {
  MessageWriter w(MessageType::vnode_handoff_mode, id, 2);
  w.packer().pack_uint32(m.partition);
  w.packer().pack(m.forward);
  return w.finish();
}

Result<VnodeHandoffMode> decode_vnode_handoff_mode(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "vnode_handoff_mode"));
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(forward, codec::expect_bool(body[1], "vnode_handoff_mode forward"));
  return VnodeHandoffMode{p, forward};
}

std::string encode_handoff_forward(std::uint32_t partition, std::string_view object) {
  MessageWriter w(MessageType::handoff_forward, 0, 2);
  w.packer().pack_uint32(partition);
  w.bytes(object);
  return w.finish();
}

Result<std::pair<std::uint32_t, std::string>> decode_handoff_forward(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "handoff_forward"));
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(object, expect_blob(body[1], "handoff_forward object", kObjectBytesMax));
  return std::make_pair(p, std::move(object));
}

std::string encode_transfer_view_request(std::uint64_t id, std::string_view what) {
  MessageWriter w(MessageType::transfer_view, id, 1);
  w.bytes(what);
  return w.finish();
}

Result<std::string> decode_transfer_view_request(std::span<const msgpack::object> body) {
  if (body.empty()) return std::string("transfers");
  SHOAL_TRYV(expect_fields(body, 1, "transfer_view"));
  return expect_blob(body[0], "transfer_view report", 64);
}

// ---- anti-entropy ---------------------------------------------------------------------------

std::string encode(std::uint64_t id, const VnodeAae& m) {
  MessageWriter w(MessageType::vnode_aae, id, 6);
  auto& p = w.packer();
  p.pack_uint32(m.partition);
  p.pack_uint32(m.tree_start);
  p.pack_uint8(m.n_val);
  p.pack_uint8(static_cast<std::uint8_t>(m.step));
  p.pack_array(static_cast<std::uint32_t>(m.indices.size()));
  for (auto i : m.indices) p.pack_uint32(i);
  p.pack_array(static_cast<std::uint32_t>(m.keys.size()));
  for (const auto& k : m.keys) w.bytes(k);
  return w.finish();
}

namespace {
Result<AaeStep> read_aae_step(const msgpack::object& o) {
  SHOAL_TRY(step, codec::expect_uint(o, "vnode_aae step", kAaeStepMax));
  return static_cast<AaeStep>(step);
}
}  // namespace

Result<VnodeAae> decode_vnode_aae(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 6, "vnode_aae"));
  VnodeAae m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(start, read_partition(body[1]));
  SHOAL_TRY(n, codec::expect_uint(body[2], "vnode_aae n_val", 255));
  SHOAL_TRY(step, read_aae_step(body[3]));
  SHOAL_TRY(indices, codec::expect_array(body[4], 0, 1u << 20, "vnode_aae indices"));
  for (const auto& i : indices) {
    SHOAL_TRY(v, codec::expect_uint(i, "vnode_aae index", UINT32_MAX));
    m.indices.push_back(static_cast<std::uint32_t>(v));
  }
  SHOAL_TRY(keys, codec::expect_array(body[5], 0, 100'000, "vnode_aae keys"));
  for (const auto& k : keys) {
    SHOAL_TRY(bytes, expect_blob(k, "vnode_aae key", 64 * 1024 + 1024));
    m.keys.push_back(std::move(bytes));
  }
  m.partition = p;
  m.tree_start = start;
  m.n_val = static_cast<std::uint8_t>(n);
  m.step = step;
  return m;
}

std::string encode(std::uint64_t id, const VnodeAaeReply& m) {
  MessageWriter w(MessageType::vnode_aae_reply, id, 8);
  auto& p = w.packer();
  p.pack_uint32(m.partition);
  p.pack_uint8(static_cast<std::uint8_t>(m.step));
  p.pack_uint8(static_cast<std::uint8_t>(m.status));
  pack_error(p, m.status == ReplyStatus::error ? m.error : Error{Errc::unavailable, ""});
  w.bytes(m.payload);
  p.pack_array(static_cast<std::uint32_t>(m.objects.size()));
  for (const auto& o : m.objects) w.bytes(o);
  p.pack_uint32(m.segments_covered);
  return w.finish();
}

Result<VnodeAaeReply> decode_vnode_aae_reply(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 8, "vnode_aae_reply"));
  VnodeAaeReply m;
  SHOAL_TRY(p, read_partition(body[0]));
  SHOAL_TRY(step, read_aae_step(body[1]));
  SHOAL_TRY(status, read_status(body[2]));
  SHOAL_TRY(e, read_error(body[3], body[4]));
  SHOAL_TRY(payload, expect_blob(body[5], "vnode_aae_reply payload", 64u << 20));
  SHOAL_TRY(objects, codec::expect_array(body[6], 0, 100'000, "vnode_aae_reply objects"));
  for (const auto& o : objects) {
    SHOAL_TRY(bytes, expect_blob(o, "vnode_aae_reply object", kObjectBytesMax));
    m.objects.push_back(std::move(bytes));
  }
  SHOAL_TRY(covered, codec::expect_uint(body[7], "vnode_aae_reply segments covered", UINT32_MAX));
  m.partition = p;
  m.step = step;
  m.status = status;
  m.error = std::move(e.error);
  m.payload = std::move(payload);
  m.segments_covered = static_cast<std::uint32_t>(covered);
  return m;
}

std::string encode_transfer_view(std::uint64_t id, std::string_view node, std::string_view cluster_admin_reply) {
  MessageWriter w(MessageType::transfer_view_reply, id, 2);
  w.bytes(node);
  w.bytes(cluster_admin_reply);
  return w.finish();
}

Result<std::pair<std::string, std::string>> decode_transfer_view(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "transfer_view_reply"));
  SHOAL_TRY(node, expect_blob(body[0], "transfer_view_reply node", 1024));
  SHOAL_TRY(reply, expect_blob(body[1], "transfer_view_reply body", 16u << 20));
  return std::make_pair(std::move(node), std::move(reply));
}

// ---- forwarding and views -------------------------------------------------------------

std::string encode_forward(std::uint64_t id, std::string_view client_message) {
  MessageWriter w(MessageType::forward, id, 1);
  w.bytes(client_message);
  return w.finish();
}

std::string encode_forward_reply(std::uint64_t id, std::string_view reply_message) {
  MessageWriter w(MessageType::forward_reply, id, 1);
  w.bytes(reply_message);
  return w.finish();
}

Result<std::string> decode_forward(std::span<const msgpack::object> body, std::size_t bytes_max) {
  SHOAL_TRYV(expect_fields(body, 1, "forward"));
  return expect_blob(body[0], "forwarded message", bytes_max);
}

std::string encode_node_view_request(std::uint64_t id) { return MessageWriter(MessageType::node_view, id, 0).finish(); }

std::string encode_node_view(std::uint64_t id, std::string_view viewer, const std::vector<MemberView>& members) {
  MessageWriter w(MessageType::node_view_reply, id, 2);
  w.bytes(viewer);
  w.packer().pack_array(static_cast<std::uint32_t>(members.size()));
  for (const auto& m : members) {
    w.packer().pack_array(3);
    w.bytes(m.node);
    w.bytes(m.status);
    w.packer().pack(m.reachable);
  }
  return w.finish();
}

Result<std::pair<std::string, std::vector<MemberView>>> decode_node_view(std::span<const msgpack::object> body) {
  SHOAL_TRYV(expect_fields(body, 2, "node_view_reply"));
  SHOAL_TRY(viewer, expect_blob(body[0], "node view viewer", kNodeBytesMax));
  SHOAL_TRY(items, codec::expect_array(body[1], 0, 4096, "node view members"));
  std::vector<MemberView> members;
  for (const auto& item : items) {
    SHOAL_TRY(parts, codec::expect_array(item, 3, 3, "node view member"));
    MemberView m;
    SHOAL_TRY(node, expect_blob(parts[0], "member node", kNodeBytesMax));
    SHOAL_TRY(status, expect_blob(parts[1], "member status", 32));
    SHOAL_TRY(reachable, codec::expect_bool(parts[2], "member reachable"));
    m.node = std::move(node);
    m.status = std::move(status);
    m.reachable = reachable;
    members.push_back(std::move(m));
  }
  return std::make_pair(std::move(viewer), std::move(members));
}

// ---- objects ---------------------------------------------------------------------------

Result<crdt::Object> decode_object(std::string_view bytes) {
  // Objects are bounded by the storage and socket limits before they get
  // here; these bounds only keep a corrupt record from allocating wildly.
  codec::Limits limits;
  limits.bytes_max = kObjectBytesMax;
  limits.bin_max = crdt::kDvvSetValueBytesMax;
  SHOAL_TRY(handle, codec::unpack(bytes, limits));
  return crdt::Object::decode(handle.get(), kStoredObjectLimits);
}

std::string encode_object(const crdt::Object& object) {
  msgpack::sbuffer buffer;
  crdt::Packer packer(buffer);
  object.encode(packer);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace shoal::core
