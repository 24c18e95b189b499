#include "tools/shoal_chaos/history.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

namespace shoal::chaos {

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::ok:
      return "ok";
    case Outcome::fail:
      return "fail";
    case Outcome::info:
      return "info";
  }
  return "?";
}

std::int64_t History::now_us() const {
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  return now - start_us_;
}

void History::add(Op op) {
  std::lock_guard lock(mutex_);
  op.id = next_id_++;
  ops_.push_back(std::move(op));
}

void History::add_event(NemesisEvent event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
}

std::vector<Op> History::ops() const {
  std::lock_guard lock(mutex_);
  return ops_;
}

std::vector<NemesisEvent> History::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::size_t History::size() const {
  std::lock_guard lock(mutex_);
  return ops_.size();
}

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

std::string op_json(const Op& op, bool invoke) {
  std::string out = "{\"index\":" + std::to_string(op.id) +
                    ",\"type\":" + json_quote(invoke ? "invoke" : outcome_name(op.outcome)) +
                    ",\"time_us\":" + std::to_string(invoke ? op.invoke_us : op.complete_us) +
                    ",\"process\":" + std::to_string(op.process) + ",\"node\":" + json_quote(op.node) +
                    ",\"workload\":" + json_quote(op.workload) + ",\"f\":" + json_quote(op.f) +
                    ",\"key\":" + json_quote(op.key) + ",\"value\":" + json_quote(op.value);
  if (!invoke) {
    if (!op.error.empty()) out += ",\"error\":" + json_quote(op.error);
    if (op.number) out += ",\"read\":" + std::to_string(*op.number);
    if (!op.seen.empty() || op.f == "read" || op.f == "final-read") {
      out += ",\"seen\":[";
      for (std::size_t i = 0; i < op.seen.size(); ++i) out += (i ? "," : "") + json_quote(op.seen[i]);
      out += "]";
    }
  }
  return out + "}";
}

}  // namespace

bool History::write_jsonl(const std::string& path, std::string* error) const {
  auto ops = this->ops();
  auto events = this->events();
  struct Line {
    std::int64_t time;
    std::uint64_t order;
    std::string text;
  };
  std::vector<Line> lines;
  lines.reserve(ops.size() * 2 + events.size());
  std::uint64_t order = 0;
  for (const auto& op : ops) {
    lines.push_back({op.invoke_us, order++, op_json(op, true)});
    lines.push_back({op.complete_us, order++, op_json(op, false)});
  }
  for (const auto& e : events)
    lines.push_back({e.time_us, order++,
                     "{\"type\":\"nemesis\",\"time_us\":" + std::to_string(e.time_us) +
                         ",\"action\":" + json_quote(e.action) + ",\"kind\":" + json_quote(e.kind) +
                         ",\"detail\":" + json_quote(e.detail) + "}"});
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return a.time != b.time ? a.time < b.time : a.order < b.order; });
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    if (error) *error = "cannot write " + path;
    return false;
  }
  for (const auto& line : lines) out << line.text << '\n';
  out.flush();
  if (!out) {
    if (error) *error = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace shoal::chaos
