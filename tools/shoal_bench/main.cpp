// shoal-bench: the Shoal benchmark client. It runs YCSB's core workloads
// (A, B, C, F) and two CRDT workloads against a cluster through the client
// library and reports throughput and latency percentiles per operation.
//
//   shoal-bench -h 127.0.0.1:8101,127.0.0.1:8102 --workload a --time 30 --clients 32
//   shoal-bench -h 127.0.0.1:8101 --workload b --rate 5000 --json
//
// Workloads (keys "user<N>" in bucket "usertable", N chosen by YCSB's
// scrambled zipfian with constant 0.99 over --records, see key_chooser.hpp):
//   a        50% read, 50% update          b  95% read, 5% update
//   c        100% read                     f  50% read, 50% read-modify-write
//   counter  counter increments (type `counters`)
//   set      adds of unique elements to sets (type `sets`)
// A record is --fields fields of --field-bytes bytes in one JSON value
// (record.hpp). On a bucket type with allow_mult=true an update reads the
// record and writes it back with the context it read (one operation, two
// round trips), so a hot key holds at most about as many siblings as it has
// concurrent writers instead of one per write ever made; the report counts
// the reads that saw siblings. Inserts read first too, so loading again adds
// none. On a type with allow_mult=false (`lww`) updates and inserts are
// blind writes and the report says so.
// Workload F's read-modify-write always reads, then writes with the context.
//
// Phases: a load phase inserts every record (--no-load skips it,
// --load-only stops after it), then the run phase lasts --time seconds after
// an optional --warmup. Closed loop (default): each of --clients virtual
// clients issues its next operation when the previous completes, all on the
// client library's I/O thread, so thousands of clients cost no threads.
// Open loop (--rate OPS): operations are due at fixed intervals whatever the
// cluster does, each is sent when due (up to --in-flight-max at once) and its
// latency runs from the time it was *due*, so a stall is charged to every
// operation it delayed (no coordinated omission); the report says whether the
// rate was kept.
//
// Only successful operations count toward throughput; errors are counted by
// kind (timeout, unknown_outcome, unavailable, overloaded, other). A virtual
// client pauses up to 10 ms after an error so a down cluster is not spun on.
// A phase whose errors exceed 0.1% of its operations fails the run. A read
// that finds no record is a success (counted as "not found"). An operation
// belongs to the window it started in: when the time is up no new ones start
// and the measured time runs until the last one ends (a bounded wait; any
// still without an outcome then count as errors), so a stall at the very end
// is charged to the run rather than dropped.
//
// Output: progress once a second on stderr; the report on stdout, as text
// ending with the lines `errors: N` and `throughput: N ops/s`, or with --json
// as one JSON object. Ctrl-C (or SIGTERM) ends the phase early and still
// prints the report; a second Ctrl-C kills the process.
// Exit status: 0 success, 1 the run failed (error limit, cluster unreachable,
// nothing completed, interrupted during the load), 2 usage error.
//
// Links only the client library. Threads: the main thread schedules and
// reports; operation callbacks run on the client's I/O thread.
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/client/client.hpp"
#include "tools/common/json.hpp"
#include "tools/shoal_bench/histogram.hpp"
#include "tools/shoal_bench/key_chooser.hpp"
#include "tools/shoal_bench/record.hpp"

