// The wire protocol: every client message round-trips, and every decoder
// turns truncated, corrupted, oversized or deeply nested input into an
// error value (run under ASan by tools/test --sanitize).
#include <catch2/catch.hpp>

#include <random>

#include "crdt/map.hpp"
#include "net/protocol.hpp"
#include "tests/mutate.hpp"

using namespace shoal;
using namespace shoal::net;

namespace {

Envelope envelope_of(const std::string& bytes) {
  auto e = decode_envelope(bytes, codec::kDefaultLimits);
  REQUIRE(e);
  return std::move(e).value();
}

// Unpacks what `build` packs.
template <typename Build>
msgpack::object_handle packed(Build build) {
  msgpack::sbuffer buffer;
  crdt::Packer packer(buffer);
  build(packer);
  auto handle = codec::unpack(std::string_view(buffer.data(), buffer.size()));
  REQUIRE(handle);
  return std::move(handle).value();
}

// Decodes the op `build` packs.
template <typename Build>
Result<crdt::AnyOp> decode_built_op(Build build) {
  auto handle = packed(build);
  return decode_op(handle.get(), std::nullopt);
}

crdt::AnyOp nested_map_op() {
  crdt::MapOp inner;
  inner.fields.push_back(crdt::MapFieldOp::update("tags", crdt::Orswot::Op::add_all({"a", "b"})));
  inner.fields.push_back(crdt::MapFieldOp::remove("old", crdt::TypeTag::flag));
  crdt::MapOp outer;
  outer.fields.push_back(crdt::MapFieldOp::update("visits", crdt::PnCounter::Op::increment(-3)));
  outer.fields.push_back(crdt::MapFieldOp::update("name", crdt::LwwRegister::Op{"alice", {}}));
  outer.fields.push_back(crdt::MapFieldOp::update("on", crdt::EnableWinsFlag::Op::enable));
  outer.fields.push_back(crdt::MapFieldOp::update("seen", crdt::Hll::Op::add("x")));
  outer.fields.push_back(crdt::MapFieldOp::update("profile", crdt::AnyOp{std::move(inner)}));
  return crdt::AnyOp{std::move(outer)};
}

std::vector<std::string> sample_messages() {
  std::vector<std::string> out;
  KeyRequest get;
  get.type = MessageType::get;
  get.key = {"default", "users", "alice"};
  get.options.r = Quorum::majority();
  get.options.pr = Quorum::of(1);
  get.options.notfound_ok = false;
  get.options.basic_quorum = true;
  get.options.timeout_ms = 1500;
  out.push_back(encode_request(1, get));
  KeyRequest put;
  put.type = MessageType::put;
  put.key = {"default", "users", "bob"};
  put.value = std::string("\x00\x01 binary", 9);
  put.content_type = "application/octet-stream";
  put.user_metadata = {{"a", "1"}, {"b", "2"}};
  put.context = std::string("ctx");
  put.options.w = Quorum::all();
  put.options.dw = Quorum::one();
  put.options.ttl_ms = 60'000;
  put.options.return_body = true;
  out.push_back(encode_request(2, put));
  KeyRequest del;
  del.type = MessageType::del;
  del.key = {"t", "b", "k"};
  out.push_back(encode_request(3, del));
  KeyRequest update;
  update.type = MessageType::update;
  update.key = {"maps", "b", "k"};
  update.op = nested_map_op();
  out.push_back(encode_request(4, update));
  ListRequest list;
  list.type = MessageType::list_keys;
  list.bucket_type = "default";
  list.bucket = "users";
  list.options.page_keys = 100;
  out.push_back(encode_request(5, list));
  ObjectView view;
  view.found = true;
  view.siblings.push_back(SiblingView{"v", "text/plain", {{"k", "v"}}, 123, false});
  view.context = "c";
  view.expires_at_us = 99;
  MessageWriter w(reply_type(MessageType::get), 6, kObjectViewFields);
  encode_object_view(w.packer(), view);
  out.push_back(w.finish());
  out.push_back(encode_error(7, Error{Errc::unavailable, "w=3 not met"}));
  out.push_back(encode_list_page(MessageType::list_keys, 8, ListPage{true, {"a", "b"}}));
  return out;
}

}  // namespace

