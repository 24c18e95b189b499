// The RESP request parser: every form Redis accepts, input split at every
// byte, and every bound and malformation turned into Redis' own error.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>

#include "resp/commands.hpp"
#include "resp/parser.hpp"
#include "resp/reply.hpp"

using namespace shoal;
using shoal::resp::Command;
using shoal::resp::ParserLimits;
using shoal::resp::RequestParser;

namespace {

// Feeds `input` in pieces of the given sizes (the last piece takes the
// rest), as a connection would: unconsumed bytes stay buffered.
Result<std::vector<Command>> feed(std::string_view input, const std::vector<std::size_t>& pieces,
                                  ParserLimits limits = {}) {
  RequestParser parser(limits);
  std::vector<Command> out;
  std::string buffer;
  std::size_t at = 0;
  for (std::size_t i = 0; at < input.size() || i == 0; ++i) {
    std::size_t n = i < pieces.size() ? pieces[i] : input.size() - at;
    n = std::min(n, input.size() - at);
    buffer.append(input.substr(at, n));
    at += n;
    for (;;) {
      std::size_t consumed = 0;
      auto r = parser.parse(buffer, consumed);
      if (!r) return r.error();
      buffer.erase(0, consumed);
      if (r.value()) {
        out.push_back(std::move(*r.value()));
        continue;
      }
      if (consumed == 0) break;
    }
    if (i > input.size() + 2) break;
  }
  if (!buffer.empty()) return make_error(Errc::malformed, "left over: " + buffer);
  return out;
}

Result<std::vector<Command>> feed_all(std::string_view input, ParserLimits limits = {}) {
  return feed(input, {input.size()}, limits);
}

}  // namespace

TEST_CASE("resp parser: multibulk commands, pipelined, split at every byte", "[resp]") {
  using namespace std::string_literals;
  const std::string input =  // the last argument is binary: CR LF and NUL inside
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
      "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
      "*1\r\n$0\r\n\r\n"
      "*2\r\n$4\r\nECHO\r\n$6\r\na\r\nb\0c\r\n"s;
  std::vector<Command> want = {{"SET", "k", "hello"}, {"GET", "k"}, {""}, {"ECHO", std::string("a\r\nb\0c", 6)}};
  auto whole = feed_all(input);
  REQUIRE(whole);
  CHECK(whole.value() == want);
  for (std::size_t split = 1; split < input.size(); ++split) {
    auto r = feed(input, {split});
    INFO("split at " << split);
    REQUIRE(r);
    CHECK(r.value() == want);
  }
  // One byte at a time.
  auto bytes = feed(input, std::vector<std::size_t>(input.size(), 1));
  REQUIRE(bytes);
  CHECK(bytes.value() == want);
}

TEST_CASE("resp parser: inline commands as telnet users type them", "[resp]") {
  auto r = feed_all("PING\r\nset  k   \"a b\\x41\\n\"\r\nGET 'it''s'\r\n\r\n  \r\necho 'don\\'t'\n");
  REQUIRE_FALSE(r);  // 'it''s': a closing quote must be followed by a blank
  auto ok = feed_all("PING\r\nset  k   \"a b\\x41\\n\"\r\n\r\n  \r\necho 'don\\'t'\n*1\r\n$4\r\nPING\r\n");
  REQUIRE(ok);
  std::vector<Command> want = {{"PING"}, {"set", "k", "a bA\n"}, {"echo", "don't"}, {"PING"}};
  CHECK(ok.value() == want);
  auto unbalanced = feed_all("SET k \"open\r\n");
  REQUIRE_FALSE(unbalanced);
  CHECK(unbalanced.error().message == "Protocol error: unbalanced quotes in request");
  CHECK(resp::split_inline("a \"\" b") == Command{"a", "", "b"});
}

