// The self-contained HTML report of a shoal-chaos run: one file, inline SVG
// and CSS, no scripts or network references, readable in any browser.
// Pure function of its input (unit-tested).
#pragma once

#include <string>
#include <vector>

namespace shoal::chaos {

// One completed client operation, as plotted.
struct ReportOp {
  int process = 0;        // client number
  std::string f;          // "add", "remove", "read", "incr", "write", "update", ...
  std::string outcome;    // "ok", "fail" or "info"
  double invoke_s = 0;    // seconds since the run started
  double latency_ms = 0;  // completion - invocation
  std::string node;       // the node the client talked to
  std::string key;
  std::string value;  // argument (element, delta, written value), may be empty
  std::string error;  // for fail/info
};

// A fault window, shaded on the plot.
struct ReportWindow {
  double start_s = 0;
  double end_s = 0;
  std::string kind;      // "partition", "crash", "amnesia", "pause", "clock", "churn"
  std::string detail;    // e.g. "isolate n3", "kill -9 n2,n4"
  bool verified = true;  // partitions: the drop was checked by a connect test
};

// One checker's result.
struct ReportFinding {
  std::string checker;               // "set", "counter", "register", "map", "lww", "convergence"
  bool ok = true;                    // false: an anomaly
  std::string summary;               // one line
  std::vector<std::string> details;  // e.g. the first lost elements, bounds violated
};

struct ReportInput {
  std::string scenario;
  std::string description;
  std::string seed;
  std::string started_at;  // wall-clock time, ISO 8601
  double duration_s = 0;   // the fault phase
  int nodes = 0;
  std::string consistency;  // e.g. "n_val=3 r=quorum w=quorum dw=quorum"
  std::vector<std::string> nemeses;
  std::vector<std::string> workloads;
  std::vector<ReportOp> ops;
  std::vector<ReportWindow> windows;
  std::vector<ReportFinding> findings;
  // The terminal summary table, first row is the header.
  std::vector<std::vector<std::string>> summary;
  std::vector<std::string> nemesis_log;  // "12.3s partition start: ..." lines
  double convergence_s = -1;             // < 0: did not converge
  std::string verdict;                   // the exact last line of the terminal output
};

std::string render_report(const ReportInput& input);

// HTML-escapes text (&, <, >, ", ').
std::string html_escape(const std::string& text);

}  // namespace shoal::chaos