TEST_CASE("key requests round-trip through the envelope") {
  KeyRequest put;
  put.type = MessageType::put;
  put.key = {"default", "users", "bob"};
  put.value = "hello";
  put.content_type = "text/plain";
  put.user_metadata = {{"b", "2"}, {"a", "1"}};
  put.context = std::string("opaque");
  put.options.w = Quorum::of(2);
  put.options.pw = Quorum::one();
  put.options.ttl_ms = 5000;
  auto env = envelope_of(encode_request(42, put));
  CHECK(env.request_id == 42);
  CHECK(env.type == static_cast<std::uint8_t>(MessageType::put));
  auto decoded = decode_key_request(MessageType::put, env.body, crdt::kDefaultObjectLimits);
  REQUIRE(decoded);
  CHECK(decoded.value().key == put.key);
  CHECK(decoded.value().value == "hello");
  CHECK(decoded.value().user_metadata == std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}});
  CHECK(decoded.value().context == put.context);
  CHECK(decoded.value().options == put.options);

  KeyRequest update;
  update.type = MessageType::update;
  update.key = {"maps", "b", "k"};
  update.op = nested_map_op();
  auto uenv = envelope_of(encode_request(43, update));
  auto udecoded = decode_key_request(MessageType::update, uenv.body, crdt::kDefaultObjectLimits);
  REQUIRE(udecoded);
  // Re-encoding the decoded op gives the same bytes.
  update.op = udecoded.value().op;
  CHECK(encode_request(43, update) == encode_request(43, KeyRequest{update}));
  REQUIRE(udecoded.value().op);
  CHECK(crdt::op_type_tag(*udecoded.value().op) == crdt::TypeTag::map);
}

TEST_CASE("options: symbolic quorums, unknown names refused, values bounded") {
  for (const char* text : {"one", "quorum", "all", "default", "2"}) {
    auto q = Quorum::parse(text);
    REQUIRE(q);
    CHECK(q.value().to_string() == text);
  }
  CHECK(Quorum::majority().resolve(3, 0) == 2);
  CHECK(Quorum::majority().resolve(5, 0) == 3);
  CHECK(Quorum{}.resolve(3, 7) == 7);
  CHECK_FALSE(Quorum::parse("most"));
  msgpack::sbuffer buffer;
  crdt::Packer packer(buffer);
  packer.pack_map(1);
  packer.pack(std::string("rr"));
  packer.pack(1);
  auto handle = codec::unpack(std::string_view(buffer.data(), buffer.size()));
  auto options = decode_options(handle.value().get());
  REQUIRE(!options);
  CHECK(options.error().message == "unknown request option 'rr'");
}

TEST_CASE("every CRDT value round-trips in its client form") {
  crdt::MapValue inner;
  inner.fields.emplace_back(crdt::FieldKey{"n", crdt::TypeTag::pn_counter}, crdt::AnyValue{std::int64_t{-4}});
  crdt::MapValue map;
  map.fields.emplace_back(crdt::FieldKey{"in", crdt::TypeTag::map}, crdt::AnyValue{inner});
  map.fields.emplace_back(crdt::FieldKey{"s", crdt::TypeTag::orswot}, crdt::AnyValue{crdt::Orswot::Value{"x", "y"}});
  std::vector<crdt::AnyValue> values = {
      crdt::AnyValue{std::int64_t{7}},
      crdt::AnyValue{crdt::Orswot::Value{"a", "b"}},
      crdt::AnyValue{crdt::LwwRegister::Value{"r"}},
      crdt::AnyValue{crdt::LwwRegister::Value{}},
      crdt::AnyValue{crdt::MvRegister::Value{"p", "q"}},
      crdt::AnyValue{true},
      crdt::AnyValue{map},
      crdt::AnyValue{crdt::Hll::Value{1234}},
  };
  for (const auto& v : values) {
    msgpack::sbuffer buffer;
    crdt::Packer packer(buffer);
    encode_value(packer, v);
    auto handle = codec::unpack(std::string_view(buffer.data(), buffer.size()));
    REQUIRE(handle);
    auto decoded = decode_value(handle.value().get());
    REQUIRE(decoded);
    CHECK(decoded.value() == v);
  }
}

