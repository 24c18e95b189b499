#include "storage/key.hpp"

namespace shoal::storage {
namespace {

void append_escaped(std::string& out, std::string_view part) {
  for (char c : part) {
    out.push_back(c);
    if (c == '\0') out.push_back('\xff');
  }
  out.push_back('\0');
  out.push_back('\x01');
}

// Reads one escaped part from `in` starting at `pos`; advances pos past its terminator.
Result<std::string> read_escaped(std::string_view in, std::size_t& pos, std::string_view what) {
  std::string out;
  while (pos < in.size()) {
    char c = in[pos++];
    if (c != '\0') {
      out.push_back(c);
      continue;
    }
    if (pos >= in.size()) break;
    char next = in[pos++];
    if (next == '\xff') {
      out.push_back('\0');
    } else if (next == '\x01') {
      return out;
    } else {
      return make_error(Errc::malformed, "storage key: bad escape in " + std::string(what));
    }
  }
  return make_error(Errc::malformed, "storage key: " + std::string(what) + " is not terminated");
}

}  // namespace

std::string encode_storage_key(std::string_view bucket_type, std::string_view bucket, std::string_view key) {
  std::string out = bucket_prefix(bucket_type, bucket);
  out.append(key);
  return out;
}

Result<StorageKeyParts> decode_storage_key(std::string_view storage_key) {
  if (storage_key.empty() || storage_key[0] != kObjectKeyTag)
    return make_error(Errc::malformed, "storage key: not an object key (tag byte)");
  std::size_t pos = 1;
  StorageKeyParts parts;
  SHOAL_TRY(type, read_escaped(storage_key, pos, "bucket type"));
  SHOAL_TRY(bucket, read_escaped(storage_key, pos, "bucket"));
  parts.bucket_type = std::move(type);
  parts.bucket = std::move(bucket);
  parts.key = std::string(storage_key.substr(pos));
  return parts;
}

std::string bucket_type_prefix(std::string_view bucket_type) {
  std::string out;
  out.reserve(bucket_type.size() + 3);
  out.push_back(kObjectKeyTag);
  append_escaped(out, bucket_type);
  return out;
}

std::string bucket_prefix(std::string_view bucket_type, std::string_view bucket) {
  std::string out = bucket_type_prefix(bucket_type);
  append_escaped(out, bucket);
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    auto last = static_cast<unsigned char>(out.back());
    if (last != 0xff) {
      out.back() = static_cast<char>(last + 1);
      return out;
    }
    out.pop_back();
  }
  return out;
}

}  // namespace shoal::storage
