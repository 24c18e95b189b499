// shoal: the Shoal shell. One-shot (`shoal -h HOST:PORT get default/b/k`) or
// interactive (`shoal -h HOST:PORT`: readline, history, tab completion,
// `help COMMAND`). Human output by default, `--json` for scripts. Exit
// status: 0 success, 1 error (message on stderr), 2 not found.
// Links only the client library.
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "crdt/map.hpp"
#include "net/client/client.hpp"
#include "tools/common/json.hpp"

namespace {

using shoal::Errc;
using shoal::Error;
using shoal::Result;
using shoal::client::Client;
using shoal::client::Key;
using shoal::tools::JsonWriter;
namespace crdt = shoal::crdt;
namespace net = shoal::net;

constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kNotFound = 2;

struct Command {
  const char* name;
  const char* usage;
  const char* help;
};

const std::vector<Command> kCommands = {
    {"get", "get TYPE/BUCKET/KEY", "Read a key: every sibling and the causal context (for a CRDT, its value)."},
    {"put", "put TYPE/BUCKET/KEY [VALUE|-] [--file F] [--content-type T] [--context C] [--ttl D]",
     "Write a value (from the argument, a file, or stdin with '-'). Without --context an existing value gets a "
     "sibling; with the context from a get, the write replaces exactly what was read."},
    {"delete", "delete TYPE/BUCKET/KEY [--context C]", "Delete a key (a tombstone carrying the context)."},
    {"list-buckets", "list-buckets TYPE", "List the buckets of a bucket type (expensive: folds every vnode)."},
    {"list-keys", "list-keys TYPE/BUCKET", "List the keys of a bucket (expensive: folds every vnode)."},
    {"counter", "counter incr|decr TYPE/BUCKET/KEY [N] | counter get TYPE/BUCKET/KEY", "PN-counter operations."},
    {"set", "set add|remove TYPE/BUCKET/KEY ELEMENT... | set get TYPE/BUCKET/KEY",
     "Add-wins set operations (remove reads the set first and removes what it saw)."},
    {"map", "map update TYPE/BUCKET/KEY FIELD:TYPE OP ARGS... | map remove TYPE/BUCKET/KEY FIELD:TYPE | map get KEY",
     "Map operations. FIELD may be a path a.b.c (a and b are maps); TYPE is counter, set, register, flag, map or "
     "hll; OP is the field type's operation, e.g. `visits:counter incr 1`, `tags:set add x`, `name:register set "
     "alice`, `admin:flag enable`."},
    {"register", "register set TYPE/BUCKET/KEY VALUE | register get TYPE/BUCKET/KEY", "Last-write-wins register."},
    {"flag", "flag enable|disable TYPE/BUCKET/KEY | flag get TYPE/BUCKET/KEY", "Enable-wins flag."},
    {"hll", "hll add TYPE/BUCKET/KEY ELEMENT... | hll get TYPE/BUCKET/KEY", "HyperLogLog distinct-count estimate."},
    {"fetch", "fetch TYPE/BUCKET/KEY", "Read a CRDT's value."},
    {"status", "status", "This node's counters, request rates, latency percentiles and storage figures."},
    {"ring", "ring", "Partition owners and members."},
    {"members", "members", "Membership and reachability as seen from each node."},
    {"ping", "ping", "Check that the node answers."},
    {"admin",
     "admin replica-get TYPE/BUCKET/KEY | admin failpoint NAME SPEC | admin cluster join NODE | admin cluster leave "
     "[NODE] | admin cluster force-remove NODE | admin cluster replace OLD NEW | admin cluster plan | admin cluster "
     "commit | admin cluster clear | admin transfers | admin bucket-type create|update NAME --props JSON | admin "
     "bucket-type show NAME | admin bucket-type list | admin aae status | admin aae exchange | admin merkle-roots | "
     "admin hints",
     "replica-get: each replica's own copy, read directly from the vnodes of the preference list (no read "
     "repair). failpoint: arm a failpoint on the node (-h) if it runs with --enable-failpoints; SPEC 'off' disarms.\n"
     "cluster: stage membership changes, then review them with plan and apply them with commit (clear drops them). "
     "join runs against the new node and names any member (NODE is name@host:peer-port); leave hands the node's "
     "partitions off and stops it; force-remove gives a lost node's partitions to others, which rebuild them from "
     "the surviving replicas; replace OLD NEW moves exactly OLD's partitions to NEW (which ran join first).\n"
     "transfers: every pending and running partition transfer (hinted handoffs too) with its progress, rate and "
     "ETA.\n"
     "aae status: per partition of every node, its anti-entropy tree state, exchanges, the last result and the keys "
     "repaired; aae exchange: start every node's exchanges now. merkle-roots: the tree root of every preference "
     "list on every replica (equal roots: the replicas hold the same data). hints: the hints each fallback holds "
     "for an unreachable or returning primary.\n"
     "bucket-type: create or update a type with properties as JSON, e.g. --props '{\"datatype\":\"set\",\"n_val\":3}' "
     "(n_val, r, w, pr, pw, dw, allow_mult, last_write_wins, notfound_ok, basic_quorum, datatype, ttl_ms); "
     "an update cannot change the datatype or n_val of a type that holds data."},
    {"help", "help [COMMAND]", "This list, or one command's usage."},
    {"quit", "quit", "Leave the interactive shell."},
};

const char* kOptionsHelp =
    "options: -h HOST:PORT[,HOST:PORT...] (default 127.0.0.1:8101), --json, --r Q, --w Q, --pr Q, --pw Q, --dw Q\n"
    "         (Q: a number, one, quorum, all, default), --timeout-ms N, --ttl DURATION (30s, 5m, 1h, 250ms),\n"
    "         --notfound-ok true|false, --basic-quorum true|false, --return-body, --context C, --content-type T,\n"
    "         --file F\n";

struct Settings {
  std::vector<std::string> hosts{"127.0.0.1:8101"};
  bool json = false;
  net::RequestOptions options;
  std::string content_type = "text/plain";
  std::optional<std::string> context;  // base64, as printed by get
  std::optional<std::string> file;
  std::optional<std::string> props;  // bucket-type create/update: a JSON object
};

[[noreturn]] void die_usage(const std::string& message) {
  std::fprintf(stderr, "shoal: %s\n", message.c_str());
  std::exit(kError);
}

int fail(const Error& error) {
  std::fprintf(stderr, "error: %s\n", error.to_string().c_str());
  return kError;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return kError;
}

Result<std::uint64_t> parse_duration_ms(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end == text.data())
    return shoal::make_error(Errc::invalid_argument,
                             "duration '" + std::string(text) + "' must be like 30s, 5m, 250ms");
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit.empty() || unit == "s") return n * 1000;
  if (unit == "ms") return n;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  if (unit == "d") return n * 86'400'000;
  return shoal::make_error(Errc::invalid_argument,
                           "duration unit '" + std::string(unit) + "' must be ms, s, m, h or d");
}

