// Failpoints: named spots where a test or the chaos tool makes the code fail.
//
// Compiled into every build; inert until the process calls `enable()` (shoald
// does it for `--enable-failpoints`, tests call it directly), so a production
// node cannot be made to fail by a stray configuration. While no failpoint is
// set, `eval` costs one relaxed atomic load.
//
// A spec follows fail-rs / FreeBSD fail(9): `[P%][N*]action[(arg)]`
//   error          return an injected error from the spot
//   throw          throw failpoint::Injected (tests the actor crash path)
//   delay(ms)      sleep, then continue normally
//   drop           the spot silently drops what it was doing (messages)
//   abort          std::abort() the process (a crash at exactly that point)
//   off            disarm
// `50%error` fires half the time, `3*error` fires three times then disarms.
// Thread-safe.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace shoal::failpoint {

enum class Action { none, error, throw_exception, delay, drop, abort };

struct Injected : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Arms the registry. Before this, set() and configure() fail.
void enable();
bool enabled();

Result<void> set(std::string_view name, std::string_view spec);
// A list of `name=spec` separated by ';' (the form of --failpoints and of the
// SHOAL_FAILPOINTS environment variable).
Result<void> configure(std::string_view list);
void clear(std::string_view name);
void clear_all();

// Evaluates the failpoint `name`. `delay` sleeps here and returns none;
// `abort` never returns. The caller acts on error/throw_exception/drop,
// usually through `check`.
Action eval(std::string_view name);

// For spots that can fail with a Result: error -> Errc::injected,
// throw -> throws Injected, drop -> Errc::injected too.
Result<void> check(std::string_view name);

// How many times `name` fired since it was set.
std::uint64_t fired_count(std::string_view name);

}  // namespace shoal::failpoint
