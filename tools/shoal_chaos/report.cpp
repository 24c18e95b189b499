// The HTML report of a shoal-chaos run: header and verdict, the summary table,
// a latency-over-time scatter plot and a throughput plot (inline SVG, fault
// windows shaded behind the points), the checker findings, convergence, the
// fault windows with the nemesis log, and per-node outcome counts. No scripts,
// no external references: every byte is in the one string returned. All text
// from the input goes through html_escape; every number written into the SVG
// is finite.
#include "tools/shoal_chaos/report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace shoal::chaos {

namespace {

// Dots are always drawn with one decimal and a CSS class per outcome (on
// their group); above this many ops they also lose their tooltips, which
// keeps a large report at about 45 bytes per op.
constexpr std::size_t kTooltipOpsMax = 20000;
// Details shown per finding; the rest are counted.
constexpr std::size_t kDetailsShown = 50;
// The latency axis floor (ms); lower latencies are drawn on it.
constexpr double kLatencyFloorMs = 0.1;
// At most this many throughput buckets (1 s each unless the run is longer).
constexpr double kThroughputBucketsMax = 2000;

// Plot layout, in px.
constexpr double kSvgWidth = 1100;
constexpr double kPlotLeft = 64;    // room for the value axis
constexpr double kLaneHeight = 11;  // one row of window labels
constexpr double kLegendRowHeight = 18;

// snprintf into a std::string (numbers only: input text never goes through a format).
[[gnu::format(printf, 1, 2)]] std::string strprintf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  char buf[128];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  std::string out;
  if (n > 0 && static_cast<std::size_t>(n) < sizeof buf) {
    out.assign(buf, static_cast<std::size_t>(n));
  } else if (n > 0) {
    out.resize(static_cast<std::size_t>(n) + 1);
    std::vsnprintf(out.data(), out.size(), format, again);
    out.resize(static_cast<std::size_t>(n));
  }
  va_end(again);
  return out;
}

// v when finite, else fallback: the SVG never sees a NaN or an infinity.
double finite_or(double v, double fallback) { return std::isfinite(v) ? v : fallback; }

// One decimal, the precision of every SVG coordinate.
std::string c1(double v) {
  std::string s = strprintf("%.1f", finite_or(v, 0));
  return s == "-0.0" ? "0.0" : s;
}

std::string count(std::size_t n) { return std::to_string(n); }

// ---- outcomes and fault kinds ----------------------------------------------

enum class Outcome { ok, info, fail, other };
constexpr Outcome kOutcomes[] = {Outcome::ok, Outcome::info, Outcome::fail, Outcome::other};

Outcome outcome_of(const std::string& text) {
  if (text == "ok") return Outcome::ok;
  if (text == "info") return Outcome::info;
  if (text == "fail") return Outcome::fail;
  return Outcome::other;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "ok";
    case Outcome::info:
      return "info";
    case Outcome::fail:
      return "fail";
    case Outcome::other:
      break;
  }
  return "other";
}

const char* outcome_color(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "#2e7d32";
    case Outcome::info:
      return "#f9a825";
    case Outcome::fail:
      return "#c62828";
    case Outcome::other:
      break;
  }
  return "#757575";
}

struct Counts {
  std::array<std::size_t, 4> by_outcome{};

  void add(Outcome o) { ++by_outcome[static_cast<std::size_t>(o)]; }
  std::size_t get(Outcome o) const { return by_outcome[static_cast<std::size_t>(o)]; }
  std::size_t total() const { return by_outcome[0] + by_outcome[1] + by_outcome[2] + by_outcome[3]; }
};

struct KindStyle {
  const char* kind;
  const char* fill;    // light, drawn translucent behind the points
  const char* stroke;  // darker, for outlines and legend swatches
};

constexpr KindStyle kKindStyles[] = {
    {"partition", "#90caf9", "#1e88e5"}, {"crash", "#ce93d8", "#8e24aa"}, {"amnesia", "#ffab91", "#e64a19"},
    {"pause", "#80cbc4", "#00897b"},     {"clock", "#bcaaa4", "#6d4c41"}, {"churn", "#9fa8da", "#3949ab"},
};
constexpr KindStyle kOtherKindStyle = {"", "#bdbdbd", "#616161"};

const KindStyle& kind_style(const std::string& kind) {
  for (const KindStyle& s : kKindStyles) {
    if (kind == s.kind) return s;
  }
  return kOtherKindStyle;
}