bool parse_bool_text(const std::string& text, const std::string& flag) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  die_usage(flag + " takes true or false");
}

// Splits off the options (anywhere on the line) from the words.
Result<std::vector<std::string>> take_options(const std::vector<std::string>& args, Settings& s, bool allow_host) {
  std::vector<std::string> words;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= args.size()) return shoal::make_error(Errc::invalid_argument, a + " needs a value");
      return args[++i];
    };
    auto quorum = [&](std::optional<net::Quorum>& slot) -> Result<void> {
      SHOAL_TRY(v, value());
      SHOAL_TRY(q, net::Quorum::parse(v));
      slot = q;
      return shoal::ok();
    };
    if ((a == "-h" || a == "--host") && allow_host) {
      SHOAL_TRY(v, value());
      s.hosts.clear();
      std::stringstream list(v);
      for (std::string h; std::getline(list, h, ',');)
        if (!h.empty()) s.hosts.push_back(h);
    } else if (a == "--json") {
      s.json = true;
    } else if (a == "--r") {
      SHOAL_TRYV(quorum(s.options.r));
    } else if (a == "--w") {
      SHOAL_TRYV(quorum(s.options.w));
    } else if (a == "--pr") {
      SHOAL_TRYV(quorum(s.options.pr));
    } else if (a == "--pw") {
      SHOAL_TRYV(quorum(s.options.pw));
    } else if (a == "--dw") {
      SHOAL_TRYV(quorum(s.options.dw));
    } else if (a == "--timeout-ms") {
      SHOAL_TRY(v, value());
      SHOAL_TRY(ms, parse_duration_ms(v + "ms"));
      if (ms == 0 || ms > net::kTimeoutMsMax)
        return shoal::make_error(Errc::invalid_argument, "--timeout-ms out of range");
      s.options.timeout_ms = static_cast<std::uint32_t>(ms);
    } else if (a == "--ttl") {
      SHOAL_TRY(v, value());
      SHOAL_TRY(ms, parse_duration_ms(v));
      if (ms == 0) return shoal::make_error(Errc::invalid_argument, "--ttl must be positive");
      s.options.ttl_ms = ms;
    } else if (a == "--notfound-ok") {
      SHOAL_TRY(v, value());
      s.options.notfound_ok = parse_bool_text(v, a);
    } else if (a == "--basic-quorum") {
      SHOAL_TRY(v, value());
      s.options.basic_quorum = parse_bool_text(v, a);
    } else if (a == "--return-body") {
      s.options.return_body = true;
    } else if (a == "--context") {
      SHOAL_TRY(v, value());
      s.context = v;
    } else if (a == "--content-type") {
      SHOAL_TRY(v, value());
      s.content_type = v;
    } else if (a == "--file") {
      SHOAL_TRY(v, value());
      s.file = v;
    } else if (a == "--props") {
      SHOAL_TRY(v, value());
      s.props = v;
    } else if (a.size() > 2 && a.rfind("--", 0) == 0) {
      return shoal::make_error(Errc::invalid_argument, "unknown option " + a);
    } else {
      words.push_back(a);
    }
  }
  return words;
}

std::string format_time(std::int64_t unix_us) {
  std::time_t seconds = static_cast<std::time_t>(unix_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buffer, static_cast<long long>(unix_us % 1'000'000));
  return out;
}

std::string printable(std::string_view bytes) {
  if (shoal::tools::valid_utf8(bytes)) return std::string(bytes);
  return "base64:" + shoal::tools::base64_encode(bytes);
}

std::string tag_name(crdt::TypeTag tag) {
  switch (tag) {
    case crdt::TypeTag::pn_counter:
      return "counter";
    case crdt::TypeTag::orswot:
      return "set";
    case crdt::TypeTag::lww_register:
      return "register";
    case crdt::TypeTag::mv_register:
      return "mvregister";
    case crdt::TypeTag::flag:
      return "flag";
    case crdt::TypeTag::map:
      return "map";
    case crdt::TypeTag::hll:
      return "hll";
    default:
      return "?";
  }
}

Result<crdt::TypeTag> parse_tag(std::string_view name) {
  for (auto tag : {crdt::TypeTag::pn_counter, crdt::TypeTag::orswot, crdt::TypeTag::lww_register,
                   crdt::TypeTag::mv_register, crdt::TypeTag::flag, crdt::TypeTag::map, crdt::TypeTag::hll})
    if (tag_name(tag) == name) return tag;
  return shoal::make_error(Errc::invalid_argument,
                           "field type '" + std::string(name) + "' must be counter, set, register, flag, map or hll");
}

void value_json(JsonWriter& w, const crdt::AnyValue& value) {
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, crdt::PnCounter::Value>) {
          w.number(static_cast<std::int64_t>(v));
        } else if constexpr (std::is_same_v<V, crdt::Orswot::Value> || std::is_same_v<V, crdt::MvRegister::Value>) {
          w.begin_array();
          for (const auto& e : v) w.bytes(e);
          w.end_array();
        } else if constexpr (std::is_same_v<V, crdt::LwwRegister::Value>) {
          if (v) {
            w.bytes(*v);
          } else {
            w.null();
          }
        } else if constexpr (std::is_same_v<V, crdt::EnableWinsFlag::Value>) {
          w.boolean(v);
        } else if constexpr (std::is_same_v<V, crdt::MapValue>) {
          w.begin_object();
          for (const auto& [field, nested] : v.fields) {
            w.key(field.name + "_" + tag_name(field.type));
            value_json(w, nested);
          }
          w.end_object();
        } else {
          w.number(static_cast<std::int64_t>(v));
        }
      },
      value.value);
}