namespace shoal::bench {
namespace {

using client::Client;
using client::Key;
using net::ObjectView;
using net::Quorum;
using net::RequestOptions;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr double kErrorRateMax = 0.001;   // a phase with more errors than this fails
constexpr std::int64_t kTickUs = 10'000;  // the main loop's period (and the pause after an error)
constexpr std::int64_t kProgressIntervalUs = 1'000'000;
constexpr std::int64_t kDrainPollUs = 1'000;    // fine, since the wait is part of the measured time
constexpr std::size_t kErrorSamplesMax = 5;     // distinct error messages kept for the report
constexpr double kOpenLoopBacklogMax = 0.01;    // due but never sent, as a share of the schedule
constexpr double kOpenLoopCompletedMin = 0.95;  // completions per second, as a share of the target rate

// Argument bounds.
constexpr std::uint64_t kRecordsMax = 1'000'000'000;
constexpr std::uint32_t kClientsMax = 100'000;
constexpr std::uint32_t kFieldsMax = 1'000;
constexpr std::uint32_t kFieldBytesMax = 1u << 20;
constexpr std::uint64_t kRecordBytesMax = 16u << 20;  // the server's default value limit
constexpr double kSecondsMax = 7 * 24 * 3600.0;
constexpr double kRateMax = 10'000'000;
constexpr std::uint64_t kInFlightMax = 1'000'000;
constexpr std::uint32_t kTimeoutMsMin = 10;
constexpr std::uint32_t kRetriesMax = 10;

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sleep_us(std::int64_t us) {
  if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
}

std::string format(const char* pattern, auto... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, pattern, args...);
  return buffer;
}

double per_second(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

// ---- operations, errors and workloads -----------------------------------------------

enum class OpKind : std::uint8_t { read, update, insert, read_modify_write, increment, add };
constexpr std::size_t kOpKinds = 6;
constexpr std::array<std::string_view, kOpKinds> kOpNames = {"read",      "update", "insert", "read-modify-write",
                                                             "increment", "add"};
std::size_t index_of(OpKind kind) { return static_cast<std::size_t>(kind); }

enum class ErrorKind : std::uint8_t { timeout, unknown_outcome, unavailable, overloaded, other };
constexpr std::size_t kErrorKinds = 5;
constexpr std::array<std::string_view, kErrorKinds> kErrorKindNames = {"timeout", "unknown_outcome", "unavailable",
                                                                       "overloaded", "other"};

ErrorKind classify(Errc code) {
  switch (code) {
    case Errc::timeout:
      return ErrorKind::timeout;
    case Errc::unknown_outcome:
      return ErrorKind::unknown_outcome;
    case Errc::unavailable:
    case Errc::shutting_down:
      return ErrorKind::unavailable;
    case Errc::overloaded:
      return ErrorKind::overloaded;
    default:
      return ErrorKind::other;
  }
}

struct Workload {
  std::string_view name;
  std::string_view description;
  // Shares of the run phase's operations (they sum to 1).
  double read = 0;
  double update = 0;
  double read_modify_write = 0;
  double increment = 0;
  double add = 0;
  crdt::Datatype datatype = crdt::Datatype::plain;
  std::string_view default_bucket_type = "default";
};

constexpr Workload kWorkloads[] = {
    {"a", "update heavy: 50% read, 50% update", 0.5, 0.5, 0, 0, 0, crdt::Datatype::plain, "default"},
    {"b", "read mostly: 95% read, 5% update", 0.95, 0.05, 0, 0, 0, crdt::Datatype::plain, "default"},
    {"c", "read only: 100% read", 1.0, 0, 0, 0, 0, crdt::Datatype::plain, "default"},
    {"f", "read-modify-write: 50% read, 50% read-modify-write", 0.5, 0, 0.5, 0, 0, crdt::Datatype::plain, "default"},
    {"counter", "CRDT counter increments", 0, 0, 0, 1.0, 0, crdt::Datatype::counter, "counters"},
    {"set", "CRDT set adds of unique elements", 0, 0, 0, 0, 1.0, crdt::Datatype::set, "sets"},
};

std::string_view datatype_name(crdt::Datatype datatype) {
  switch (datatype) {
    case crdt::Datatype::plain:
      return "plain";
    case crdt::Datatype::counter:
      return "counter";
    case crdt::Datatype::set:
      return "set";
    case crdt::Datatype::map:
      return "map";
    case crdt::Datatype::register_:
      return "register";
    case crdt::Datatype::flag:
      return "flag";
    case crdt::Datatype::hll:
      return "hll";
    case crdt::Datatype::mv_register:
      return "mvregister";
  }
  return "unknown";
}

OpKind choose_op(const Workload& workload, Random& random) {
  double u = random.next_double();
  if ((u -= workload.read) < 0) return OpKind::read;
  if ((u -= workload.update) < 0) return OpKind::update;
  if ((u -= workload.read_modify_write) < 0) return OpKind::read_modify_write;
  if ((u -= workload.increment) < 0) return OpKind::increment;
  if (workload.add > 0) return OpKind::add;
  // Rounding left u a hair above the sum: the last share present.
  if (workload.increment > 0) return OpKind::increment;
  if (workload.read_modify_write > 0) return OpKind::read_modify_write;
  return workload.update > 0 ? OpKind::update : OpKind::read;
}

// ---- settings ------------------------------------------------------------------------

enum class Distribution : std::uint8_t { zipfian, uniform };

struct Settings {
  std::vector<std::string> hosts;
  const Workload* workload = nullptr;
  std::string bucket_type;  // empty: the workload's default
  std::string bucket = "usertable";
  std::optional<Quorum> r, w, dw;
  std::uint64_t records = 10'000;
  RecordShape shape;
  Distribution distribution = Distribution::zipfian;
  double zipf_constant = KeyChooser::kYcsbConstant;
  double run_seconds = 30;
  double warmup_seconds = 0;
  std::uint32_t clients = 32;
  std::optional<double> rate;  // open loop when set
  std::uint64_t in_flight_max = 10'000;
  bool load = true;
  bool run = true;
  std::uint32_t timeout_ms = 5'000;
  std::uint32_t retries = 2;
  std::uint64_t seed = 0;
  bool json = false;
};

constexpr const char* kUsage =
    "usage: shoal-bench -h HOST:PORT[,HOST:PORT...] --workload a|b|c|f|counter|set [options]\n"
    "\n"
    "Workloads (YCSB core workloads, zipfian key choice, and two CRDT workloads):\n"
    "  a        50% read, 50% update              b        95% read, 5% update\n"
    "  c        100% read                         f        50% read, 50% read-modify-write\n"
    "  counter  counter increments (type counters) set      adds of unique elements (type sets)\n"
    "\n"
    "Options:\n"
    "  -h, --hosts HOST:PORT,...  client addresses of the nodes (required)\n"
    "  --workload W               the workload (required)\n"
    "  --type T                   bucket type (default: default; counters or sets for the CRDT workloads)\n"
    "  --bucket B                 bucket (default usertable)\n"
    "  --r R, --w W, --dw D       quorums sent with each request: a number, one, quorum, all, default\n"
    "  --records N                records in the key space, also for counter and set (default 10000)\n"
    "  --fields N                 fields per record (default 10)\n"
    "  --field-bytes N            bytes per field (default 100)\n"
    "  --distribution D           key choice: zipfian (default) or uniform\n"
    "  --zipf-constant C          zipfian constant, 0 < C < 1 (default 0.99)\n"
    "  --time SECONDS             measured length of the run phase (default 30)\n"
    "  --warmup SECONDS           run this long before measuring (default 0)\n"
    "  --clients C                concurrent virtual clients (default 32)\n"
    "  --rate OPS                 open loop: OPS operations per second in total; latency is measured\n"
    "                             from each operation's scheduled start\n"
    "  --in-flight-max N          open loop: operations in flight at most (default 10000)\n"
    "  --no-load                  skip the load phase (the records exist already)\n"
    "  --load-only                load the records, report, and stop\n"
    "  --timeout-ms MS            per-attempt request timeout (default 5000)\n"
    "  --retries N                client retries of requests that are safe to retry (default 2)\n"
    "  --seed N                   random seed (default: random; the report prints it)\n"
    "  --json                     print the report as one JSON object\n"
    "  --help                     print this text\n"
    "\n"
    "Exit status: 0 success; 1 the run failed (errors over 0.1% of operations, cluster unreachable,\n"
    "nothing completed, interrupted load); 2 usage error.\n";

Result<std::uint64_t> parse_uint(std::string_view flag, std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n < min || n > max)
    return make_error(Errc::invalid_argument, std::string(flag) + " takes a whole number from " + std::to_string(min) +
                                                  " to " + std::to_string(max) + ", not '" + std::string(text) + "'");
  return n;
}

// A number in (min, max] when min_exclusive, else [min, max].
Result<double> parse_double(std::string_view flag, std::string_view text, double min, double max, bool min_exclusive) {
  double x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  bool in_range = std::isfinite(x) && (min_exclusive ? x > min : x >= min) && x <= max;
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !in_range) {
    char bounds[96];
    std::snprintf(bounds, sizeof bounds, "%s %g and at most %g", min_exclusive ? "above" : "at least", min, max);
    return make_error(Errc::invalid_argument,
                      std::string(flag) + " takes a number " + bounds + ", not '" + std::string(text) + "'");
  }
  return x;
}