// Rough width in px of text in the report's sans-serif at the given size.
double text_width(const std::string& text, double font_px) { return static_cast<double>(text.size()) * font_px * 0.6; }

// ---- axes ---------------------------------------------------------------------

// A 1-2-5 step giving about `target` intervals over range.
double nice_step(double range, double target) {
  if (!(range > 0) || !std::isfinite(range)) return 1;
  double raw = range / target;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / magnitude;
  double nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  return nice * magnitude;
}

// Decimals needed to print multiples of step.
int decimals_for(double step) {
  if (step >= 1) return 0;
  return std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
}

// The plotting area of one SVG and its time axis, shared by both plots.
struct Frame {
  double width = 0;   // the whole SVG
  double height = 0;  // the whole SVG
  double left = 0;    // the plotting area
  double top = 0;
  double plot_w = 0;
  double plot_h = 0;
  double t_max = 1;  // seconds at the right edge

  double right() const { return left + plot_w; }
  double bottom() const { return top + plot_h; }
  double x(double t) const { return left + plot_w * std::clamp(finite_or(t, 0), 0.0, t_max) / t_max; }
};

// The right edge of both plots: the fault phase or the end of the last op, whichever is later.
double time_max(const ReportInput& input) {
  double t = finite_or(input.duration_s, 0);
  for (const ReportOp& op : input.ops) {
    double end = finite_or(op.invoke_s, 0) + std::max(finite_or(op.latency_ms, 0), 0.0) / 1000.0;
    t = std::max(t, end);
  }
  return t > 0 && std::isfinite(t) ? t : 1;
}

void append_svg_open(std::string& out, const Frame& f, const std::string& label) {
  out += "<svg class=\"plot\" width=\"" + c1(f.width) + "\" height=\"" + c1(f.height) + "\" viewBox=\"0 0 " +
         c1(f.width) + " " + c1(f.height) + "\" role=\"img\" aria-label=\"" + html_escape(label) + "\">\n";
  out += "<rect class=\"plot-bg\" x=\"" + c1(f.left) + "\" y=\"" + c1(f.top) + "\" width=\"" + c1(f.plot_w) +
         "\" height=\"" + c1(f.plot_h) + "\"/>\n";
}

void append_time_axis(std::string& out, const Frame& f) {
  double step = nice_step(f.t_max, 12);
  int decimals = decimals_for(step);
  out += "<g class=\"axis\">\n";
  for (int k = 0;; ++k) {
    double t = step * k;
    if (t > f.t_max * (1 + 1e-9) || k > 100) break;
    std::string x = c1(f.x(t));
    out += "<line class=\"grid\" x1=\"" + x + "\" y1=\"" + c1(f.top) + "\" x2=\"" + x + "\" y2=\"" + c1(f.bottom()) +
           "\"/>";
    out += "<line x1=\"" + x + "\" y1=\"" + c1(f.bottom()) + "\" x2=\"" + x + "\" y2=\"" + c1(f.bottom() + 5) + "\"/>";
    out += "<text x=\"" + x + "\" y=\"" + c1(f.bottom() + 18) + "\" text-anchor=\"middle\">" +
           strprintf("%.*f", decimals, t) + "</text>\n";
  }
  out += "<line x1=\"" + c1(f.left) + "\" y1=\"" + c1(f.bottom()) + "\" x2=\"" + c1(f.right()) + "\" y2=\"" +
         c1(f.bottom()) + "\"/>\n";
  out += "<text class=\"axis-label\" x=\"" + c1(f.left + f.plot_w / 2) + "\" y=\"" + c1(f.height - 6) +
         "\" text-anchor=\"middle\">time (s)</text>\n";
  out += "</g>\n";
}

void append_value_axis_label(std::string& out, const Frame& f, const char* label) {
  double cx = 16;
  double cy = f.top + f.plot_h / 2;
  out += "<text class=\"axis-label\" x=\"" + c1(cx) + "\" y=\"" + c1(cy) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 " + c1(cx) + " " + c1(cy) + ")\">" + label + "</text>\n";
  out += "<line class=\"axis\" x1=\"" + c1(f.left) + "\" y1=\"" + c1(f.top) + "\" x2=\"" + c1(f.left) + "\" y2=\"" +
         c1(f.bottom()) + "\"/>\n";
}

void append_no_data(std::string& out, const Frame& f, const char* text) {
  out += "<text class=\"no-data\" x=\"" + c1(f.left + f.plot_w / 2) + "\" y=\"" + c1(f.top + f.plot_h / 2) +
         "\" text-anchor=\"middle\">" + text + "</text>\n";
}