void value_text(std::ostream& out, const crdt::AnyValue& value, int indent) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, crdt::PnCounter::Value>) {
          out << v << "\n";
        } else if constexpr (std::is_same_v<V, crdt::Orswot::Value> || std::is_same_v<V, crdt::MvRegister::Value>) {
          out << "{";
          bool first = true;
          for (const auto& e : v) {
            out << (first ? "" : ", ") << printable(e);
            first = false;
          }
          out << "}\n";
        } else if constexpr (std::is_same_v<V, crdt::LwwRegister::Value>) {
          out << (v ? printable(*v) : std::string("(not set)")) << "\n";
        } else if constexpr (std::is_same_v<V, crdt::EnableWinsFlag::Value>) {
          out << (v ? "enabled" : "disabled") << "\n";
        } else if constexpr (std::is_same_v<V, crdt::MapValue>) {
          // A nested map starts on the line after its field name.
          if (indent > 0) out << "\n";
          if (v.fields.empty()) out << pad << "(empty map)\n";
          for (const auto& [field, nested] : v.fields) {
            out << pad << (indent > 0 ? "  " : "") << field.name << " (" << tag_name(field.type) << "): ";
            value_text(out, nested, indent + 2);
          }
        } else {
          out << "~" << v << " distinct\n";
        }
      },
      value.value);
}

void siblings_json(JsonWriter& w, const std::vector<net::SiblingView>& siblings, bool show_deleted) {
  w.key("siblings").begin_array();
  for (const auto& s : siblings) {
    w.begin_object();
    w.key("value").bytes(s.value);
    w.key("content_type").string(s.content_type);
    w.key("last_modified").string(format_time(s.last_modified_us));
    if (!s.user_metadata.empty()) {
      w.key("metadata").begin_object();
      for (const auto& [k, v] : s.user_metadata) w.key(k).bytes(v);
      w.end_object();
    }
    if (show_deleted) w.key("deleted").boolean(s.deleted);
    w.end_object();
  }
  w.end_array();
}

int print_view(const Settings& s, const net::ObjectView& view, bool is_write) {
  std::string context = shoal::tools::base64_encode(view.context);
  if (s.json) {
    JsonWriter w;
    w.begin_object();
    if (!is_write || view.found) w.key("found").boolean(view.found);
    if (view.datatype == crdt::Datatype::plain) {
      siblings_json(w, view.siblings, false);
    } else {
      w.key("type").string(tag_name(*crdt::crdt_type_tag(view.datatype)));
      w.key("value");
      if (view.value) {
        value_json(w, *view.value);
      } else {
        w.null();
      }
    }
    if (view.expires_at_us) w.key("expires_at").string(format_time(*view.expires_at_us));
    w.key("context").string(context);
    w.end_object();
    std::cout << w.str() << "\n";
    return view.found || is_write ? kOk : kNotFound;
  }
  if (is_write && !view.found) {
    // A CRDT write needs no context from the user (removes read their own).
    std::cout << "ok\n";
    if (view.datatype == crdt::Datatype::plain) std::cout << "context: " << context << "\n";
    return kOk;
  }
  if (!view.found) {
    std::cerr << "not found\n";
    if (!view.context.empty() && view.context.size() > 4) std::cout << "context: " << context << "\n";
    return kNotFound;
  }
  if (view.datatype != crdt::Datatype::plain) {
    if (view.value) value_text(std::cout, *view.value, 0);
  } else if (view.siblings.size() == 1) {
    const auto& sib = view.siblings.front();
    std::cout << printable(sib.value) << "\n";
    std::cout << "content-type: " << sib.content_type << "\nlast-modified: " << format_time(sib.last_modified_us)
              << "\n";
    for (const auto& [k, v] : sib.user_metadata) std::cout << "meta " << k << ": " << printable(v) << "\n";
  } else {
    std::cout << view.siblings.size() << " siblings (concurrent writes; resolve by writing back with --context):\n";
    for (std::size_t i = 0; i < view.siblings.size(); ++i) {
      const auto& sib = view.siblings[i];
      std::cout << "[" << i + 1 << "] " << printable(sib.value) << "   (" << sib.content_type << ", "
                << format_time(sib.last_modified_us) << ")\n";
    }
  }
  if (view.expires_at_us) std::cout << "expires: " << format_time(*view.expires_at_us) << "\n";
  std::cout << "context: " << context << "\n";
  return kOk;
}

Result<std::string> context_bytes(const Settings& s) {
  if (!s.context) return std::string();
  auto decoded = shoal::tools::base64_decode(*s.context);
  if (!decoded) return shoal::make_error(Errc::invalid_argument, "--context is not base64 (copy it from get)");
  return *decoded;
}

std::optional<std::string> optional_context(const Settings& s) {
  auto bytes = context_bytes(s);
  if (!bytes || !s.context) return std::nullopt;
  return bytes.value();
}

Result<std::string> read_all(std::istream& in) {
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return data;
}

// Reads the key first and returns its context (for removes that must name
// what they observed).
Result<std::optional<std::string>> read_context(Client& client, const Key& key, const Settings& s) {
  if (s.context) {
    SHOAL_TRY(bytes, context_bytes(s));
    return std::optional<std::string>{bytes};
  }
  SHOAL_TRY(view, client.get(key, s.options));
  if (!view.found) return std::optional<std::string>{};
  return std::optional<std::string>{view.context};
}

