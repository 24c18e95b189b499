// The shoal-chaos checkers on hand-built histories, with Jepsen's semantics:
// an ok operation happened, a fail certainly did not, an info may have. Each
// case asserts the exact anomaly counts, so a checker that misses or
// over-reports an anomaly fails it.
#include "tools/shoal_chaos/checkers.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace shoal::chaos;

namespace {

Op make_op(int process, std::string f, std::string key, std::string value, std::int64_t invoke_us,
           std::int64_t complete_us, Outcome outcome, std::vector<std::string> seen = {},
           std::optional<std::int64_t> number = std::nullopt) {
  Op op;
  op.process = process;
  op.node = "n" + std::to_string(process % 5 + 1);
  op.f = std::move(f);
  op.key = std::move(key);
  op.value = std::move(value);
  op.invoke_us = invoke_us;
  op.complete_us = complete_us;
  op.outcome = outcome;
  if (outcome == Outcome::fail) op.error = "refused";
  if (outcome == Outcome::info) op.error = "timeout";
  op.seen = std::move(seen);
  op.number = number;
  return op;
}

// Set workload.
Op add(const std::string& key, const std::string& element, std::int64_t at, Outcome outcome, int process = 0) {
  Op op = make_op(process, "add", key, element, at, at + 1000, outcome);
  op.workload = "set";
  return op;
}
Op remove(const std::string& key, const std::string& element, std::int64_t at, Outcome outcome, int process = 0) {
  Op op = make_op(process, "remove", key, element, at, at + 1000, outcome);
  op.workload = "set";
  return op;
}
Op read_set(const std::string& key, std::int64_t invoke_us, std::int64_t complete_us, std::vector<std::string> seen,
            int process = 1) {
  Op op = make_op(process, "read", key, "", invoke_us, complete_us, Outcome::ok, std::move(seen));
  op.workload = "set";
  return op;
}

// Counter workload.
Op incr(const std::string& key, std::int64_t delta, std::int64_t invoke_us, std::int64_t complete_us, Outcome outcome,
        int process = 0) {
  Op op = make_op(process, "incr", key, std::to_string(delta), invoke_us, complete_us, outcome);
  op.workload = "counter";
  return op;
}
Op read_counter(const std::string& key, std::int64_t value, std::int64_t invoke_us, std::int64_t complete_us,
                Outcome outcome = Outcome::ok, int process = 1) {
  Op op = make_op(process, "read", key, "", invoke_us, complete_us, outcome, {std::to_string(value)}, value);
  op.workload = "counter";
  return op;
}

// Register workload.
Op write(const std::string& key, int value, Outcome outcome, int process = 0) {
  std::int64_t at = static_cast<std::int64_t>(value) * 10000;
  Op op = make_op(process, "write", key, std::to_string(value), at, at + 1000, outcome);
  op.workload = "register";
  return op;
}

// Map workload: update number n of client p, tag "p-n".
Op update(const std::string& key, int p, int n, Outcome outcome) {
  std::int64_t at = static_cast<std::int64_t>(p) * 1000000 + static_cast<std::int64_t>(n) * 10000;
  Op op = make_op(p, "update", key, std::to_string(p) + "-" + std::to_string(n), at, at + 1000, outcome);
  op.workload = "map";
  return op;
}

bool has_detail(const CheckResult& r, const std::string& needle) {
  for (const auto& d : r.details)
    if (d.find(needle) != std::string::npos) return true;
  return false;
}

std::string all_details(const CheckResult& r) {
  std::string out;
  for (const auto& d : r.details) out += d + "\n";
  return out;
}

FinalSets one_final(const std::string& key, std::vector<std::string> elements) {
  FinalSets finals;
  finals[key] = std::move(elements);
  return finals;
}

}  // namespace

// ---------------------------------------------------------------------------
// check_set

TEST_CASE("set: a clean history passes with its counts in the summary", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::ok),
                         add("k", "c", 4000, Outcome::ok), remove("k", "b", 6000, Outcome::ok)};
  auto r = check_set("set", ops, one_final("k", {"a", "c"}));
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.checker == "set");
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(r.resurrected == 0);
  CHECK(r.duplicated == 0);
  CHECK(r.recovered == 0);
  CHECK(r.summary.find("acknowledged adds 3") != std::string::npos);
  CHECK(r.summary.find("acknowledged removes 1") != std::string::npos);
}

