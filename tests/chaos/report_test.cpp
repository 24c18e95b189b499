// The shoal-chaos HTML report: escaping, no external references, one dot per
// op, finite numbers on empty input, verdict styling, fault shading, and the
// elision of long finding details.
#include "tools/shoal_chaos/report.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

using namespace shoal::chaos;

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// Every geometric attribute value (and every number of every points list) in the SVG.
std::vector<std::string> svg_numbers(const std::string& html) {
  std::vector<std::string> numbers;
  static const std::regex attribute(R"re(\s(?:x|y|x1|y1|x2|y2|cx|cy|r|rx|width|height)="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), attribute); it != std::sregex_iterator(); ++it) {
    numbers.push_back((*it)[1].str());
  }
  static const std::regex points(R"re(points="([^"]*)")re");
  static const std::regex number(R"re([^ ,]+)re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), points); it != std::sregex_iterator(); ++it) {
    std::string list = (*it)[1].str();
    for (auto n = std::sregex_iterator(list.begin(), list.end(), number); n != std::sregex_iterator(); ++n) {
      numbers.push_back(n->str());
    }
  }
  return numbers;
}

bool is_finite_number(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0' && std::isfinite(v);
}

// A run of 60 s with n ops spread over it, two partitions (one unverified)
// and a crash, three findings.
ReportInput realistic_input(std::size_t n) {
  ReportInput in;
  in.scenario = "partition-majority";
  in.description = "isolate a minority, then heal";
  in.seed = "1234";
  in.started_at = "2024-05-01T12:00:00Z";
  in.duration_s = 60;
  in.nodes = 5;
  in.consistency = "n_val=3 r=quorum w=quorum dw=quorum";
  in.nemeses = {"partition", "crash"};
  in.workloads = {"set", "counter"};
  const char* outcomes[] = {"ok", "ok", "ok", "ok", "ok", "ok", "info", "fail"};
  for (std::size_t i = 0; i < n; ++i) {
    ReportOp op;
    op.process = static_cast<int>(i % 10);
    op.f = i % 2 == 0 ? "add" : "read";
    op.outcome = outcomes[i % 8];
    op.invoke_s = 60.0 * static_cast<double>(i) / static_cast<double>(n);
    op.latency_ms = 0.05 * std::pow(1.7, static_cast<double>(i % 23));
    op.node = "n" + std::to_string(i % 5 + 1);
    op.key = "k" + std::to_string(i % 7);
    op.value = std::to_string(i);
    if (op.outcome != "ok") op.error = "timeout";
    in.ops.push_back(op);
  }
  in.windows = {{10, 20, "partition", "isolate n3", true},
                {30, 38, "crash", "kill -9 n2", true},
                {45, 52, "partition", "majorities ring", false}};
  in.findings = {{"set", true, "0 lost, 0 unexpected", {}},
                 {"counter", false, "value 17 outside [18, 20]", {"bounds [18, 20]", "read 17 at 41.2s"}},
                 {"convergence", true, "all replicas equal", {}}};
  in.summary = {{"workload", "ok", "info", "fail"}, {"set", "100", "3", "1"}, {"counter", "200", "5", "0"}};
  in.nemesis_log = {"10.0s partition start: isolate n3", "20.0s partition end"};
  in.convergence_s = 2.5;
  in.verdict = "verdict: PASS (3 checkers)";
  return in;
}

}  // namespace