// "a.b.c:counter" + op words -> a (possibly nested) map op.
Result<crdt::AnyOp> field_op(crdt::TypeTag type, const std::vector<std::string>& words, std::size_t at) {
  auto need = [&](std::size_t n) -> Result<void> {
    if (words.size() < at + n)
      return shoal::make_error(Errc::invalid_argument, "the " + tag_name(type) + " operation needs more arguments");
    return shoal::ok();
  };
  SHOAL_TRYV(need(1));
  const std::string& op = words[at];
  switch (type) {
    case crdt::TypeTag::pn_counter: {
      std::int64_t n = 1;
      if (words.size() > at + 1) n = std::strtoll(words[at + 1].c_str(), nullptr, 10);
      if (op == "incr") return crdt::AnyOp{crdt::PnCounter::Op::increment(n)};
      if (op == "decr") return crdt::AnyOp{crdt::PnCounter::Op::decrement(n)};
      break;
    }
    case crdt::TypeTag::orswot: {
      SHOAL_TRYV(need(2));
      std::vector<std::string> elements(words.begin() + static_cast<std::ptrdiff_t>(at + 1), words.end());
      if (op == "add") return crdt::AnyOp{crdt::Orswot::Op::add_all(elements)};
      if (op == "remove") return crdt::AnyOp{crdt::Orswot::Op::remove_all(elements)};
      break;
    }
    case crdt::TypeTag::lww_register:
      SHOAL_TRYV(need(2));
      if (op == "set") return crdt::AnyOp{crdt::LwwRegister::Op{words[at + 1], {}}};
      break;
    case crdt::TypeTag::flag:
      if (op == "enable") return crdt::AnyOp{crdt::EnableWinsFlag::Op::enable};
      if (op == "disable") return crdt::AnyOp{crdt::EnableWinsFlag::Op::disable};
      break;
    case crdt::TypeTag::hll:
      SHOAL_TRYV(need(2));
      if (op == "add") return crdt::AnyOp{crdt::Hll::Op::add(words[at + 1])};
      break;
    default:
      break;
  }
  return shoal::make_error(Errc::invalid_argument, "unknown " + tag_name(type) + " operation '" + op + "'");
}

Result<crdt::AnyOp> map_op(const std::string& path_spec, bool remove, const std::vector<std::string>& words,
                           std::size_t at, const std::optional<crdt::VClock>& context) {
  auto colon = path_spec.rfind(':');
  if (colon == std::string::npos)
    return shoal::make_error(Errc::invalid_argument, "map field '" + path_spec + "' must be NAME:TYPE");
  SHOAL_TRY(type, parse_tag(path_spec.substr(colon + 1)));
  std::vector<std::string> path;
  std::stringstream in(path_spec.substr(0, colon));
  for (std::string part; std::getline(in, part, '.');) path.push_back(part);
  if (path.empty() || path.back().empty()) return shoal::make_error(Errc::invalid_argument, "empty map field name");
  crdt::MapOp leaf;
  if (remove) {
    leaf.fields.push_back(crdt::MapFieldOp::remove(path.back(), type, context));
  } else {
    SHOAL_TRY(op, field_op(type, words, at));
    leaf.fields.push_back(crdt::MapFieldOp::update(path.back(), std::move(op)));
  }
  crdt::AnyOp op{std::move(leaf)};
  for (std::size_t i = path.size() - 1; i-- > 0;) {
    crdt::MapOp outer;
    outer.fields.push_back(crdt::MapFieldOp::update(path[i], std::move(op)));
    op = crdt::AnyOp{std::move(outer)};
  }
  return op;
}

int print_help(const std::string& which) {
  if (!which.empty()) {
    for (const auto& c : kCommands)
      if (which == c.name) {
        std::cout << "usage: " << c.usage << "\n  " << c.help << "\n";
        return kOk;
      }
    return fail("no command '" + which + "' (try help)");
  }
  std::cout << "commands:\n";
  for (const auto& c : kCommands) std::cout << "  " << c.usage << "\n";
  std::cout << kOptionsHelp;
  return kOk;
}

// ---- admin: cluster changes, transfers, bucket types ------------------------------------

// A flat JSON object {"key": value, ...} (strings, numbers, booleans) as
// "key=value,..." bucket properties.
Result<std::string> json_props(std::string_view text) {
  std::size_t i = 0;
  auto bad = [&](const std::string& what) {
    return shoal::make_error(Errc::invalid_argument,
                             "--props: " + what + " at offset " + std::to_string(i) +
                                 " (expected a JSON object such as '{\"n_val\": 3, \"datatype\": \"set\"}')");
  };
  auto space = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  auto string_at = [&](std::string& out) -> bool {
    if (i >= text.size() || text[i] != '"') return false;
    ++i;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\') {
        if (++i >= text.size()) return false;
        char c = text[i];
        if (c != '"' && c != '\\' && c != '/') return false;  // property values need no other escapes
      }
      out += text[i++];
    }
    if (i >= text.size()) return false;
    ++i;
    return true;
  };
  std::string out;
  space();
  if (i >= text.size() || text[i] != '{') return bad("no opening {");
  ++i;
  space();
  bool first = true;
  while (i < text.size() && text[i] != '}') {
    if (!first) {
      if (text[i] != ',') return bad("expected , or }");
      ++i;
      space();
    }
    first = false;
    std::string key, value;
    if (!string_at(key) || key.empty()) return bad("expected a quoted property name");
    space();
    if (i >= text.size() || text[i] != ':') return bad("expected :");
    ++i;
    space();
    if (i < text.size() && text[i] == '"') {
      if (!string_at(value)) return bad("unterminated string");
    } else {
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '-' || text[i] == '.'))
        value += text[i++];
      if (value.empty()) return bad("expected a value (string, number, true or false)");
    }
    if (key.find_first_of(",=") != std::string::npos || value.find_first_of(",=") != std::string::npos)
      return bad("names and values cannot contain ',' or '='");
    out += (out.empty() ? "" : ",") + key + "=" + value;
    space();
  }
  if (i >= text.size()) return bad("no closing }");
  ++i;
  space();
  if (i != text.size()) return bad("text after the closing }");
  return out;
}