TEST_CASE("set: an acknowledged add absent at the end is lost", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::ok)};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 1);
  CHECK(r.unexpected == 0);
  CHECK(r.resurrected == 0);
  CHECK(r.duplicated == 0);
  CHECK(has_detail(r, "lost: k lacks b"));
}

TEST_CASE("set: an info add present is recovered, not lost", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::info)};
  auto r = check_set("set", ops, one_final("k", {"a", "b"}));
  CHECK(r.ok);
  CHECK(r.recovered == 1);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(r.summary.find("unknown 1") != std::string::npos);
}

TEST_CASE("set: an info add absent is not lost", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::info)};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.recovered == 0);
  CHECK(r.unexpected == 0);
}

TEST_CASE("set: a failed add absent is neither lost nor unexpected", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::fail)};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
}

TEST_CASE("set: an element nobody added is unexpected", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok)};
  auto r = check_set("set", ops, one_final("k", {"a", "zzz"}));
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.lost == 0);
  CHECK(r.recovered == 0);
  CHECK(has_detail(r, "zzz, which no client added"));
}

TEST_CASE("set: an element added to another key is unexpected on this one", "[chaos]") {
  std::vector<Op> ops = {add("k1", "a", 0, Outcome::ok), add("k2", "b", 0, Outcome::ok)};
  FinalSets finals;
  finals["k1"] = std::vector<std::string>{"a", "b"};
  finals["k2"] = std::vector<std::string>{"b"};
  auto r = check_set("set", ops, finals);
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.lost == 0);
}

TEST_CASE("set: a failed add present is unexpected", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::fail)};
  auto r = check_set("set", ops, one_final("k", {"a", "b"}));
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.recovered == 0);
  CHECK(r.lost == 0);
  CHECK(has_detail(r, "whose add failed"));
}

TEST_CASE("set: an acknowledged remove's element present is resurrected", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::ok),
                         remove("k", "b", 4000, Outcome::ok)};
  auto r = check_set("set", ops, one_final("k", {"a", "b"}));
  CHECK_FALSE(r.ok);
  CHECK(r.resurrected == 1);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(has_detail(r, "resurrected: k holds b"));
}

TEST_CASE("set: one acknowledged remove among failed and info ones suffices for a resurrection", "[chaos]") {
  std::vector<Op> ops = {add("k", "b", 0, Outcome::ok), remove("k", "b", 2000, Outcome::fail),
                         remove("k", "b", 4000, Outcome::ok), remove("k", "b", 6000, Outcome::info)};
  auto r = check_set("set", ops, one_final("k", {"b"}));
  CHECK_FALSE(r.ok);
  CHECK(r.resurrected == 1);
}

TEST_CASE("set: an info or failed remove's element present is not resurrected", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 0, Outcome::ok),
                         remove("k", "a", 2000, Outcome::info), remove("k", "b", 2000, Outcome::fail)};
  auto r = check_set("set", ops, one_final("k", {"a", "b"}));
  CHECK(r.ok);
  CHECK(r.resurrected == 0);
  CHECK(r.unexpected == 0);
}

TEST_CASE("set: an element with an info remove absent is not lost", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::ok),
                         remove("k", "b", 4000, Outcome::info)};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.resurrected == 0);
}

TEST_CASE("set: a failed remove does not excuse an acknowledged element's absence", "[chaos]") {
  std::vector<Op> ops = {add("k", "e1", 0, Outcome::ok), remove("k", "e1", 4000, Outcome::fail)};
  auto r = check_set("set", ops, one_final("k", {}));
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 1);
}

TEST_CASE("set: an element with an acknowledged remove absent is fine", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), remove("k", "a", 4000, Outcome::ok)};
  auto r = check_set("set", ops, one_final("k", {}));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.resurrected == 0);
}

TEST_CASE("set: duplicates in the final list are duplicated", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 2000, Outcome::ok)};
  auto r = check_set("lww", ops, one_final("k", {"a", "b", "a", "a"}));
  CHECK_FALSE(r.ok);
  CHECK(r.checker == "lww");
  CHECK(r.duplicated == 1);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(has_detail(r, "holds a 3 times"));
  auto twice = check_set("lww", ops, one_final("k", {"b", "a", "b"}));
  CHECK_FALSE(twice.ok);
  CHECK(twice.duplicated == 1);
  CHECK(has_detail(twice, "holds b 2 times"));
}