TEST_CASE("bad ops are refused with a reason") {
  auto unknown = decode_built_op([](crdt::Packer& p) {
    p.pack_array(2);
    p.pack(99);
    p.pack(1);
  });
  CHECK(unknown.error().code == Errc::malformed);
  auto empty_set = decode_built_op([](crdt::Packer& p) {
    p.pack_array(3);
    p.pack(11);
    p.pack(0);
    p.pack_array(0);
  });
  CHECK(empty_set.error().message == "set operation names no element");
  auto mismatch = decode_built_op([](crdt::Packer& p) {
    p.pack_array(2);
    p.pack(15);
    p.pack_array(1);
    p.pack_array(4);
    p.pack(0);
    codec::pack_bytes(p, "f");
    p.pack(11);  // says set
    p.pack_array(2);
    p.pack(10);  // but is a counter op
    p.pack(1);
  });
  CHECK(mismatch.error().code == Errc::invalid_argument);
  // Maps nested deeper than the CRDT library allows.
  auto deep = decode_built_op([](crdt::Packer& p) {
    for (int i = 0; i < 10; ++i) {
      p.pack_array(2);
      p.pack(15);
      p.pack_array(1);
      p.pack_array(4);
      p.pack(0);
      codec::pack_bytes(p, "f");
      p.pack(15);
    }
    p.pack_array(2);
    p.pack(10);
    p.pack(1);
  });
  CHECK_FALSE(deep);
}

TEST_CASE("decoders survive truncation, corruption and hostile sizes") {
  std::mt19937_64 rng(7);
  std::size_t decoded_ok = 0, refused = 0;
  for (const std::string& message : sample_messages()) {
    for (int round = 0; round < 3000; ++round) {
      std::string bytes = test::mutate(message, rng, round);
      auto env = decode_envelope(bytes, codec::kDefaultLimits);
      if (!env) {
        ++refused;
        continue;
      }
      auto type = static_cast<MessageType>(env.value().type);
      switch (type) {
        case MessageType::get:
        case MessageType::put:
        case MessageType::del:
        case MessageType::update:
        case MessageType::replica_get:
          if (decode_key_request(type, env.value().body, crdt::kDefaultObjectLimits)) ++decoded_ok;
          break;
        case MessageType::list_keys:
        case MessageType::list_buckets:
          if (decode_list_request(type, env.value().body, crdt::kDefaultObjectLimits)) ++decoded_ok;
          break;
        default:
          (void)decode_object_view(env.value().body);
          (void)decode_list_page(env.value().body);
          (void)decode_error_body(env.value().body);
          (void)decode_status(env.value().body);
          (void)decode_replica_views(env.value().body);
          (void)decode_ring_view(env.value().body);
          (void)decode_members_view(env.value().body);
      }
    }
  }
  CHECK(refused > 1000);  // most mutations are caught at the envelope
  (void)decoded_ok;
}

