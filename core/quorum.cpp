#include "core/quorum.hpp"

#include <algorithm>

namespace shoal::core {

namespace {

Result<void> check(std::string_view name, std::uint32_t value, std::uint32_t n_val, bool at_least_one) {
  if (value > n_val)
    return make_error(Errc::invalid_argument,
                      std::string(name) + "=" + std::to_string(value) + " exceeds n_val=" + std::to_string(n_val));
  if (at_least_one && value == 0) return make_error(Errc::invalid_argument, std::string(name) + " must be at least 1");
  return ok();
}

std::string plural(std::uint32_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

Result<ReadQuorumSpec> make_read_spec(std::uint32_t n_val, std::uint32_t r, std::uint32_t pr, bool notfound_ok,
                                      bool basic_quorum) {
  if (n_val == 0) return make_error(Errc::invalid_argument, "n_val must be at least 1");
  SHOAL_TRYV(check("r", r, n_val, true));
  SHOAL_TRYV(check("pr", pr, n_val, false));
  ReadQuorumSpec spec;
  spec.n = n_val;
  spec.primaries = n_val;
  spec.r = std::max(r, pr);
  spec.pr = pr;
  spec.notfound_ok = notfound_ok;
  spec.basic_quorum = basic_quorum;
  return spec;
}

Result<WriteQuorumSpec> make_write_spec(std::uint32_t n_val, std::uint32_t w, std::uint32_t pw, std::uint32_t dw) {
  if (n_val == 0) return make_error(Errc::invalid_argument, "n_val must be at least 1");
  SHOAL_TRYV(check("w", w, n_val, true));
  SHOAL_TRYV(check("pw", pw, n_val, false));
  SHOAL_TRYV(check("dw", dw, n_val, false));
  WriteQuorumSpec spec;
  spec.n = n_val;
  spec.primaries = n_val;
  spec.w = std::max({w, pw, dw});
  spec.pw = pw;
  spec.dw = dw;
  return spec;
}

// ---- reads --------------------------------------------------------------------

void ReadQuorum::add(Reply reply, bool primary) {
  SHOAL_ASSERT(replies() < spec_.n, "more read replies than replicas asked");
  switch (reply) {
    case Reply::found:
      ++found_;
      primary_found_ += primary;
      break;
    case Reply::notfound:
      ++notfound_;
      primary_notfound_ += primary;
      break;
    case Reply::failed:
      ++failed_;
      primary_failed_ += primary;
      break;
  }
  SHOAL_ASSERT(primary_found_ + primary_notfound_ + primary_failed_ <= spec_.primaries,
               "more primary replies than primaries");
}

QuorumOutcome ReadQuorum::outcome() const {
  const std::uint32_t remaining = spec_.n - replies();
  const std::uint32_t primaries_remaining = spec_.primaries - (primary_found_ + primary_notfound_ + primary_failed_);
  if (successes() >= spec_.r && primary_successes() >= spec_.pr)
    return found_ > 0 ? QuorumOutcome::found : QuorumOutcome::notfound;
  const bool impossible = successes() + remaining < spec_.r || primary_successes() + primaries_remaining < spec_.pr;
  // Not found is the answer when the replicas that said so are enough on
  // their own to make r unreachable: more of them than n - r.
  const bool notfounds_decide = !spec_.notfound_ok && notfound_ > 0 && notfound_ >= spec_.n - spec_.r + 1;
  if (impossible) return notfounds_decide && found_ == 0 ? QuorumOutcome::notfound : QuorumOutcome::failed;
  if (spec_.basic_quorum && !spec_.notfound_ok && notfound_ + failed_ >= spec_.n / 2 + 1)
    return notfound_ > 0 ? QuorumOutcome::notfound : QuorumOutcome::failed;
  return QuorumOutcome::pending;
}

std::string ReadQuorum::failure() const {
  const std::uint32_t primaries_remaining = spec_.primaries - (primary_found_ + primary_notfound_ + primary_failed_);
  const bool pr_unreachable = primary_successes() + primaries_remaining < spec_.pr;
  // Name the setting the caller chose: pr when it cannot be met (r was
  // only raised to it).
  if (!pr_unreachable) {
    std::string out =
        "r=" + std::to_string(spec_.r) + " not met: " + plural(successes(), "replica", "replicas") + " replied";
    if (failed_) out += " (" + std::to_string(failed_) + " failed or unreachable)";
    if (!spec_.notfound_ok && notfound_) out += ", " + std::to_string(notfound_) + " not found (notfound_ok=false)";
    return out;
  }
  std::string out = "pr=" + std::to_string(spec_.pr) +
                    " not met: " + plural(primary_successes(), "primary", "primaries") + " replied";
  if (primary_failed_) out += " (" + std::to_string(primary_failed_) + " failed or unreachable)";
  return out;
}

// ---- writes ----------------------------------------------------------------------

void WriteQuorum::add_ack(bool primary, bool durable) {
  SHOAL_ASSERT(acks_ + failed_ < spec_.n, "more write replies than replicas asked");
  ++acks_;
  primary_acks_ += primary;
  durable_acks_ += durable;
}

void WriteQuorum::add_failure(bool primary) {
  SHOAL_ASSERT(acks_ + failed_ < spec_.n, "more write replies than replicas asked");
  ++failed_;
  primary_failed_ += primary;
}

QuorumOutcome WriteQuorum::outcome() const {
  if (acks_ >= spec_.w && primary_acks_ >= spec_.pw && durable_acks_ >= spec_.dw) return QuorumOutcome::met;
  const std::uint32_t remaining = spec_.n - acks_ - failed_;
  const std::uint32_t primaries_remaining = spec_.primaries - primary_acks_ - primary_failed_;
  if (acks_ + remaining < spec_.w || primary_acks_ + primaries_remaining < spec_.pw ||
      durable_acks_ + remaining < spec_.dw)
    return QuorumOutcome::failed;
  return QuorumOutcome::pending;
}

std::string WriteQuorum::failure() const {
  const std::uint32_t remaining = spec_.n - acks_ - failed_;
  std::string failures = failed_ ? " (" + std::to_string(failed_) + " failed or unreachable)" : "";
  if (primary_acks_ + (spec_.primaries - primary_acks_ - primary_failed_) < spec_.pw)
    return "pw=" + std::to_string(spec_.pw) + " not met: " + plural(primary_acks_, "primary", "primaries") +
           " acknowledged" + failures;
  if (durable_acks_ + remaining < spec_.dw)
    return "dw=" + std::to_string(spec_.dw) + " not met: " + plural(durable_acks_, "replica", "replicas") +
           " made the write durable" + failures;
  return "w=" + std::to_string(spec_.w) + " not met: " + plural(acks_, "replica", "replicas") + " acknowledged" +
         failures;
}

}  // namespace shoal::core