Result<std::vector<std::string>> parse_hosts(std::string_view text) {
  std::vector<std::string> hosts;
  while (true) {
    auto comma = text.find(',');
    std::string_view host = text.substr(0, comma);
    auto colon = host.rfind(':');
    if (host.empty() || colon == std::string_view::npos || colon == 0)
      return make_error(Errc::invalid_argument, "-h: '" + std::string(host) + "' must be HOST:PORT");
    if (!parse_uint("port", host.substr(colon + 1), 1, 65535))
      return make_error(Errc::invalid_argument,
                        "-h: '" + std::string(host) + "' needs a port from 1 to 65535 after the ':'");
    hosts.emplace_back(host);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return hosts;
}

Result<Settings> parse_settings(const std::vector<std::string>& args) {
  Settings s;
  bool rate_given = false, in_flight_given = false, seed_given = false;
  bool no_load = false, load_only = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) return make_error(Errc::invalid_argument, flag + " needs a value");
      return args[++i];
    };
    auto quorum = [&](std::optional<Quorum>& slot) -> Result<void> {
      SHOAL_TRY(text, value());
      auto q = Quorum::parse(text);
      if (!q) return make_error(Errc::invalid_argument, flag + ": " + q.error().message);
      if (q.value().kind == Quorum::Kind::count && q.value().count == 0)
        return make_error(Errc::invalid_argument, flag + " must be at least 1");
      slot = q.value();
      if (slot->kind == Quorum::Kind::default_) slot.reset();
      return ok();
    };
    auto flag_without_value = [&]() -> Result<void> {
      if (inline_value) return make_error(Errc::invalid_argument, flag + " takes no value");
      return ok();
    };
    if (flag == "-h" || flag == "--hosts" || flag == "--host") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(hosts, parse_hosts(text));
      s.hosts.insert(s.hosts.end(), hosts.begin(), hosts.end());
    } else if (flag == "--workload") {
      SHOAL_TRY(text, value());
      s.workload = nullptr;
      for (const auto& w : kWorkloads)
        if (text == w.name) s.workload = &w;
      if (!s.workload)
        return make_error(Errc::invalid_argument, "--workload '" + text + "' must be a, b, c, f, counter or set");
    } else if (flag == "--type") {
      SHOAL_TRY(text, value());
      if (text.empty()) return make_error(Errc::invalid_argument, "--type needs a bucket type name");
      s.bucket_type = text;
    } else if (flag == "--bucket") {
      SHOAL_TRY(text, value());
      if (text.empty() || text.size() > 255)
        return make_error(Errc::invalid_argument, "--bucket needs a name of 1 to 255 bytes");
      s.bucket = text;
    } else if (flag == "--r") {
      SHOAL_TRYV(quorum(s.r));
    } else if (flag == "--w") {
      SHOAL_TRYV(quorum(s.w));
    } else if (flag == "--dw") {
      SHOAL_TRYV(quorum(s.dw));
    } else if (flag == "--records") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 1, kRecordsMax));
      s.records = n;
    } else if (flag == "--fields") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 1, kFieldsMax));
      s.shape.fields = static_cast<std::uint32_t>(n);
    } else if (flag == "--field-bytes") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 1, kFieldBytesMax));
      s.shape.field_bytes = static_cast<std::uint32_t>(n);
    } else if (flag == "--distribution") {
      SHOAL_TRY(text, value());
      if (text == "zipfian") {
        s.distribution = Distribution::zipfian;
      } else if (text == "uniform") {
        s.distribution = Distribution::uniform;
      } else {
        return make_error(Errc::invalid_argument, "--distribution '" + text + "' must be zipfian or uniform");
      }
    } else if (flag == "--zipf-constant") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(x, parse_double(flag, text, 0, 0.999999, true));
      s.zipf_constant = x;
    } else if (flag == "--time") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(x, parse_double(flag, text, 0, kSecondsMax, true));
      s.run_seconds = x;
    } else if (flag == "--warmup") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(x, parse_double(flag, text, 0, kSecondsMax, false));
      s.warmup_seconds = x;
    } else if (flag == "--clients") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 1, kClientsMax));
      s.clients = static_cast<std::uint32_t>(n);
    } else if (flag == "--rate") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(x, parse_double(flag, text, 0, kRateMax, true));
      s.rate = x;
      rate_given = true;
    } else if (flag == "--in-flight-max") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 1, kInFlightMax));
      s.in_flight_max = n;
      in_flight_given = true;
    } else if (flag == "--no-load") {
      SHOAL_TRYV(flag_without_value());
      no_load = true;
    } else if (flag == "--load-only") {
      SHOAL_TRYV(flag_without_value());
      load_only = true;
    } else if (flag == "--timeout-ms") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, kTimeoutMsMin, net::kTimeoutMsMax));
      s.timeout_ms = static_cast<std::uint32_t>(n);
    } else if (flag == "--retries") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 0, kRetriesMax));
      s.retries = static_cast<std::uint32_t>(n);
    } else if (flag == "--seed") {
      SHOAL_TRY(text, value());
      SHOAL_TRY(n, parse_uint(flag, text, 0, UINT64_MAX));
      s.seed = n;
      seed_given = true;
    } else if (flag == "--json") {
      SHOAL_TRYV(flag_without_value());
      s.json = true;
    } else {
      return make_error(Errc::invalid_argument, "unknown option '" + args[i] + "'");
    }
  }
  if (s.hosts.empty()) return make_error(Errc::invalid_argument, "-h HOST:PORT[,HOST:PORT...] is required");
  if (!s.workload) return make_error(Errc::invalid_argument, "--workload a|b|c|f|counter|set is required");
  if (no_load && load_only) return make_error(Errc::invalid_argument, "--no-load and --load-only exclude each other");
  if (in_flight_given && !rate_given)
    return make_error(Errc::invalid_argument, "--in-flight-max applies to the open loop only (with --rate)");
  s.load = !no_load;
  s.run = !load_only;
  if (s.bucket_type.empty()) s.bucket_type = std::string(s.workload->default_bucket_type);
  if (s.workload->datatype == crdt::Datatype::plain && s.shape.encoded_bytes() > kRecordBytesMax)
    return make_error(Errc::invalid_argument, "a record of " + std::to_string(s.shape.fields) + " fields of " +
                                                  std::to_string(s.shape.field_bytes) + " bytes is over the " +
                                                  std::to_string(kRecordBytesMax) + "-byte value limit");
  if (!seed_given) s.seed = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  return s;
}

// ---- what the cluster says about the bucket type ---------------------------------------

struct Target {
  std::optional<std::uint32_t> n_val;
  std::string props;  // as the ring reports them; empty when unknown
  bool props_known = false;
  bool blind_writes = false;  // allow_mult=false: writes need not read first
};

std::map<std::string, std::string, std::less<>> split_props(std::string_view props) {
  std::map<std::string, std::string, std::less<>> out;
  while (!props.empty()) {
    auto comma = props.find(',');
    std::string_view item = props.substr(0, comma);
    if (auto eq = item.find('='); eq != std::string_view::npos)
      out.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    if (comma == std::string_view::npos) break;
    props.remove_prefix(comma + 1);
  }
  return out;
}

// Reads the bucket type from the ring and checks that it suits the workload.
// An unknown type or a datatype mismatch is a usage error.
Result<Target> inspect_target(Client& client, const Settings& s, std::vector<std::string>& warnings) {
  Target target;
  target.blind_writes = s.bucket_type == "lww";
  auto ring = client.ring();
  if (!ring) {
    warnings.push_back("could not read the ring (" + ring.error().to_string() +
                       "): n_val unknown and bucket type not checked");
    return target;
  }
  std::string defined;
  for (const auto& [name, props] : ring.value().bucket_types) {
    defined += (defined.empty() ? "" : ", ") + name;
    if (name != s.bucket_type) continue;
    target.props = props;
    target.props_known = true;
  }
  if (!target.props_known)
    return make_error(Errc::invalid_argument,
                      "bucket type '" + s.bucket_type + "' is not defined on the cluster (defined: " + defined + ")");
  auto props = split_props(target.props);
  if (auto it = props.find("n_val"); it != props.end())
    if (auto n = parse_uint("n_val", it->second, 1, UINT32_MAX)) target.n_val = static_cast<std::uint32_t>(n.value());
  if (auto it = props.find("allow_mult"); it != props.end()) target.blind_writes = it->second == "false";
  if (target.n_val)
    for (const auto& [flag, q] : {std::pair{"--r", s.r}, std::pair{"--w", s.w}, std::pair{"--dw", s.dw}})
      if (q && q->kind == Quorum::Kind::count && q->count > *target.n_val)
        return make_error(Errc::invalid_argument, std::string(flag) + " " + std::to_string(q->count) +
                                                      " exceeds n_val=" + std::to_string(*target.n_val) +
                                                      " of bucket type '" + s.bucket_type + "'");
  std::string datatype = "plain";
  if (auto it = props.find("datatype"); it != props.end()) datatype = it->second;
  std::string_view wanted = datatype_name(s.workload->datatype);
  if (datatype != wanted)
    return make_error(Errc::invalid_argument,
                      "workload " + std::string(s.workload->name) + " needs a bucket type of " +
                          (wanted == "plain" ? std::string("plain objects") : "datatype " + std::string(wanted)) +
                          ", but '" + s.bucket_type + "' holds " +
                          (datatype == "plain" ? std::string("plain objects") : "datatype " + datatype));
  return target;
}

// ---- statistics ------------------------------------------------------------------------

struct OpStats {
  LatencyHistogram latency;
  std::uint64_t ok = 0;
  std::uint64_t not_found = 0;  // reads that found no record (successes)
  std::array<std::uint64_t, kErrorKinds> errors{};
  std::uint64_t error_total() const {
    std::uint64_t n = 0;
    for (auto e : errors) n += e;
    return n;
  }
};

struct PhaseStats {
  std::array<OpStats, kOpKinds> ops;
  std::uint64_t reads_with_siblings = 0;  // reads (alone or before a write) that saw more than one sibling
  std::uint64_t siblings_max = 0;
  std::vector<std::string> error_samples;

  std::uint64_t ok() const {
    std::uint64_t n = 0;
    for (const auto& op : ops) n += op.ok;
    return n;
  }
  std::uint64_t errors() const {
    std::uint64_t n = 0;
    for (const auto& op : ops) n += op.error_total();
    return n;
  }
};

