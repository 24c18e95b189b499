// The records shoal-bench writes for the YCSB workloads. A YCSB record has
// `fields` named fields of `field_bytes` random bytes; Shoal stores one value
// per key, so the record is encoded as one JSON object (content type
// application/json), which the shell prints readably:
//
//     {"field0":"<field_bytes chars>","field1":"...",...}
//
// The characters are drawn from [A-Za-z0-9_-], so nothing needs escaping and
// a field's value ends at the next '"'. An update rewrites one field of the
// record it read (as YCSB's update of one field does) and writes the whole
// value back. Thread-compatible: pure functions over a caller's Random.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tools/shoal_bench/key_chooser.hpp"

namespace shoal::bench {

struct RecordShape {
  std::uint32_t fields = 10;
  std::uint32_t field_bytes = 100;

  std::uint64_t encoded_bytes() const {
    // Braces, a comma between fields, and per field "field" + digits + "":"" + value + '"'.
    std::uint64_t total = 2 + (fields > 0 ? fields - 1 : 0);
    for (std::uint32_t i = 0; i < fields; ++i) total += 10 + std::to_string(i).size() + field_bytes;
    return total;
  }
};

inline void append_random_chars(std::string& out, std::uint32_t count, Random& random) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  while (count > 0) {
    std::uint64_t bits = random.next();
    // Ten 6-bit characters per 64-bit draw.
    for (int k = 0; k < 10 && count > 0; ++k, --count) {
      out += kAlphabet[bits & 63];
      bits >>= 6;
    }
  }
}

inline std::string make_record(const RecordShape& shape, Random& random) {
  std::string out;
  out.reserve(shape.encoded_bytes());
  out += '{';
  for (std::uint32_t i = 0; i < shape.fields; ++i) {
    if (i > 0) out += ',';
    out += "\"field";
    out += std::to_string(i);
    out += "\":\"";
    append_random_chars(out, shape.field_bytes, random);
    out += '"';
  }
  out += '}';
  return out;
}

// `record` with field `index` replaced by fresh random characters; nullopt
// when `record` is not a record with that field (then the caller writes a
// fresh record).
inline std::optional<std::string> update_field(std::string_view record, const RecordShape& shape, std::uint32_t index,
                                               Random& random) {
  if (record.size() < 2 || record.front() != '{' || record.back() != '}') return std::nullopt;
  std::string name = "\"field" + std::to_string(index) + "\":\"";
  auto begin = record.find(name);
  if (begin == std::string_view::npos) return std::nullopt;
  begin += name.size();
  auto end = record.find('"', begin);
  if (end == std::string_view::npos) return std::nullopt;
  std::string out;
  out.reserve(record.size() - (end - begin) + shape.field_bytes);
  out.append(record.substr(0, begin));
  append_random_chars(out, shape.field_bytes, random);
  out.append(record.substr(end));
  return out;
}

}  // namespace shoal::bench