// ---- fault shading and legends -----------------------------------------------

// A window's kind written at the top of its rectangle, in a lane (a row)
// chosen so that neighbouring labels do not overlap.
struct WindowLabel {
  bool shown = false;
  double x = 0;
  bool anchor_end = false;  // right-aligned on x, at the right edge of the plot
  std::size_t lane = 0;
};

double window_start(const ReportWindow& w) { return finite_or(w.start_s, 0); }
double window_end(const ReportWindow& w) { return std::max(finite_or(w.end_s, window_start(w)), window_start(w)); }
std::string window_label(const ReportWindow& w) { return w.kind.empty() ? "fault" : w.kind; }

// One label per window, in the order of input.windows; lanes is set to the number of lanes used.
std::vector<WindowLabel> layout_window_labels(const Frame& f, const std::vector<ReportWindow>& windows,
                                              std::size_t& lanes) {
  std::vector<WindowLabel> labels(windows.size());
  std::vector<std::size_t> order(windows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return window_start(windows[a]) < window_start(windows[b]); });
  std::vector<double> lane_end;  // the right end of the last label in each lane
  for (std::size_t i : order) {
    if (window_start(windows[i]) > f.t_max) continue;
    WindowLabel& label = labels[i];
    double label_w = text_width(window_label(windows[i]), 10) + 4;
    label.shown = true;
    label.x = f.x(window_start(windows[i])) + 2;
    if (label.x + label_w > f.right()) {
      label.x = f.right() - 2;
      label.anchor_end = true;
    }
    double span_start = label.anchor_end ? label.x - label_w : label.x;
    while (label.lane < lane_end.size() && lane_end[label.lane] > span_start) ++label.lane;
    if (label.lane == lane_end.size()) lane_end.push_back(0);
    lane_end[label.lane] = span_start + label_w + 4;
  }
  lanes = lane_end.size();
  return labels;
}

// Translucent rectangles over each window's span, behind the points; dashed
// when unverified; with labels, the kind at the top of each.
void append_window_shading(std::string& out, const Frame& f, const std::vector<ReportWindow>& windows,
                           const std::vector<WindowLabel>& labels) {
  if (windows.empty()) return;
  std::string shapes;
  std::string texts;
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const ReportWindow& w = windows[i];
    const KindStyle& style = kind_style(w.kind);
    double start = window_start(w);
    double end = window_end(w);
    if (start > f.t_max) continue;
    double x0 = f.x(start);
    double x1 = std::max(f.x(end), x0 + 1.5);
    shapes += "<rect class=\"win";
    if (!w.verified) shapes += " unverified";
    shapes += "\" x=\"" + c1(x0) + "\" y=\"" + c1(f.top) + "\" width=\"" + c1(x1 - x0) + "\" height=\"" + c1(f.plot_h) +
              "\" fill=\"" + style.fill + "\" stroke=\"" + style.stroke + "\"><title>" + html_escape(w.kind) + " " +
              strprintf("%.1f-%.1f s", start, end) + ": " + html_escape(w.detail) +
              (w.verified ? "" : " (unverified)") + "</title></rect>\n";
    if (i >= labels.size() || !labels[i].shown) continue;
    const WindowLabel& label = labels[i];
    texts += "<text class=\"win-label\" x=\"" + c1(label.x) + "\" y=\"" +
             c1(f.top + kLaneHeight + kLaneHeight * static_cast<double>(label.lane)) + "\" text-anchor=\"" +
             (label.anchor_end ? "end" : "start") + "\" fill=\"" + style.stroke + "\">" + html_escape(window_label(w)) +
             "</text>\n";
  }
  out += "<g class=\"windows\">\n" + shapes + texts + "</g>\n";
}