std::string human_bytes(std::uint64_t bytes) {
  char buffer[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buffer, sizeof buffer, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buffer, sizeof buffer, "%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buffer, sizeof buffer, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buffer, sizeof buffer, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buffer;
}

void transfers_json(JsonWriter& j, const std::vector<net::TransferView>& transfers) {
  j.begin_array();
  for (const auto& t : transfers) {
    j.begin_object()
        .key("partition")
        .number(std::int64_t{t.partition})
        .key("from")
        .string(t.from)
        .key("to")
        .string(t.to);
    j.key("state").string(t.state).key("keys_sent").number(static_cast<std::int64_t>(t.keys_sent));
    j.key("bytes_sent").number(static_cast<std::int64_t>(t.bytes_sent));
    j.key("keys_estimate").number(static_cast<std::int64_t>(t.keys_estimate));
    j.key("bytes_per_s").number(static_cast<std::int64_t>(t.bytes_per_s)).key("eta_s").number(t.eta_s).end_object();
  }
  j.end_array();
}

void print_transfer_line(const net::TransferView& t) {
  std::string bar;
  if (t.keys_estimate > 0) {
    double done = std::min(1.0, static_cast<double>(t.keys_sent) / static_cast<double>(t.keys_estimate));
    int filled = static_cast<int>(done * 20);
    bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
          std::string(static_cast<std::size_t>(20 - filled), '.') + "] " +
          std::to_string(static_cast<int>(done * 100)) + "%";
  } else {
    bar = "[" + std::string(20, '.') + "]   ";
  }
  std::printf("  %4u  %s -> %s  %-10s %s", t.partition, t.from.c_str(), t.to.c_str(), t.state.c_str(), bar.c_str());
  if (t.keys_sent > 0 || t.state == "running" || t.state == "repairing") {
    std::printf("  %llu", static_cast<unsigned long long>(t.keys_sent));
    if (t.keys_estimate > 0) std::printf("/%llu", static_cast<unsigned long long>(t.keys_estimate));
    std::printf(" keys  %s  %s/s", human_bytes(t.bytes_sent).c_str(), human_bytes(t.bytes_per_s).c_str());
    if (t.eta_s >= 0) std::printf("  ETA %llds", static_cast<long long>(t.eta_s));
  }
  std::printf("\n");
}

int admin_cluster(Client& client, const std::vector<std::string>& w, const Settings& s) {
  static const char* usage =
      "usage: admin cluster join NODE | leave [NODE] | force-remove NODE | replace OLD NEW | plan | commit | clear";
  if (w.size() < 3) return fail(usage);
  const std::string& command = w[2];
  std::vector<std::string> args(w.begin() + 3, w.end());
  std::size_t want_min = 0, want_max = 0;
  if (command == "join" || command == "force-remove") {
    want_min = want_max = 1;
  } else if (command == "leave") {
    want_max = 1;
  } else if (command == "replace") {
    want_min = want_max = 2;
  } else if (command != "plan" && command != "commit" && command != "clear") {
    return fail(usage);
  }
  if (args.size() < want_min || args.size() > want_max) return fail(usage);
  auto r = client.cluster_admin(s.hosts.front(), command, args);
  if (!r) return fail(r.error());
  const auto& reply = r.value();
  if (s.json) {
    JsonWriter j;
    j.begin_object().key("message").string(reply.message).key("staged").begin_array();
    for (const auto& c : reply.staged) j.string(c);
    j.end_array().key("transfers");
    transfers_json(j, reply.transfers);
    j.key("ownership").begin_array();
    for (const auto& o : reply.ownership)
      j.begin_object()
          .key("node")
          .string(o.node)
          .key("partitions_now")
          .number(std::int64_t{o.partitions_now})
          .key("partitions_after")
          .number(std::int64_t{o.partitions_after})
          .end_object();
    j.end_array().end_object();
    std::cout << j.str() << "\n";
    return kOk;
  }
  if (command == "plan" || command == "commit") {
    if (command == "plan" && !reply.staged.empty()) {
      std::cout << "Staged changes:\n";
      for (const auto& c : reply.staged) std::cout << "  " << c << "\n";
    }
    std::cout << (command == "plan" ? "Transfers this plan makes" : "Transfers started") << " ("
              << reply.transfers.size() << "):\n";
    for (const auto& t : reply.transfers)
      std::printf("  %4u  %s -> %s%s\n", t.partition, t.from.c_str(), t.to.c_str(),
                  t.state == "repair" ? "  (rebuilt from the surviving replicas)" : "");
    std::cout << "Ownership (partitions now -> after):\n";
    for (const auto& o : reply.ownership)
      std::printf("  %-32s %4u -> %4u\n", o.node.c_str(), o.partitions_now, o.partitions_after);
  }
  std::cout << reply.message << "\n";
  return kOk;
}

int admin_transfers(Client& client, const std::vector<std::string>& w, const Settings& s) {
  if (w.size() != 2) return fail("usage: admin transfers");
  auto r = client.cluster_admin(s.hosts.front(), "transfers");
  if (!r) return fail(r.error());
  if (s.json) {
    JsonWriter j;
    transfers_json(j, r.value().transfers);
    std::cout << j.str() << "\n";
    if (!r.value().message.empty()) std::fprintf(stderr, "note: %s\n", r.value().message.c_str());
    return kOk;
  }
  if (r.value().transfers.empty()) std::cout << "no transfers pending or running\n";
  for (const auto& t : r.value().transfers) print_transfer_line(t);
  if (!r.value().message.empty()) std::cout << "note: " << r.value().message << "\n";
  return kOk;
}

// admin aae status|exchange, admin merkle-roots, admin hints: a table
// gathered from every node, printed aligned or as a JSON array of objects.
int admin_report(Client& client, const std::string& report, const Settings& s) {
  auto r = client.cluster_admin(s.hosts.front(), report);
  if (!r) return fail(r.error());
  const net::Table& t = r.value().table;
  if (s.json) {
    JsonWriter j;
    j.begin_array();
    for (const auto& row : t.rows) {
      j.begin_object();
      for (std::size_t c = 0; c < t.columns.size() && c < row.size(); ++c) {
        j.key(t.columns[c]);
        if (row[c].is_text) {
          j.string(row[c].text);
        } else {
          j.number(row[c].number);
        }
      }
      j.end_object();
    }
    j.end_array();
    std::cout << j.str() << "\n";
    if (!r.value().message.empty()) std::fprintf(stderr, "note: %s\n", r.value().message.c_str());
    return kOk;
  }
  std::vector<std::vector<std::string>> cells;
  cells.push_back(t.columns);
  for (const auto& row : t.rows) {
    std::vector<std::string> line;
    for (const auto& v : row) line.push_back(v.is_text ? v.text : std::to_string(v.number));
    cells.push_back(std::move(line));
  }
  std::vector<std::size_t> width(t.columns.size(), 0);
  for (const auto& line : cells)
    for (std::size_t c = 0; c < line.size() && c < width.size(); ++c) width[c] = std::max(width[c], line[c].size());
  if (t.rows.empty()) {
    std::cout << (report == "hints" ? "no hints held\n" : "nothing to show\n");
  } else {
    for (const auto& line : cells) {
      std::string out;
      for (std::size_t c = 0; c < line.size() && c < width.size(); ++c) {
        out += line[c];
        if (c + 1 < line.size()) out += std::string(width[c] - line[c].size() + 2, ' ');
      }
      std::cout << out << "\n";
    }
  }
  if (!r.value().message.empty()) std::cout << "note: " << r.value().message << "\n";
  return kOk;
}

int admin_bucket_type(Client& client, const std::vector<std::string>& w, const Settings& s) {
  static const char* usage = "usage: admin bucket-type create|update NAME --props JSON | show NAME | list";
  if (w.size() < 3) return fail(usage);
  const std::string& command = w[2];
  std::string name, props;
  if (command == "create" || command == "update") {
    if (w.size() != 4) return fail(usage);
    if (!s.props) return fail("bucket-type " + command + " needs --props '{...}'");
    auto parsed = json_props(*s.props);
    if (!parsed) return fail(parsed.error());
    name = w[3];
    props = parsed.value();
  } else if (command == "show") {
    if (w.size() != 4) return fail(usage);
    name = w[3];
  } else if (command != "list" || w.size() != 3) {
    return fail(usage);
  }
  auto r = client.bucket_type_admin(s.hosts.front(), command, name, props);
  if (!r) return fail(r.error());
  if (s.json) {
    JsonWriter j;
    j.begin_object();
    if (!r.value().message.empty()) j.key("message").string(r.value().message);
    j.key("bucket_types").begin_object();
    for (const auto& [type, text] : r.value().types) {
      j.key(type).begin_object();
      std::stringstream items(text);
      for (std::string item; std::getline(items, item, ',');) {
        auto eq = item.find('=');
        if (eq != std::string::npos) j.key(item.substr(0, eq)).string(item.substr(eq + 1));
      }
      j.end_object();
    }
    j.end_object().end_object();
    std::cout << j.str() << "\n";
    return kOk;
  }
  if (!r.value().message.empty()) std::cout << r.value().message << "\n";
  for (const auto& [type, text] : r.value().types) std::cout << "  " << type << "  " << text << "\n";
  return kOk;
}

int run(Client& client, std::vector<std::string> args, Settings s) {
  auto taken = take_options(args, s, false);
  if (!taken) return fail(taken.error());
  std::vector<std::string> w = taken.value();
  if (w.empty()) return kOk;
  const std::string& cmd = w[0];
  auto key_at = [&](std::size_t i) -> Result<Key> {
    if (w.size() <= i)
      return shoal::make_error(Errc::invalid_argument, "missing TYPE/BUCKET/KEY (see help " + cmd + ")");
    return shoal::client::parse_key(w[i]);
  };
  auto update = [&](const Key& key, crdt::AnyOp op, std::optional<std::string> context) -> int {
    auto r = client.update(key, std::move(op), std::move(context), s.options);
    if (!r) return fail(r.error());
    return print_view(s, r.value(), true);
  };
  auto fetch = [&](const Key& key) -> int {
    auto r = client.get(key, s.options);
    if (!r) return fail(r.error());
    return print_view(s, r.value(), false);
  };

  if (cmd == "help") return print_help(w.size() > 1 ? w[1] : "");
  if (cmd == "get" || cmd == "fetch") {
    auto key = key_at(1);
    if (!key) return fail(key.error());
    return fetch(key.value());
  }
  if (cmd == "put") {
    auto key = key_at(1);
    if (!key) return fail(key.error());
    std::string value;
    if (s.file) {
      std::ifstream in(*s.file, std::ios::binary);
      if (!in) return fail("cannot read " + *s.file);
      value = read_all(in).value();
    } else if (w.size() > 2 && w[2] != "-") {
      value = w[2];
    } else if (w.size() > 2 || !isatty(STDIN_FILENO)) {
      value = read_all(std::cin).value();
    } else {
      return fail("put needs a VALUE, --file F, or '-' to read stdin");
    }
    shoal::client::PutOptions options;
    options.content_type = s.content_type;
    options.request = s.options;
    auto context = context_bytes(s);
    if (!context) return fail(context.error());
    if (s.context) options.context = context.value();
    auto r = client.put(key.value(), std::move(value), options);
    if (!r) return fail(r.error());
    return print_view(s, r.value(), true);
  }
  if (cmd == "delete") {
    auto key = key_at(1);
    if (!key) return fail(key.error());
    auto r = client.del(key.value(), optional_context(s), s.options);
    if (!r) return fail(r.error());
    if (s.json) {
      std::cout << "{\"deleted\": true}\n";
    } else {
      std::cout << "deleted\n";
    }
    return kOk;
  }
  if (cmd == "list-keys" || cmd == "list-buckets") {
    if (w.size() < 2) return fail("usage: " + cmd + (cmd == "list-keys" ? " TYPE/BUCKET" : " TYPE"));
    Result<std::vector<std::string>> names = std::vector<std::string>{};
    if (cmd == "list-keys") {
      auto bucket = shoal::client::parse_bucket(w[1]);
      if (!bucket) return fail(bucket.error());
      names = client.list_keys(bucket.value().first, bucket.value().second, s.options);
    } else {
      names = client.list_buckets(w[1], s.options);
    }
    if (!names) return fail(names.error());
    std::sort(names.value().begin(), names.value().end());
    if (s.json) {
      JsonWriter j;
      j.begin_object().key(cmd == "list-keys" ? "keys" : "buckets").begin_array();
      for (const auto& n : names.value()) j.bytes(n);
      j.end_array().end_object();
      std::cout << j.str() << "\n";
    } else {
      for (const auto& n : names.value()) std::cout << printable(n) << "\n";
    }
    return kOk;
  }
  if (cmd == "counter" || cmd == "set" || cmd == "register" || cmd == "flag" || cmd == "hll" || cmd == "map") {
    if (w.size() < 3) return print_help(cmd) == kOk ? kError : kError;
    const std::string& op = w[1];
    auto key = key_at(2);
    if (!key) return fail(key.error());
    if (op == "get") return fetch(key.value());
    if (cmd == "counter") {
      std::int64_t n = 1;
      if (w.size() > 3) {
        auto [end, ec] = std::from_chars(w[3].data(), w[3].data() + w[3].size(), n);
        if (ec != std::errc{} || end != w[3].data() + w[3].size()) return fail("counter amount must be an integer");
      }
      if (op == "incr") return update(key.value(), crdt::PnCounter::Op::increment(n), std::nullopt);
      if (op == "decr") return update(key.value(), crdt::PnCounter::Op::decrement(n), std::nullopt);
    } else if (cmd == "set") {
      std::vector<std::string> elements(w.begin() + 3, w.end());
      if (elements.empty()) return fail("set " + op + " needs at least one element");
      if (op == "add") return update(key.value(), crdt::Orswot::Op::add_all(elements), std::nullopt);
      if (op == "remove") {
        auto context = read_context(client, key.value(), s);
        if (!context) return fail(context.error());
        if (!context.value()) return fail("not found: the set is empty");
        auto clock = net::decode_context(*context.value());
        if (!clock) return fail(clock.error());
        return update(key.value(), crdt::Orswot::Op::remove_all(elements, clock.value()), context.value());
      }
    } else if (cmd == "register") {
      if (op == "set" && w.size() == 4) return update(key.value(), crdt::LwwRegister::Op{w[3], {}}, std::nullopt);
    } else if (cmd == "flag") {
      if (op == "enable") return update(key.value(), crdt::EnableWinsFlag::Op::enable, std::nullopt);
      if (op == "disable") return update(key.value(), crdt::EnableWinsFlag::Op::disable, std::nullopt);
    } else if (cmd == "hll") {
      if (op == "add") {
        if (w.size() < 4) return fail("hll add needs at least one element");
        int code = kOk;
        for (std::size_t i = 3; i < w.size() && code == kOk; ++i) {
          auto r = client.update(key.value(), crdt::Hll::Op::add(w[i]), std::nullopt, s.options);
          if (!r) code = fail(r.error());
        }
        if (code == kOk) std::cout << (s.json ? "{\"ok\": true}\n" : "ok\n");
        return code;
      }
    } else if (cmd == "map") {
      if ((op == "update" && w.size() >= 5) || (op == "remove" && w.size() == 4)) {
        std::optional<std::string> context;
        std::optional<crdt::VClock> clock;
        if (op == "remove") {
          auto read = read_context(client, key.value(), s);
          if (!read) return fail(read.error());
          context = read.value();
          if (!context) return fail("not found: the map is empty");
          auto decoded = net::decode_context(*context);
          if (!decoded) return fail(decoded.error());
          clock = decoded.value();
        }
        auto mop = map_op(w[3], op == "remove", w, 4, clock);
        if (!mop) return fail(mop.error());
        return update(key.value(), std::move(mop).value(), context);
      }
    }
    return fail("usage: " + std::string([&] {
                  for (const auto& c : kCommands)
                    if (cmd == c.name) return c.usage;
                  return "";
                }()));
  }
  if (cmd == "ping") {
    auto r = client.ping(s.hosts.front());
    if (!r) return fail(r.error());
    if (s.json) {
      std::cout << JsonWriter()
                       .begin_object()
                       .key("node")
                       .string(r.value().node)
                       .key("version")
                       .string(r.value().version)
                       .end_object()
                       .str()
                << "\n";
    } else {
      std::cout << "pong from " << r.value().node << " (" << r.value().version << ")\n";
    }
    return kOk;
  }
  if (cmd == "status") {
    auto r = client.status(s.hosts.front());
    if (!r) return fail(r.error());
    if (s.json) {
      JsonWriter j;
      j.begin_object();
      for (const auto& [name, value] : r.value()) {
        j.key(name);
        if (value.is_text) {
          j.string(value.text);
        } else {
          j.number(value.number);
        }
      }
      j.end_object();
      std::cout << j.str() << "\n";
    } else {
      for (const auto& [name, value] : r.value()) {
        std::printf("%-28s %s\n", name.c_str(),
                    value.is_text ? value.text.c_str() : std::to_string(value.number).c_str());
      }
    }
    return kOk;
  }
  if (cmd == "ring") {
    auto r = client.ring(s.hosts.front());
    if (!r) return fail(r.error());
    const auto& ring = r.value();
    if (s.json) {
      JsonWriter j;
      j.begin_object().key("cluster").string(ring.cluster).key("ring_size").number(std::int64_t{ring.ring_size});
      j.key("partitions").begin_array();
      for (std::size_t i = 0; i < ring.owners.size(); ++i)
        j.begin_object()
            .key("index")
            .number(static_cast<std::int64_t>(i))
            .key("owner")
            .string(ring.owners[i])
            .end_object();
      j.end_array().key("members").begin_array();
      for (const auto& m : ring.members)
        j.begin_object()
            .key("node")
            .string(m.node)
            .key("status")
            .string(m.status)
            .key("location")
            .string(m.location)
            .end_object();
      j.end_array().key("bucket_types").begin_object();
      for (const auto& [name, props] : ring.bucket_types) j.key(name).string(props);
      j.end_object().end_object();
      std::cout << j.str() << "\n";
    } else {
      std::cout << "cluster " << ring.cluster << ", " << ring.ring_size << " partitions\n";
      std::map<std::string, int> counts;
      for (const auto& o : ring.owners) ++counts[o];
      for (const auto& m : ring.members)
        std::cout << "  " << m.node << "  " << m.status << "  " << counts[m.node] << " partitions"
                  << (m.location.empty() ? "" : "  location " + m.location) << "\n";
      for (std::size_t i = 0; i < ring.owners.size(); ++i) std::printf("%4zu %s\n", i, ring.owners[i].c_str());
      std::cout << "bucket types:\n";
      for (const auto& [name, props] : ring.bucket_types) std::cout << "  " << name << "  " << props << "\n";
    }
    return kOk;
  }
  if (cmd == "members") {
    auto r = client.members(s.hosts.front());
    if (!r) return fail(r.error());
    if (s.json) {
      JsonWriter j;
      j.begin_object().key("views").begin_array();
      for (const auto& v : r.value()) {
        j.begin_object()
            .key("viewer")
            .string(v.viewer)
            .key("answered")
            .boolean(v.answered)
            .key("members")
            .begin_array();
        for (const auto& m : v.members)
          j.begin_object()
              .key("node")
              .string(m.node)
              .key("status")
              .string(m.status)
              .key("reachable")
              .boolean(m.reachable)
              .end_object();
        j.end_array().end_object();
      }
      j.end_array().end_object();
      std::cout << j.str() << "\n";
    } else {
      for (const auto& v : r.value()) {
        std::cout << "as seen from " << v.viewer << (v.answered ? ":" : ": (no answer)") << "\n";
        for (const auto& m : v.members)
          std::printf("  %-28s %-8s %s\n", m.node.c_str(), m.status.c_str(), m.reachable ? "reachable" : "UNREACHABLE");
      }
    }
    return kOk;
  }
  if (cmd == "admin" && w.size() >= 2 && w[1] == "cluster") return admin_cluster(client, w, s);
  if (cmd == "admin" && w.size() >= 2 && w[1] == "transfers") return admin_transfers(client, w, s);
  if (cmd == "admin" && w.size() >= 2 && w[1] == "bucket-type") return admin_bucket_type(client, w, s);
  if (cmd == "admin" && w.size() >= 2 && w[1] == "aae") {
    if (w.size() != 3 || (w[2] != "status" && w[2] != "exchange")) return fail("usage: admin aae status|exchange");
    return admin_report(client, "aae-" + w[2], s);
  }
  if (cmd == "admin" && w.size() >= 2 && (w[1] == "merkle-roots" || w[1] == "hints")) {
    if (w.size() != 2) return fail("usage: admin " + w[1]);
    return admin_report(client, w[1], s);
  }
  if (cmd == "admin" && w.size() == 4 && w[1] == "failpoint") {
    auto r = client.set_failpoint(s.hosts.front(), w[2], w[3]);
    if (!r) return fail(r.error());
    std::cout << (s.json ? "{\"ok\": true}\n" : "ok\n");
    return kOk;
  }
  if (cmd == "admin") {
    if (w.size() < 3 || w[1] != "replica-get")
      return fail(
          "usage: admin replica-get TYPE/BUCKET/KEY | failpoint NAME SPEC | cluster ... | transfers | "
          "bucket-type ... | aae status|exchange | merkle-roots | hints (see help admin)");
    auto key = key_at(2);
    if (!key) return fail(key.error());
    auto r = client.replica_get(key.value());
    if (!r) return fail(r.error());
    if (s.json) {
      JsonWriter j;
      j.begin_object().key("replicas").begin_array();
      for (const auto& rep : r.value()) {
        j.begin_object().key("node").string(rep.node).key("partition").number(std::int64_t{rep.partition});
        j.key("primary").boolean(rep.primary).key("found").boolean(rep.status == 0);
        if (rep.status == 2) j.key("error").string(rep.error);
        siblings_json(j, rep.object.siblings, true);
        if (rep.object.value) {
          j.key("value");
          value_json(j, *rep.object.value);
        }
        j.key("context").string(shoal::tools::base64_encode(rep.object.context));
        j.end_object();
      }
      j.end_array().end_object();
      std::cout << j.str() << "\n";
    } else {
      for (const auto& rep : r.value()) {
        std::cout << rep.node << " partition " << rep.partition << (rep.primary ? " (primary)" : " (fallback)") << ": ";
        if (rep.status == 1) {
          std::cout << "not found\n";
        } else if (rep.status == 2) {
          std::cout << "error: " << rep.error << "\n";
        } else if (rep.object.value) {
          value_text(std::cout, *rep.object.value, 2);
        } else {
          std::cout << rep.object.siblings.size() << " sibling(s)\n";
          for (const auto& sib : rep.object.siblings)
            std::cout << "    " << (sib.deleted ? "(tombstone)" : printable(sib.value)) << "  "
                      << format_time(sib.last_modified_us) << "\n";
        }
      }
    }
    return kOk;
  }
  return fail("unknown command '" + cmd + "' (try help)");
}

// ---- interactive ---------------------------------------------------------------------

std::vector<std::string> split_line(const std::string& line) {
  std::vector<std::string> out;
  std::string current;
  bool in_token = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < line.size()) {
        current += line[++i];
      } else {
        current += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_token = true;
    } else if (c == ' ' || c == '\t') {
      if (in_token) out.push_back(current);
      current.clear();
      in_token = false;
    } else {
      current += c;
      in_token = true;
    }
  }
  if (in_token) out.push_back(current);
  return out;
}