TEST_CASE("the envelope refuses other versions, non-arrays and deep nesting") {
  MessageWriter w(MessageType::ping, 9, 0);
  std::string ok = w.finish();
  CHECK(decode_envelope(ok, codec::kDefaultLimits));
  std::string v99 = ok;
  v99[1] = 99;
  std::uint64_t id = 0;
  auto refused = decode_envelope(v99, codec::kDefaultLimits, &id);
  REQUIRE(!refused);
  CHECK(refused.error().code == Errc::unsupported_version);
  CHECK(id == 9);  // the error reply can still name the request
  CHECK(decode_envelope(std::string("\x01", 1), codec::kDefaultLimits).error().code == Errc::malformed);
  std::string deep(10'000, '\x91');
  deep += '\x01';
  CHECK(decode_envelope(deep, codec::kDefaultLimits).error().code == Errc::too_large);
  codec::Limits small;
  small.bytes_max = 16;
  CHECK(decode_envelope(std::string(17, '\x01'), small).error().code == Errc::too_large);
}

TEST_CASE("the hll sketch-merge op and the new update options round-trip; a bad sketch is refused") {
  crdt::Hll sketch;
  for (int i = 0; i < 100; ++i) REQUIRE(sketch.add("e" + std::to_string(i), "a").has_value());
  KeyRequest update;
  update.type = MessageType::update;
  update.key = {"redis", "redis", "k"};
  update.op = crdt::AnyOp{crdt::Hll::Op::merge_sketch(sketch)};
  update.options.type_change = RequestOptions::TypeChange::convert;
  update.options.condition = RequestOptions::Condition::absent;
  update.options.keep_ttl = true;
  update.options.touch = false;
  update.options.state = true;
  update.options.effect = true;
  auto env = envelope_of(encode_request(7, update));
  auto decoded = decode_key_request(MessageType::update, env.body, crdt::kDefaultObjectLimits);
  REQUIRE(decoded);
  CHECK(decoded.value().options == update.options);
  const auto* op = std::get_if<crdt::Hll::Op>(&*decoded.value().op);
  REQUIRE(op);
  CHECK(op->registers == sketch.registers());
  CHECK(op->precision == sketch.precision());

  auto short_sketch = decode_built_op([](crdt::Packer& p) {
    p.pack_array(4);
    p.pack(16);
    p.pack_array(0);
    p.pack(14);
    codec::pack_bytes(p, std::string(100, '\1'));
  });
  REQUIRE_FALSE(short_sketch);
  CHECK(short_sketch.error().code == Errc::invalid_argument);
  auto options = packed([](crdt::Packer& p) {
    p.pack_map(1);
    codec::pack_bytes(p, "type_change");
    codec::pack_bytes(p, "sometimes");
  });
  auto bad_choice = decode_options(options.get());
  REQUIRE_FALSE(bad_choice);
  CHECK(bad_choice.error().message == "type_change 'sometimes' must be one of refuse, replace, convert");
}

TEST_CASE("an object view carries an update's effect, with or without a state; a bad effect is refused") {
  auto round_trip = [](const ObjectView& view) {
    MessageWriter w(reply_type(MessageType::update), 9, object_view_fields(view));
    encode_object_view(w.packer(), view);
    auto env = envelope_of(w.finish());
    return decode_object_view(env.body);
  };
  ObjectView view;
  view.found = true;
  view.datatype = crdt::Datatype::set;
  view.context = "c";
  view.effect = 3;
  CHECK(object_view_fields(view) == kObjectViewFields + 2);
  auto decoded = round_trip(view);
  REQUIRE(decoded);
  CHECK(decoded.value() == view);
  view.state = std::string("state bytes");
  decoded = round_trip(view);
  REQUIRE(decoded);
  CHECK(decoded.value() == view);
  view.effect.reset();
  CHECK(object_view_fields(view) == kObjectViewFields + 1);
  decoded = round_trip(view);
  REQUIRE(decoded);
  CHECK(decoded.value() == view);

  // An effect that is not an integer, and a ninth field, are refused.
  MessageWriter w(reply_type(MessageType::update), 9, kObjectViewFields + 2);
  view.state.reset();
  encode_object_view(w.packer(), view);
  w.packer().pack_nil();
  codec::pack_bytes(w.packer(), "three");
  auto env = envelope_of(w.finish());
  auto bad = decode_object_view(env.body);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::malformed);
  MessageWriter w9(reply_type(MessageType::update), 9, kObjectViewFields + 3);
  encode_object_view(w9.packer(), view);
  for (int i = 0; i < 3; ++i) w9.packer().pack_nil();
  auto env9 = envelope_of(w9.finish());
  CHECK_FALSE(decode_object_view(env9.body));
}