// The legend above a plot: a swatch and label per outcome present (with
// counts), then one per fault kind present, left to right from x = left,
// wrapping at right. rows is set to the number of rows used.
std::string legend_svg(double left, double right, const Counts& counts, const std::vector<ReportWindow>& windows,
                       bool line_swatches, int& rows) {
  std::string out = "<g class=\"legend\">\n";
  double x = left;
  double y = 18;
  rows = 1;
  // Moves to the next row when an entry of this width does not fit on this one.
  auto place = [&](double width) {
    if (x > left && x + width > right) {
      x = left;
      y += kLegendRowHeight;
      ++rows;
    }
  };
  for (Outcome o : kOutcomes) {
    std::size_t n = counts.get(o);
    if (o == Outcome::other && n == 0) continue;
    std::string label = std::string(outcome_name(o)) + " (" + count(n) + ")";
    place((line_swatches ? 20 : 14) + text_width(label, 12));
    if (line_swatches) {
      out += "<line x1=\"" + c1(x) + "\" y1=\"" + c1(y - 4) + "\" x2=\"" + c1(x + 16) + "\" y2=\"" + c1(y - 4) +
             "\" stroke=\"" + outcome_color(o) + "\" stroke-width=\"2.5\"/>";
      x += 20;
    } else {
      out += "<rect x=\"" + c1(x) + "\" y=\"" + c1(y - 9) + "\" width=\"10\" height=\"10\" rx=\"5\" fill=\"" +
             outcome_color(o) + "\"/>";
      x += 14;
    }
    out += "<text x=\"" + c1(x) + "\" y=\"" + c1(y) + "\">" + label + "</text>\n";
    x += text_width(label, 12) + 16;
  }
  std::vector<std::string> kinds;
  bool any_unverified = false;
  for (const ReportWindow& w : windows) {
    if (std::find(kinds.begin(), kinds.end(), w.kind) == kinds.end()) kinds.push_back(w.kind);
    any_unverified = any_unverified || !w.verified;
  }
  if (!kinds.empty()) x += 12;
  for (const std::string& kind : kinds) {
    const KindStyle& style = kind_style(kind);
    std::string label = kind.empty() ? "fault" : kind;
    place(18 + text_width(label, 12));
    out += "<rect class=\"win\" x=\"" + c1(x) + "\" y=\"" + c1(y - 10) + "\" width=\"14\" height=\"12\" fill=\"" +
           style.fill + "\" stroke=\"" + style.stroke + "\"/>";
    x += 18;
    out += "<text x=\"" + c1(x) + "\" y=\"" + c1(y) + "\">" + html_escape(label) + "</text>\n";
    x += text_width(label, 12) + 14;
  }
  if (any_unverified) {
    const std::string label = "dashed: unverified";
    place(18 + text_width(label, 12));
    out += "<rect class=\"win unverified\" x=\"" + c1(x) + "\" y=\"" + c1(y - 10) +
           "\" width=\"14\" height=\"12\" fill=\"#eeeeee\" stroke=\"#424242\"/>";
    out += "<text x=\"" + c1(x + 18) + "\" y=\"" + c1(y) + "\">" + label + "</text>\n";
  }
  out += "</g>\n";
  return out;
}

// A plot's frame: the plotting area below the legend's rows, with room for the axes.
Frame make_frame(double height, int legend_rows, double t_max) {
  double extra = kLegendRowHeight * static_cast<double>(std::max(legend_rows, 1) - 1);
  Frame f;
  f.width = kSvgWidth;
  f.height = height + extra;
  f.left = kPlotLeft;
  f.top = 34 + extra;
  f.plot_w = f.width - f.left - 16;
  f.plot_h = f.height - f.top - 46;
  f.t_max = t_max;
  return f;
}

Counts count_outcomes(const std::vector<ReportOp>& ops) {
  Counts counts;
  for (const ReportOp& op : ops) counts.add(outcome_of(op.outcome));
  return counts;
}

// ---- the sections -------------------------------------------------------------

constexpr char kStyle[] = R"(<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 24px;
  color: #212121; background: #fafafa; max-width: 1100px; }
