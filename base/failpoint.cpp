#include "base/failpoint.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace shoal::failpoint {
namespace {

struct Entry {
  Action action = Action::none;
  std::uint32_t percent = 100;
  std::int64_t remaining = -1;  // -1: forever
  std::int64_t delay_ms = 0;
  std::uint64_t fired = 0;
};

struct Registry {
  std::mutex mutex;
  std::map<std::string, Entry, std::less<>> entries;
};

std::atomic<bool> g_enabled{false};
std::atomic<int> g_armed{0};

Registry& registry() {
  static Registry r;
  return r;
}

Result<std::int64_t> parse_number(std::string_view text, std::string_view what) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 0)
    return make_error(Errc::invalid_argument, "failpoint spec: bad " + std::string(what) + " '" + std::string(text) + "'");
  return value;
}

Result<Entry> parse_spec(std::string_view spec) {
  Entry e;
  if (auto pct = spec.find('%'); pct != std::string_view::npos) {
    SHOAL_TRY(p, parse_number(spec.substr(0, pct), "percentage"));
    if (p > 100) return make_error(Errc::invalid_argument, "failpoint spec: percentage over 100");
    e.percent = static_cast<std::uint32_t>(p);
    spec.remove_prefix(pct + 1);
  }
  if (auto star = spec.find('*'); star != std::string_view::npos) {
    SHOAL_TRY(n, parse_number(spec.substr(0, star), "count"));
    e.remaining = n;
    spec.remove_prefix(star + 1);
  }
  std::string_view arg;
  if (auto open = spec.find('('); open != std::string_view::npos) {
    if (spec.back() != ')') return make_error(Errc::invalid_argument, "failpoint spec: missing ')'");
    arg = spec.substr(open + 1, spec.size() - open - 2);
    spec = spec.substr(0, open);
  }
  if (spec == "off") {
    e.action = Action::none;
  } else if (spec == "error" || spec == "return") {
    e.action = Action::error;
  } else if (spec == "throw" || spec == "panic") {
    e.action = Action::throw_exception;
  } else if (spec == "delay" || spec == "sleep") {
    e.action = Action::delay;
    SHOAL_TRY(ms, parse_number(arg, "delay"));
    e.delay_ms = ms;
  } else if (spec == "drop") {
    e.action = Action::drop;
  } else if (spec == "abort") {
    e.action = Action::abort;
  } else {
    return make_error(Errc::invalid_argument, "failpoint spec: unknown action '" + std::string(spec) +
                                                  "' (expected off, error, throw, delay(ms), drop or abort)");
  }
  if (e.remaining == 0) e.action = Action::none;  // "0*error" never fires
  if (e.action != Action::delay && !arg.empty())
    return make_error(Errc::invalid_argument, "failpoint spec: only delay takes an argument");
  return e;
}

bool roll(std::uint32_t percent) {
  if (percent >= 100) return true;
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<std::uint32_t>(0, 99)(rng) < percent;
}

}  // namespace

void enable() { g_enabled.store(true); }
bool enabled() { return g_enabled.load(); }

Result<void> set(std::string_view name, std::string_view spec) {
  if (!enabled()) return make_error(Errc::precondition_failed, "failpoints are disabled (start with --enable-failpoints)");
  if (name.empty()) return make_error(Errc::invalid_argument, "failpoint name is empty");
  SHOAL_TRY(entry, parse_spec(spec));
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.entries.find(name);
  bool was_armed = it != r.entries.end() && it->second.action != Action::none;
  bool now_armed = entry.action != Action::none;
  r.entries.insert_or_assign(std::string(name), entry);
  g_armed += int(now_armed) - int(was_armed);
  return ok();
}

Result<void> configure(std::string_view list) {
  while (!list.empty()) {
    auto end = list.find(';');
    auto item = list.substr(0, end);
    list = end == std::string_view::npos ? std::string_view{} : list.substr(end + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      return make_error(Errc::invalid_argument, "failpoint list: expected name=spec, got '" + std::string(item) + "'");
    SHOAL_TRYV(set(item.substr(0, eq), item.substr(eq + 1)));
  }
  return ok();
}

void clear(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  if (auto it = r.entries.find(name); it != r.entries.end()) {
    if (it->second.action != Action::none) --g_armed;
    r.entries.erase(it);
  }
}

void clear_all() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.entries.clear();
  g_armed = 0;
}

Action eval(std::string_view name) {
  if (g_armed.load(std::memory_order_relaxed) == 0) return Action::none;
  Action action;
  std::int64_t delay_ms = 0;
  {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.entries.find(name);
    if (it == r.entries.end() || it->second.action == Action::none) return Action::none;
    Entry& e = it->second;
    if (!roll(e.percent)) return Action::none;
    action = e.action;
    delay_ms = e.delay_ms;
    ++e.fired;
    if (e.remaining > 0 && --e.remaining == 0) {
      e.action = Action::none;
      --g_armed;
    }
  }
  switch (action) {
    case Action::delay:
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      return Action::none;
    case Action::abort:
      std::abort();
    default:
      return action;
  }
}

Result<void> check(std::string_view name) {
  switch (eval(name)) {
    case Action::none:
    case Action::delay:
    case Action::abort:
      return ok();
    case Action::throw_exception:
      throw Injected("failpoint " + std::string(name));
    case Action::error:
    case Action::drop:
      return make_error(Errc::injected, "failpoint " + std::string(name) + " fired");
  }
  return ok();
}

std::uint64_t fired_count(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.entries.find(name);
  return it == r.entries.end() ? 0 : it->second.fired;
}

}  // namespace shoal::failpoint