struct PhaseResult {
  std::string_view name;  // "load" or "run"
  PhaseStats stats;
  double seconds = 0;        // measured: from the window's start until its last operation ended
  double issue_seconds = 0;  // the part of it in which operations were started
  bool interrupted = false;
  std::uint64_t warmup_ok = 0;
  std::uint64_t warmup_errors = 0;
  // Started in the window but without an outcome when the drain limit ran
  // out: counted as errors.
  std::uint64_t abandoned = 0;
  // Open loop only.
  bool open_loop = false;
  std::uint64_t scheduled = 0;  // operations due while operations were being started
  std::uint64_t sent = 0;       // of those, sent
  std::uint64_t send_lag_max_us = 0;
  bool in_flight_cap_hit = false;
  bool rate_sustained = true;
  std::string rate_note;
};

// ---- the driver ------------------------------------------------------------------------

class Bench {
 public:
  Bench(Client& client, const Settings& settings, const Target& target)
      : client_(client),
        settings_(settings),
        workload_(*settings.workload),
        target_(target),
        keys_(settings.distribution == Distribution::uniform
                  ? KeyChooser::uniform(settings.records)
                  : KeyChooser::scrambled_zipfian(settings.records, settings.zipf_constant)) {
    read_options_.r = settings.r;
    write_options_.w = settings.w;
    write_options_.dw = settings.dw;
    put_options_.content_type = "application/json";
    put_options_.request = write_options_;
    // Set elements must be unique across runs too: a random prefix per run.
    std::uint64_t nonce = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "%016llx-", static_cast<unsigned long long>(nonce));
    element_prefix_ = prefix;
  }

  // Inserts records 0..records-1 with every client in a closed loop.
  PhaseResult load() {
    begin_phase(true, now_us());
    std::int64_t start = measure_from_us_.load();
    for (std::uint32_t c = 0; c < settings_.clients; ++c) issue_next(static_cast<std::int32_t>(c));
    std::int64_t next_progress = start + kProgressIntervalUs;
    std::uint64_t last_done = 0;
    while (!g_interrupted.load()) {
      std::uint64_t done = progress_ok_.load() + progress_errors_.load();
      if (done >= settings_.records) break;
      std::int64_t now = now_us();
      if (now >= next_progress) {
        std::fprintf(stderr, "[%6.1fs] load: %llu/%llu records, %llu ops/s, %llu errors\n",
                     static_cast<double>(now - start) / 1e6, static_cast<unsigned long long>(done),
                     static_cast<unsigned long long>(settings_.records),
                     static_cast<unsigned long long>(done - last_done),
                     static_cast<unsigned long long>(progress_errors_.load()));
        last_done = done;
        next_progress += kProgressIntervalUs;
      }
      resume_deferred();
      sleep_us(kTickUs);
    }
    PhaseResult result = end_phase("load", start);
    return result;
  }

  // The timed run: warmup, then --time seconds measured.
  PhaseResult run() {
    std::int64_t start = now_us();
    auto warmup_us = static_cast<std::int64_t>(settings_.warmup_seconds * 1e6);
    auto run_us = static_cast<std::int64_t>(settings_.run_seconds * 1e6);
    begin_phase(false, start + warmup_us);
    std::int64_t end = start + warmup_us + run_us;
    OpenLoop open;
    if (!settings_.rate) {
      for (std::uint32_t c = 0; c < settings_.clients; ++c) issue_next(static_cast<std::int32_t>(c));
    } else {
      open.interval_us = 1e6 / *settings_.rate;
      open.start_us = start;
    }
    std::int64_t next_progress = start + kProgressIntervalUs;
    std::uint64_t last_ok = 0;
    std::int64_t now = start;
    while (!g_interrupted.load()) {
      now = now_us();
      if (now >= end) break;
      if (settings_.rate) schedule_due(open, now);
      if (now >= next_progress) {
        std::uint64_t ok_so_far = progress_ok_.load();
        bool warming = now < measure_from_us_.load();
        std::fprintf(
            stderr,
            "[%6.1fs] run%s: %llu ops/s in the last second, %.0f ops/s so far, %llu ops, %llu errors, "
            "%lld in flight\n",
            static_cast<double>(now - start) / 1e6, warming ? " (warmup)" : "",
            static_cast<unsigned long long>(ok_so_far - last_ok),
            per_second(ok_so_far, static_cast<double>(now - start) / 1e6), static_cast<unsigned long long>(ok_so_far),
            static_cast<unsigned long long>(progress_errors_.load()), static_cast<long long>(in_flight_.load()));
        last_ok = ok_so_far;
        next_progress += kProgressIntervalUs;
      }
      resume_deferred();
      std::int64_t wake = std::min({now + kTickUs, end, next_progress});
      if (settings_.rate) wake = std::min(wake, open.saturated ? now + 200 : open.due_us(open.next));
      sleep_us(wake - now_us());
    }
    if (settings_.rate) {
      // Send what fell due in the last moments, so the schedule is whole.
      open.issue_end_us = std::min(now_us(), end);
      schedule_due(open, open.issue_end_us - 1);
    }
    PhaseResult result = end_phase("run", measure_from_us_.load());
    if (settings_.rate) finish_open_loop(open, result);
    return result;
  }

 private:
  struct Ticket {
    OpKind kind = OpKind::read;
    std::uint64_t record = 0;
    std::int64_t start_us = 0;  // when sent (closed loop) or due (open loop)
    std::int32_t client = -1;   // the virtual client to continue, -1 in the open loop
    std::uint32_t generation = 0;
  };

  struct OpenLoop {
    double interval_us = 0;
    std::int64_t start_us = 0;
    std::uint64_t next = 0;  // index of the next operation to send
    bool saturated = false;  // the in-flight cap held an operation back on the last pass
    bool cap_hit = false;
    std::uint64_t sent_in_window = 0;
    std::uint64_t lag_max_us = 0;
    std::int64_t issue_end_us = 0;  // operations due before this were to be sent
    std::int64_t due_us(std::uint64_t index) const {
      return start_us + static_cast<std::int64_t>(std::llround(static_cast<double>(index) * interval_us));
    }
    // Operations due strictly before `time`.
    std::uint64_t due_before(std::int64_t time) const {
      if (time <= start_us) return 0;
      auto n = static_cast<std::uint64_t>(std::ceil(static_cast<double>(time - start_us) / interval_us));
      while (n > 0 && due_us(n - 1) >= time) --n;
      while (due_us(n) < time) ++n;
      return n;
    }
  };

  void begin_phase(bool loading, std::int64_t measure_from_us) {
    std::lock_guard lock(mutex_);
    ++generation_;
    loading_ = loading;
    stopping_ = false;
    closed_ = false;
    measure_from_us_ = measure_from_us;
    next_record_ = 0;
    in_flight_ = 0;
    progress_ok_ = 0;
    progress_errors_ = 0;
    stats_ = PhaseStats{};
    warmup_ok_ = 0;
    warmup_errors_ = 0;
    deferred_.clear();
  }

  // Stops new operations, waits (a bounded time) for those in flight, then
  // closes the measured window and returns what it recorded. An operation
  // belongs to the window it started in: one that hangs at the end is
  // charged to the run (its latency, its error) rather than dropped, so a
  // cluster that stalls just before the end cannot look healthy.
  PhaseResult end_phase(std::string_view name, std::int64_t measure_from) {
    PhaseResult result;
    result.name = name;
    result.interrupted = g_interrupted.load();
    std::int64_t stop = now_us();
    stopping_ = true;
    result.issue_seconds = static_cast<double>(std::max<std::int64_t>(0, stop - measure_from)) / 1e6;
    // The library ends every attempt by its deadline (timeout + 0.5 s) and
    // makes at most 1 + retries attempts; an operation chains at most two
    // requests. Past that bound something is wrong: stop waiting.
    std::int64_t attempt_us = (std::int64_t{settings_.timeout_ms} + 500) * 1'000;
    std::int64_t drain_until = stop + 2 * (1 + std::int64_t{settings_.retries}) * attempt_us + 1'000'000;
    std::int64_t next_progress = stop + kProgressIntervalUs;
    while (in_flight_.load() > 0 && now_us() < drain_until) {
      if (now_us() >= next_progress) {
        std::fprintf(stderr, "stopping: waiting for %lld operations in flight\n",
                     static_cast<long long>(in_flight_.load()));
        next_progress += kProgressIntervalUs;
      }
      sleep_us(kDrainPollUs);
    }
    std::lock_guard lock(mutex_);
    closed_ = true;
    result.seconds = static_cast<double>(std::max<std::int64_t>(0, now_us() - measure_from)) / 1e6;
    result.stats = stats_;
    result.warmup_ok = warmup_ok_;
    result.warmup_errors = warmup_errors_;
    result.abandoned = static_cast<std::uint64_t>(std::max<std::int64_t>(0, in_flight_.load()));
    return result;
  }

  // Open loop: sends every operation due by `now`, each stamped with its due time.
  void schedule_due(OpenLoop& open, std::int64_t now) {
    open.saturated = false;
    std::int64_t measure_from = measure_from_us_.load();
    while (true) {
      std::int64_t due = open.due_us(open.next);
      if (due > now) break;
      if (static_cast<std::uint64_t>(std::max<std::int64_t>(0, in_flight_.load())) >= settings_.in_flight_max) {
        open.saturated = true;
        open.cap_hit = true;
        break;
      }
      if (due >= measure_from) {
        ++open.sent_in_window;
        open.lag_max_us = std::max(open.lag_max_us, static_cast<std::uint64_t>(now - due));
      }
      Random& r = random();
      OpKind kind = choose_op(workload_, r);
      start(Ticket{kind, keys_.next(r), due, -1, generation_.load()});
      ++open.next;
    }
  }

  void finish_open_loop(const OpenLoop& open, PhaseResult& result) {
    std::int64_t measure_from = measure_from_us_.load();
    result.open_loop = true;
    result.scheduled = open.due_before(std::max(open.issue_end_us, measure_from)) - open.due_before(measure_from);
    result.sent = open.sent_in_window;
    result.send_lag_max_us = open.lag_max_us;
    result.in_flight_cap_hit = open.cap_hit;
    if (result.scheduled == 0) return;
    std::uint64_t unsent = result.scheduled - std::min(result.sent, result.scheduled);
    double completed_per_s = per_second(result.stats.ok() + result.stats.errors(), result.seconds);
    if (static_cast<double>(unsent) > kOpenLoopBacklogMax * static_cast<double>(result.scheduled)) {
      result.rate_sustained = false;
      result.rate_note = std::to_string(unsent) + " of " + std::to_string(result.scheduled) +
                         " scheduled operations were never sent, so the latencies understate the delay (" +
                         (open.cap_hit ? "the cluster did not keep up and the in-flight cap of " +
                                             std::to_string(settings_.in_flight_max) + " was reached"
                                       : std::string("the scheduler fell behind")) +
                         ")";
    } else if (completed_per_s < kOpenLoopCompletedMin * *settings_.rate) {
      result.rate_sustained = false;
      result.rate_note = format(
          "operations completed at %.1f ops/s, below 95%% of the target: the cluster did not keep up", completed_per_s);
    }
  }

  // Closed loop (and the load): the client's next operation.
  void issue_next(std::int32_t client) {
    if (stopping_.load()) return;
    if (loading_.load()) {
      std::uint64_t record = next_record_.fetch_add(1);
      if (record >= settings_.records) return;
      start(Ticket{OpKind::insert, record, now_us(), client, generation_.load()});
      return;
    }
    Random& r = random();
    OpKind kind = choose_op(workload_, r);
    std::uint64_t record = keys_.next(r);
    start(Ticket{kind, record, now_us(), client, generation_.load()});
  }

  // Clients that failed last time go again on the main thread's next tick.
  void resume_deferred() {
    std::vector<std::int32_t> clients;
    {
      std::lock_guard lock(mutex_);
      clients.swap(deferred_);
    }
    for (auto c : clients) issue_next(c);
  }

  Key key_of(std::uint64_t record) const {
    return Key{settings_.bucket_type, settings_.bucket, "user" + std::to_string(record)};
  }

  // One generator per thread (the main thread and the client's I/O thread).
  Random& random() {
    thread_local std::optional<Random> generator;
    if (!generator) generator.emplace(settings_.seed + 0x9e3779b97f4a7c15ull * (thread_count_.fetch_add(1) + 1));
    return *generator;
  }

  std::string unique_element() { return element_prefix_ + std::to_string(element_sequence_.fetch_add(1)); }

  void start(Ticket t) {
    ++in_flight_;
    Key key = key_of(t.record);
    auto done = [this, t](Result<ObjectView> reply) { finish(t, reply ? nullptr : &reply.error()); };
    switch (t.kind) {
      case OpKind::read:
        client_.get_async(key, read_options_, [this, t](Result<ObjectView> reply) {
          if (!reply) return finish(t, &reply.error());
          finish(t, nullptr, !reply.value().found, live_siblings(reply.value()));
        });
        return;
      case OpKind::increment:
        client_.update_async(key, crdt::PnCounter::Op::increment(1), std::nullopt, write_options_, done);
        return;
      case OpKind::add:
        client_.update_async(key, crdt::Orswot::Op::add(unique_element()), std::nullopt, write_options_, done);
        return;
      case OpKind::insert:
        if (workload_.datatype == crdt::Datatype::counter) {
          client_.update_async(key, crdt::PnCounter::Op::increment(1), std::nullopt, write_options_, done);
          return;
        }
        if (workload_.datatype == crdt::Datatype::set) {
          client_.update_async(key, crdt::Orswot::Op::add(unique_element()), std::nullopt, write_options_, done);
          return;
        }
        [[fallthrough]];
      case OpKind::update:
        if (target_.blind_writes) {
          client_.put_async(key, make_record(settings_.shape, random()), put_options_, done);
          return;
        }
        [[fallthrough]];
      case OpKind::read_modify_write:
        client_.get_async(key, read_options_, [this, t](Result<ObjectView> reply) {
          if (!reply) return finish(t, &reply.error());
          write_back(t, reply.value());
        });
        return;
    }
  }

  static std::size_t live_siblings(const ObjectView& view) {
    return static_cast<std::size_t>(
        std::count_if(view.siblings.begin(), view.siblings.end(), [](const auto& s) { return !s.deleted; }));
  }

  // The write half of an update, read-modify-write or insert: the record
  // read (its newest sibling) with one field changed, or a fresh record,
  // written with the context of the read.
  void write_back(const Ticket& t, const ObjectView& read) {
    std::size_t siblings = live_siblings(read);
    // After the window closed (the client is shutting down) the write would
    // not be counted: skip it. Before that it must go out, even while stopping.
    if (closed_.load() || t.generation != generation_.load()) return finish(t, nullptr, false, siblings);
    const net::SiblingView* newest = nullptr;
    for (const auto& s : read.siblings)
      if (!s.deleted && (!newest || s.last_modified_us > newest->last_modified_us)) newest = &s;
    Random& r = random();
    std::optional<std::string> value;
    if (newest && t.kind != OpKind::insert)
      value =
          update_field(newest->value, settings_.shape, static_cast<std::uint32_t>(r.below(settings_.shape.fields)), r);
    if (!value) value = make_record(settings_.shape, r);
    client::PutOptions options = put_options_;
    if (!read.context.empty()) options.context = read.context;
    client_.put_async(key_of(t.record), std::move(*value), options, [this, t, siblings](Result<ObjectView> reply) {
      finish(t, reply ? nullptr : &reply.error(), false, siblings);
    });
  }

  // Every operation ends here once (on the I/O thread, or on the caller's
  // thread when the client refuses a request at once).
  void finish(const Ticket& t, const Error* error, bool not_found = false, std::size_t siblings = 0) {
    if (t.generation != generation_.load()) return;  // a straggler from an earlier phase
    std::int64_t end = now_us();
    ++(error ? progress_errors_ : progress_ok_);
    {
      std::lock_guard lock(mutex_);
      if (!closed_) {
        if (t.start_us < measure_from_us_.load()) {
          ++(error ? warmup_errors_ : warmup_ok_);
        } else {
          OpStats& op = stats_.ops[index_of(t.kind)];
          if (error) {
            ++op.errors[static_cast<std::size_t>(classify(error->code))];
            std::string sample = std::string(kOpNames[index_of(t.kind)]) + ": " + error->to_string();
            if (stats_.error_samples.size() < kErrorSamplesMax &&
                std::find(stats_.error_samples.begin(), stats_.error_samples.end(), sample) ==
                    stats_.error_samples.end())
              stats_.error_samples.push_back(std::move(sample));
          } else {
            ++op.ok;
            if (not_found) ++op.not_found;
            op.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, end - t.start_us)));
          }
          if (siblings > 1) ++stats_.reads_with_siblings;
          stats_.siblings_max = std::max<std::uint64_t>(stats_.siblings_max, siblings);
        }
      }
    }
    --in_flight_;
    if (t.client < 0 || stopping_.load()) return;
    if (error) {
      std::lock_guard lock(mutex_);
      deferred_.push_back(t.client);
      return;
    }
    issue_next(t.client);
  }

  Client& client_;
  const Settings& settings_;
  const Workload& workload_;
  const Target& target_;
  const KeyChooser keys_;
  RequestOptions read_options_;
  RequestOptions write_options_;
  client::PutOptions put_options_;
  std::string element_prefix_;
  std::atomic<std::uint64_t> element_sequence_{0};
  std::atomic<std::uint64_t> thread_count_{0};

  // Phase state, shared by the main thread and the client's I/O thread.
  std::atomic<std::uint32_t> generation_{0};  // operations of an earlier phase are ignored
  std::atomic<bool> loading_{false};
  std::atomic<bool> stopping_{false};  // no new operations
  std::atomic<std::int64_t> measure_from_us_{0};
  std::atomic<std::uint64_t> next_record_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> progress_ok_{0};  // the whole phase, warmup included
  std::atomic<std::uint64_t> progress_errors_{0};

  // The measured window is over: completions are not recorded. Set under
  // mutex_ so that it and the stats snapshot agree.
  std::atomic<bool> closed_{false};

  std::mutex mutex_;  // guards what follows
  PhaseStats stats_;
  std::uint64_t warmup_ok_ = 0;
  std::uint64_t warmup_errors_ = 0;
  std::vector<std::int32_t> deferred_;
};

