#include "tools/shoal_chaos/checkers.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace shoal::chaos {

namespace {

constexpr std::size_t kDetailsMax = 200;

void detail(CheckResult& r, std::string text) {
  if (r.details.size() < kDetailsMax) r.details.push_back(std::move(text));
}

std::string ms(std::int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1000.0);
  return buf;
}

std::optional<std::int64_t> parse_int(const std::string& text) {
  try {
    std::size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used != text.size()) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

std::string finish_counts(const CheckResult& r) {
  return "lost=" + std::to_string(r.lost) + " unexpected=" + std::to_string(r.unexpected) +
         " resurrected=" + std::to_string(r.resurrected);
}

}  // namespace

std::int64_t quantile(std::vector<std::int64_t>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(std::llround(q * static_cast<double>(values.size() - 1)));
  return values[std::min(index, values.size() - 1)];
}

CheckResult check_set(const std::string& name, const std::vector<Op>& ops, const FinalSets& finals) {
  CheckResult r;
  r.checker = name;
  std::int64_t stable_never = 0, final_reads_missing = 0;
  std::vector<std::int64_t> stable_us;
  std::int64_t acked_adds = 0, info_adds = 0, acked_removes = 0;

  for (const auto& [key, final] : finals) {
    // Outcome of each element's add and remove on this key.
    std::unordered_map<std::string, const Op*> adds;
    std::unordered_map<std::string, Outcome> removes;
    std::vector<const Op*> reads;
    for (const auto& op : ops) {
      if (op.key != key) continue;
      if (op.f == "add") {
        adds[op.value] = &op;
      } else if (op.f == "remove") {
        auto it = removes.find(op.value);
        // ok wins over info wins over fail: one acknowledged remove suffices.
        if (it == removes.end() || op.outcome == Outcome::ok ||
            (op.outcome == Outcome::info && it->second == Outcome::fail))
          removes[op.value] = op.outcome;
      } else if (op.f == "read" && op.outcome == Outcome::ok) {
        reads.push_back(&op);
      }
    }
    for (const auto& [e, op] : adds) {
      if (op->outcome == Outcome::ok) ++acked_adds;
      if (op->outcome == Outcome::info) ++info_adds;
    }
    for (const auto& [e, outcome] : removes)
      if (outcome == Outcome::ok) ++acked_removes;
    if (!final) {
      ++final_reads_missing;
      r.ok = false;
      detail(r, "key " + key + ": no final read succeeded");
      continue;
    }
    std::unordered_map<std::string, int> present;
    for (const auto& e : *final) ++present[e];
    for (const auto& [e, count] : present) {
      if (count > 1) {
        ++r.duplicated;
        detail(r, "duplicated: " + key + " holds " + e + " " + std::to_string(count) + " times");
      }
      auto add = adds.find(e);
      if (add == adds.end()) {
        ++r.unexpected;
        detail(r, "unexpected: " + key + " holds " + e + ", which no client added");
        continue;
      }
      if (add->second->outcome == Outcome::fail) {
        ++r.unexpected;
        detail(r, "unexpected: " + key + " holds " + e + ", whose add failed (" + add->second->error + ")");
        continue;
      }
      if (add->second->outcome == Outcome::info) ++r.recovered;
      auto rm = removes.find(e);
      if (rm != removes.end() && rm->second == Outcome::ok) {
        ++r.resurrected;
        detail(r, "resurrected: " + key + " holds " + e + ", removed with an acknowledged remove");
      }
    }
    // Reads in invocation order, each as a sorted list for lookups.
    std::sort(reads.begin(), reads.end(), [](const Op* a, const Op* b) { return a->invoke_us < b->invoke_us; });
    std::vector<std::vector<std::string>> seen;
    seen.reserve(reads.size());
    for (const Op* read : reads) {
      auto s = read->seen;
      std::sort(s.begin(), s.end());
      seen.push_back(std::move(s));
    }
    for (const auto& [e, op] : adds) {
      if (op->outcome != Outcome::ok) continue;
      auto rm = removes.find(e);
      if (rm != removes.end() && rm->second != Outcome::fail)
        continue;  // a remove (even one of unknown outcome) may hide it
      if (!present.count(e)) {
        ++r.lost;
        detail(r, "lost: " + key + " lacks " + e + " (added at " + ms(op->complete_us) + ", acknowledged)");
        continue;
      }
      // Latest read (invoked after the add completed) that missed it.
      std::optional<std::size_t> stable_from;
      for (std::size_t i = reads.size(); i-- > 0;) {
        if (reads[i]->invoke_us < op->complete_us) break;
        if (!std::binary_search(seen[i].begin(), seen[i].end(), e)) break;
        stable_from = i;
      }
      if (stable_from && *stable_from + 1 <= reads.size()) {
        stable_us.push_back(std::max<std::int64_t>(0, reads[*stable_from]->complete_us - op->complete_us));
      } else {
        ++stable_never;
      }
    }
  }
  if (r.lost || r.unexpected || r.resurrected || r.duplicated) r.ok = false;
  r.summary = finish_counts(r) + " duplicated=" + std::to_string(r.duplicated) +
              " recovered=" + std::to_string(r.recovered) + " (acknowledged adds " + std::to_string(acked_adds) +
              ", unknown " + std::to_string(info_adds) + ", acknowledged removes " + std::to_string(acked_removes) +
              ")";
  if (final_reads_missing) r.summary += "; " + std::to_string(final_reads_missing) + " keys without a final read";
  auto stable_count = stable_us.size();
  if (stable_count) {
    auto p50 = quantile(stable_us, 0.5), p99 = quantile(stable_us, 0.99), max = stable_us.back();
    detail(r, "stable visibility of " + std::to_string(stable_count) + " acknowledged elements: p50 " + ms(p50) +
                  ", p99 " + ms(p99) + ", max " + ms(max) + "; " + std::to_string(stable_never) +
                  " first seen stably only by the final read");
  }
  return r;
}

