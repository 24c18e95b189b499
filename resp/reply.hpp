// Encodes RESP replies, in RESP2 or (after HELLO 3) RESP3. The few types
// that differ between the two are chosen here: a null is `$-1` or `_`, a map
// is a flat array or `%`, a set an array or `~`, a double a bulk string or
// `,`. Thread-compatible: one writer per reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shoal::resp {

class ReplyWriter {
 public:
  explicit ReplyWriter(int protocol = 2) : resp3_(protocol >= 3) {}

  ReplyWriter& simple(std::string_view text) { return line('+', text); }
  // `text` starts with the error code ("ERR ...", "WRONGTYPE ...").
  ReplyWriter& error(std::string_view text) { return line('-', text); }
  ReplyWriter& integer(std::int64_t n) { return line(':', std::to_string(n)); }
  ReplyWriter& bulk(std::string_view bytes) {
    line('$', std::to_string(bytes.size()));
    out_.append(bytes);
    out_.append("\r\n");
    return *this;
  }
  ReplyWriter& null() { return resp3_ ? line('_', "") : line('$', "-1"); }
  ReplyWriter& null_array() { return resp3_ ? line('_', "") : line('*', "-1"); }
  ReplyWriter& array(std::size_t n) { return line('*', std::to_string(n)); }
  // n key-value pairs follow.
  ReplyWriter& map(std::size_t n) { return resp3_ ? line('%', std::to_string(n)) : line('*', std::to_string(2 * n)); }
  ReplyWriter& set(std::size_t n) { return line(resp3_ ? '~' : '*', std::to_string(n)); }
  ReplyWriter& ok() { return simple("OK"); }

  bool resp3() const { return resp3_; }
  std::string& bytes() { return out_; }
  std::string take() { return std::move(out_); }

 private:
  ReplyWriter& line(char type, std::string_view text) {
    out_.push_back(type);
    out_.append(text);
    out_.append("\r\n");
    return *this;
  }

  bool resp3_;
  std::string out_;
};

}  // namespace shoal::resp