TEST_CASE("set: a key without a final read is not ok", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("j", "b", 0, Outcome::ok)};
  FinalSets finals;
  finals["k"] = std::nullopt;
  finals["j"] = std::vector<std::string>{"b"};
  auto r = check_set("set", ops, finals);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(has_detail(r, "key k: no final read succeeded"));
  CHECK(r.summary.find("1 keys without a final read") != std::string::npos);
}

TEST_CASE("set: stable visibility is measured from the add to the first read of an unbroken run", "[chaos]") {
  // Both adds are acknowledged at 1000 us; the read invoked before that
  // sees neither (and does not count). a: the read at [2000, 2500] misses
  // it, every later read sees it: stable from the read completing at
  // 4000 us, 3 ms after the add. b: every read invoked after the add sees
  // it: stable from the read completing at 2500 us, 1.5 ms after the add.
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok),         add("k", "b", 0, Outcome::ok, 2),
                         read_set("k", 500, 1500, {}),          read_set("k", 2000, 2500, {"b"}),
                         read_set("k", 3000, 4000, {"a", "b"}), read_set("k", 5000, 6000, {"b", "a"})};
  auto r = check_set("set", ops, one_final("k", {"a", "b"}));
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  // Stable after 1.5 ms (b) and 3 ms (a): p50 rounds to the upper one of two.
  CHECK(has_detail(r, "stable visibility of 2 acknowledged elements: p50 3.0 ms, p99 3.0 ms, max 3.0 ms; 0 first"));
}

TEST_CASE("set: stable visibility of a single element gives its delay as p50", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), read_set("k", 2000, 2500, {"a"}),
                         read_set("k", 3000, 3500, {"a"})};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(has_detail(r, "stable visibility of 1 acknowledged elements: p50 1.5 ms"));
}

TEST_CASE("set: a read invoked before the add completed does not start its stable visibility", "[chaos]") {
  // The read concurrent with the add already sees it; stability is measured
  // from the first read invoked after the acknowledgement.
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), read_set("k", 500, 800, {"a"}),
                         read_set("k", 2000, 2500, {"a"})};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(has_detail(r, "stable visibility of 1 acknowledged elements: p50 1.5 ms"));
}

TEST_CASE("set: an element the last read misses is seen stably only by the final read", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok), add("k", "b", 0, Outcome::ok),
                         read_set("k", 2000, 2500, {"a", "b"}), read_set("k", 3000, 3500, {"a"})};
  auto r = check_set("set", ops, one_final("k", {"a", "b"}));
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(has_detail(r, "stable visibility of 1 acknowledged elements: p50 1.5 ms"));
  CHECK(has_detail(r, "; 1 first seen stably only by the final read"));
}

TEST_CASE("set: no stable-visibility line without an element seen by reads", "[chaos]") {
  std::vector<Op> ops = {add("k", "a", 0, Outcome::ok)};
  auto r = check_set("set", ops, one_final("k", {"a"}));
  CHECK(r.ok);
  CHECK_FALSE(has_detail(r, "stable visibility"));
}

// ---------------------------------------------------------------------------
// check_counter

TEST_CASE("counter: a read above the increments invoked before it completed is flagged", "[chaos]") {
  std::vector<Op> ops = {incr("c", 1, 0, 10, Outcome::ok), incr("c", 2, 100, 110, Outcome::ok),
                         read_counter("c", 3, 20, 30)};
  std::map<std::string, std::optional<std::int64_t>> finals = {{"c", 3}};
  auto r = check_counter(ops, finals);
  INFO(all_details(r));
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.lost == 0);
  CHECK(has_detail(r, "saw 3, above the upper bound 1"));
  CHECK(r.summary.find("1 reads checked against their upper bound, 1 above it") != std::string::npos);
}

TEST_CASE("counter: a read may see a concurrent or info increment", "[chaos]") {
  // The second increment is invoked before the read completes (concurrent);
  // the third is info. The read of 6 is within 1 + 2 + 3.
  std::vector<Op> ops = {incr("c", 1, 0, 10, Outcome::ok), incr("c", 2, 25, 200, Outcome::ok),
                         incr("c", 3, 26, 300, Outcome::info), read_counter("c", 6, 20, 30)};
  std::map<std::string, std::optional<std::int64_t>> finals = {{"c", 6}};
  auto r = check_counter(ops, finals);
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.unexpected == 0);
  CHECK(r.lost == 0);
}