CheckResult check_counter(const std::vector<Op>& ops,
                          const std::map<std::string, std::optional<std::int64_t>>& finals) {
  CheckResult r;
  r.checker = "counter";
  std::int64_t reads_checked = 0, violations = 0;
  for (const auto& [key, final] : finals) {
    std::vector<const Op*> incrs, reads;
    for (const auto& op : ops) {
      if (op.key != key) continue;
      if (op.f == "incr") incrs.push_back(&op);
      if (op.f == "read" && op.outcome == Outcome::ok && op.number) reads.push_back(&op);
    }
    // Upper bound of each read: possible increments invoked before it completed.
    std::sort(incrs.begin(), incrs.end(), [](const Op* a, const Op* b) { return a->invoke_us < b->invoke_us; });
    std::vector<std::int64_t> prefix(incrs.size() + 1, 0);
    std::vector<std::int64_t> deltas(incrs.size(), 0);
    for (std::size_t i = 0; i < incrs.size(); ++i) {
      deltas[i] = parse_int(incrs[i]->value).value_or(0);
      bool possible = incrs[i]->outcome != Outcome::fail;
      prefix[i + 1] = prefix[i] + (possible && deltas[i] > 0 ? deltas[i] : 0);
    }
    for (const Op* read : reads) {
      ++reads_checked;
      auto upto = std::upper_bound(incrs.begin(), incrs.end(), read->complete_us,
                                   [](std::int64_t t, const Op* op) { return t < op->invoke_us; });
      std::int64_t upper = prefix[static_cast<std::size_t>(upto - incrs.begin())];
      if (*read->number > upper) {
        ++violations;
        ++r.unexpected;
        detail(r, "read of " + key + " at " + ms(read->complete_us) + " saw " + std::to_string(*read->number) +
                      ", above the upper bound " + std::to_string(upper));
      }
    }
    std::int64_t lower = 0, upper = 0;
    bool exact = true;
    for (std::size_t i = 0; i < incrs.size(); ++i) {
      auto outcome = incrs[i]->outcome;
      if (outcome == Outcome::fail) continue;
      if (outcome == Outcome::info) exact = false;
      std::int64_t d = deltas[i];
      if (d > 0) {
        upper += d;
        if (outcome == Outcome::ok) lower += d;
      } else {
        lower += d;
        if (outcome == Outcome::ok) upper += d;
      }
    }
    if (!final) {
      r.ok = false;
      detail(r, "key " + key + ": no final read succeeded");
      continue;
    }
    std::string bounds = exact ? "exactly " + std::to_string(lower)
                               : "within [" + std::to_string(lower) + ", " + std::to_string(upper) + "]";
    if (*final < lower) {
      r.lost += lower - *final;
      detail(r, "final value of " + key + " is " + std::to_string(*final) + ", expected " + bounds);
    } else if (*final > upper) {
      r.unexpected += *final - upper;
      detail(r, "final value of " + key + " is " + std::to_string(*final) + ", expected " + bounds);
    } else {
      detail(r, "final value of " + key + " is " + std::to_string(*final) + ", " + bounds);
    }
  }
  if (r.lost || r.unexpected) r.ok = false;
  r.summary = finish_counts(r) + " (" + std::to_string(reads_checked) + " reads checked against their upper bound, " +
              std::to_string(violations) + " above it)";
  return r;
}

