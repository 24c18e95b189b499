// Shoal's wire protocol: every message between a client and a node, and
// between two nodes, is ONE ZeroMQ frame holding ONE msgpack array
//
//     [version, type, request_id, body fields...]
//
// `version` is the protocol version (kProtocolVersionMin..Max), `type` a
// MessageType, `request_id` a 64-bit id chosen by the sender and echoed in
// every reply. This header defines the envelope, the client-facing message
// bodies (requests, options, replies, errors) and the codecs of CRDT ops and
// values as clients see them. The peer messages between nodes are encoded by
// core/peer_messages.hpp on the same envelope. docs/protocol.md describes
// every message precisely enough to write a client in another language.
//
// Decoders read untrusted bytes: every size, count and nesting depth is
// bounded before anything is allocated (base/codec.hpp), and a malformed
// message is an Errc::malformed value, never an exception or a crash.
// Byte strings (keys, values, names) are accepted as msgpack bin or str (so
// scripting languages can send either); Shoal sends them as bin. Option
// names and symbolic quorum values ("quorum") are short ASCII words, sent as
// str. Thread-safe: pure functions.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/codec.hpp"
#include "base/result.hpp"
#include "crdt/any_crdt.hpp"
#include "crdt/object.hpp"

namespace shoal::net {

inline constexpr std::uint32_t kProtocolVersionMin = 1;
inline constexpr std::uint32_t kProtocolVersionMax = 1;
inline constexpr std::uint32_t kProtocolVersion = kProtocolVersionMax;

bool protocol_version_supported(std::uint32_t version);

// Values are on the wire: never renumber. A reply to request type T has type
// T | kReplyBit; any request may instead get `error`.
enum class MessageType : std::uint8_t {
  // Client requests (client -> node).
  ping = 1,
  get = 2,
  put = 3,
  del = 4,
  update = 5,
  list_buckets = 6,
  list_keys = 7,
  status = 8,
  ring = 9,
  members = 10,
  replica_get = 11,
  bucket_types = 12,
  failpoint = 13,          // admin: arm a failpoint (only on nodes started with --enable-failpoints)
  cluster_admin = 14,      // admin: join, leave, force-remove, replace, plan, commit, clear, transfers
  bucket_type_admin = 15,  // admin: bucket-type create, update, show, list
  // Error reply to any request: [code, message].
  error = 127,
  // Peer messages (node -> node), bodies in core/peer_messages.hpp.
  hello = 128,
  challenge = 129,
  auth = 130,
  welcome = 131,
  refuse = 132,
  heartbeat = 133,
  vnode_get = 140,
  vnode_get_reply = 141,
  vnode_put = 142,
  vnode_put_reply = 143,
  vnode_fold = 144,
  vnode_fold_reply = 145,
  vnode_reap = 146,
  vnode_reap_reply = 147,
  vnode_coordinate = 148,
  vnode_coordinate_reply = 149,
  forward = 150,
  forward_reply = 151,
  node_view = 152,
  node_view_reply = 153,
  gossip = 154,
  vnode_fold_objects = 155,
  vnode_fold_objects_reply = 156,
  handoff_batch = 157,
  handoff_batch_reply = 158,
  vnode_handoff_mode = 159,
  // Several peer messages sent as one frame: [version, 160, 0, [message...]],
  // each element the bytes of one complete message.
  batch = 160,
  handoff_forward = 161,  // vnode -> its router: a write to pass on to a transfer's target
  // A node's local report ([what]: transfers, aae-status, aae-exchange,
  // merkle-roots, hints; an empty body means transfers) and its answer.
  transfer_view = 162,
  transfer_view_reply = 163,
  vnode_aae = 164,  // one step of an anti-entropy exchange
  vnode_aae_reply = 165,
};
inline constexpr std::uint8_t kReplyBit = 0x40;
inline constexpr MessageType reply_type(MessageType request) {
  return static_cast<MessageType>(static_cast<std::uint8_t>(request) | kReplyBit);
}
bool is_client_request(std::uint8_t type);
bool is_peer_message(std::uint8_t type);
std::string_view message_type_name(std::uint8_t type);

// Bounds for decoding messages from the network. Client and peer sockets
// each have their own (peer traffic carries whole objects for replication and
// must never be refused for size when the client limits allowed the write).
struct WireLimits {
  std::size_t message_bytes_max = 64u << 20;  // also the socket's ZMQ_MAXMSGSIZE
  codec::Limits decode{64u << 20, 1u << 20, 1u << 20, 64u << 20, 32};
};

// A decoded message. `body` points into `handle`, so keep them together.
struct Envelope {
  std::uint32_t version = kProtocolVersion;
  std::uint8_t type = 0;
  std::uint64_t request_id = 0;
  msgpack::object_handle handle;
  std::span<const msgpack::object> body;
};

// Decodes the envelope. An unsupported version is Errc::unsupported_version
// (the reply then names the supported range); the request id is still
// reported through `request_id_out` when it could be read, so the error reply
// can name it.
Result<Envelope> decode_envelope(std::string_view bytes, const codec::Limits& limits,
                                 std::uint64_t* request_id_out = nullptr);

// Builds one message: `begin` writes the envelope header for `body_fields`
// fields; the caller then packs exactly that many fields.
class MessageWriter {
 public:
  MessageWriter(MessageType type, std::uint64_t request_id, std::size_t body_fields);
  MessageWriter(std::uint8_t type, std::uint64_t request_id, std::size_t body_fields);
  crdt::Packer& packer() { return packer_; }
  void bytes(std::string_view value) { codec::pack_bytes(packer_, value); }
  std::string finish() { return std::string(buffer_.data(), buffer_.size()); }
  msgpack::sbuffer& buffer() { return buffer_; }

