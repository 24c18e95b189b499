// The workloads of shoal-chaos. Each runs one client per node (a client
// talks to its node only, as Jepsen's do, so a client on the minority side
// of a partition sees what that side sees), records every operation into
// the history, reads its keys' final state after the cluster has healed,
// and checks the history against it.
#pragma once

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/client/client.hpp"
#include "tools/shoal_chaos/checkers.hpp"
#include "tools/shoal_chaos/history.hpp"

namespace shoal::chaos {

struct WorkloadContext {
  History* history = nullptr;
  const std::atomic<bool>* stop = nullptr;
  net::RequestOptions request;  // r, w, dw and the timeout of every request
  std::uint32_t pause_min_ms = 20;
  std::uint32_t pause_max_ms = 60;
};

// The value of one key as a final read sees it: what must be equal on
// every coordinator and every replica.
struct FinalView {
  bool found = false;
  std::vector<std::string> siblings;  // plain objects: live sibling values, sorted
  std::optional<crdt::AnyValue> value;
  friend bool operator==(const FinalView&, const FinalView&) = default;
};
FinalView final_view(const net::ObjectView& view);
std::string describe(const FinalView& view);

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string name() const = 0;
  // The bucket type its keys live in, and that type's properties
  // (shoald --bucket-type NAME:PROPS).
  virtual std::string bucket_type() const = 0;
  virtual std::string bucket_type_props() const = 0;
  virtual std::vector<std::string> keys() const = 0;
  client::Key key(const std::string& name) const { return {bucket_type(), "chaos", name}; }

  // One client's loop until ctx.stop; `process` numbers the client.
  virtual void run_client(int process, int clients, client::Client& client, const std::string& node,
                          const WorkloadContext& ctx, std::uint64_t seed) = 0;
  // The final state of a key (nullopt: no final read succeeded).
  virtual void record_final(const std::string& key, const std::optional<FinalView>& view) = 0;
  virtual CheckResult check(const std::vector<Op>& ops, bool clock_skew) const = 0;
  // True for a negative control: its checker must find anomalies.
  virtual bool negative_control() const { return false; }
};

// "set", "counter", "register", "map", "lww"; nullptr for another name.
std::unique_ptr<Workload> make_workload(const std::string& name);

// Jepsen's outcome of a write that returned `error`: fail only when it
// certainly did nothing, info otherwise.
Outcome write_outcome(const Error& error);

}  // namespace shoal::chaos