CheckResult check_register(const std::vector<Op>& ops, const FinalSets& finals, int writers_per_key) {
  CheckResult r;
  r.checker = "register";
  std::size_t max_siblings = 0;
  std::int64_t explosions = 0;
  for (const auto& [key, final] : finals) {
    std::map<std::int64_t, Outcome> writes;
    std::int64_t last_ok = 0, info = 0;
    for (const auto& op : ops) {
      if (op.key != key || op.f != "write") continue;
      auto v = parse_int(op.value);
      if (!v) continue;
      writes[*v] = op.outcome;
      if (op.outcome == Outcome::ok) last_ok = std::max(last_ok, *v);
      if (op.outcome == Outcome::info) ++info;
    }
    if (!final) {
      r.ok = false;
      detail(r, "key " + key + ": no final read succeeded");
      continue;
    }
    max_siblings = std::max(max_siblings, final->size());
    bool has_latest = last_ok == 0;
    for (const auto& sibling : *final) {
      auto v = parse_int(sibling);
      auto it = v ? writes.find(*v) : writes.end();
      if (it == writes.end() || it->second == Outcome::fail) {
        ++r.unexpected;
        detail(r, "unexpected: " + key + " holds " + sibling + ", which was never written" +
                      (it != writes.end() ? " (its write failed)" : ""));
        continue;
      }
      if (*v >= last_ok) has_latest = true;
    }
    if (!has_latest) {
      ++r.lost;
      std::string held;
      for (const auto& s : *final) held += (held.empty() ? "" : ",") + s;
      detail(r, "lost: " + key + " holds [" + held + "], not the last acknowledged value " + std::to_string(last_ok) +
                    " nor a later one");
    }
    auto allowed = static_cast<std::size_t>(writers_per_key + 1 + info);
    if (final->size() > allowed) {
      ++explosions;
      detail(r, "sibling explosion: " + key + " has " + std::to_string(final->size()) + " siblings (at most " +
                    std::to_string(allowed) + " expected)");
    }
  }
  if (r.lost || r.unexpected || explosions) r.ok = false;
  r.summary =
      finish_counts(r) + " max siblings " + std::to_string(max_siblings) + ", explosions " + std::to_string(explosions);
  return r;
}

