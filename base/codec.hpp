// Bounded msgpack decoding helpers shared by every encoder/decoder in Shoal.
//
// Every decoder takes bytes from disk or from a peer, so nothing here trusts
// them: `unpack` enforces size, count and depth limits before allocating,
// rejects trailing bytes, and turns every msgpack exception into an
// Errc::malformed value. The `expect_*` readers check a msgpack::object's
// type and range and name the field in the error. Byte strings are always
// packed as msgpack `bin` so the encoding is canonical.
// Thread-safe: pure functions.
#pragma once

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace shoal::codec {

struct Limits {
  std::size_t bytes_max = 64 * 1024 * 1024;  // whole encoding
  std::size_t array_max = 1 << 20;           // elements in one array
  std::size_t map_max = 1 << 20;             // pairs in one map
  std::size_t bin_max = 32 * 1024 * 1024;    // one byte string
  std::size_t depth_max = 32;                // nesting
};

inline constexpr Limits kDefaultLimits{};

// Decodes exactly one msgpack value that spans all of `bytes`.
Result<msgpack::object_handle> unpack(std::string_view bytes, const Limits& limits = kDefaultLimits);

Result<std::span<const msgpack::object>> expect_array(const msgpack::object& o, std::size_t size_min,
                                                      std::size_t size_max, std::string_view what);
Result<std::uint64_t> expect_uint(const msgpack::object& o, std::string_view what,
                                  std::uint64_t max = UINT64_MAX);
Result<std::int64_t> expect_int(const msgpack::object& o, std::string_view what);
Result<bool> expect_bool(const msgpack::object& o, std::string_view what);
Result<double> expect_double(const msgpack::object& o, std::string_view what);
Result<std::string> expect_bytes(const msgpack::object& o, std::string_view what, std::size_t size_max = SIZE_MAX);
Result<std::string_view> expect_bytes_view(const msgpack::object& o, std::string_view what,
                                           std::size_t size_max = SIZE_MAX);

// Every versioned encoding starts with [type_tag, version, ...]. Returns the
// fields after the header.
Result<std::span<const msgpack::object>> expect_header(const msgpack::object& o, std::uint8_t type_tag,
                                                       std::uint8_t version, std::size_t fields_min,
                                                       std::size_t fields_max, std::string_view what);

// Packs a byte string as msgpack bin.
template <typename Stream>
void pack_bytes(msgpack::packer<Stream>& pk, std::string_view bytes) {
  pk.pack_bin(static_cast<std::uint32_t>(bytes.size()));
  pk.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
}

template <typename Stream>
void pack_header(msgpack::packer<Stream>& pk, std::uint8_t type_tag, std::uint8_t version, std::size_t fields) {
  pk.pack_array(static_cast<std::uint32_t>(2 + fields));
  pk.pack_uint8(type_tag);
  pk.pack_uint8(version);
}

}  // namespace shoal::codec
