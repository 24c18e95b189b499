#include "resp/parser.hpp"

#include <cctype>
#include <charconv>

namespace shoal::resp {

namespace {

// A count line ("*3", "$10") longer than this is not RESP.
constexpr std::size_t kCountLineBytesMax = 32;

Error protocol_error(std::string what) { return make_error(Errc::malformed, "Protocol error: " + std::move(what)); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_blank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

}  // namespace

std::optional<std::int64_t> parse_integer(std::string_view text) {
  if (text.empty() || text.size() > 20 || text[0] == '+') return std::nullopt;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

std::optional<Command> split_inline(std::string_view line) {
  Command args;
  std::size_t i = 0;
  for (;;) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) return args;
    std::string current;
    bool in_double = false, in_single = false, done = false;
    while (!done) {
      if (in_double) {
        if (i == line.size()) return std::nullopt;  // unterminated quotes
        if (line[i] == '\\' && i + 3 < line.size() && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          current.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 3;
        } else if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          switch (line[i]) {
            case 'n':
              current.push_back('\n');
              break;
            case 'r':
              current.push_back('\r');
              break;
            case 't':
              current.push_back('\t');
              break;
            case 'b':
              current.push_back('\b');
              break;
            case 'a':
              current.push_back('\a');
              break;
            default:
              current.push_back(line[i]);
              break;
          }
        } else if (line[i] == '"') {
          // A closing quote must be followed by a blank or the end.
          if (i + 1 < line.size() && !is_blank(line[i + 1])) return std::nullopt;
          done = true;
        } else {
          current.push_back(line[i]);
        }
      } else if (in_single) {
        if (i == line.size()) return std::nullopt;
        if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '\'') {
          ++i;
          current.push_back('\'');
        } else if (line[i] == '\'') {
          if (i + 1 < line.size() && !is_blank(line[i + 1])) return std::nullopt;
          done = true;
        } else {
          current.push_back(line[i]);
        }
      } else {
        if (i == line.size()) {
          done = true;
          break;
        }
        switch (line[i]) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\v':
          case '\f':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            current.push_back(line[i]);
            break;
        }
      }
      if (i < line.size()) ++i;
    }
    args.push_back(std::move(current));
  }
}

Result<std::optional<Command>> RequestParser::parse_inline(std::string_view input, std::size_t& consumed) {
  std::string_view rest = input.substr(consumed);
  auto nl = rest.find('\n');
  if (nl == std::string_view::npos) {
    if (rest.size() > limits_.inline_bytes_max) return protocol_error("too big inline request");
    return std::optional<Command>{};
  }
  if (nl > limits_.inline_bytes_max) return protocol_error("too big inline request");
  std::string_view line = rest.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto args = split_inline(line);
  if (!args) return protocol_error("unbalanced quotes in request");
  if (args->size() > limits_.args_max) return protocol_error("invalid multibulk length");
  consumed += nl + 1;
  if (args->empty()) return std::optional<Command>{};  // an empty line is skipped, as Redis does
  return std::optional<Command>{std::move(*args)};
}

Result<std::optional<Command>> RequestParser::parse(std::string_view input, std::size_t& consumed) {
  consumed = 0;
  for (;;) {
    if (args_expected_ < 0) {
      if (consumed == input.size()) return std::optional<Command>{};
      if (input[consumed] != '*') {
        const std::size_t before = consumed;
        auto line = parse_inline(input, consumed);
        if (!line || line.value() || consumed == before) return line;
        continue;
      }
      std::string_view rest = input.substr(consumed);
      auto end = rest.find("\r\n");
      if (end == std::string_view::npos) {
        if (rest.size() > kCountLineBytesMax) return protocol_error("too big mbulk count string");
        return std::optional<Command>{};
      }
      auto count = parse_integer(rest.substr(1, end - 1));
      if (!count || *count > static_cast<std::int64_t>(limits_.args_max))
        return protocol_error("invalid multibulk length");
      consumed += end + 2;
      if (*count <= 0) continue;  // an empty command: skipped, as Redis does
      args_expected_ = *count;
      args_.clear();
      args_bytes_ = 0;
      args_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(*count, 1024)));
    }
    while (static_cast<std::int64_t>(args_.size()) < args_expected_) {
      std::string_view rest = input.substr(consumed);
      if (bulk_len_ < 0) {
        if (rest.empty()) return std::optional<Command>{};
        if (rest[0] != '$') {
          std::string got(1, rest[0]);
          if (!std::isprint(static_cast<unsigned char>(rest[0])))
            got = "\\x" + std::to_string(static_cast<unsigned char>(rest[0]));
          return protocol_error("expected '$', got '" + got + "'");
        }
        auto end = rest.find("\r\n");
        if (end == std::string_view::npos) {
          if (rest.size() > kCountLineBytesMax) return protocol_error("too big bulk count string");
          return std::optional<Command>{};
        }
        auto len = parse_integer(rest.substr(1, end - 1));
        if (!len || *len < 0) return protocol_error("invalid bulk length");
        if (static_cast<std::uint64_t>(*len) > limits_.bulk_bytes_max)
          return make_error(Errc::too_large, "Protocol error: invalid bulk length (" + std::to_string(*len) +
                                                 " bytes, over the limit of " + std::to_string(limits_.bulk_bytes_max) +
                                                 ")");
        if (args_bytes_ + static_cast<std::uint64_t>(*len) > limits_.command_bytes_max)
          return make_error(Errc::too_large, "Protocol error: the command's arguments exceed " +
                                                 std::to_string(limits_.command_bytes_max) + " bytes");
        bulk_len_ = *len;
        consumed += end + 2;
        rest = input.substr(consumed);
      }
      const auto len = static_cast<std::size_t>(bulk_len_);
      if (rest.size() < len + 2) return std::optional<Command>{};
      if (rest[len] != '\r' || rest[len + 1] != '\n') return protocol_error("expected CRLF after a bulk string");
      args_.emplace_back(rest.substr(0, len));
      args_bytes_ += len;
      consumed += len + 2;
      bulk_len_ = -1;
    }
    args_expected_ = -1;
    return std::optional<Command>{std::move(args_)};
  }
}

}  // namespace shoal::resp