 private:
  msgpack::sbuffer buffer_;
  crdt::Packer packer_;
};

// A byte string sent as bin (or str by a scripting client).
Result<std::string> expect_blob(const msgpack::object& o, std::string_view what, std::size_t size_max);
Result<std::string_view> expect_blob_view(const msgpack::object& o, std::string_view what, std::size_t size_max);

// ---- errors ---------------------------------------------------------------

std::string encode_error(std::uint64_t request_id, const Error& error);

// Decoding bounds for the replies a client reads from a node it trusts
// (up to 1 GiB: a reply may carry a whole large object or listing page).
codec::Limits reply_decode_limits();
// The Error carried by an `error` reply's body (a malformed body is itself
// reported as an Errc::malformed error).
Error decode_error_body(std::span<const msgpack::object> body);

// ---- request options --------------------------------------------------------

// r, w, pr, pw, dw: a count, or one of the symbolic values, resolved against
// the bucket type's n_val and defaults by the coordinator.
struct Quorum {
  enum class Kind : std::uint8_t { count, one, quorum, all, default_ };
  Kind kind = Kind::default_;
  std::uint32_t count = 0;
  static Quorum of(std::uint32_t n) { return Quorum{Kind::count, n}; }
  static Quorum one() { return Quorum{Kind::one, 0}; }
  static Quorum majority() { return Quorum{Kind::quorum, 0}; }
  static Quorum all() { return Quorum{Kind::all, 0}; }
  // "2", "one", "quorum", "all", "default"; invalid_argument otherwise.
  static Result<Quorum> parse(std::string_view text);
  std::string to_string() const;
  // The number of replicas for n_val; `fallback` resolves `default`.
  std::uint32_t resolve(std::uint32_t n_val, std::uint32_t fallback) const;
  friend bool operator==(const Quorum&, const Quorum&) = default;
};

inline constexpr std::uint32_t kTimeoutMsMax = 3'600'000;
inline constexpr std::uint64_t kTtlMsMax = 100ull * 365 * 24 * 3600 * 1000;

// Per-request options; unset fields take the bucket type's value. Sent as a
// msgpack map with string keys; an unknown key is an error (a misspelt
// option silently ignored would give the caller weaker guarantees than asked).
struct RequestOptions {
  std::optional<Quorum> r, w, pr, pw, dw;
  std::optional<std::uint32_t> timeout_ms;
  std::optional<bool> return_body;
  std::optional<bool> notfound_ok;
  std::optional<bool> basic_quorum;
  std::optional<std::uint64_t> ttl_ms;     // put and update: the key expires this long after the write
  std::optional<std::uint32_t> page_keys;  // list-keys / list-buckets: keys per reply page
  // Under a bucket type of datatype `any` (an update only): what an op does
  // to a live object of another datatype. refuse (the default): the write
  // fails with Errc::wrong_type. replace: the object is replaced by a fresh
  // CRDT of the op's datatype. convert: a counter op on a register holding
  // a decimal integer starts a counter from that integer (otherwise as refuse).
  enum class TypeChange : std::uint8_t { refuse, replace, convert };
  std::optional<TypeChange> type_change;
  // Write only if the coordinating replica holds no live value (absent) or
  // holds one (present); otherwise Errc::condition_failed. A check on one
  // replica: not atomic across a partition.
  enum class Condition : std::uint8_t { absent, present };
  std::optional<Condition> condition;
  std::optional<bool> keep_ttl;  // update: keep the key's expiry instead of clearing it
  // update: change only the expiry of a live key (ttl_ms sets it, its
  // absence clears it); the op is not applied. Errc::not_found if no live key.
  std::optional<bool> touch;
  std::optional<bool> state;  // get: also answer the CRDT's state (ObjectView::state)
  // update with a set op: answer in ObjectView::effect how many of the op's
  // elements it changed on the coordinating replica (an add: those that
  // were not in the set; a remove: those that were), as Redis' SADD and
  // SREM answer. The count is that replica's view, not a quorum's.
  std::optional<bool> effect;
  friend bool operator==(const RequestOptions&, const RequestOptions&) = default;
};
void encode_options(crdt::Packer& packer, const RequestOptions& options);
Result<RequestOptions> decode_options(const msgpack::object& o);

// ---- keys ---------------------------------------------------------------------

// Sent as three fields: bucket type, bucket, key.
void encode_key(crdt::Packer& packer, const crdt::ObjectKey& key);
Result<crdt::ObjectKey> decode_key(std::span<const msgpack::object> fields, const crdt::ObjectLimits& limits);

// ---- CRDT operations and values, as clients send and read them ---------------

// An op: [type_tag, fields...]
//   counter   [10, delta:int]
//   set       [11, 0=add|1=remove, [element...]]   (removes use the request's context)
//   register  [12, value]
//   mvreg     [13, value]
//   flag      [14, 0=enable|1=disable]
//   map       [15, [field_op...]]  field_op = [0=update, name, type_tag, op] | [1=remove, name, type_tag]
//   hll       [16, [element]]  or  [16, [], precision, registers: bin] (merge a sketch)
// `context` (the request's) is attached to set removes and map field removes.
void encode_op(crdt::Packer& packer, const crdt::AnyOp& op);
Result<crdt::AnyOp> decode_op(const msgpack::object& o, const std::optional<crdt::VClock>& context);

// A value: counter int; set [element...]; register bin or nil; mvreg
// [value...]; flag bool; hll uint; map [[name, type_tag, value]...].
// Prefixed by its type tag: [type_tag, value].
void encode_value(crdt::Packer& packer, const crdt::AnyValue& value);
Result<crdt::AnyValue> decode_value(const msgpack::object& o);

// ---- objects as clients read them ------------------------------------------------

struct SiblingView {
  std::string value;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_metadata;
  std::int64_t last_modified_us = 0;  // HLC physical time of the write
  bool deleted = false;               // a tombstone (only in replica views)
  friend bool operator==(const SiblingView&, const SiblingView&) = default;
};

// What a get (or a put with return_body) answers.
struct ObjectView {
  bool found = false;
  crdt::Datatype datatype = crdt::Datatype::plain;
  std::vector<SiblingView> siblings;    // plain objects
  std::optional<crdt::AnyValue> value;  // CRDT objects
  std::string context;                  // opaque; send it back with a write to replace what was read
  std::optional<std::int64_t> expires_at_us;
  // With the get option `state`, a CRDT's state in its crdt/ encoding (the
  // Redis port merges HyperLogLog sketches of several keys with it).
  std::optional<std::string> state;
  std::optional<std::int64_t> effect;  // with the update option `effect`
  friend bool operator==(const ObjectView&, const ObjectView&) = default;
};
// body: [found, datatype, [sibling...], value|nil, context, expires_at_us|nil(, state|nil(, effect))]
// sibling: [value, content_type, [k, v, ...], last_modified_us, deleted]
inline constexpr std::size_t kObjectViewFields = 6;
// The fields encode_object_view writes for `view` (6, 7 or 8).
std::size_t object_view_fields(const ObjectView& view);
void encode_object_view(crdt::Packer& packer, const ObjectView& view);
Result<ObjectView> decode_object_view(std::span<const msgpack::object> fields);

// The opaque causal context clients carry: the encoded VClock.
std::string encode_context(const crdt::VClock& clock);
Result<crdt::VClock> decode_context(std::string_view bytes);

// The view of a stored object at time `now` (expired objects and tombstones
// read as not found, with their context kept so a later write supersedes them).
ObjectView object_view(const crdt::Object& object, crdt::HlcTimestamp now);

// ---- client requests ----------------------------------------------------------------

// get:    [type, bucket, key, options]
// put:    [type, bucket, key, value, content_type, [meta_key, meta_value, ...], context|nil, options]
// del:    [type, bucket, key, context|nil, options]
// update: [type, bucket, key, op, context|nil, options]
// list_buckets: [type, options]         list_keys: [type, bucket, options]
// replica_get:  [type, bucket, key]     ping, status, ring, members, bucket_types: []
struct KeyRequest {
  MessageType type = MessageType::get;
  crdt::ObjectKey key;
  std::string value;  // put
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_metadata;
  std::optional<std::string> context;  // put, del, update (opaque bytes from a read)
  std::optional<crdt::AnyOp> op;       // update
  RequestOptions options;
};
std::string encode_request(std::uint64_t request_id, const KeyRequest& request);
// `type` is the envelope's; limits bound the key and the value.
Result<KeyRequest> decode_key_request(MessageType type, std::span<const msgpack::object> body,
                                      const crdt::ObjectLimits& limits);

struct ListRequest {
  MessageType type = MessageType::list_keys;
  std::string bucket_type;
  std::string bucket;  // list_keys only
  RequestOptions options;
};
std::string encode_request(std::uint64_t request_id, const ListRequest& request);
Result<ListRequest> decode_list_request(MessageType type, std::span<const msgpack::object> body,
                                        const crdt::ObjectLimits& limits);
// One page of a list reply: [done, [name...]]. A listing is several replies
// with the same request id; the last has done = true.
struct ListPage {
  bool done = false;
  std::vector<std::string> names;
};
std::string encode_list_page(MessageType request, std::uint64_t request_id, const ListPage& page);
Result<ListPage> decode_list_page(std::span<const msgpack::object> body);

// A request with no body (ping, status, ring, members, bucket_types).
std::string encode_simple_request(MessageType type, std::uint64_t request_id);

// cluster_admin: [command, [argument...]]; commands: join NODE, leave [NODE],
// force-remove NODE, replace OLD NEW, plan, commit, clear, transfers.
struct TransferView {
  std::uint32_t partition = 0;
  std::string from;
  std::string to;
  std::string state;  // awaiting, handing_off, running, repairing
  std::uint64_t keys_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t keys_estimate = 0;  // 0: unknown
  std::uint64_t bytes_per_s = 0;
  std::int64_t eta_s = -1;  // -1: unknown
};
struct OwnershipView {
  std::string node;
  std::uint32_t partitions_now = 0;
  std::uint32_t partitions_after = 0;
};
// A value of a status item or a table cell: an integer or a string.
struct StatusValue {
  bool is_text = false;
  std::int64_t number = 0;
  std::string text;
  static StatusValue of(std::int64_t n) { return StatusValue{false, n, {}}; }
  static StatusValue of(std::string t) { return StatusValue{true, 0, std::move(t)}; }
  friend bool operator==(const StatusValue&, const StatusValue&) = default;
};
// Rows of named columns (aae-status, merkle-roots, hints): each row has one
// value per column.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<StatusValue>> rows;
};
struct ClusterAdminReply {
  std::string message;
  std::vector<std::string> staged;  // "join n4@...", ...
  std::vector<TransferView> transfers;
  std::vector<OwnershipView> ownership;
  Table table;  // sent as two more fields [columns, rows] when it has columns
};
void pack_table(msgpack::packer<msgpack::sbuffer>& packer, const Table& table);
Result<Table> read_table(const msgpack::object& columns, const msgpack::object& rows);
std::string encode_cluster_admin(std::uint64_t request_id, std::string_view command,
                                 const std::vector<std::string>& arguments);
