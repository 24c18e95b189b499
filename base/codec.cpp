#include "base/codec.hpp"

#include <cmath>

namespace shoal::codec {

namespace {
Error malformed(std::string_view what, std::string_view why) {
  return make_error(Errc::malformed, std::string(what) + ": " + std::string(why));
}
}  // namespace

Result<msgpack::object_handle> unpack(std::string_view bytes, const Limits& limits) {
  if (bytes.size() > limits.bytes_max)
    return make_error(Errc::too_large, "encoding of " + std::to_string(bytes.size()) + " bytes exceeds limit of " +
                                           std::to_string(limits.bytes_max));
  if (bytes.empty()) return malformed("encoding", "empty");
  try {
    std::size_t offset = 0;
    msgpack::unpack_limit limit(limits.array_max, limits.map_max, limits.bin_max, limits.bin_max, limits.bin_max,
                                limits.depth_max);
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size())
      return malformed("encoding", std::to_string(bytes.size() - offset) + " trailing bytes");
    return handle;
  } catch (const msgpack::depth_size_overflow& e) {
    return make_error(Errc::too_large, std::string("encoding nested too deeply: ") + e.what());
  } catch (const msgpack::size_overflow& e) {
    return make_error(Errc::too_large, std::string("encoding exceeds a decode limit: ") + e.what());
  } catch (const std::bad_alloc&) {
    return make_error(Errc::too_large, "encoding needs more memory than available");
  } catch (const std::exception& e) {
    return malformed("encoding", e.what());
  }
}

Result<std::span<const msgpack::object>> expect_array(const msgpack::object& o, std::size_t size_min,
                                                      std::size_t size_max, std::string_view what) {
  if (o.type != msgpack::type::ARRAY) return malformed(what, "expected an array");
  if (o.via.array.size < size_min || o.via.array.size > size_max)
    return malformed(what, "array of " + std::to_string(o.via.array.size) + " elements, expected " +
                               std::to_string(size_min) + ".." + std::to_string(size_max));
  return std::span<const msgpack::object>(o.via.array.ptr, o.via.array.size);
}

Result<std::uint64_t> expect_uint(const msgpack::object& o, std::string_view what, std::uint64_t max) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return malformed(what, "expected an unsigned integer");
  if (o.via.u64 > max) return malformed(what, "value " + std::to_string(o.via.u64) + " out of range");
  return o.via.u64;
}

Result<std::int64_t> expect_int(const msgpack::object& o, std::string_view what) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<std::uint64_t>(INT64_MAX)) return malformed(what, "integer out of range");
    return static_cast<std::int64_t>(o.via.u64);
  }
  return malformed(what, "expected an integer");
}

Result<bool> expect_bool(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::BOOLEAN) return malformed(what, "expected a boolean");
  return o.via.boolean;
}

Result<double> expect_double(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::FLOAT64 && o.type != msgpack::type::FLOAT32) return malformed(what, "expected a float");
  if (std::isnan(o.via.f64)) return malformed(what, "NaN");
  return o.via.f64;
}

Result<std::string_view> expect_bytes_view(const msgpack::object& o, std::string_view what, std::size_t size_max) {
  if (o.type != msgpack::type::BIN) return malformed(what, "expected a byte string");
  if (o.via.bin.size > size_max)
    return make_error(Errc::too_large, std::string(what) + ": " + std::to_string(o.via.bin.size) +
                                           " bytes exceeds limit of " + std::to_string(size_max));
  return std::string_view(o.via.bin.ptr, o.via.bin.size);
}

Result<std::string> expect_bytes(const msgpack::object& o, std::string_view what, std::size_t size_max) {
  SHOAL_TRY(view, expect_bytes_view(o, what, size_max));
  return std::string(view);
}

Result<std::span<const msgpack::object>> expect_header(const msgpack::object& o, std::uint8_t type_tag,
                                                       std::uint8_t version, std::size_t fields_min,
                                                       std::size_t fields_max, std::string_view what) {
  SHOAL_TRY(items, expect_array(o, 2 + fields_min, 2 + fields_max, what));
  SHOAL_TRY(tag, expect_uint(items[0], what, 255));
  if (tag != type_tag)
    return make_error(Errc::malformed, std::string(what) + ": type tag " + std::to_string(tag) + ", expected " +
                                           std::to_string(type_tag));
  SHOAL_TRY(ver, expect_uint(items[1], what, 255));
  if (ver != version)
    return make_error(Errc::unsupported_version, std::string(what) + ": encoding version " + std::to_string(ver) +
                                                     " is not supported (this build reads " +
                                                     std::to_string(version) + ")");
  return items.subspan(2);
}

}  // namespace shoal::codec