TEST_CASE("counter: a failed increment does not raise a read's upper bound", "[chaos]") {
  std::vector<Op> ops = {incr("c", 1, 0, 10, Outcome::ok), incr("c", 5, 12, 18, Outcome::fail),
                         read_counter("c", 6, 20, 30)};
  std::map<std::string, std::optional<std::int64_t>> finals = {{"c", 1}};
  auto r = check_counter(ops, finals);
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.lost == 0);
}

TEST_CASE("counter: a read that misses an acknowledged decrement is not flagged", "[chaos]") {
  std::vector<Op> ops = {incr("c", 5, 0, 10, Outcome::ok), incr("c", -2, 20, 30, Outcome::ok),
                         read_counter("c", 5, 40, 50), read_counter("c", 3, 60, 70)};
  std::map<std::string, std::optional<std::int64_t>> finals = {{"c", 3}};
  auto r = check_counter(ops, finals);
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.unexpected == 0);
  CHECK(r.lost == 0);
  CHECK(r.summary.find("2 reads checked against their upper bound, 0 above it") != std::string::npos);
}

TEST_CASE("counter: failed and info reads are not checked", "[chaos]") {
  std::vector<Op> ops = {incr("c", 1, 0, 10, Outcome::ok), read_counter("c", 99, 20, 30, Outcome::fail),
                         read_counter("c", 99, 40, 50, Outcome::info)};
  std::map<std::string, std::optional<std::int64_t>> finals = {{"c", 1}};
  auto r = check_counter(ops, finals);
  CHECK(r.ok);
  CHECK(r.unexpected == 0);
  CHECK(r.summary.find("0 reads checked") != std::string::npos);
}

TEST_CASE("counter: without info ops the final value must be exact", "[chaos]") {
  std::vector<Op> ops = {incr("c", 5, 0, 10, Outcome::ok), incr("c", 3, 20, 30, Outcome::ok),
                         incr("c", -1, 40, 50, Outcome::ok)};
  SECTION("exact") {
    auto r = check_counter(ops, {{"c", 7}});
    INFO(all_details(r));
    CHECK(r.ok);
    CHECK(r.lost == 0);
    CHECK(r.unexpected == 0);
    CHECK(has_detail(r, "final value of c is 7, exactly 7"));
  }
  SECTION("one below") {
    auto r = check_counter(ops, {{"c", 6}});
    CHECK_FALSE(r.ok);
    CHECK(r.lost == 1);
    CHECK(r.unexpected == 0);
    CHECK(has_detail(r, "final value of c is 6, expected exactly 7"));
  }
  SECTION("one above") {
    auto r = check_counter(ops, {{"c", 8}});
    CHECK_FALSE(r.ok);
    CHECK(r.lost == 0);
    CHECK(r.unexpected == 1);
  }
}

TEST_CASE("counter: with info ops the final value must lie within the bounds", "[chaos]") {
  // ok +5, info +3, info -2, ok -1: at least 5 - 2 - 1 = 2, at most 5 + 3 - 1 = 7.
  std::vector<Op> ops = {incr("c", 5, 0, 10, Outcome::ok), incr("c", 3, 20, 30, Outcome::info),
                         incr("c", -2, 40, 50, Outcome::info), incr("c", -1, 60, 70, Outcome::ok)};
  for (std::int64_t inside : {2, 4, 7}) {
    auto r = check_counter(ops, {{"c", inside}});
    INFO("final " << inside << "\n" << all_details(r));
    CHECK(r.ok);
    CHECK(r.lost == 0);
    CHECK(r.unexpected == 0);
    CHECK(has_detail(r, "within [2, 7]"));
  }
  auto below = check_counter(ops, {{"c", 0}});
  CHECK_FALSE(below.ok);
  CHECK(below.lost == 2);
  CHECK(below.unexpected == 0);
  auto above = check_counter(ops, {{"c", 10}});
  CHECK_FALSE(above.ok);
  CHECK(above.lost == 0);
  CHECK(above.unexpected == 3);
}

