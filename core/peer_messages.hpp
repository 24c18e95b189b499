// The bodies of the messages nodes send each other (and that the router and
// the vnodes of one node exchange: the same bytes travel inproc and over
// tcp, so an actor never knows whether its peer is local). Every message uses
// the envelope of net/protocol.hpp: [version, type, request_id, body...].
// docs/protocol.md documents each body. Decoders bound every field.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "crdt/object.hpp"
#include "net/protocol.hpp"

namespace shoal::core {

// ---- handshake (see docs/protocol.md "Peer handshake") -------------------------

struct Hello {
  std::string node;
  std::uint32_t protocol_min = net::kProtocolVersionMin;
  std::uint32_t protocol_max = net::kProtocolVersionMax;
  std::string cluster;
  std::uint32_t ring_size = 0;
  std::uint64_t ring_digest = 0;
  std::uint64_t bucket_types_digest = 0;
  std::string nonce;  // 32 random bytes
};
struct Challenge {
  std::string node;
  std::string nonce;
  std::string proof;  // MAC(secret, "shoal-challenge", hello nonce, own nonce, own node, hello node)
};
struct Auth {
  std::string proof;  // MAC(secret, "shoal-auth", challenge nonce, hello nonce, own node, peer node)
};

std::string encode(std::uint64_t id, const Hello& m);
std::string encode(std::uint64_t id, const Challenge& m);
std::string encode(std::uint64_t id, const Auth& m);
std::string encode_refuse(std::uint64_t id, std::string_view reason);
std::string encode_welcome(std::uint64_t id);
// A heartbeat carries the partitions the sender holds hints or runs
// transfers for (tombstones of those partitions are not reaped meanwhile).
std::string encode_heartbeat(std::uint64_t id, const std::vector<std::uint32_t>& busy_partitions = {});
Result<std::vector<std::uint32_t>> decode_heartbeat(std::span<const msgpack::object> body);
Result<Hello> decode_hello(std::span<const msgpack::object> body);
Result<Challenge> decode_challenge(std::span<const msgpack::object> body);
Result<Auth> decode_auth(std::span<const msgpack::object> body);
Result<std::string> decode_refuse(std::span<const msgpack::object> body);

// Keyed MAC (HMAC-SHA-256) over length-prefixed parts; constant-time compare.
std::string mac(std::string_view secret, std::initializer_list<std::string_view> parts);
bool mac_equal(std::string_view a, std::string_view b);
std::string random_bytes(std::size_t n);

// ---- vnode requests and replies --------------------------------------------------

enum class ReplyStatus : std::uint8_t { ok = 0, notfound = 1, error = 2 };

struct VnodeGet {
  std::uint32_t partition = 0;
  crdt::ObjectKey key;
};
struct VnodeGetReply {
  std::uint32_t partition = 0;
  ReplyStatus status = ReplyStatus::ok;
  std::string object;  // encoded object when ok
  Error error{Errc::unavailable, ""};
};

// Store `object` by merging it into the replica's copy.
struct VnodePut {
  std::uint32_t partition = 0;
  bool durable = false;  // fsync before replying
  std::string object;
};
struct VnodePutReply {
  std::uint32_t partition = 0;
  ReplyStatus status = ReplyStatus::ok;
  bool durable = false;
  Error error{Errc::unavailable, ""};
};

// The coordinating replica applies a client write (put, delete, update).
struct VnodeCoordinate {
  std::uint32_t partition = 0;
  bool durable = false;
  std::uint64_t ttl_ms = 0;  // 0: no expiry
  std::string request;       // the client's request message (net::encode_request)
};
struct VnodeCoordinateReply {
  std::uint32_t partition = 0;
  ReplyStatus status = ReplyStatus::ok;
  std::string object;  // the new object
  std::string delta;   // if not empty: what the other replicas merge instead of `object` (a CRDT delta)
  Error error{Errc::unavailable, ""};
  std::optional<std::int64_t> effect;  // asked by the update option `effect`; a sixth field when set
};

// A page of keys (or buckets) of a bucket type, for listings.
struct VnodeFold {
  std::uint32_t partition = 0;
  bool buckets = false;  // list buckets instead of keys
  std::string bucket_type;
  std::string bucket;
  std::string start_after;  // a key (or bucket) name; empty: from the start
  std::uint32_t limit = 1000;
  // With ring_size > 0, only keys whose partition is key_partition are
  // listed, so a covering set of vnodes lists every key exactly once.
  std::uint32_t ring_size = 0;
  std::uint32_t key_partition = 0;
};
struct VnodeFoldReply {
  std::uint32_t partition = 0;
  ReplyStatus status = ReplyStatus::ok;
  bool done = false;
  std::vector<std::string> names;
  std::string resume_after;  // continue the listing after this name (when not done)
  Error error{Errc::unavailable, ""};
};

// Remove the key if it still holds exactly the tombstone the coordinator saw.
struct VnodeReap {
  std::uint32_t partition = 0;
  crdt::ObjectKey key;
  std::uint64_t value_hash = 0;
};
struct VnodeReapReply {
  std::uint32_t partition = 0;
  bool reaped = false;
};

std::string encode(std::uint64_t id, const VnodeGet& m);
std::string encode(std::uint64_t id, const VnodeGetReply& m);
std::string encode(std::uint64_t id, const VnodePut& m);
std::string encode(std::uint64_t id, const VnodePutReply& m);
std::string encode(std::uint64_t id, const VnodeCoordinate& m);
std::string encode(std::uint64_t id, const VnodeCoordinateReply& m);
std::string encode(std::uint64_t id, const VnodeFold& m);
std::string encode(std::uint64_t id, const VnodeFoldReply& m);
std::string encode(std::uint64_t id, const VnodeReap& m);
std::string encode(std::uint64_t id, const VnodeReapReply& m);
Result<VnodeGet> decode_vnode_get(std::span<const msgpack::object> body);
Result<VnodeGetReply> decode_vnode_get_reply(std::span<const msgpack::object> body);
Result<VnodePut> decode_vnode_put(std::span<const msgpack::object> body);
Result<VnodePutReply> decode_vnode_put_reply(std::span<const msgpack::object> body);
Result<VnodeCoordinate> decode_vnode_coordinate(std::span<const msgpack::object> body);
Result<VnodeCoordinateReply> decode_vnode_coordinate_reply(std::span<const msgpack::object> body);
Result<VnodeFold> decode_vnode_fold(std::span<const msgpack::object> body);
Result<VnodeFoldReply> decode_vnode_fold_reply(std::span<const msgpack::object> body);
Result<VnodeReap> decode_vnode_reap(std::span<const msgpack::object> body);
Result<VnodeReapReply> decode_vnode_reap_reply(std::span<const msgpack::object> body);

// The partition every vnode request and reply starts with (routing reads
// only this field before handing the message to the vnode).
Result<std::uint32_t> leading_partition(std::span<const msgpack::object> body);

// An error reply to a vnode request of `type` (a crashed vnode answers this
// way, so its coordinator does not wait for a timeout).
std::optional<std::string> vnode_error_reply(std::uint8_t request_type, std::uint64_t id, std::uint32_t partition,
                                             const Error& error);

// ---- membership: gossip, object folds, handoff ------------------------------------

// The sender's ring and cluster metadata, merged by the receiver.
struct Gossip {
  std::string ring;      // ring::Ring::encode()
  std::string metadata;  // ClusterMetadata::encode()
};
std::string encode(std::uint64_t id, const Gossip& m);
Result<Gossip> decode_gossip(std::span<const msgpack::object> body);

inline constexpr std::uint32_t kAllKeyPartitions = UINT32_MAX;

// A page of whole objects in storage order, for handoff (all keys of the
// vnode) and partition repair (keys of one key partition).
struct VnodeFoldObjects {
  std::uint32_t partition = 0;
  std::uint32_t key_partition = kAllKeyPartitions;
  std::uint32_t ring_size = 0;
  std::string start_after;  // a storage key; empty: from the first object
  std::uint32_t limit_keys = 512;
  std::uint32_t limit_bytes = 1u << 20;
};
struct VnodeFoldObjectsReply {
  std::uint32_t partition = 0;
  ReplyStatus status = ReplyStatus::ok;
  bool done = false;
  std::vector<std::string> objects;
  std::string resume_after;
  std::uint64_t keys_estimate = 0;  // keys of the vnode, for progress
  Error error{Errc::unavailable, ""};
};
std::string encode(std::uint64_t id, const VnodeFoldObjects& m);
std::string encode(std::uint64_t id, const VnodeFoldObjectsReply& m);
Result<VnodeFoldObjects> decode_vnode_fold_objects(std::span<const msgpack::object> body);
Result<VnodeFoldObjectsReply> decode_vnode_fold_objects_reply(std::span<const msgpack::object> body);

// Objects to merge into a vnode (handoff and repair); answered once they are stored.
struct HandoffBatch {
  std::uint32_t partition = 0;
  std::vector<std::string> objects;
};
struct HandoffBatchReply {
  std::uint32_t partition = 0;
  ReplyStatus status = ReplyStatus::ok;
  Error error{Errc::unavailable, ""};
};
std::string encode(std::uint64_t id, const HandoffBatch& m);
std::string encode(std::uint64_t id, const HandoffBatchReply& m);
Result<HandoffBatch> decode_handoff_batch(std::span<const msgpack::object> body);
Result<HandoffBatchReply> decode_handoff_batch_reply(std::span<const msgpack::object> body);

// Router -> its vnode: pass every write on (handoff_forward) while a transfer runs.
struct VnodeHandoffMode {
  std::uint32_t partition = 0;
  bool forward = false;
};
std::string encode(std::uint64_t id, const VnodeHandoffMode& m);
Result<VnodeHandoffMode> decode_vnode_handoff_mode(std::span<const msgpack::object> body);
// Vnode -> its router: a write stored during a transfer, for the new owner.
std::string encode_handoff_forward(std::uint32_t partition, std::string_view object);
Result<std::pair<std::uint32_t, std::string>> decode_handoff_forward(std::span<const msgpack::object> body);

// ---- anti-entropy (core/anti_entropy.hpp) ----------------------------------------------

// One step of an exchange, asked of one replica's tree `tree_start`/`n_val`.
enum class AaeStep : std::uint8_t { root = 0, branches = 1, segments = 2, keys = 3, fetch = 4 };
inline constexpr std::uint8_t kAaeStepMax = 4;
struct VnodeAae {
  std::uint32_t partition = 0;
  std::uint32_t tree_start = 0;
  std::uint8_t n_val = 0;
  AaeStep step = AaeStep::root;
  std::vector<std::uint32_t> indices;  // segments step: branches; keys step: segments
  std::vector<std::string> keys;       // fetch step: storage keys
};
struct VnodeAaeReply {
  std::uint32_t partition = 0;
  AaeStep step = AaeStep::root;
  ReplyStatus status = ReplyStatus::ok;
  std::string payload;               // root/branches/segments/keys: the storage/merkle.hpp encoding
  std::vector<std::string> objects;  // fetch: one per key answered, in order ("" = absent)
  // keys: how many of the asked segments the list covers (a long list stops
  // at a segment boundary; the exchange asks for the rest later).
  std::uint32_t segments_covered = 0;
  Error error{Errc::unavailable, ""};
};
std::string encode(std::uint64_t id, const VnodeAae& m);
std::string encode(std::uint64_t id, const VnodeAaeReply& m);
Result<VnodeAae> decode_vnode_aae(std::span<const msgpack::object> body);
Result<VnodeAaeReply> decode_vnode_aae_reply(std::span<const msgpack::object> body);

// A node's own report, for `admin transfers`, `admin aae ...`, `admin
// merkle-roots` and `admin hints`: the reply carries [node, encoded
// cluster_admin reply].
std::string encode_transfer_view_request(std::uint64_t id, std::string_view what = "transfers");
Result<std::string> decode_transfer_view_request(std::span<const msgpack::object> body);
std::string encode_transfer_view(std::uint64_t id, std::string_view node, std::string_view cluster_admin_reply);
Result<std::pair<std::string, std::string>> decode_transfer_view(std::span<const msgpack::object> body);

// ---- forwarding and node views ----------------------------------------------------

// A client request relayed to a node that can coordinate it; the answer
// (possibly several pages) comes back as forward_reply messages.
std::string encode_forward(std::uint64_t id, std::string_view client_message);
std::string encode_forward_reply(std::uint64_t id, std::string_view reply_message);
Result<std::string> decode_forward(std::span<const msgpack::object> body, std::size_t bytes_max);

// One node's view of the cluster: [[node, status, reachable]...]
struct MemberView {
  std::string node;
  std::string status;
  bool reachable = false;
};
std::string encode_node_view_request(std::uint64_t id);
std::string encode_node_view(std::uint64_t id, std::string_view viewer, const std::vector<MemberView>& members);
Result<std::pair<std::string, std::vector<MemberView>>> decode_node_view(std::span<const msgpack::object> body);

// Bounds for decoding stored and replicated objects. Wider than what a client
// may write (core/config.hpp Limits): replication merges concurrent writes
// and must never refuse the result.
inline constexpr crdt::ObjectLimits kStoredObjectLimits{64 * 1024, 255,      64u << 20, 64 * 1024,
                                                        1024,      1u << 20, 1u << 16,  1u << 16};

// Object bytes from disk or a peer, with the node's decode bounds.
Result<crdt::Object> decode_object(std::string_view bytes);
std::string encode_object(const crdt::Object& object);

}  // namespace shoal::core
