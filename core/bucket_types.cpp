#include "core/bucket_types.hpp"

#include <cctype>
#include <charconv>

#include "base/hash.hpp"
#include "ring/preflist.hpp"

namespace shoal::core {

namespace {

Result<bool> parse_bool(std::string_view name, std::string_view value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  return make_error(Errc::invalid_argument, std::string(name) + "=" + std::string(value) + ": expected true or false");
}

Result<std::uint64_t> parse_uint(std::string_view name, std::string_view value, std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc{} || end != value.data() + value.size() || value.empty() || n > max)
    return make_error(Errc::invalid_argument, std::string(name) + "=" + std::string(value) +
                                                  ": expected a number up to " + std::to_string(max));
  return n;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

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

std::string_view BucketProps::datatype_label() const { return any_datatype ? "any" : datatype_name(datatype); }

Result<crdt::Datatype> parse_datatype(std::string_view name) {
  for (std::uint8_t d = 0; d <= crdt::kDatatypeMax; ++d)
    if (datatype_name(static_cast<crdt::Datatype>(d)) == name) return static_cast<crdt::Datatype>(d);
  if (name == "none") return crdt::Datatype::plain;
  return make_error(Errc::invalid_argument, "datatype '" + std::string(name) +
                                                "' must be one of none, counter, set, map, register, flag, hll, "
                                                "mvregister, any");
}

Result<BucketProps> apply_props(BucketProps props, std::string_view settings) {
  while (!settings.empty()) {
    auto comma = settings.find(',');
    std::string_view item = trim(settings.substr(0, comma));
    settings = comma == std::string_view::npos ? std::string_view{} : settings.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      return make_error(Errc::invalid_argument,
                        "bucket property '" + std::string(item) + "' needs a value (key=value)");
    std::string_view name = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    auto quorum = [&](net::Quorum& slot) -> Result<void> {
      auto q = net::Quorum::parse(value);
      if (!q) return make_error(Errc::invalid_argument, std::string(name) + ": " + q.error().message);
      if (q.value().kind == net::Quorum::Kind::default_)
        return make_error(Errc::invalid_argument, std::string(name) + ": a bucket type needs a concrete value");
      slot = q.value();
      return ok();
    };
    if (name == "n_val") {
      SHOAL_TRY(n, parse_uint(name, value, ring::kNValMax));
      if (n == 0) return make_error(Errc::invalid_argument, "n_val must be at least 1");
      props.n_val = static_cast<std::uint32_t>(n);
    } else if (name == "r") {
      SHOAL_TRYV(quorum(props.r));
    } else if (name == "w") {
      SHOAL_TRYV(quorum(props.w));
    } else if (name == "pr") {
      SHOAL_TRYV(quorum(props.pr));
    } else if (name == "pw") {
      SHOAL_TRYV(quorum(props.pw));
    } else if (name == "dw") {
      SHOAL_TRYV(quorum(props.dw));
    } else if (name == "allow_mult") {
      SHOAL_TRY(b, parse_bool(name, value));
      props.allow_mult = b;
    } else if (name == "last_write_wins") {
      SHOAL_TRY(b, parse_bool(name, value));
      props.last_write_wins = b;
    } else if (name == "notfound_ok") {
      SHOAL_TRY(b, parse_bool(name, value));
      props.notfound_ok = b;
    } else if (name == "basic_quorum") {
      SHOAL_TRY(b, parse_bool(name, value));
      props.basic_quorum = b;
    } else if (name == "datatype" && value == "any") {
      props.any_datatype = true;
      props.datatype = crdt::Datatype::plain;
    } else if (name == "datatype") {
      SHOAL_TRY(d, parse_datatype(value));
      props.datatype = d;
      props.any_datatype = false;
    } else if (name == "ttl_ms") {
      SHOAL_TRY(ttl, parse_uint(name, value, net::kTtlMsMax));
      if (ttl == 0) {
        props.ttl_ms.reset();
      } else {
        props.ttl_ms = ttl;
      }
    } else {
      return make_error(Errc::invalid_argument, "unknown bucket property '" + std::string(name) + "'");
    }
  }
  if (props.last_write_wins && props.allow_mult)
    return make_error(Errc::invalid_argument, "last_write_wins=true needs allow_mult=false");
  for (const auto* q : {&props.r, &props.w, &props.pr, &props.pw, &props.dw})
    if (q->kind == net::Quorum::Kind::count && q->count > props.n_val)
      return make_error(Errc::invalid_argument, "a quorum value of " + std::to_string(q->count) +
                                                    " exceeds n_val=" + std::to_string(props.n_val));
  return props;
}

std::string format_props(const BucketProps& p) {
  std::string out = "n_val=" + std::to_string(p.n_val) + ",r=" + p.r.to_string() + ",w=" + p.w.to_string() +
                    ",pr=" + p.pr.to_string() + ",pw=" + p.pw.to_string() + ",dw=" + p.dw.to_string() +
                    ",allow_mult=" + (p.allow_mult ? "true" : "false") +
                    ",last_write_wins=" + (p.last_write_wins ? "true" : "false") +
                    ",notfound_ok=" + (p.notfound_ok ? "true" : "false") +
                    ",basic_quorum=" + (p.basic_quorum ? "true" : "false") +
                    ",datatype=" + std::string(p.datatype_label());
  if (p.ttl_ms) out += ",ttl_ms=" + std::to_string(*p.ttl_ms);
  return out;
}

BucketTypes BucketTypes::builtin(std::uint32_t n_val, net::Quorum r, net::Quorum w) {
  BucketProps base;
  base.n_val = n_val;
  base.r = r;
  base.w = w;
  BucketTypes types;
  types.types_["default"] = base;
  BucketProps lww = base;
  lww.allow_mult = false;
  lww.last_write_wins = true;
  types.types_["lww"] = lww;
  const std::pair<const char*, crdt::Datatype> crdts[] = {
      {"counters", crdt::Datatype::counter},    {"sets", crdt::Datatype::set},   {"maps", crdt::Datatype::map},
      {"registers", crdt::Datatype::register_}, {"flags", crdt::Datatype::flag}, {"hlls", crdt::Datatype::hll}};
  for (const auto& [name, datatype] : crdts) {
    BucketProps props = base;
    props.datatype = datatype;
    types.types_[name] = props;
  }
  BucketProps redis = base;
  redis.any_datatype = true;
  types.types_["redis"] = redis;
  return types;
}

Result<void> BucketTypes::add(std::string name, BucketProps props) {
  if (name.empty() || name.size() > kBucketTypeNameBytesMax)
    return make_error(Errc::invalid_argument,
                      "bucket type name must be 1.." + std::to_string(kBucketTypeNameBytesMax) + " bytes");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return make_error(Errc::invalid_argument,
                        "bucket type name '" + name + "' may use letters, digits, '_', '-' and '.' only");
  types_[std::move(name)] = props;
  return ok();
}

Result<void> BucketTypes::add_spec(std::string_view spec) {
  auto colon = spec.find(':');
  std::string name(trim(spec.substr(0, colon)));
  std::string_view settings = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  BucketProps base;
  if (const BucketProps* existing = find(name)) {
    base = *existing;
  } else if (const BucketProps* def = find("default")) {
    base = *def;
  }
  auto props = apply_props(base, settings);
  if (!props) return make_error(Errc::invalid_argument, "bucket type " + name + ": " + props.error().message);
  return add(std::move(name), props.value());
}

const BucketProps* BucketTypes::find(std::string_view name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::uint64_t BucketTypes::digest() const {
  Hasher64 hasher;
  for (const auto& [name, props] : types_) {
    hasher.add(name);
    hasher.add(format_props(props));
  }
  return hasher.digest();
}

std::uint32_t BucketTypes::n_val_max() const {
  std::uint32_t n = 1;
  for (const auto& [name, props] : types_) n = std::max(n, props.n_val);
  return n;
}

}  // namespace shoal::core