h1 { font-size: 24px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 14px 0 4px; }
table { border-collapse: collapse; font-size: 13px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.meta th { width: 120px; background: #f5f5f5; }
.verdict { margin: 14px 0; padding: 12px 16px; border-radius: 6px; font: bold 16px ui-monospace, Menlo, Consolas,
  monospace; color: #fff; white-space: pre-wrap; overflow-wrap: anywhere; }
.verdict-pass { background: #2e7d32; }
.verdict-fail { background: #c62828; }
svg.plot { display: block; max-width: 100%; height: auto; background: #fff; border: 1px solid #e0e0e0;
  font-size: 11px; fill: #424242; }
svg .plot-bg { fill: #fff; }
svg .axis line, svg line.axis { stroke: #757575; stroke-width: 1; }
svg line.grid { stroke: #e6e6e6; stroke-width: 1; }
svg line.grid-minor { stroke: #f3f3f3; stroke-width: 1; }
svg .axis-label { font-size: 12px; fill: #212121; }
svg .legend text { font-size: 12px; fill: #212121; }
svg rect.win { fill-opacity: 0.35; stroke-opacity: 0.8; stroke-width: 1; }
svg rect.win.unverified { stroke-dasharray: 5 3; stroke-width: 1.5; stroke: #424242; }
svg .win-label { font-size: 10px; font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 3px;
  stroke-linejoin: round; }
svg .no-data { font-size: 14px; fill: #9e9e9e; }
svg .dots circle { fill-opacity: 0.55; }
svg .dot-ok { fill: #2e7d32; }
svg .dot-info { fill: #f9a825; }
svg .dot-fail { fill: #c62828; }
svg .dot-other { fill: #757575; }
svg polyline { fill: none; stroke-width: 1.5; stroke-linejoin: round; }
.finding { margin: 8px 0; padding: 6px 10px; background: #fff; border-left: 4px solid #2e7d32; }
.finding.bad { border-left-color: #c62828; }
.mark-ok { color: #2e7d32; font-weight: bold; }
.mark-bad { color: #c62828; font-weight: bold; }
.finding ul { margin: 4px 0 2px; padding-left: 22px; font: 12px ui-monospace, Menlo, Consolas, monospace; }
.finding li.more { font-style: italic; color: #616161; list-style: none; }
pre { background: #fff; border: 1px solid #ddd; padding: 8px; font-size: 12px; overflow-x: auto; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px;
  border: 1px solid; }
.unverified-cell { color: #c62828; font-weight: bold; }
.muted { color: #757575; font-style: italic; }
</style>
)";

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += html_escape(item);
  }
  return out.empty() ? "<span class=\"muted\">(none)</span>" : out;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

void append_header(std::string& out, const ReportInput& input) {
  out += "<h1>Shoal chaos report: " + html_escape(input.scenario) + "</h1>\n";
  out += "<table class=\"meta\">\n";
  auto row = [&](const char* name, const std::string& value_html) {
    out += std::string("<tr><th>") + name + "</th><td>" + value_html + "</td></tr>\n";
  };
  row("description", html_escape(input.description));
  row("seed", html_escape(input.seed));
  row("started at", html_escape(input.started_at));
  row("duration", strprintf("%.1f s", finite_or(input.duration_s, 0)));
  row("nodes", std::to_string(input.nodes));
  row("consistency", html_escape(input.consistency));
  row("nemeses", join(input.nemeses, ", "));
  row("workloads", join(input.workloads, ", "));
  Counts counts = count_outcomes(input.ops);
  row("operations", count(counts.total()) + " (ok " + count(counts.get(Outcome::ok)) + ", info " +
                        count(counts.get(Outcome::info)) + ", fail " + count(counts.get(Outcome::fail)) +
                        (counts.get(Outcome::other) > 0 ? ", other " + count(counts.get(Outcome::other)) : "") + ")");
  out += "</table>\n";
  bool pass = starts_with(input.verdict, "verdict: PASS");
  out += std::string("<div class=\"verdict ") + (pass ? "verdict-pass" : "verdict-fail") + "\">" +
         (input.verdict.empty() ? "(no verdict)" : html_escape(input.verdict)) + "</div>\n";
}

// A summary cell to right-align: a number, possibly with a unit ("3.1 ms", "12/s", "99%").
bool looks_numeric(const std::string& text) {
  std::string s = text;
  for (const std::string suffix : {"ms", "/s", "s", "%"}) {
    if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
      s.resize(s.size() - suffix.size());
      break;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end != s.c_str() && *end == '\0';
}

void append_summary_table(std::string& out, const ReportInput& input) {
  out += "<h2>Summary</h2>\n";
  if (input.summary.empty()) {
    out += "<p class=\"muted\">(no summary)</p>\n";
    return;
  }
  std::size_t columns = 0;
  for (const auto& row : input.summary) columns = std::max(columns, row.size());
  out += "<table class=\"summary\">\n";
  for (std::size_t r = 0; r < input.summary.size(); ++r) {
    const auto& row = input.summary[r];
    out += "<tr>";
    for (std::size_t c = 0; c < columns; ++c) {
      std::string cell = c < row.size() ? row[c] : "";
      if (r == 0) {
        out += "<th>" + html_escape(cell) + "</th>";
      } else {
        out += std::string(looks_numeric(cell) ? "<td class=\"num\">" : "<td>") + html_escape(cell) + "</td>";
      }
    }
    out += "</tr>\n";
  }
  out += "</table>\n";
}

std::string op_tooltip(const ReportOp& op) {
  std::string text = "p" + std::to_string(op.process) + " " + html_escape(op.f) + " " + html_escape(op.key);
  if (!op.value.empty()) text += " " + html_escape(op.value);
  text += " -> " + html_escape(op.outcome) +
          strprintf(" at %.3f s, %.1f ms", finite_or(op.invoke_s, 0), finite_or(op.latency_ms, 0));
  if (!op.node.empty()) text += " via " + html_escape(op.node);
  if (!op.error.empty()) text += ": " + html_escape(op.error);
  return text;
}

void append_scatter_plot(std::string& out, const ReportInput& input, double t_max) {
  Counts counts = count_outcomes(input.ops);
  int legend_rows = 1;
  std::string legend = legend_svg(kPlotLeft, kSvgWidth - 8, counts, input.windows, false, legend_rows);
  Frame f = make_frame(420, legend_rows, t_max);

  double max_latency = kLatencyFloorMs;
  for (const ReportOp& op : input.ops) max_latency = std::max(max_latency, finite_or(op.latency_ms, 0));
  // From the floor to a little above the slowest op, at least two decades,
  // below a band at the top of the plot kept free for the window labels.
  double log_lo = std::log10(kLatencyFloorMs);
  double log_hi = std::max(std::log10(max_latency) + 0.05, log_lo + 2);
  std::size_t lanes = 0;
  std::vector<WindowLabel> labels = layout_window_labels(f, input.windows, lanes);
  double data_h = f.plot_h - (lanes > 0 ? kLaneHeight * static_cast<double>(lanes) + 6 : 6);
  auto y_of = [&](double latency_ms) {
    double clamped = std::clamp(finite_or(latency_ms, kLatencyFloorMs), kLatencyFloorMs, std::pow(10.0, log_hi));
    return f.bottom() - data_h * (std::log10(clamped) - log_lo) / (log_hi - log_lo);
  };

  out += "<h2>Latency over time</h2>\n";
  append_svg_open(out, f, "Latency over time");
  out += legend;

  // The latency axis: a labelled gridline per decade, lighter ones at 2x and 5x.
  out += "<g class=\"axis\">\n";
  int top_decade = static_cast<int>(std::floor(log_hi + 1e-9));
  for (int decade = static_cast<int>(std::lround(log_lo)); decade <= top_decade; ++decade) {
    double base = std::pow(10.0, decade);
    for (double m : {2.0, 5.0}) {
      if (std::log10(base * m) > log_hi) break;
      std::string y = c1(y_of(base * m));
      out += "<line class=\"grid-minor\" x1=\"" + c1(f.left) + "\" y1=\"" + y + "\" x2=\"" + c1(f.right()) +
             "\" y2=\"" + y + "\"/>";
    }
    std::string y = c1(y_of(base));
    out += "<line class=\"grid\" x1=\"" + c1(f.left) + "\" y1=\"" + y + "\" x2=\"" + c1(f.right()) + "\" y2=\"" + y +
           "\"/>";
    out += "<line x1=\"" + c1(f.left - 5) + "\" y1=\"" + y + "\" x2=\"" + c1(f.left) + "\" y2=\"" + y + "\"/>";
    out += "<text x=\"" + c1(f.left - 8) + "\" y=\"" + c1(y_of(base) + 4) + "\" text-anchor=\"end\">" +
           strprintf("%.*f", decade < 0 ? -decade : 0, base) + "</text>\n";
  }
  out += "</g>\n";
  append_value_axis_label(out, f, "latency (ms)");
  append_time_axis(out, f);
  append_window_shading(out, f, input.windows, labels);

  if (input.ops.empty()) append_no_data(out, f, "no operations");
  // Failures last, so that they are drawn on top of the many successes.
  bool tooltips = input.ops.size() <= kTooltipOpsMax;
  for (Outcome o : {Outcome::ok, Outcome::other, Outcome::info, Outcome::fail}) {
    if (counts.get(o) == 0) continue;
    out += std::string("<g class=\"dots dot-") + outcome_name(o) + "\">\n";
    for (const ReportOp& op : input.ops) {
      if (outcome_of(op.outcome) != o) continue;
      out += "<circle cx=\"" + c1(f.x(op.invoke_s)) + "\" cy=\"" + c1(y_of(op.latency_ms)) + "\" r=\"2\"";
      out += tooltips ? "><title>" + op_tooltip(op) + "</title></circle>\n" : "/>\n";
    }
    out += "</g>\n";
  }
  out += "</svg>\n";
}

void append_throughput_plot(std::string& out, const ReportInput& input, double t_max) {
  Counts counts = count_outcomes(input.ops);
  int legend_rows = 1;
  std::string legend = legend_svg(kPlotLeft, kSvgWidth - 8, counts, input.windows, true, legend_rows);
  Frame f = make_frame(250, legend_rows, t_max);

  // Whole buckets; the last one absorbs the tail up to t_max (between half a
  // bucket and a bucket and a half wide), so that a sliver of a bucket at the
  // end does not show as a drop.
  double bucket_s = std::max(1.0, std::ceil(t_max / kThroughputBucketsMax));
  auto buckets = static_cast<std::size_t>(std::max(1.0, std::round(t_max / bucket_s)));
  auto bucket_start = [&](std::size_t b) { return static_cast<double>(b) * bucket_s; };
  auto bucket_end = [&](std::size_t b) { return b + 1 == buckets ? t_max : bucket_start(b + 1); };
  std::map<Outcome, std::vector<double>> rates;
  for (Outcome o : kOutcomes) {
    if (counts.get(o) > 0) rates[o].assign(buckets, 0);
  }
  for (const ReportOp& op : input.ops) {
    double t = std::clamp(finite_or(op.invoke_s, 0), 0.0, t_max);
    auto b = std::min(static_cast<std::size_t>(t / bucket_s), buckets - 1);
    rates[outcome_of(op.outcome)][b] += 1;
  }
  for (auto& [o, series] : rates) {
    for (std::size_t b = 0; b < buckets; ++b) series[b] /= bucket_end(b) - bucket_start(b);
  }
  double max_rate = 0;
  for (const auto& [o, series] : rates) {
    for (double r : series) max_rate = std::max(max_rate, r);
  }
  double step = nice_step(max_rate > 0 ? max_rate : 1, 4);
  double y_top = std::max(step, std::ceil(max_rate / step - 1e-9) * step);
  auto y_of = [&](double rate) { return f.bottom() - f.plot_h * rate / y_top; };

  out += bucket_s == 1 ? std::string("<h2>Operations per second</h2>\n")
                       : "<h2>Operations per second (" + strprintf("%.0f", bucket_s) + " s buckets)</h2>\n";
  append_svg_open(out, f, "Operations per second");
  out += legend;
  out += "<g class=\"axis\">\n";
  int decimals = decimals_for(step);
  for (int k = 0; k * step <= y_top * (1 + 1e-9) && k <= 20; ++k) {
    double rate = k * step;
    std::string y = c1(y_of(rate));
    out += "<line class=\"grid\" x1=\"" + c1(f.left) + "\" y1=\"" + y + "\" x2=\"" + c1(f.right()) + "\" y2=\"" + y +
           "\"/>";
    out += "<line x1=\"" + c1(f.left - 5) + "\" y1=\"" + y + "\" x2=\"" + c1(f.left) + "\" y2=\"" + y + "\"/>";
    out += "<text x=\"" + c1(f.left - 8) + "\" y=\"" + c1(y_of(rate) + 4) + "\" text-anchor=\"end\">" +
           strprintf("%.*f", decimals, rate) + "</text>\n";
  }
  out += "</g>\n";
  append_value_axis_label(out, f, "ops/s");
  append_time_axis(out, f);
  append_window_shading(out, f, input.windows, {});
  if (input.ops.empty()) append_no_data(out, f, "no operations");
  for (Outcome o : {Outcome::ok, Outcome::other, Outcome::info, Outcome::fail}) {
    auto it = rates.find(o);
    if (it == rates.end()) continue;
    out += std::string("<polyline stroke=\"") + outcome_color(o) + "\" points=\"";
    for (std::size_t b = 0; b < buckets; ++b) {
      double t = (bucket_start(b) + bucket_end(b)) / 2;
      out += (b == 0 ? "" : " ") + c1(f.x(t)) + "," + c1(y_of(it->second[b]));
    }
    out += "\"/>\n";
  }
  out += "</svg>\n";
}

void append_findings(std::string& out, const ReportInput& input) {
  out += "<h2>Checker findings</h2>\n";
  if (input.findings.empty()) out += "<p class=\"muted\">(no checker ran)</p>\n";
  for (const ReportFinding& finding : input.findings) {
    out += std::string("<div class=\"finding") + (finding.ok ? "" : " bad") + "\">\n";
    out += finding.ok ? "<span class=\"mark-ok\">&#10003;</span> " : "<span class=\"mark-bad\">&#10007;</span> ";
    out += "<strong>" + html_escape(finding.checker) + "</strong>: " + html_escape(finding.summary) + "\n";
    if (!finding.details.empty()) {
      out += "<ul>\n";
      std::size_t shown = std::min(finding.details.size(), kDetailsShown);
      for (std::size_t i = 0; i < shown; ++i) out += "<li>" + html_escape(finding.details[i]) + "</li>\n";
      if (finding.details.size() > shown) {
        out += "<li class=\"more\">... and " + count(finding.details.size() - shown) + " more</li>\n";
      }
      out += "</ul>\n";
    }
    out += "</div>\n";
  }
}

void append_convergence(std::string& out, const ReportInput& input) {
  out += "<h2>Convergence</h2>\n";
  if (input.convergence_s >= 0 && std::isfinite(input.convergence_s)) {
    out += "<p><span class=\"mark-ok\">&#10003;</span> converged in " + strprintf("%.1f", input.convergence_s) +
           " s</p>\n";
  } else {
    out += "<p><span class=\"mark-bad\">&#10007;</span> did not converge</p>\n";
  }
}

void append_windows(std::string& out, const ReportInput& input) {
  out += "<h2>Fault windows</h2>\n";
  if (input.windows.empty()) {
    out += "<p class=\"muted\">(no fault windows)</p>\n";
  } else {
    out +=
        "<table class=\"windows\">\n<tr><th>start (s)</th><th>end (s)</th><th>kind</th><th>detail</th>"
        "<th>verified</th></tr>\n";
    for (const ReportWindow& w : input.windows) {
      const KindStyle& style = kind_style(w.kind);
      out += "<tr><td class=\"num\">" + strprintf("%.1f", window_start(w)) + "</td><td class=\"num\">" +
             strprintf("%.1f", window_end(w)) + "</td><td><span class=\"swatch\" style=\"background:" + style.fill +
             ";border-color:" + style.stroke + "\"></span>" + html_escape(w.kind) + "</td><td>" +
             html_escape(w.detail) + "</td>" + (w.verified ? "<td>yes</td>" : "<td class=\"unverified-cell\">no</td>") +
             "</tr>\n";
    }
    out += "</table>\n";
  }
  out += "<h3>Nemesis log</h3>\n";
  if (input.nemesis_log.empty()) {
    out += "<p class=\"muted\">(empty)</p>\n";
    return;
  }
  out += "<pre class=\"nemesis-log\">";
  for (const std::string& line : input.nemesis_log) out += html_escape(line) + "\n";
  out += "</pre>\n";
}

void append_per_node_table(std::string& out, const ReportInput& input) {
  out += "<h2>Operations per node</h2>\n";
  std::map<std::string, Counts> per_node;
  for (const ReportOp& op : input.ops) per_node[op.node].add(outcome_of(op.outcome));
  if (per_node.empty()) {
    out += "<p class=\"muted\">(no operations)</p>\n";
    return;
  }
  bool any_other = false;
  for (const auto& [node, counts] : per_node) any_other = any_other || counts.get(Outcome::other) > 0;
  out += "<table class=\"per-node\">\n<tr><th>node</th><th>ok</th><th>fail</th><th>info</th>";
  out += any_other ? "<th>other</th><th>total</th></tr>\n" : "<th>total</th></tr>\n";
  for (const auto& [node, counts] : per_node) {
    out += "<tr><td>" + (node.empty() ? std::string("<span class=\"muted\">(unknown)</span>") : html_escape(node)) +
           "</td>";
    out += "<td class=\"num\">" + count(counts.get(Outcome::ok)) + "</td><td class=\"num\">" +
           count(counts.get(Outcome::fail)) + "</td><td class=\"num\">" + count(counts.get(Outcome::info)) + "</td>";
    if (any_other) out += "<td class=\"num\">" + count(counts.get(Outcome::other)) + "</td>";
    out += "<td class=\"num\">" + count(counts.total()) + "</td></tr>\n";
  }
  out += "</table>\n";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_report(const ReportInput& input) {
  std::string out;
  out.reserve(16384 + input.ops.size() * (input.ops.size() <= kTooltipOpsMax ? 160 : 48));
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>Shoal chaos report: " + html_escape(input.scenario) + "</title>\n";
  out += kStyle;
  out += "</head>\n<body>\n";
  double t_max = time_max(input);
  append_header(out, input);
  append_summary_table(out, input);
  append_scatter_plot(out, input, t_max);
  append_throughput_plot(out, input, t_max);
  append_findings(out, input);
  append_convergence(out, input);
  append_windows(out, input);
  append_per_node_table(out, input);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace shoal::chaos