TEST_CASE("counter: failed increments are ignored", "[chaos]") {
  std::vector<Op> ops = {incr("c", 4, 0, 10, Outcome::ok), incr("c", 10, 20, 30, Outcome::fail),
                         incr("c", -3, 40, 50, Outcome::fail)};
  auto exact = check_counter(ops, {{"c", 4}});
  INFO(all_details(exact));
  CHECK(exact.ok);
  CHECK(has_detail(exact, "exactly 4"));
  auto with_fail_plus = check_counter(ops, {{"c", 14}});
  CHECK_FALSE(with_fail_plus.ok);
  CHECK(with_fail_plus.unexpected == 10);
  auto with_fail_minus = check_counter(ops, {{"c", 1}});
  CHECK_FALSE(with_fail_minus.ok);
  CHECK(with_fail_minus.lost == 3);
}

TEST_CASE("counter: keys are checked separately and a missing final read is not ok", "[chaos]") {
  std::vector<Op> ops = {incr("a", 1, 0, 10, Outcome::ok), incr("b", 2, 0, 10, Outcome::ok)};
  auto both = check_counter(ops, {{"a", 1}, {"b", 2}});
  CHECK(both.ok);
  auto swapped = check_counter(ops, {{"a", 2}, {"b", 1}});
  CHECK_FALSE(swapped.ok);
  CHECK(swapped.lost == 1);
  CHECK(swapped.unexpected == 1);
  auto missing = check_counter(ops, {{"a", 1}, {"b", std::nullopt}});
  CHECK_FALSE(missing.ok);
  CHECK(missing.lost == 0);
  CHECK(missing.unexpected == 0);
  CHECK(has_detail(missing, "key b: no final read succeeded"));
}

// ---------------------------------------------------------------------------
// check_register

TEST_CASE("register: the final value holds the last acknowledged value", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::ok), write("r", 3, Outcome::ok)};
  auto r = check_register(ops, one_final("r", {"3"}), 1);
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(r.summary.find("max siblings 1, explosions 0") != std::string::npos);
  auto siblings = check_register(ops, one_final("r", {"2", "3"}), 1);
  CHECK(siblings.ok);
  CHECK(siblings.lost == 0);
}

TEST_CASE("register: only an older value at the end is lost", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::ok), write("r", 3, Outcome::ok)};
  auto r = check_register(ops, one_final("r", {"2"}), 1);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 1);
  CHECK(r.unexpected == 0);
  CHECK(has_detail(r, "not the last acknowledged value 3"));
  auto older_siblings = check_register(ops, one_final("r", {"1", "2"}), 1);
  CHECK_FALSE(older_siblings.ok);
  CHECK(older_siblings.lost == 1);
}

TEST_CASE("register: a later info value alone is fine", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::ok), write("r", 3, Outcome::info)};
  auto r = check_register(ops, one_final("r", {"3"}), 1);
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
}

TEST_CASE("register: an older info value does not stand in for the last acknowledged one", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::info), write("r", 2, Outcome::ok)};
  auto r = check_register(ops, one_final("r", {"1"}), 1);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 1);
  CHECK(r.unexpected == 0);
}

TEST_CASE("register: a sibling never written is unexpected", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::ok)};
  auto r = check_register(ops, one_final("r", {"2", "9"}), 1);
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.lost == 0);
  CHECK(has_detail(r, "holds 9, which was never written"));
  auto garbage = check_register(ops, one_final("r", {"2", "x"}), 1);
  CHECK_FALSE(garbage.ok);
  CHECK(garbage.unexpected == 1);
}

TEST_CASE("register: a sibling whose write failed is unexpected", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::fail)};
  auto r = check_register(ops, one_final("r", {"2"}), 1);
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  // The failed write does not count as a later value: 1 is lost too.
  CHECK(r.lost == 1);
  CHECK(has_detail(r, "(its write failed)"));
}

TEST_CASE("register: too many siblings is a sibling explosion", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::ok), write("r", 3, Outcome::ok),
                         write("r", 4, Outcome::ok), write("r", 5, Outcome::ok)};
  // One writer, no info write: at most 2 siblings.
  auto two = check_register(ops, one_final("r", {"4", "5"}), 1);
  CHECK(two.ok);
  auto three = check_register(ops, one_final("r", {"3", "4", "5"}), 1);
  INFO(all_details(three));
  CHECK_FALSE(three.ok);
  CHECK(three.lost == 0);
  CHECK(three.unexpected == 0);
  CHECK(has_detail(three, "sibling explosion: r has 3 siblings (at most 2 expected)"));
  CHECK(three.summary.find("max siblings 3, explosions 1") != std::string::npos);
  // Two writers per key allow one more.
  CHECK(check_register(ops, one_final("r", {"3", "4", "5"}), 2).ok);
}

