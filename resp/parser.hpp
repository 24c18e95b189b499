// The RESP request parser: turns the bytes a Redis client sends into
// commands (arrays of byte strings). It takes both forms Redis takes: the
// multibulk form (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) that every client library
// sends, and the inline form (`GET k\r\n`) that telnet users type, with
// Redis' quoting rules. Input may arrive split at any byte: the parser keeps
// the arguments it has read so far and asks for more.
//
// Every size is bounded before anything is allocated: the argument count,
// one bulk string's length and an inline line's length. Over a bound, or on
// bytes that are not RESP, parse() returns an error in Redis' own wording
// ("Protocol error: ..."); the connection is then closed, as Redis does.
// Thread-compatible: one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace shoal::resp {

struct ParserLimits {
  std::size_t args_max = 1024 * 1024;                   // arguments in one command
  std::size_t bulk_bytes_max = 16 * 1024 * 1024;        // one argument
  std::size_t inline_bytes_max = 64 * 1024;             // one inline command line
  std::size_t command_bytes_max = 64ull * 1024 * 1024;  // all arguments of one command
};

using Command = std::vector<std::string>;

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Reads at most one command from the front of `input`. Sets `consumed` to
  // the bytes it used (they may be dropped from the buffer even when no
  // command is complete yet: the parser keeps what it read). Returns the
  // command when one is complete, nullopt when it needs more input, or an
  // Errc::malformed / too_large error whose message is Redis' reply text.
  Result<std::optional<Command>> parse(std::string_view input, std::size_t& consumed);

  // How many more bytes the parser is sure to need (0 when unknown): a
  // connection may buffer up to this much before calling again.
  std::size_t bytes_wanted() const { return bulk_len_ >= 0 ? static_cast<std::size_t>(bulk_len_) + 2 : 0; }

 private:
  Result<std::optional<Command>> parse_inline(std::string_view input, std::size_t& consumed);

  ParserLimits limits_;
  // Multibulk state: the count announced, the arguments read so far, and
  // the length of the bulk string whose header was read (-1: none).
  std::int64_t args_expected_ = -1;
  Command args_;
  std::int64_t bulk_len_ = -1;
  std::size_t args_bytes_ = 0;  // of args_
};

// Redis' string2ll: an optional '-', then digits, nothing else, no overflow
// (so "+1", " 1" and "1.0" are not integers). Used for counts and arguments.
std::optional<std::int64_t> parse_integer(std::string_view text);

// Splits an inline command line as Redis' sdssplitargs does: blanks separate
// arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes;
// 'single quotes' take \' only. nullopt for unbalanced quotes (or a closing
// quote not followed by a blank).
std::optional<Command> split_inline(std::string_view line);

}  // namespace shoal::resp