// ---- the report ------------------------------------------------------------------------

struct Report {
  const Settings& settings;
  const Target& target;
  std::optional<PhaseResult> load;
  std::optional<PhaseResult> run;
  std::vector<std::string> notes;
  std::vector<std::string> failures;
  std::uint64_t errors = 0;
  std::uint64_t throughput = 0;
};

constexpr std::array<double, 4> kPercentiles = {50, 95, 99, 99.9};
constexpr std::array<std::string_view, 4> kPercentileNames = {"p50", "p95", "p99", "p99_9"};

std::string quorum_text(const std::optional<Quorum>& q) { return q ? q->to_string() : "default"; }

std::uint64_t phase_errors(const PhaseResult& p) { return p.stats.errors() + p.abandoned; }

std::string writes_text(const Settings& s, const Target& t) {
  if (s.workload->datatype != crdt::Datatype::plain) return "CRDT operations (no read needed)";
  if (t.blind_writes)
    return "blind writes: updates and inserts write a whole fresh record without reading (type " + s.bucket_type +
           " has allow_mult=false); workload F's read-modify-write still reads and writes with the context";
  return "read first, then write with the context read (type " + s.bucket_type +
         " allows siblings): one update is two round trips";
}

std::string rate_text(const Settings& s) {
  if (!s.rate) return "unlimited (closed loop: each client sends its next operation when the last completes)";
  return format("%.0f ops/s in total (open loop, latency from each operation's scheduled start, up to %llu in flight)",
                *s.rate, static_cast<unsigned long long>(s.in_flight_max));
}