TEST_CASE("resp parser: malformed input gets Redis' protocol errors", "[resp]") {
  auto error_of = [](std::string_view input, ParserLimits limits = {}) {
    auto r = feed_all(input, limits);
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error_of("*x\r\n") == "Protocol error: invalid multibulk length");
  CHECK(error_of("*2000000\r\n") == "Protocol error: invalid multibulk length");
  CHECK(error_of("*1\r\n+GET\r\n") == "Protocol error: expected '$', got '+'");
  CHECK(error_of("*1\r\n$-1\r\n") == "Protocol error: invalid bulk length");
  CHECK(error_of("*1\r\n$abc\r\n") == "Protocol error: invalid bulk length");
  CHECK(error_of("*1\r\n$3\r\nGETXX") == "Protocol error: expected CRLF after a bulk string");
  CHECK(error_of("*" + std::string(40, '1')) == "Protocol error: too big mbulk count string");
  CHECK(error_of("*1\r\n$" + std::string(40, '1')) == "Protocol error: too big bulk count string");
  ParserLimits small;
  small.args_max = 2;
  small.bulk_bytes_max = 8;
  small.inline_bytes_max = 16;
  CHECK(error_of("*3\r\n", small) == "Protocol error: invalid multibulk length");
  CHECK(error_of("*1\r\n$9\r\n", small).starts_with("Protocol error: invalid bulk length"));
  CHECK(error_of(std::string(17, 'a'), small) == "Protocol error: too big inline request");
  CHECK(error_of("a b c\r\n", small) == "Protocol error: invalid multibulk length");
  // A bulk over the limit is refused before its bytes arrive.
  RequestParser parser(small);
  std::size_t consumed = 0;
  auto r = parser.parse("*1\r\n$1000000000\r\n", consumed);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::too_large);
}

TEST_CASE("resp parser: random bytes never crash it and every error is a protocol error", "[resp]") {
  std::mt19937 rng(7);
  const std::string seed = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET \"k\"\r\n";
  for (int round = 0; round < 20000; ++round) {
    std::string input = seed;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % input.size();
      switch (rng() % 3) {
        case 0:
          input[at] = static_cast<char>(rng());
          break;
        case 1:
          input.erase(at, 1 + rng() % 3);
          break;
        default:
          input.insert(at, 1, "*$\r\n0123456789-\" "[rng() % 17]);
          break;
      }
      if (input.empty()) input = "x";
    }
    std::vector<std::size_t> pieces;
    for (std::size_t i = 0; i < 4; ++i) pieces.push_back(1 + rng() % 16);
    auto r = feed(input, pieces);
    if (!r && r.error().message.rfind("left over", 0) != 0) CHECK(r.error().message.rfind("Protocol error", 0) == 0);
  }
}

TEST_CASE("resp glob matching follows Redis' rules", "[resp]") {
  using resp::glob_match;
  CHECK(glob_match("*", ""));
  CHECK(glob_match("user:*", "user:42"));
  CHECK_FALSE(glob_match("user:*", "users"));
  CHECK(glob_match("h?llo", "hello"));
  CHECK(glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("h[a-c]llo", "hbllo"));
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));
  CHECK(glob_match("*a*b*", "xxaybzz"));
}

TEST_CASE("resp replies in RESP2 and RESP3", "[resp]") {
  resp::ReplyWriter two(2), three(3);
  two.null().map(1).bulk("a").integer(1).set(0).null_array();
  three.null().map(1).bulk("a").integer(1).set(0).null_array();
  CHECK(two.take() == "$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*0\r\n*-1\r\n");
  CHECK(three.take() == "_\r\n%1\r\n$1\r\na\r\n:1\r\n~0\r\n_\r\n");
}

TEST_CASE("resp glob matching takes polynomial time whatever the pattern", "[resp]") {
  const std::string text(300, 'a');
  auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(resp::glob_match("*a*a*a*a*a*a*a*a*a*a*b", text));
  CHECK(resp::glob_match("*a*a*a*a*a*a*a*a*a*a*", text));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
}

TEST_CASE("resp parser: one command's arguments are bounded in total", "[resp]") {
  ParserLimits limits;
  limits.bulk_bytes_max = 100;
  limits.command_bytes_max = 250;
  std::string three = "*3\r\n$100\r\n" + std::string(100, 'a') + "\r\n$100\r\n" + std::string(100, 'b') +
                      "\r\n$100\r\n" + std::string(100, 'c') + "\r\n";
  auto r = feed_all(three, limits);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::too_large);
  CHECK(r.error().message == "Protocol error: the command's arguments exceed 250 bytes");
  limits.command_bytes_max = 300;
  CHECK(feed_all(three, limits));
}
