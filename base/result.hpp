// Errors as values, shared by every Shoal library.
//
// Operating errors (bad input, not found, disk full, timeouts) travel as
// `Result<T>`: a boost::outcome result holding either a T or an `Error` with a
// code a program can branch on and a message a person can act on. Broken
// invariants are not errors: they are asserted with SHOAL_ASSERT and crash
// the actor, whose supervisor restarts it. Header-only; values are
// thread-compatible (like std::string).
#pragma once

#include <boost/outcome/result.hpp>
#include <boost/outcome/try.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace shoal {

// One code space for the whole system. Codes are part of the wire protocol
// (later issues send them to clients), so values are never reused.
enum class Errc : int {
  invalid_argument = 1,     // caller passed something the API does not accept
  not_found = 2,            // the thing asked for does not exist
  precondition_failed = 3,  // op not valid in the current state (e.g. remove of an absent element)
  malformed = 4,            // bytes that do not decode (truncated, corrupted, wrong type)
  too_large = 5,            // over a configured limit
  unsupported_version = 6,  // an encoding or on-disk format this build cannot read
  io_error = 7,             // the operating system reported an I/O failure
  disk_full = 8,            // no space left: refuse writes, keep serving reads
  corruption = 9,           // stored data failed a consistency check
  busy = 10,                // a resource is held by someone else (e.g. a locked data directory)
  timeout = 11,
  unavailable = 12,  // not enough replicas or nodes to do it
  overloaded = 13,
  injected = 14,          // a failpoint fired
  unknown_outcome = 15,   // a write timed out after it was sent: it may or may not have been applied
  refused = 16,           // a peer or a data directory that does not belong to this cluster
  shutting_down = 17,     // the node is stopping and takes no new requests
  wrong_type = 18,        // the key holds another datatype (a bucket type of datatype any)
  condition_failed = 19,  // a conditional write's condition did not hold: nothing was written
};

std::string_view errc_name(Errc code);

struct Error {
  Errc code;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
  std::string to_string() const { return std::string(errc_name(code)) + ": " + message; }
};

// Accessing the value of a failed Result (or the error of a good one) is a
// programmer error: the policy terminates the process.
template <typename T>
using Result = boost::outcome_v2::result<T, Error, boost::outcome_v2::policy::terminate>;

inline auto ok() { return boost::outcome_v2::success(); }

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

inline std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_found:
      return "not_found";
    case Errc::precondition_failed:
      return "precondition_failed";
    case Errc::malformed:
      return "malformed";
    case Errc::too_large:
      return "too_large";
    case Errc::unsupported_version:
      return "unsupported_version";
    case Errc::io_error:
      return "io_error";
    case Errc::disk_full:
      return "disk_full";
    case Errc::corruption:
      return "corruption";
    case Errc::busy:
      return "busy";
    case Errc::timeout:
      return "timeout";
    case Errc::unavailable:
      return "unavailable";
    case Errc::overloaded:
      return "overloaded";
    case Errc::injected:
      return "injected";
    case Errc::unknown_outcome:
      return "unknown_outcome";
    case Errc::refused:
      return "refused";
    case Errc::shutting_down:
      return "shutting_down";
    case Errc::wrong_type:
      return "wrong_type";
    case Errc::condition_failed:
      return "condition_failed";
  }
  return "unknown";
}

[[noreturn]] inline void assertion_failed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "shoal: assertion failed: %s (%s) at %s:%d\n", expr, msg, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace shoal

// Always on, in every build: an invariant that does not hold means the state
// is bad, and continuing would spread the damage.
#define SHOAL_ASSERT(expr, msg)                                    \
  do {                                                             \
    if (!(expr)) [[unlikely]]                                      \
      ::shoal::assertion_failed(#expr, __FILE__, __LINE__, (msg)); \
  } while (0)

// SHOAL_TRY(x, expr): evaluate expr (a Result); on error return the error
// from the enclosing function (which returns any Result), else declare x as
// its value. SHOAL_TRYV(expr) does the same for Result<void>.
#define SHOAL_CONCAT_INNER(a, b) a##b
#define SHOAL_CONCAT(a, b) SHOAL_CONCAT_INNER(a, b)
#define SHOAL_TRY(var, ...)                                                                     \
  auto&& SHOAL_CONCAT(shoal_try_, __LINE__) = (__VA_ARGS__);                                    \
  if (!SHOAL_CONCAT(shoal_try_, __LINE__))                                                      \
    return ::boost::outcome_v2::failure(std::move(SHOAL_CONCAT(shoal_try_, __LINE__)).error()); \
  auto var = std::move(SHOAL_CONCAT(shoal_try_, __LINE__)).value()
#define SHOAL_TRYV(...)                                                                    \
  do {                                                                                     \
    auto&& shoal_tryv_ = (__VA_ARGS__);                                                    \
    if (!shoal_tryv_) return ::boost::outcome_v2::failure(std::move(shoal_tryv_).error()); \
  } while (0)