TEST_CASE("register: each info write allows one more sibling", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::ok), write("r", 2, Outcome::ok), write("r", 3, Outcome::ok),
                         write("r", 4, Outcome::ok), write("r", 5, Outcome::info)};
  CHECK(check_register(ops, one_final("r", {"3", "4", "5"}), 1).ok);
  auto four = check_register(ops, one_final("r", {"2", "3", "4", "5"}), 1);
  CHECK_FALSE(four.ok);
  CHECK(has_detail(four, "at most 3 expected"));
}

TEST_CASE("register: no acknowledged write, a missing final read", "[chaos]") {
  std::vector<Op> ops = {write("r", 1, Outcome::info), write("s", 1, Outcome::ok)};
  FinalSets finals;
  finals["r"] = std::vector<std::string>{};
  finals["s"] = std::nullopt;
  auto r = check_register(ops, finals, 1);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(has_detail(r, "key s: no final read succeeded"));
  FinalSets only_r;
  only_r["r"] = std::vector<std::string>{};
  CHECK(check_register(ops, only_r, 1).ok);
}

// ---------------------------------------------------------------------------
// check_map

namespace {

// Client 1: updates 1 and 2 acknowledged; client 2: update 1 acknowledged,
// update 2 of unknown outcome; client 3: update 1 failed.
std::vector<Op> map_history() {
  return {update("m", 1, 1, Outcome::ok), update("m", 1, 2, Outcome::ok), update("m", 2, 1, Outcome::ok),
          update("m", 2, 2, Outcome::info), update("m", 3, 1, Outcome::fail)};
}

// The final map of the updates that applied the acknowledged ones only.
MapFinal consistent_map() {
  MapFinal m;
  m.tags = {"1-1", "1-2", "2-1"};
  m.hits = 3;
  m.visits = {{1, 2}, {2, 1}};
  m.owners = {{1, "2"}, {2, "1"}};
  return m;
}

std::map<std::string, std::optional<MapFinal>> map_final(MapFinal m) {
  std::map<std::string, std::optional<MapFinal>> finals;
  finals["m"] = std::move(m);
  return finals;
}

}  // namespace

TEST_CASE("map: a final map equal to the model of its applied updates passes", "[chaos]") {
  auto r = check_map(map_history(), map_final(consistent_map()), false);
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.lost == 0);
  CHECK(r.unexpected == 0);
  CHECK(r.recovered == 0);
}

TEST_CASE("map: an applied info update is recovered", "[chaos]") {
  MapFinal m = consistent_map();
  m.tags.push_back("2-2");
  m.hits = 4;
  m.visits[2] = 2;
  m.owners[2] = "2";
  auto r = check_map(map_history(), map_final(m), false);
  INFO(all_details(r));
  CHECK(r.ok);
  CHECK(r.recovered == 1);
  CHECK(r.lost == 0);
}

TEST_CASE("map: an acknowledged update missing from the tags is lost", "[chaos]") {
  // A self-consistent map without update 1-2.
  MapFinal m;
  m.tags = {"1-1", "2-1"};
  m.hits = 2;
  m.visits = {{1, 1}, {2, 1}};
  m.owners = {{1, "1"}, {2, "1"}};
  auto r = check_map(map_history(), map_final(m), false);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 1);
  CHECK(r.unexpected == 0);
  CHECK(has_detail(r, "lacks the acknowledged update 1-2"));
}

TEST_CASE("map: a tag of a failed or unsent update is unexpected", "[chaos]") {
  MapFinal m = consistent_map();
  m.tags.push_back("3-1");
  auto r = check_map(map_history(), map_final(m), false);
  CHECK_FALSE(r.ok);
  CHECK(r.unexpected == 1);
  CHECK(r.lost == 0);
  CHECK(has_detail(r, "applied update 3-1, which failed"));
  MapFinal n = consistent_map();
  n.tags.push_back("4-1");
  auto unsent = check_map(map_history(), map_final(n), false);
  CHECK_FALSE(unsent.ok);
  CHECK(unsent.unexpected == 1);
  CHECK(has_detail(unsent, "which no client sent"));
}