Result<std::pair<std::string, std::vector<std::string>>> decode_cluster_admin(std::span<const msgpack::object> body);
std::string encode_cluster_admin_reply(std::uint64_t request_id, const ClusterAdminReply& reply);
Result<ClusterAdminReply> decode_cluster_admin_reply(std::span<const msgpack::object> body);

// bucket_type_admin: [command, name, properties]; commands create, update,
// show, list. Reply: [message, [[name, properties]...]].
std::string encode_bucket_type_admin(std::uint64_t request_id, std::string_view command, std::string_view name,
                                     std::string_view properties);
struct BucketTypeAdminRequest {
  std::string command;
  std::string name;
  std::string properties;
};
Result<BucketTypeAdminRequest> decode_bucket_type_admin(std::span<const msgpack::object> body);
struct BucketTypeAdminReply {
  std::string message;
  std::vector<std::pair<std::string, std::string>> types;
};
std::string encode_bucket_type_admin_reply(std::uint64_t request_id, const BucketTypeAdminReply& reply);
Result<BucketTypeAdminReply> decode_bucket_type_admin_reply(std::span<const msgpack::object> body);

// failpoint: [name, spec]; the reply has an empty body.
std::string encode_failpoint_request(std::uint64_t request_id, std::string_view name, std::string_view spec);
Result<std::pair<std::string, std::string>> decode_failpoint_request(std::span<const msgpack::object> body);