char* complete_command(const char* text, int state) {
  static std::size_t index;
  if (state == 0) index = 0;
  std::size_t length = std::strlen(text);
  while (index < kCommands.size()) {
    const char* name = kCommands[index++].name;
    if (std::strncmp(name, text, length) == 0) return strdup(name);
  }
  return nullptr;
}

char** completion(const char* text, int start, int) {
  rl_attempted_completion_over = 1;
  if (start == 0) return rl_completion_matches(text, complete_command);
  return nullptr;
}

int interactive(Client& client, const Settings& s) {
  std::string history;
  if (const char* home = std::getenv("HOME")) history = std::string(home) + "/.shoal_history";
  if (!history.empty()) read_history(history.c_str());
  rl_attempted_completion_function = completion;
  auto ping = client.ping(s.hosts.front());
  std::cout << "Shoal shell — "
            << (ping ? "connected to " + ping.value().node : "no answer yet from " + s.hosts.front())
            << ". Type help for commands, quit to leave.\n";
  for (;;) {
    char* raw = readline("shoal> ");
    if (!raw) break;
    std::string line(raw);
    std::free(raw);
    auto words = split_line(line);
    if (words.empty()) continue;
    add_history(line.c_str());
    if (words[0] == "quit" || words[0] == "exit") break;
    run(client, words, s);
  }
  if (!history.empty()) write_history(history.c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "--help" || args[0] == "help")) {
    print_help(args.size() > 1 ? args[1] : "");
    return kOk;
  }
  Settings settings;
  // Global options (-h, --json...) may come anywhere; commands repeat the parse.
  auto words = take_options(args, settings, true);
  if (!words) die_usage(words.error().message);
  shoal::client::ClientOptions options;
  options.nodes = settings.hosts;
  if (settings.options.timeout_ms) {
    options.timeout_ms = *settings.options.timeout_ms;
    options.connect_timeout_ms = std::min(options.connect_timeout_ms, *settings.options.timeout_ms);
  }
  auto client = Client::connect(options);
  if (!client) die_usage(client.error().message);
  std::vector<std::string> command;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-h" || args[i] == "--host") && i + 1 < args.size()) {
      ++i;
      continue;
    }
    command.push_back(args[i]);
  }
  if (words.value().empty()) return interactive(*client.value(), settings);
  return run(*client.value(), command, Settings{settings.hosts, false, {}, "text/plain", {}, {}, {}});
}