TEST_CASE("html_escape replaces the five special characters", "[chaos-report]") {
  CHECK(html_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  CHECK(html_escape("plain text") == "plain text");
  CHECK(html_escape("") == "");
  CHECK(html_escape("&amp;") == "&amp;amp;");
}

TEST_CASE("hostile input text is escaped everywhere", "[chaos-report]") {
  ReportInput in = realistic_input(20);
  const std::string hostile = "<script>alert(1)</script>";
  in.scenario = hostile;
  in.description = hostile;
  in.ops[0].key = hostile;
  in.ops[0].value = hostile;
  in.ops[1].outcome = "fail";
  in.ops[1].error = "said \"no\" & 'left'";
  in.ops[2].node = hostile;
  in.windows[0].kind = hostile;
  in.windows[0].detail = hostile;
  in.findings[1].checker = hostile;
  in.findings[1].details.push_back(hostile);
  in.summary[1][0] = hostile;
  in.nemesis_log.push_back(hostile);
  in.nemeses.push_back(hostile);
  in.verdict = "verdict: FAIL " + hostile;

  std::string html = render_report(in);
  CHECK(lower(html).find("<script") == std::string::npos);
  CHECK(html.find("</script") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("said &quot;no&quot; &amp; &#39;left&#39;") != std::string::npos);
  CHECK(html.find("said \"no\"") == std::string::npos);
  CHECK(html.find("Shoal chaos report: &lt;script&gt;") != std::string::npos);
}

TEST_CASE("a realistic report references nothing outside itself", "[chaos-report]") {
  std::string html = lower(render_report(realistic_input(500)));
  CHECK(html.find("http:") == std::string::npos);
  CHECK(html.find("https:") == std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(html.rfind("<!doctype html>", 0) == 0);
  CHECK(html.find("</html>") != std::string::npos);
}

TEST_CASE("the report has two plots and one dot per op", "[chaos-report]") {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{777}}) {
    CAPTURE(n);
    std::string html = render_report(realistic_input(n));
    CHECK(count_of(html, "<svg") >= 2);
    CHECK(count_of(html, "<circle") == n);
  }
}

TEST_CASE("a report of more than 20000 ops stays compact", "[chaos-report]") {
  const std::size_t n = 20001;
  std::string html = render_report(realistic_input(n));
  CHECK(count_of(html, "<circle") == n);
  CHECK(count_of(html, "<circle cx=") == n);  // no per-dot style or class attribute
  CHECK(count_of(html, "</circle>") == 0);    // no per-dot tooltips
  CHECK(html.find("style=\"fill") == std::string::npos);
  static const std::regex dot(R"re(<circle cx="-?\d+\.\d" cy="-?\d+\.\d" r="2"/>)re");
  auto dots = std::distance(std::sregex_iterator(html.begin(), html.end(), dot), std::sregex_iterator());
  CHECK(static_cast<std::size_t>(dots) == n);
  CHECK(html.size() < n * 60);
}

TEST_CASE("an empty input renders with finite numbers only", "[chaos-report]") {
  ReportInput empty;
  std::string html = render_report(empty);
  std::string text = lower(html);
  CHECK(count_of(html, "<svg") >= 2);
  CHECK(count_of(html, "<circle") == 0);
  CHECK(text.find("nan") == std::string::npos);
  // "info" is the only word of the report containing "inf".
  CHECK(count_of(text, "inf") == count_of(text, "info"));
  CHECK(html.find("did not converge") != std::string::npos);
  // With nothing to show, the time axes still run from 0 to 1 s.
  CHECK(count_of(html, "text-anchor=\"middle\">0.0</text>") == 2);
  CHECK(count_of(html, "text-anchor=\"middle\">1.0</text>") == 2);
  std::vector<std::string> numbers = svg_numbers(html);
  CHECK(numbers.size() > 10);
  for (const std::string& number : numbers) {
    CAPTURE(number);
    CHECK(is_finite_number(number));
  }
}

TEST_CASE("non-finite times and latencies are drawn as finite coordinates", "[chaos-report]") {
  ReportInput in = realistic_input(10);
  in.duration_s = std::nan("");
  in.ops[0].latency_ms = std::nan("");
  in.ops[1].invoke_s = HUGE_VAL;
  in.ops[2].latency_ms = -HUGE_VAL;
  in.ops[3].latency_ms = -5;
  in.windows[0].end_s = std::nan("");
  in.convergence_s = std::nan("");
  std::string html = render_report(in);
  CHECK(count_of(html, "<circle") == 10);
  for (const std::string& number : svg_numbers(html)) {
    CAPTURE(number);
    CHECK(is_finite_number(number));
  }
  CHECK(html.find("did not converge") != std::string::npos);
}

TEST_CASE("the verdict box is green for a pass and red otherwise", "[chaos-report]") {
  ReportInput in = realistic_input(10);
  in.verdict = "verdict: PASS (all checkers ok)";
  std::string pass = render_report(in);
  CHECK(pass.find("class=\"verdict verdict-pass\">verdict: PASS (all checkers ok)<") != std::string::npos);
  CHECK(pass.find("class=\"verdict verdict-fail\"") == std::string::npos);

  in.verdict = "verdict: FAIL (counter: value outside bounds)";
  std::string fail = render_report(in);
  CHECK(fail.find("class=\"verdict verdict-fail\">verdict: FAIL") != std::string::npos);
  CHECK(fail.find("class=\"verdict verdict-pass\"") == std::string::npos);

  in.verdict = "";
  CHECK(render_report(in).find("class=\"verdict verdict-fail\"") != std::string::npos);
}