CheckResult check_map(const std::vector<Op>& ops, const std::map<std::string, std::optional<MapFinal>>& finals,
                      bool clock_skew) {
  CheckResult r;
  r.checker = "map";
  std::int64_t older_owner = 0;
  for (const auto& [key, final] : finals) {
    std::map<std::string, const Op*> updates;  // tag -> op
    for (const auto& op : ops)
      if (op.key == key && op.f == "update") updates[op.value] = &op;
    if (!final) {
      r.ok = false;
      detail(r, "key " + key + ": no final read succeeded");
      continue;
    }
    std::set<std::string> tags(final->tags.begin(), final->tags.end());
    // The model of the applied updates.
    std::int64_t hits = 0;
    std::map<int, std::int64_t> visits, highest_applied;
    std::map<int, std::set<std::string>> applied_values;
    for (const auto& tag : tags) {
      auto it = updates.find(tag);
      if (it == updates.end() || it->second->outcome == Outcome::fail) {
        ++r.unexpected;
        detail(r, "unexpected: " + key + " applied update " + tag + ", which " +
                      (it == updates.end() ? "no client sent" : "failed"));
        continue;
      }
      ++hits;
      int p = it->second->process;
      ++visits[p];
      auto n = parse_int(tag.substr(tag.find('-') + 1)).value_or(0);
      applied_values[p].insert(std::to_string(n));
      highest_applied[p] = std::max(highest_applied[p], n);
    }
    for (const auto& [tag, op] : updates) {
      if (op->outcome == Outcome::ok && !tags.count(tag)) {
        ++r.lost;
        detail(r, "lost: " + key + " lacks the acknowledged update " + tag);
      }
      if (op->outcome == Outcome::info && tags.count(tag)) ++r.recovered;
    }
    if (final->hits != hits) {
      r.ok = false;
      detail(r, "model mismatch: " + key + " hits=" + std::to_string(final->hits) + ", the " + std::to_string(hits) +
                    " applied updates give " + std::to_string(hits));
    }
    std::set<int> processes;
    for (const auto& [p, v] : visits) processes.insert(p);
    for (const auto& [p, v] : final->visits) processes.insert(p);
    for (const auto& [p, owner] : final->owners) processes.insert(p);
    for (int p : processes) {
      std::int64_t want = visits.count(p) ? visits[p] : 0;
      std::int64_t got = final->visits.count(p) ? final->visits.at(p) : 0;
      if (want != got) {
        r.ok = false;
        detail(r, "model mismatch: " + key + " profile-" + std::to_string(p) + ".visits=" + std::to_string(got) +
                      ", the applied updates give " + std::to_string(want));
      }
      auto owner = final->owners.find(p);
      if (want == 0) {
        if (owner != final->owners.end()) {
          r.ok = false;
          detail(r, "model mismatch: " + key + " owner-" + std::to_string(p) + " is set, no update of client " +
                        std::to_string(p) + " applied");
        }
        continue;
      }
      if (owner == final->owners.end() || !applied_values[p].count(owner->second)) {
        r.ok = false;
        detail(r, "model mismatch: " + key + " owner-" + std::to_string(p) + "=" +
                      (owner == final->owners.end() ? std::string("(absent)") : owner->second) +
                      ", not a value of an applied update");
        continue;
      }
      if (parse_int(owner->second).value_or(0) != highest_applied[p]) {
        ++older_owner;
        detail(r, std::string(clock_skew ? "note" : "model mismatch") + ": " + key + " owner-" + std::to_string(p) +
                      "=" + owner->second + ", the highest applied is " + std::to_string(highest_applied[p]) +
                      (clock_skew ? " (last-write-wins under skewed clocks)" : ""));
        if (!clock_skew) r.ok = false;
      }
    }
  }
  if (r.lost || r.unexpected) r.ok = false;
  r.summary = finish_counts(r) + " recovered=" + std::to_string(r.recovered) +
              (older_owner ? ", older owner values kept " + std::to_string(older_owner) : "");
  if (!r.ok && r.lost == 0 && r.unexpected == 0) r.summary += "; the final map differs from the model";
  return r;
}

}  // namespace shoal::chaos