// ---- admin replies -------------------------------------------------------------------

// ping reply: [node, version]
struct PingReply {
  std::string node;
  std::string version;
};
std::string encode_ping_reply(std::uint64_t request_id, const PingReply& reply);
Result<PingReply> decode_ping_reply(std::span<const msgpack::object> body);

// replica_get reply: [[node, partition, primary, status, object view (6 fields) | error message]...]
// status: 0 found, 1 not found, 2 error.
struct ReplicaView {
  std::string node;
  std::uint32_t partition = 0;
  bool primary = true;
  std::uint8_t status = 0;
  ObjectView object;
  std::string error;
};
std::string encode_replica_views(std::uint64_t request_id, const std::vector<ReplicaView>& replicas);
Result<std::vector<ReplicaView>> decode_replica_views(std::span<const msgpack::object> body);

// ring reply: [cluster, ring_size, [owner of each partition], [[node, status, location]...], [[type, props]...]]
struct RingMember {
  std::string node;
  std::string status;
  std::string location;
};
struct RingView {
  std::string cluster;
  std::uint32_t ring_size = 0;
  std::vector<std::string> owners;
  std::vector<RingMember> members;
  std::vector<std::pair<std::string, std::string>> bucket_types;  // name, "key=value,..." properties
};
std::string encode_ring_view(std::uint64_t request_id, const RingView& view, MessageType type = MessageType::ring);
Result<RingView> decode_ring_view(std::span<const msgpack::object> body);

// members reply: [[viewer, answered, [[node, status, reachable]...]]...]
struct MemberState {
  std::string node;
  std::string status;
  bool reachable = false;
};
struct MembersView {
  std::string viewer;
  bool answered = false;
  std::vector<MemberState> members;
};
std::string encode_members_view(std::uint64_t request_id, const std::vector<MembersView>& views);
Result<std::vector<MembersView>> decode_members_view(std::span<const msgpack::object> body);

// status reply: [[name, value]...] where value is an integer or a string,
// in a stable order (counters, latencies, gauges). StatusValue is defined
// with the cluster_admin reply, whose tables use it too.
std::string encode_status(std::uint64_t request_id, const std::vector<std::pair<std::string, StatusValue>>& items);
Result<std::vector<std::pair<std::string, StatusValue>>> decode_status(std::span<const msgpack::object> body);

}  // namespace shoal::net