TEST_CASE("fault windows are shaded rects on both plots and listed", "[chaos-report]") {
  ReportInput in = realistic_input(100);
  in.duration_s = 120;  // past the end of the last op: the time axis spans 0-120 s
  std::string html = render_report(in);
  // A shading rect carries its window as a tooltip: once per plot.
  CHECK(count_of(html, "<title>partition 10.0-20.0 s: isolate n3</title></rect>") == 2);
  CHECK(count_of(html, "<title>crash 30.0-38.0 s: kill -9 n2</title></rect>") == 2);
  CHECK(count_of(html, "<title>partition 45.0-52.0 s: majorities ring (unverified)</title></rect>") == 2);
  // The unverified window (and its legend entry) is dashed; the others are not.
  CHECK(count_of(html, "<rect class=\"win unverified\"") == 2 + 2);
  // The shading spans the window: 10 s to 20 s of 120 s over a 1020 px wide plot from x = 64.
  static const std::regex shade(R"re(<rect class="win" x="149\.0" y="[\d.]+" width="85\.0" height="[\d.]+")re");
  CHECK(std::regex_search(html, shade));
  // A label of the kind at the top of each window on the scatter plot.
  CHECK(count_of(html, "class=\"win-label\"") == 3);
  // The table of windows and the log.
  CHECK(html.find("<td>isolate n3</td>") != std::string::npos);
  CHECK(html.find("<td class=\"unverified-cell\">no</td>") != std::string::npos);
  CHECK(html.find("10.0s partition start: isolate n3\n") != std::string::npos);

  in.windows.clear();
  CHECK(count_of(render_report(in), "class=\"win") == 0);
}

TEST_CASE("finding details beyond 50 are elided", "[chaos-report]") {
  ReportInput in = realistic_input(10);
  in.findings = {{"set", false, "75 lost", {}}, {"map", false, "50 bad", {}}};
  for (int i = 0; i < 75; ++i) in.findings[0].details.push_back("lost element " + std::to_string(i) + ";");
  for (int i = 0; i < 50; ++i) in.findings[1].details.push_back("bad field " + std::to_string(i) + ";");
  std::string html = render_report(in);
  CHECK(html.find("lost element 49;") != std::string::npos);
  CHECK(html.find("lost element 50;") == std::string::npos);
  CHECK(html.find("... and 25 more") != std::string::npos);
  CHECK(html.find("bad field 49;") != std::string::npos);
  CHECK(count_of(html, "more</li>") == 1);
  CHECK(count_of(html, "&#10007;</span> <strong>") == 2);
}

TEST_CASE("the report's sections come in order with their content", "[chaos-report]") {
  ReportInput in = realistic_input(40);
  std::string html = render_report(in);
  std::vector<std::string> in_order = {"<h1>Shoal chaos report: partition-majority</h1>",
                                       "n_val=3 r=quorum w=quorum dw=quorum",
                                       "verdict: PASS",
                                       "<th>workload</th><th>ok</th><th>info</th><th>fail</th>",
                                       "Latency over time",
                                       "latency (ms)",
                                       "time (s)",
                                       "Operations per second",
                                       "Checker findings",
                                       "<strong>counter</strong>: value 17 outside [18, 20]",
                                       "converged in 2.5 s",
                                       "Fault windows",
                                       "Nemesis log",
                                       "Operations per node"};
  std::size_t at = 0;
  for (const std::string& piece : in_order) {
    CAPTURE(piece);
    std::size_t found = html.find(piece, at);
    REQUIRE(found != std::string::npos);
    at = found + piece.size();
  }
  // 40 ops over n1..n5: 8 each; outcomes cycle ok x6, info, fail over 8 ops, and i % 5 picks the node,
  // so each node gets 6 ok, 1 fail, 1 info.
  CHECK(count_of(html,
                 "<td class=\"num\">6</td><td class=\"num\">1</td><td class=\"num\">1</td><td "
                 "class=\"num\">8</td>") == 5);
  CHECK(html.find("<td>n3</td>") != std::string::npos);
  // Numeric summary cells are right-aligned, text ones are not.
  CHECK(html.find("<tr><td>set</td><td class=\"num\">100</td>") != std::string::npos);
}
