#include "tools/shoal_chaos/workloads.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "crdt/map.hpp"

namespace shoal::chaos {

namespace {

using client::Client;
using crdt::AnyOp;
using crdt::AnyValue;
using crdt::MapValue;
using crdt::TypeTag;

// Runs one operation: records the invocation time, lets `body` fill in the
// outcome (and what a read saw), records the completion.
template <typename Body>
Op run_op(const WorkloadContext& ctx, int process, const std::string& node, const std::string& workload,
          const std::string& f, const std::string& key, const std::string& value, Body&& body) {
  Op op;
  op.process = process;
  op.node = node;
  op.workload = workload;
  op.f = f;
  op.key = key;
  op.value = value;
  op.invoke_us = ctx.history->now_us();
  body(op);
  op.complete_us = ctx.history->now_us();
  ctx.history->add(op);
  return op;
}

void fail_read(Op& op, const Error& error) {
  op.outcome = Outcome::fail;  // a read changes nothing: a failed one did not happen
  op.error = error.to_string();
}

void write_failed(Op& op, const Error& error) {
  op.outcome = write_outcome(error);
  op.error = error.to_string();
}

void think(const WorkloadContext& ctx, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::uint32_t> pause(ctx.pause_min_ms, ctx.pause_max_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

// ---- set: unique adds, removes of acknowledged adds it read ----------------

class SetWorkload : public Workload {
 public:
  std::string name() const override { return "set"; }
  std::string bucket_type() const override { return "chaos_set"; }
  std::string bucket_type_props() const override { return "datatype=set"; }
  std::vector<std::string> keys() const override { return {"set-0", "set-1", "set-2"}; }

  void run_client(int process, int, Client& client, const std::string& node, const WorkloadContext& ctx,
                  std::uint64_t seed) override {
    std::mt19937_64 rng(seed);
    std::map<std::string, std::vector<std::string>> acked;  // key -> elements this client added (ok)
    int n = 0;
    auto ks = keys();
    while (!ctx.stop->load()) {
      const std::string k = ks[rng() % ks.size()];
      auto roll = rng() % 100;
      if (roll < 70) {
        std::string element = std::to_string(process) + "-" + std::to_string(++n);
        auto op = run_op(ctx, process, node, name(), "add", k, element, [&](Op& o) {
          auto r = client.update(key(k), crdt::Orswot::Op::add(element), std::nullopt, ctx.request);
          if (r) {
            o.outcome = Outcome::ok;
          } else {
            write_failed(o, r.error());
          }
        });
        if (op.outcome == Outcome::ok) acked[k].push_back(element);
      } else if (roll < 85 || acked[k].empty()) {
        read(process, client, node, ctx, k);
      } else {
        // Remove one of our acknowledged elements, with the context of a read that saw it.
        auto& mine = acked[k];
        auto at = rng() % mine.size();
        std::string element = mine[at];
        std::string context;
        auto seen = read(process, client, node, ctx, k, &context);
        if (!seen || std::find(seen->begin(), seen->end(), element) == seen->end()) {
          think(ctx, rng);
          continue;
        }
        auto clock = net::decode_context(context);
        if (!clock) continue;
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(at));
        run_op(ctx, process, node, name(), "remove", k, element, [&](Op& o) {
          auto r = client.update(key(k), crdt::Orswot::Op::remove(element, clock.value()), context, ctx.request);
          if (r) {
            o.outcome = Outcome::ok;
          } else {
            write_failed(o, r.error());
          }
        });
      }
      think(ctx, rng);
    }
  }

  void record_final(const std::string& k, const std::optional<FinalView>& view) override {
    if (!view) {
      finals_[k] = std::nullopt;
      return;
    }
    std::vector<std::string> elements;
    if (view->value)
      if (const auto* set = std::get_if<crdt::Orswot::Value>(&view->value->value))
        elements.assign(set->begin(), set->end());
    finals_[k] = elements;
  }

  CheckResult check(const std::vector<Op>& ops, bool) const override { return check_set("set", ops, finals_); }

 private:
  std::optional<std::vector<std::string>> read(int process, Client& client, const std::string& node,
                                               const WorkloadContext& ctx, const std::string& k,
                                               std::string* context = nullptr) {
    std::optional<std::vector<std::string>> out;
    run_op(ctx, process, node, name(), "read", k, "", [&](Op& o) {
      auto r = client.get(key(k), ctx.request);
      if (!r) return fail_read(o, r.error());
      o.outcome = Outcome::ok;
      if (r.value().value)
        if (const auto* set = std::get_if<crdt::Orswot::Value>(&r.value().value->value))
          o.seen.assign(set->begin(), set->end());
      out = o.seen;
      if (context) *context = r.value().context;
    });
    return out;
  }

  FinalSets finals_;
};

// ---- counter: increments and decrements -------------------------------------

class CounterWorkload : public Workload {
 public:
  std::string name() const override { return "counter"; }
  std::string bucket_type() const override { return "chaos_counter"; }
  std::string bucket_type_props() const override { return "datatype=counter"; }
  std::vector<std::string> keys() const override { return {"counter-0", "counter-1"}; }

  void run_client(int process, int, Client& client, const std::string& node, const WorkloadContext& ctx,
                  std::uint64_t seed) override {
    std::mt19937_64 rng(seed);
    auto ks = keys();
    while (!ctx.stop->load()) {
      const std::string k = ks[rng() % ks.size()];
      auto roll = rng() % 100;
      if (roll < 75) {
        std::int64_t delta =
            roll < 55 ? static_cast<std::int64_t>(1 + rng() % 5) : -static_cast<std::int64_t>(1 + rng() % 3);
        run_op(ctx, process, node, name(), "incr", k, std::to_string(delta), [&](Op& o) {
          auto r = client.update(key(k), crdt::PnCounter::Op::increment(delta), std::nullopt, ctx.request);
          if (r) {
            o.outcome = Outcome::ok;
          } else {
            write_failed(o, r.error());
          }
        });
      } else {
        run_op(ctx, process, node, name(), "read", k, "", [&](Op& o) {
          auto r = client.get(key(k), ctx.request);
          if (!r) return fail_read(o, r.error());
          o.outcome = Outcome::ok;
          o.number = 0;
          if (r.value().value)
            if (const auto* v = std::get_if<crdt::PnCounter::Value>(&r.value().value->value)) o.number = *v;
        });
      }
      think(ctx, rng);
    }
  }

  void record_final(const std::string& k, const std::optional<FinalView>& view) override {
    if (!view) {
      finals_[k] = std::nullopt;
      return;
    }
    std::int64_t value = 0;
    if (view->value)
      if (const auto* v = std::get_if<crdt::PnCounter::Value>(&view->value->value)) value = *v;
    finals_[k] = value;
  }

  CheckResult check(const std::vector<Op>& ops, bool) const override { return check_counter(ops, finals_); }

 private:
  std::map<std::string, std::optional<std::int64_t>> finals_;
};

// ---- register: one writer per key, siblings allowed --------------------------

class RegisterWorkload : public Workload {
 public:
  std::string name() const override { return "register"; }
  std::string bucket_type() const override { return "chaos_register"; }
  std::string bucket_type_props() const override { return "allow_mult=true,last_write_wins=false"; }
  std::vector<std::string> keys() const override {
    std::vector<std::string> out;
    for (int i = 0; i < clients_; ++i) out.push_back("reg-" + std::to_string(i));
    return out;
  }

  void run_client(int process, int clients, Client& client, const std::string& node, const WorkloadContext& ctx,
                  std::uint64_t seed) override {
    std::mt19937_64 rng(seed);
    // Client i of this workload writes key reg-i (keys() is read after the run).
    int index = next_index_.fetch_add(1);
    {
      std::lock_guard lock(mutex_);
      clients_ = std::max(clients_, clients);
    }
    const std::string k = "reg-" + std::to_string(index);
    std::optional<std::string> context;  // of our last acknowledged write, or of a read
    std::int64_t n = 0;
    while (!ctx.stop->load()) {
      if (!context) {
        run_op(ctx, process, node, name(), "read", k, "", [&](Op& o) {
          auto r = client.get(key(k), ctx.request);
          if (!r) return fail_read(o, r.error());
          o.outcome = Outcome::ok;
          for (const auto& s : r.value().siblings)
            if (!s.deleted) o.seen.push_back(s.value);
          context = r.value().context;
        });
        if (!context) {
          think(ctx, rng);
          continue;
        }
      }
      std::string value = std::to_string(++n);
      run_op(ctx, process, node, name(), "write", k, value, [&](Op& o) {
        client::PutOptions put;
        put.content_type = "text/plain";
        put.context = context->empty() ? std::nullopt : context;
        put.request = ctx.request;
        put.request.return_body = true;
        auto r = client.put(key(k), value, put);
        if (r) {
          o.outcome = Outcome::ok;
          context = r.value().context;
          for (const auto& s : r.value().siblings)
            if (!s.deleted) o.seen.push_back(s.value);
        } else {
          write_failed(o, r.error());
          context.reset();
        }
      });
      think(ctx, rng);
    }
  }

  void record_final(const std::string& k, const std::optional<FinalView>& view) override {
    if (!view) {
      finals_[k] = std::nullopt;
      return;
    }
    finals_[k] = view->siblings;
  }

  CheckResult check(const std::vector<Op>& ops, bool) const override { return check_register(ops, finals_, 1); }

 private:
  std::atomic<int> next_index_{0};
  std::mutex mutex_;
  int clients_ = 0;
  FinalSets finals_;
};

// ---- map: nested updates from every client ------------------------------------

class MapWorkload : public Workload {
 public:
  std::string name() const override { return "map"; }
  std::string bucket_type() const override { return "chaos_map"; }
  std::string bucket_type_props() const override { return "datatype=map"; }
  std::vector<std::string> keys() const override { return {"map-0", "map-1"}; }

  void run_client(int process, int, Client& client, const std::string& node, const WorkloadContext& ctx,
                  std::uint64_t seed) override {
    std::mt19937_64 rng(seed);
    auto ks = keys();
    int n = 0;
    while (!ctx.stop->load()) {
      const std::string k = ks[rng() % ks.size()];
      if (rng() % 100 < 80) {
        std::string tag = std::to_string(process) + "-" + std::to_string(++n);
        run_op(ctx, process, node, name(), "update", k, tag, [&](Op& o) {
          crdt::MapOp op;
          op.fields.push_back(crdt::MapFieldOp::update("tags", crdt::Orswot::Op::add(tag)));
          op.fields.push_back(crdt::MapFieldOp::update("hits", crdt::PnCounter::Op::increment(1)));
          op.fields.push_back(crdt::MapFieldOp::update("owner-" + std::to_string(process),
                                                       crdt::LwwRegister::Op{std::to_string(n), {}}));
          crdt::MapOp inner;
          inner.fields.push_back(crdt::MapFieldOp::update("visits", crdt::PnCounter::Op::increment(1)));
          op.fields.push_back(crdt::MapFieldOp::update("profile-" + std::to_string(process), AnyOp{std::move(inner)}));
          auto r = client.update(key(k), AnyOp{std::move(op)}, std::nullopt, ctx.request);
          if (r) {
            o.outcome = Outcome::ok;
          } else {
            write_failed(o, r.error());
          }
        });
      } else {
        run_op(ctx, process, node, name(), "read", k, "", [&](Op& o) {
          auto r = client.get(key(k), ctx.request);
          if (!r) return fail_read(o, r.error());
          o.outcome = Outcome::ok;
          if (r.value().value) o.seen = parse(*r.value().value).tags;
        });
      }
      think(ctx, rng);
    }
  }

  void record_final(const std::string& k, const std::optional<FinalView>& view) override {
    if (!view) {
      finals_[k] = std::nullopt;
      return;
    }
    finals_[k] = view->value ? parse(*view->value) : MapFinal{};
  }

  CheckResult check(const std::vector<Op>& ops, bool clock_skew) const override {
    return check_map(ops, finals_, clock_skew);
  }

 private:
  static MapFinal parse(const AnyValue& value) {
    MapFinal out;
    const auto* map = std::get_if<MapValue>(&value.value);
    if (!map) return out;
    for (const auto& [field, v] : map->fields) {
      if (field.name == "tags" && field.type == TypeTag::orswot) {
        if (const auto* set = std::get_if<crdt::Orswot::Value>(&v.value)) out.tags.assign(set->begin(), set->end());
      } else if (field.name == "hits" && field.type == TypeTag::pn_counter) {
        if (const auto* c = std::get_if<crdt::PnCounter::Value>(&v.value)) out.hits = *c;
      } else if (field.name.rfind("owner-", 0) == 0 && field.type == TypeTag::lww_register) {
        const auto* reg = std::get_if<crdt::LwwRegister::Value>(&v.value);
        if (reg && *reg) out.owners[std::atoi(field.name.c_str() + 6)] = **reg;
      } else if (field.name.rfind("profile-", 0) == 0 && field.type == TypeTag::map) {
        const auto* inner = std::get_if<MapValue>(&v.value);
        const AnyValue* visits = inner ? inner->find("visits", TypeTag::pn_counter) : nullptr;
        if (visits)
          if (const auto* c = std::get_if<crdt::PnCounter::Value>(&visits->value))
            out.visits[std::atoi(field.name.c_str() + 8)] = *c;
      }
    }
    return out;
  }

  std::map<std::string, std::optional<MapFinal>> finals_;
};

// ---- lww negative control: a read-modify-write set in a last-write-wins bucket ----

class LwwWorkload : public Workload {
 public:
  std::string name() const override { return "lww"; }
  std::string bucket_type() const override { return "chaos_lww"; }
  std::string bucket_type_props() const override { return "last_write_wins=true,allow_mult=false"; }
  std::vector<std::string> keys() const override { return {"lww-0", "lww-1"}; }
  bool negative_control() const override { return true; }

  void run_client(int process, int, Client& client, const std::string& node, const WorkloadContext& ctx,
                  std::uint64_t seed) override {
    std::mt19937_64 rng(seed);
    auto ks = keys();
    int n = 0;
    while (!ctx.stop->load()) {
      const std::string k = ks[rng() % ks.size()];
      std::optional<std::string> current;
      run_op(ctx, process, node, name(), "read", k, "", [&](Op& o) {
        auto r = client.get(key(k), ctx.request);
        if (!r) return fail_read(o, r.error());
        o.outcome = Outcome::ok;
        std::string text;
        for (const auto& s : r.value().siblings)
          if (!s.deleted) text = s.value;
        o.seen = split(text, ',');
        current = text;
      });
      if (current) {
        std::string element = std::to_string(process) + "-" + std::to_string(++n);
        run_op(ctx, process, node, name(), "add", k, element, [&](Op& o) {
          client::PutOptions put;
          put.content_type = "text/plain";
          put.request = ctx.request;
          auto r = client.put(key(k), current->empty() ? element : *current + "," + element, put);
          if (r) {
            o.outcome = Outcome::ok;
          } else {
            write_failed(o, r.error());
          }
        });
      }
      think(ctx, rng);
    }
  }

  void record_final(const std::string& k, const std::optional<FinalView>& view) override {
    if (!view) {
      finals_[k] = std::nullopt;
      return;
    }
    std::vector<std::string> elements;
    for (const auto& s : view->siblings) {
      auto part = split(s, ',');
      elements.insert(elements.end(), part.begin(), part.end());
    }
    finals_[k] = elements;
  }

  CheckResult check(const std::vector<Op>& ops, bool) const override {
    // Reads here are read-modify-write steps, not the set workload's probes.
    std::vector<Op> adds;
    for (const auto& op : ops)
      if (op.f == "add") adds.push_back(op);
    return check_set("lww", adds, finals_);
  }

 private:
  FinalSets finals_;
};

}  // namespace

Outcome write_outcome(const Error& error) {
  switch (error.code) {
    case Errc::invalid_argument:
    case Errc::precondition_failed:
    case Errc::wrong_type:
    case Errc::condition_failed:
    case Errc::malformed:
    case Errc::too_large:
    case Errc::overloaded:
    case Errc::shutting_down:
    case Errc::refused:
    case Errc::busy:
      return Outcome::fail;
    case Errc::unavailable:
      // Refused before anything was sent to a replica.
      if (error.message.find("nothing was written") != std::string::npos ||
          error.message.find("no Shoal node is reachable") != std::string::npos)
        return Outcome::fail;
      return Outcome::info;
    default:
      return Outcome::info;
  }
}

FinalView final_view(const net::ObjectView& view) {
  FinalView out;
  out.found = view.found;
  for (const auto& s : view.siblings)
    if (!s.deleted) out.siblings.push_back(s.value);
  std::sort(out.siblings.begin(), out.siblings.end());
  if (out.siblings.empty() && !view.value) out.found = false;  // only tombstones
  out.value = view.value;
  return out;
}

std::string describe(const FinalView& view) {
  if (!view.found) return "not found";
  if (view.value) return "a CRDT value";
  std::string out = "siblings [";
  for (std::size_t i = 0; i < view.siblings.size(); ++i) {
    std::string s = view.siblings[i].size() > 40 ? view.siblings[i].substr(0, 40) + "..." : view.siblings[i];
    out += (i ? ", " : "") + s;
  }
  return out + "]";
}

std::unique_ptr<Workload> make_workload(const std::string& name) {
  if (name == "set") return std::make_unique<SetWorkload>();
  if (name == "counter") return std::make_unique<CounterWorkload>();
  if (name == "register") return std::make_unique<RegisterWorkload>();
  if (name == "map") return std::make_unique<MapWorkload>();
  if (name == "lww") return std::make_unique<LwwWorkload>();
  return nullptr;
}

}  // namespace shoal::chaos