void print_phase_text(std::string& out, const PhaseResult& p, const Settings& s) {
  out += format("\n%s phase: %.3f s measured", std::string(p.name).c_str(), p.seconds);
  if (p.seconds - p.issue_seconds >= 0.01)
    out += format(" (%.3f s of them waiting for the last operations to end)", p.seconds - p.issue_seconds);
  if (p.name == "run" && s.warmup_seconds > 0)
    out += format(" after %.1f s warmup (%llu ops, %llu errors not counted)", s.warmup_seconds,
                  static_cast<unsigned long long>(p.warmup_ok), static_cast<unsigned long long>(p.warmup_errors));
  if (p.interrupted) out += " (interrupted)";
  out += "\n";
  out += format("  %-18s %10s %10s %9s %7s %9s %9s %9s %9s %9s %9s\n", "operation", "count", "ops/s", "not_found",
                "errors", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms");
  OpStats all;
  auto row = [&](std::string_view name, const OpStats& op) {
    out += format("  %-18s %10llu %10.1f %9llu %7llu %9.3f", std::string(name).c_str(),
                  static_cast<unsigned long long>(op.ok), per_second(op.ok, p.seconds),
                  static_cast<unsigned long long>(op.not_found), static_cast<unsigned long long>(op.error_total()),
                  op.latency.mean_us() / 1000.0);
    for (double q : kPercentiles) out += format(" %9.3f", static_cast<double>(op.latency.percentile_us(q)) / 1000.0);
    out += format(" %9.3f\n", static_cast<double>(op.latency.max_us()) / 1000.0);
  };
  std::size_t kinds = 0;
  for (std::size_t k = 0; k < kOpKinds; ++k) {
    const OpStats& op = p.stats.ops[k];
    if (op.ok == 0 && op.error_total() == 0) continue;
    ++kinds;
    row(kOpNames[k], op);
    all.latency.merge(op.latency);
    all.ok += op.ok;
    all.not_found += op.not_found;
    for (std::size_t e = 0; e < kErrorKinds; ++e) all.errors[e] += op.errors[e];
  }
  if (kinds != 1) row("all", all);
  out += "  errors by kind:";
  for (std::size_t e = 0; e < kErrorKinds; ++e)
    out += format(" %s %llu%s", std::string(kErrorKindNames[e]).c_str(), static_cast<unsigned long long>(all.errors[e]),
                  e + 1 < kErrorKinds ? "," : "\n");
  for (const auto& sample : p.stats.error_samples) out += "  sample error: " + sample + "\n";
  if (s.workload->datatype == crdt::Datatype::plain && p.stats.reads_with_siblings > 0)
    out += format("  reads that saw siblings: %llu (at most %llu siblings)\n",
                  static_cast<unsigned long long>(p.stats.reads_with_siblings),
                  static_cast<unsigned long long>(p.stats.siblings_max));
  if (p.abandoned > 0)
    out += format("  %llu operations had no outcome when the phase ended (counted as errors)\n",
                  static_cast<unsigned long long>(p.abandoned));
  if (p.open_loop) {
    out += format(
        "  open loop: target %.1f ops/s, %llu scheduled, %llu sent, %.1f ops/s completed; "
        "latest send %.3f ms behind schedule%s\n",
        *s.rate, static_cast<unsigned long long>(p.scheduled), static_cast<unsigned long long>(p.sent),
        per_second(p.stats.ok() + p.stats.errors(), p.seconds), static_cast<double>(p.send_lag_max_us) / 1000.0,
        p.in_flight_cap_hit ? "; the in-flight cap was reached" : "");
    out += p.rate_sustained ? "  target rate sustained: yes\n" : "  target rate sustained: NO: " + p.rate_note + "\n";
  }
}

std::string text_report(const Report& r) {
  const Settings& s = r.settings;
  std::string out;
  std::string hosts;
  for (const auto& h : s.hosts) hosts += (hosts.empty() ? "" : ",") + h;
  out += "shoal-bench report\n";
  out += "  cluster:   " + hosts + "\n";
  out += "  workload:  " + std::string(s.workload->name) + " (" + std::string(s.workload->description) + ")\n";
  out += "  bucket:    " + s.bucket_type + "/" + s.bucket +
         (r.target.props_known ? " (" + r.target.props + ")" : std::string(" (properties unknown)")) + "\n";
  out += "  n_val:     " + (r.target.n_val ? std::to_string(*r.target.n_val) : std::string("unknown")) + "\n";
  out += "  r, w, dw:  " + quorum_text(s.r) + ", " + quorum_text(s.w) + ", " + quorum_text(s.dw) + "\n";
  out += format("  records:   %llu", static_cast<unsigned long long>(s.records));
  if (s.workload->datatype == crdt::Datatype::plain)
    out += format(" of %u fields x %u bytes (%llu-byte JSON values)", s.shape.fields, s.shape.field_bytes,
                  static_cast<unsigned long long>(s.shape.encoded_bytes()));
  out += s.distribution == Distribution::uniform ? ", keys uniform\n"
                                                 : format(", keys scrambled zipfian (constant %g)\n", s.zipf_constant);
  out += format("  clients:   %u\n", s.clients);
  out += "  rate:      " + rate_text(s) + "\n";
  out += format("  duration:  %g s", s.run_seconds);
  if (s.warmup_seconds > 0) out += format(" after %g s warmup", s.warmup_seconds);
  out += std::string(s.load ? "" : ", no load phase") + (s.run ? "" : ", load only") + "\n";
  out += "  writes:    " + writes_text(s, r.target) + "\n";
  out += format("  timeout:   %u ms per attempt, %u retries of safe requests\n", s.timeout_ms, s.retries);
  out += format("  seed:      %llu\n", static_cast<unsigned long long>(s.seed));
  if (r.load) print_phase_text(out, *r.load, s);
  if (r.run) print_phase_text(out, *r.run, s);
  if (!r.notes.empty()) out += "\n";
  for (const auto& note : r.notes) out += "note: " + note + "\n";
  out += "\n";
  if (r.failures.empty()) {
    out += "result: ok\n";
  } else {
    for (const auto& failure : r.failures) out += "result: FAILED: " + failure + "\n";
  }
  out += format("errors: %llu\n", static_cast<unsigned long long>(r.errors));
  out += format("throughput: %llu ops/s\n", static_cast<unsigned long long>(r.throughput));
  return out;
}

void json_latency(tools::JsonWriter& j, const LatencyHistogram& h) {
  j.key("latency_us").begin_object();
  j.key("mean").number(h.mean_us());
  for (std::size_t i = 0; i < kPercentiles.size(); ++i)
    j.key(kPercentileNames[i]).number(static_cast<std::int64_t>(h.percentile_us(kPercentiles[i])));
  j.key("max").number(static_cast<std::int64_t>(h.max_us()));
  j.end_object();
}

void json_errors(tools::JsonWriter& j, const std::array<std::uint64_t, kErrorKinds>& errors) {
  j.key("error_kinds").begin_object();
  for (std::size_t e = 0; e < kErrorKinds; ++e) j.key(kErrorKindNames[e]).number(static_cast<std::int64_t>(errors[e]));
  j.end_object();
}

void json_phase(tools::JsonWriter& j, const PhaseResult& p, const Settings& s) {
  auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  j.begin_object();
  j.key("seconds").number(p.seconds);
  j.key("issue_seconds").number(p.issue_seconds);
  j.key("interrupted").boolean(p.interrupted);
  j.key("ops").number(n(p.stats.ok()));
  j.key("ops_per_s").number(per_second(p.stats.ok(), p.seconds));
  j.key("errors").number(n(phase_errors(p)));
  std::array<std::uint64_t, kErrorKinds> kinds{};
  LatencyHistogram all;
  for (const auto& op : p.stats.ops) {
    all.merge(op.latency);
    for (std::size_t e = 0; e < kErrorKinds; ++e) kinds[e] += op.errors[e];
  }
  json_errors(j, kinds);
  json_latency(j, all);
  j.key("operations").begin_object();
  for (std::size_t k = 0; k < kOpKinds; ++k) {
    const OpStats& op = p.stats.ops[k];
    if (op.ok == 0 && op.error_total() == 0) continue;
    j.key(kOpNames[k]).begin_object();
    j.key("count").number(n(op.ok));
    j.key("ops_per_s").number(per_second(op.ok, p.seconds));
    j.key("not_found").number(n(op.not_found));
    j.key("errors").number(n(op.error_total()));
    json_errors(j, op.errors);
    json_latency(j, op.latency);
    j.end_object();
  }
  j.end_object();
  j.key("error_samples").begin_array();
  for (const auto& sample : p.stats.error_samples) j.string(sample);
  j.end_array();
  j.key("reads_with_siblings").number(n(p.stats.reads_with_siblings));
  j.key("siblings_max").number(n(p.stats.siblings_max));
  j.key("abandoned").number(n(p.abandoned));
  if (p.name == "run") {
    j.key("warmup_ops").number(n(p.warmup_ok));
    j.key("warmup_errors").number(n(p.warmup_errors));
  }
  if (p.open_loop) {
    j.key("open_loop").begin_object();
    j.key("target_ops_per_s").number(*s.rate);
    j.key("scheduled").number(n(p.scheduled));
    j.key("sent").number(n(p.sent));
    j.key("completed_ops_per_s").number(per_second(p.stats.ok() + p.stats.errors(), p.seconds));
    j.key("send_lag_max_us").number(n(p.send_lag_max_us));
    j.key("in_flight_cap_hit").boolean(p.in_flight_cap_hit);
    j.key("rate_sustained").boolean(p.rate_sustained);
    if (!p.rate_sustained) j.key("rate_note").string(p.rate_note);
    j.end_object();
  }
  j.end_object();
}

std::string json_report(const Report& r) {
  const Settings& s = r.settings;
  tools::JsonWriter j;
  j.begin_object();
  j.key("settings").begin_object();
  j.key("hosts").begin_array();
  for (const auto& h : s.hosts) j.string(h);
  j.end_array();
  j.key("workload").string(s.workload->name);
  j.key("description").string(s.workload->description);
  j.key("bucket_type").string(s.bucket_type);
  j.key("bucket").string(s.bucket);
  if (r.target.props_known) {
    j.key("bucket_type_props").string(r.target.props);
  } else {
    j.key("bucket_type_props").null();
  }
  if (r.target.n_val) {
    j.key("n_val").number(static_cast<std::int64_t>(*r.target.n_val));
  } else {
    j.key("n_val").null();
  }
  j.key("r").string(quorum_text(s.r));
  j.key("w").string(quorum_text(s.w));
  j.key("dw").string(quorum_text(s.dw));
  j.key("records").number(static_cast<std::int64_t>(s.records));
  j.key("fields").number(static_cast<std::int64_t>(s.shape.fields));
  j.key("field_bytes").number(static_cast<std::int64_t>(s.shape.field_bytes));
  j.key("distribution").string(s.distribution == Distribution::uniform ? "uniform" : "scrambled_zipfian");
  j.key("zipf_constant").number(s.zipf_constant);
  j.key("clients").number(static_cast<std::int64_t>(s.clients));
  j.key("mode").string(s.rate ? "open_loop" : "closed_loop");
  if (s.rate) {
    j.key("rate").number(*s.rate);
    j.key("in_flight_max").number(static_cast<std::int64_t>(s.in_flight_max));
  } else {
    j.key("rate").null();
  }
  j.key("duration_s").number(s.run_seconds);
  j.key("warmup_s").number(s.warmup_seconds);
  j.key("load").boolean(s.load);
  j.key("run").boolean(s.run);
  j.key("blind_writes").boolean(s.workload->datatype == crdt::Datatype::plain && r.target.blind_writes);
  j.key("writes").string(writes_text(s, r.target));
  j.key("timeout_ms").number(static_cast<std::int64_t>(s.timeout_ms));
  j.key("retries").number(static_cast<std::int64_t>(s.retries));
  j.key("seed").string(std::to_string(s.seed));  // a string: JSON numbers lose 64-bit precision
  j.end_object();
  j.key("load");
  if (r.load) {
    json_phase(j, *r.load, s);
  } else {
    j.null();
  }
  j.key("run");
  if (r.run) {
    json_phase(j, *r.run, s);
  } else {
    j.null();
  }
  j.key("notes").begin_array();
  for (const auto& note : r.notes) j.string(note);
  j.end_array();
  j.key("passed").boolean(r.failures.empty());
  j.key("failures").begin_array();
  for (const auto& failure : r.failures) j.string(failure);
  j.end_array();
  j.key("errors").number(static_cast<std::int64_t>(r.errors));
  j.key("throughput_ops_per_s").number(static_cast<std::int64_t>(r.throughput));
  j.end_object();
  return j.str() + "\n";
}

// Adds the failures of one phase to the report.
void judge(Report& report, const PhaseResult& p) {
  std::uint64_t ok_count = p.stats.ok(), errors = phase_errors(p);
  std::uint64_t total = ok_count + errors;
  if (total > 0 && static_cast<double>(errors) > kErrorRateMax * static_cast<double>(total))
    report.failures.push_back(format("%s phase: %llu errors in %llu operations (%.3f%%) exceed the 0.1%% limit",
                                     std::string(p.name).c_str(), static_cast<unsigned long long>(errors),
                                     static_cast<unsigned long long>(total),
                                     100.0 * static_cast<double>(errors) / static_cast<double>(total)));
  if (ok_count == 0) report.failures.push_back(std::string(p.name) + " phase: no operation succeeded");
}

int run_main(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
  auto parsed = parse_settings(args);
  if (!parsed) {
    std::fprintf(stderr, "shoal-bench: %s\n(see shoal-bench --help)\n", parsed.error().message.c_str());
    return kExitUsage;
  }
  const Settings settings = std::move(parsed).value();

  client::ClientOptions options;
  options.nodes = settings.hosts;
  options.timeout_ms = settings.timeout_ms;
  options.retries = settings.retries;
  // The closed loop has one request per client in flight; the open loop is
  // bounded by --in-flight-max. Keep the library's own cap out of the way.
  options.in_flight_max = std::max<std::size_t>(100'000, 2 * (std::size_t{settings.clients} + settings.in_flight_max));
  auto connected = Client::connect(options);
  if (!connected) {
    std::fprintf(stderr, "shoal-bench: %s\n", connected.error().to_string().c_str());
    return connected.error().code == Errc::invalid_argument ? kExitUsage : kExitFailed;
  }
  std::unique_ptr<Client> client = std::move(connected).value();
  std::string hosts;
  for (const auto& h : settings.hosts) hosts += (hosts.empty() ? "" : ",") + h;
  if (auto pong = client->ping(); !pong) {
    std::fprintf(stderr, "shoal-bench: cannot reach the cluster at %s: %s\n", hosts.c_str(),
                 pong.error().to_string().c_str());
    return kExitFailed;
  }
  std::vector<std::string> warnings;
  if (settings.hosts.size() > 1)
    for (const auto& h : settings.hosts)
      if (auto pong = client->ping(h); !pong)
        warnings.push_back("node " + h + " does not answer (" + pong.error().to_string() +
                           "); the others take its requests");
  auto inspected = inspect_target(*client, settings, warnings);
  if (!inspected) {
    std::fprintf(stderr, "shoal-bench: %s\n", inspected.error().message.c_str());
    return kExitUsage;
  }
  const Target target = inspected.value();
  for (const auto& w : warnings) std::fprintf(stderr, "shoal-bench: warning: %s\n", w.c_str());

  struct sigaction action {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  Report report{settings, target, {}, {}, warnings, {}, 0, 0};
  std::fprintf(stderr, "shoal-bench: workload %s on %s/%s, %llu records, %u clients%s (seed %llu)\n",
               std::string(settings.workload->name).c_str(), settings.bucket_type.c_str(), settings.bucket.c_str(),
               static_cast<unsigned long long>(settings.records), settings.clients,
               settings.rate ? format(", open loop at %.0f ops/s", *settings.rate).c_str() : "",
               static_cast<unsigned long long>(settings.seed));
  {
    Bench bench(*client, settings, target);
    if (settings.load) {
      report.load = bench.load();
      if (report.load->interrupted) report.failures.push_back("interrupted during the load phase");
    }
    if (settings.run && !g_interrupted.load()) report.run = bench.run();
    // Callbacks still pending run while the client closes; the bench they
    // report to must outlive it.
    client.reset();
  }

  if (settings.workload->datatype == crdt::Datatype::plain && !target.blind_writes && settings.load)
    report.notes.push_back(
        "inserts read first and write with the context, so loading existing records again adds no siblings");
  if (settings.workload->datatype == crdt::Datatype::plain && target.blind_writes)
    report.notes.push_back("blind writes: type " + settings.bucket_type +
                           " has allow_mult=false (it keeps no siblings), so updates do not read first");
  if (report.run && report.run->stats.ops[index_of(OpKind::read)].not_found > 0 && !settings.load)
    report.notes.push_back("some reads found no record: load the records first (drop --no-load)");
  for (const auto* phase : {&report.load, &report.run}) {
    if (!*phase) continue;
    judge(report, **phase);
    report.errors += phase_errors(**phase);
  }
  const PhaseResult* headline = report.run ? &*report.run : report.load ? &*report.load : nullptr;
  if (headline)
    report.throughput = static_cast<std::uint64_t>(std::llround(per_second(headline->stats.ok(), headline->seconds)));
  if (report.run && report.run->open_loop && !report.run->rate_sustained)
    report.notes.push_back("the target rate could not be sustained: " + report.run->rate_note);

  std::string out = settings.json ? json_report(report) : text_report(report);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  if (!report.failures.empty()) {
    for (const auto& failure : report.failures) std::fprintf(stderr, "shoal-bench: FAILED: %s\n", failure.c_str());
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace
}  // namespace shoal::bench

int main(int argc, char** argv) {
  // As shoald does: no malloc arena trimming between bursts (each costs an mprotect).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  return shoal::bench::run_main(std::vector<std::string>(argv + 1, argv + argc));
}