TEST_CASE("map: hits differing from the applied updates is a mismatch, not a loss", "[chaos]") {
  for (std::int64_t hits : {2, 4}) {
    MapFinal m = consistent_map();
    m.hits = hits;
    auto r = check_map(map_history(), map_final(m), false);
    INFO("hits " << hits);
    CHECK_FALSE(r.ok);
    CHECK(r.lost == 0);
    CHECK(r.unexpected == 0);
    CHECK(has_detail(r, "model mismatch: m hits=" + std::to_string(hits)));
    CHECK(r.summary.find("the final map differs from the model") != std::string::npos);
  }
}

TEST_CASE("map: visits differing from a client's applied updates is a mismatch", "[chaos]") {
  MapFinal m = consistent_map();
  m.visits[1] = 1;
  auto r = check_map(map_history(), map_final(m), false);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 0);
  CHECK(has_detail(r, "profile-1.visits=1, the applied updates give 2"));
  MapFinal n = consistent_map();
  n.visits[3] = 1;  // a client with no applied update
  auto extra = check_map(map_history(), map_final(n), false);
  CHECK_FALSE(extra.ok);
  CHECK(has_detail(extra, "profile-3.visits=1, the applied updates give 0"));
}

TEST_CASE("map: an owner older than the highest applied is a mismatch unless clocks were skewed", "[chaos]") {
  MapFinal m = consistent_map();
  m.owners[1] = "1";  // applied 1 and 2, kept 1
  auto strict = check_map(map_history(), map_final(m), false);
  CHECK_FALSE(strict.ok);
  CHECK(strict.lost == 0);
  CHECK(strict.unexpected == 0);
  CHECK(has_detail(strict, "model mismatch: m owner-1=1, the highest applied is 2"));
  auto skewed = check_map(map_history(), map_final(m), true);
  INFO(all_details(skewed));
  CHECK(skewed.ok);
  CHECK(skewed.lost == 0);
  CHECK(has_detail(skewed, "note: m owner-1=1, the highest applied is 2"));
  CHECK(skewed.summary.find("older owner values kept 1") != std::string::npos);
}

TEST_CASE("map: an owner that is no applied value is a mismatch even with skewed clocks", "[chaos]") {
  MapFinal m = consistent_map();
  m.owners[2] = "2";  // update 2-2 was not applied (not in the tags)
  for (bool skew : {false, true}) {
    auto r = check_map(map_history(), map_final(m), skew);
    INFO("skew " << skew);
    CHECK_FALSE(r.ok);
    CHECK(has_detail(r, "owner-2=2, not a value of an applied update"));
  }
  MapFinal absent = consistent_map();
  absent.owners.erase(1);
  auto r = check_map(map_history(), map_final(absent), true);
  CHECK_FALSE(r.ok);
  CHECK(has_detail(r, "owner-1=(absent)"));
}

TEST_CASE("map: an owner set for a client with no applied update is a mismatch", "[chaos]") {
  MapFinal m = consistent_map();
  m.owners[3] = "1";  // client 3's only update failed
  for (bool skew : {false, true}) {
    auto r = check_map(map_history(), map_final(m), skew);
    INFO("skew " << skew);
    CHECK_FALSE(r.ok);
    CHECK(r.lost == 0);
    CHECK(r.unexpected == 0);
    CHECK(has_detail(r, "owner-3 is set, no update of client 3 applied"));
  }
}

TEST_CASE("map: a key without a final read is not ok", "[chaos]") {
  std::map<std::string, std::optional<MapFinal>> finals;
  finals["m"] = std::nullopt;
  auto r = check_map(map_history(), finals, false);
  CHECK_FALSE(r.ok);
  CHECK(r.lost == 0);
  CHECK(has_detail(r, "key m: no final read succeeded"));
}

// ---------------------------------------------------------------------------
// quantile

TEST_CASE("quantile picks the nearest rank of the sorted values", "[chaos]") {
  std::vector<std::int64_t> none;
  CHECK(quantile(none, 0.5) == 0);
  std::vector<std::int64_t> values = {50, 10, 40, 20, 30};
  CHECK(quantile(values, 0.0) == 10);
  CHECK(quantile(values, 0.5) == 30);
  CHECK(quantile(values, 1.0) == 50);
  CHECK(values == std::vector<std::int64_t>{10, 20, 30, 40, 50});
}
