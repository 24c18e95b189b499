#include "ring/ring.hpp"

#include <algorithm>
#include <tuple>

#include "base/codec.hpp"
#include "base/hash.hpp"

namespace shoal::ring {

namespace {

Error malformed(const std::string& why) { return make_error(Errc::malformed, "ring state: " + why); }

bool owns_partitions(MemberStatus status) {
  return status == MemberStatus::joining || status == MemberStatus::valid || status == MemberStatus::down;
}

auto member_key(const Member& m) { return std::tie(m.counter, m.status, m.location); }
auto owner_key(const Owner& o) { return std::tie(o.epoch, o.node); }
auto transfer_key(const Transfer& t) { return std::tie(t.epoch, t.state, t.from, t.to); }

std::vector<Member>::iterator find_member(std::vector<Member>& members, std::string_view node) {
  auto it = std::lower_bound(members.begin(), members.end(), node,
                             [](const Member& m, std::string_view id) { return m.node < id; });
  return it != members.end() && it->node == node ? it : members.end();
}

Transfer* find_transfer(std::vector<Transfer>& transfers, Partition p) {
  auto it = std::lower_bound(transfers.begin(), transfers.end(), p,
                             [](const Transfer& t, Partition x) { return t.partition < x; });
  return it != transfers.end() && it->partition == p ? &*it : nullptr;
}

void put_transfer(std::vector<Transfer>& transfers, Transfer t) {
  auto it = std::lower_bound(transfers.begin(), transfers.end(), t.partition,
                             [](const Transfer& x, Partition p) { return x.partition < p; });
  if (it != transfers.end() && it->partition == t.partition) {
    *it = std::move(t);
  } else {
    transfers.insert(it, std::move(t));
  }
}

Result<void> validate_node_id(std::string_view node) {
  if (node.empty() || node.size() > kNodeIdBytesMax)
    return make_error(Errc::invalid_argument, "node id must be 1.." + std::to_string(kNodeIdBytesMax) +
                                                  " bytes, like name@host:port");
  return ok();
}

void add_u64(Hasher64& h, std::uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  h.add(std::string_view(bytes, 8));
}

}  // namespace

std::string_view member_status_name(MemberStatus status) {
  switch (status) {
    case MemberStatus::joining: return "joining";
    case MemberStatus::valid: return "valid";
    case MemberStatus::leaving: return "leaving";
    case MemberStatus::exiting: return "exiting";
    case MemberStatus::down: return "down";
    case MemberStatus::removed: return "removed";
  }
  return "unknown";
}

std::string_view transfer_state_name(TransferState state) {
  switch (state) {
    case TransferState::awaiting: return "awaiting";
    case TransferState::handing_off: return "handing_off";
    case TransferState::complete: return "complete";
    case TransferState::cancelled: return "cancelled";
  }
  return "unknown";
}

Result<Ring> Ring::build(State s) {
  if (s.cluster_name.empty() || s.cluster_name.size() > kClusterNameBytesMax)
    return make_error(Errc::invalid_argument,
                      "cluster name must be 1.." + std::to_string(kClusterNameBytesMax) + " bytes");
  const auto q = static_cast<std::uint32_t>(s.owners.size());
  SHOAL_TRYV(validate_partition_count(q));
  if (s.target_n_val < 1 || s.target_n_val > kTargetNValMax || s.target_n_val > q / 2)
    return make_error(Errc::invalid_argument, "target_n_val " + std::to_string(s.target_n_val) + " out of range");
  if (s.members.empty()) return make_error(Errc::invalid_argument, "a ring needs at least one member");
  if (s.members.size() > kNodesMax)
    return make_error(Errc::too_large, std::to_string(s.members.size()) + " members exceeds " +
                                           std::to_string(kNodesMax));
  std::vector<std::string> ids;
  std::vector<std::string> locations;
  for (std::size_t i = 0; i < s.members.size(); ++i) {
    const Member& m = s.members[i];
    SHOAL_TRYV(validate_node_id(m.node));
    if (m.location.size() > kLocationBytesMax)
      return make_error(Errc::invalid_argument, "location of " + m.node + " too long");
    if (i > 0 && !(s.members[i - 1].node < m.node))
      return make_error(Errc::invalid_argument, "members must be sorted by node id and unique");
    ids.push_back(m.node);
    locations.push_back(m.location);
  }
  std::vector<std::uint32_t> owner_index;
  owner_index.reserve(q);
  for (const Owner& o : s.owners) {
    auto it = std::lower_bound(ids.begin(), ids.end(), o.node);
    if (it == ids.end() || *it != o.node)
      return make_error(Errc::invalid_argument, "owner " + o.node + " is not a member");
    owner_index.push_back(static_cast<std::uint32_t>(it - ids.begin()));
  }
  for (std::size_t i = 0; i < s.transfers.size(); ++i) {
    const Transfer& t = s.transfers[i];
    if (t.partition >= q) return make_error(Errc::invalid_argument, "transfer of a partition outside the ring");
    if (i > 0 && !(s.transfers[i - 1].partition < t.partition))
      return make_error(Errc::invalid_argument, "transfers must be sorted by partition and unique");
    if (!std::binary_search(ids.begin(), ids.end(), t.from) || !std::binary_search(ids.begin(), ids.end(), t.to))
      return make_error(Errc::invalid_argument, "transfer of partition " + std::to_string(t.partition) +
                                                    " names a node that is not a member");
  }
  s.placement = Placement(std::move(ids), std::move(locations), std::move(owner_index));
  return Ring(std::make_shared<const State>(std::move(s)));
}

Result<Ring> Ring::new_cluster(std::string cluster_name, std::uint32_t partition_count,
                               std::span<const ClaimNode> members, const ClaimOptions& options) {
  SHOAL_TRY(claim, claim_fresh(partition_count, members, options));
  State s;
  s.cluster_name = std::move(cluster_name);
  s.target_n_val = options.target_n_val;
  for (const ClaimNode& n : members) s.members.push_back(Member{n.node, MemberStatus::valid, n.location, 1});
  std::sort(s.members.begin(), s.members.end(), [](const Member& a, const Member& b) { return a.node < b.node; });
  for (auto& o : claim.owners) s.owners.push_back(Owner{std::move(o), 1});
  // Every node computes the same first version, so the founding rings are equal.
  s.version.increment(s.members.front().node);
  return build(std::move(s));
}

const Member* Ring::member(std::string_view node) const {
  auto it = std::lower_bound(state_->members.begin(), state_->members.end(), node,
                             [](const Member& m, std::string_view id) { return m.node < id; });
  return it != state_->members.end() && it->node == node ? &*it : nullptr;
}

std::vector<Transfer> Ring::pending_transfers() const {
  std::vector<Transfer> out;
  for (const Transfer& t : state_->transfers)
    if (t.pending()) out.push_back(t);
  return out;
}

std::vector<std::string> Ring::target_owners() const {
  std::vector<std::string> out;
  out.reserve(state_->owners.size());
  for (const Owner& o : state_->owners) out.push_back(o.node);
  for (const Transfer& t : state_->transfers)
    if (t.pending()) out[t.partition] = t.to;
  return out;
}

namespace {

// Joining members with nothing left to receive become valid; leaving members
// with nothing left to own or send become exiting.
void settle(std::vector<Member>& members, const std::vector<Owner>& owners, const std::vector<Transfer>& transfers) {
  for (Member& m : members) {
    bool inbound = false;
    bool outbound = false;
    for (const Transfer& t : transfers) {
      if (!t.pending()) continue;
      inbound |= t.to == m.node;
      outbound |= t.from == m.node;
    }
    bool owns = std::any_of(owners.begin(), owners.end(), [&m](const Owner& o) { return o.node == m.node; });
    if (m.status == MemberStatus::joining && !inbound) {
      m.status = MemberStatus::valid;
      ++m.counter;
    } else if (m.status == MemberStatus::leaving && !owns && !outbound) {
      m.status = MemberStatus::exiting;
      ++m.counter;
    }
  }
}

std::uint64_t next_epoch(const std::vector<Owner>& owners, const std::vector<Transfer>& transfers) {
  std::uint64_t epoch = 0;
  for (const Owner& o : owners) epoch = std::max(epoch, o.epoch);
  for (const Transfer& t : transfers) epoch = std::max(epoch, t.epoch);
  return epoch + 1;
}

}  // namespace

Result<Plan> Ring::plan_claim(State next, std::span<const std::string> forced_away, const crdt::Actor& actor) const {
  std::vector<ClaimNode> claimants;
  for (const Member& m : next.members)
    if (owns_partitions(m.status)) claimants.push_back(ClaimNode{m.node, m.location});
  if (claimants.empty()) return make_error(Errc::unavailable, "no member would be left to own partitions");
  SHOAL_TRY(claim, claim_rebalance(target_owners(), claimants, claim_options()));
  const std::uint64_t epoch = next_epoch(next.owners, next.transfers);
  std::vector<Transfer> immediate;
  for (Partition p = 0; p < next.owners.size(); ++p) {
    const std::string current = next.owners[p].node;
    const std::string& target = claim.owners[p];
    Transfer* slot = find_transfer(next.transfers, p);
    const bool forced = std::find(forced_away.begin(), forced_away.end(), current) != forced_away.end();
    if (forced) {
      next.owners[p] = Owner{target, epoch};
      Transfer done{p, current, target, TransferState::complete, epoch};
      put_transfer(next.transfers, done);
      immediate.push_back(std::move(done));
    } else if (target != current) {
      if (slot == nullptr || !slot->pending() || slot->to != target)
        put_transfer(next.transfers, Transfer{p, current, target, TransferState::awaiting, epoch});
    } else if (slot != nullptr && slot->pending()) {
      slot->state = TransferState::cancelled;
      slot->epoch = epoch;
    }
  }
  settle(next.members, next.owners, next.transfers);
  next.version.increment(actor);
  SHOAL_TRY(ring, build(std::move(next)));
  Plan plan{ring, ring.pending_transfers(), std::move(claim.report)};
  plan.transfers.insert(plan.transfers.end(), immediate.begin(), immediate.end());
  std::sort(plan.transfers.begin(), plan.transfers.end(),
            [](const Transfer& a, const Transfer& b) { return a.partition < b.partition; });
  return plan;
}

Result<Plan> Ring::join(const ClaimNode& node, const crdt::Actor& actor) const {
  SHOAL_TRYV(validate_node_id(node.node));
  if (node.location.size() > kLocationBytesMax)
    return make_error(Errc::invalid_argument, "location of " + node.node + " too long");
  State next = *state_;
  auto it = find_member(next.members, node.node);
  if (it != next.members.end() && it->status != MemberStatus::removed)
    return make_error(Errc::precondition_failed, "node " + node.node + " is already a member (" +
                                                     std::string(member_status_name(it->status)) + ")");
  if (it != next.members.end()) {
    *it = Member{node.node, MemberStatus::joining, node.location, it->counter + 1};
  } else {
    if (next.members.size() >= kNodesMax)
      return make_error(Errc::too_large, "ring already has " + std::to_string(kNodesMax) + " members");
    auto pos = std::lower_bound(next.members.begin(), next.members.end(), node.node,
                                [](const Member& m, const std::string& id) { return m.node < id; });
    next.members.insert(pos, Member{node.node, MemberStatus::joining, node.location, 1});
  }
  return plan_claim(std::move(next), {}, actor);
}

Result<Plan> Ring::leave(std::string_view node, const crdt::Actor& actor) const {
  State next = *state_;
  auto it = find_member(next.members, node);
  if (it == next.members.end() || !owns_partitions(it->status))
    return make_error(Errc::precondition_failed, "node " + std::string(node) + " is not an active member");
  it->status = MemberStatus::leaving;
  ++it->counter;
  return plan_claim(std::move(next), {}, actor);
}

Result<Plan> Ring::force_remove(std::string_view node, const crdt::Actor& actor) const {
  State next = *state_;
  auto it = find_member(next.members, node);
  if (it == next.members.end() || it->status == MemberStatus::removed)
    return make_error(Errc::precondition_failed, "node " + std::string(node) + " is not a member");
  it->status = MemberStatus::removed;
  ++it->counter;
  const std::string gone(node);
  return plan_claim(std::move(next), std::span<const std::string>(&gone, 1), actor);
}

Result<Plan> Ring::replace(std::string_view old_node, const ClaimNode& replacement, const crdt::Actor& actor) const {
  SHOAL_TRYV(validate_node_id(replacement.node));
  const Member* old_member = member(old_node);
  if (old_member == nullptr || !owns_partitions(old_member->status))
    return make_error(Errc::precondition_failed, "node " + std::string(old_node) + " is not an active member");
  const Member* existing = member(replacement.node);
  if (existing != nullptr && existing->status != MemberStatus::removed)
    return make_error(Errc::precondition_failed, "replacement " + replacement.node + " is already a member");
  std::vector<std::string> targets = target_owners();
  State next = *state_;
  auto old_it = find_member(next.members, old_node);
  old_it->status = MemberStatus::leaving;
  ++old_it->counter;
  auto new_it = find_member(next.members, replacement.node);
  if (new_it != next.members.end()) {
    *new_it = Member{replacement.node, MemberStatus::joining, replacement.location, new_it->counter + 1};
  } else {
    auto pos = std::lower_bound(next.members.begin(), next.members.end(), replacement.node,
                                [](const Member& m, const std::string& id) { return m.node < id; });
    next.members.insert(pos, Member{replacement.node, MemberStatus::joining, replacement.location, 1});
  }
  const std::uint64_t epoch = next_epoch(next.owners, next.transfers);
  for (Partition p = 0; p < next.owners.size(); ++p) {
    if (targets[p] != old_node) continue;
    targets[p] = replacement.node;
    put_transfer(next.transfers, Transfer{p, next.owners[p].node, replacement.node, TransferState::awaiting, epoch});
  }
  settle(next.members, next.owners, next.transfers);
  next.version.increment(actor);
  std::vector<ClaimNode> claimants;
  for (const Member& m : next.members)
    if (owns_partitions(m.status)) claimants.push_back(ClaimNode{m.node, m.location});
  ClaimReport report = evaluate_claim(targets, claimants, claim_options());
  SHOAL_TRY(ring, build(std::move(next)));
  return Plan{ring, ring.pending_transfers(), std::move(report)};
}

Result<Ring> Ring::mark_handing_off(Partition partition, const crdt::Actor& actor) const {
  State next = *state_;
  Transfer* slot = partition < next.owners.size() ? find_transfer(next.transfers, partition) : nullptr;
  if (slot == nullptr || slot->state != TransferState::awaiting)
    return make_error(Errc::precondition_failed, "no transfer awaiting for partition " + std::to_string(partition));
  slot->state = TransferState::handing_off;
  ++slot->epoch;
  next.version.increment(actor);
  return build(std::move(next));
}

Result<Ring> Ring::complete_transfer(Partition partition, const crdt::Actor& actor) const {
  State next = *state_;
  Transfer* slot = partition < next.owners.size() ? find_transfer(next.transfers, partition) : nullptr;
  if (slot == nullptr || !slot->pending())
    return make_error(Errc::precondition_failed, "no pending transfer for partition " + std::to_string(partition));
  next.owners[partition] = Owner{slot->to, next.owners[partition].epoch + 1};
  slot->state = TransferState::complete;
  ++slot->epoch;
  settle(next.members, next.owners, next.transfers);
  next.version.increment(actor);
  return build(std::move(next));
}

Result<Ring> Ring::set_status(std::string_view node, MemberStatus status, const crdt::Actor& actor) const {
  State next = *state_;
  auto it = find_member(next.members, node);
  if (it == next.members.end()) return make_error(Errc::not_found, "node " + std::string(node) + " is not a member");
  const bool to_down = status == MemberStatus::down && owns_partitions(it->status);
  const bool back_up = status == MemberStatus::valid && it->status == MemberStatus::down;
  // A member that left is forgotten once it holds nothing and takes part in no transfer.
  bool forget = status == MemberStatus::removed && it->status == MemberStatus::exiting;
  for (const auto& owner : next.owners) forget = forget && owner.node != node;
  for (const auto& t : next.transfers) forget = forget && !(t.pending() && (t.from == node || t.to == node));
  if (!to_down && !back_up && !forget)
    return make_error(Errc::precondition_failed,
                      "cannot mark " + std::string(node) + " " + std::string(member_status_name(status)) + " while " +
                          std::string(member_status_name(it->status)) + "; use join, leave or force_remove");
  it->status = status;
  ++it->counter;
  next.version.increment(actor);
  return build(std::move(next));
}

Result<Ring> Ring::merge(const Ring& a, const Ring& b) {
  if (a.state_ == b.state_) return a;
  if (a.cluster_name() != b.cluster_name())
    return make_error(Errc::invalid_argument,
                      "cannot merge rings of clusters " + a.cluster_name() + " and " + b.cluster_name());
  if (a.partition_count() != b.partition_count() || a.target_n_val() != b.target_n_val())
    return make_error(Errc::invalid_argument, "cannot merge rings of different ring size or target_n_val");
  State s;
  s.cluster_name = a.cluster_name();
  s.target_n_val = a.target_n_val();
  s.version = a.version();
  s.version.merge(b.version());
  // Members: union by node id, the larger (counter, status, location) wins.
  const auto& ma = a.members();
  const auto& mb = b.members();
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < ma.size() || j < mb.size()) {
    if (j == mb.size() || (i < ma.size() && ma[i].node < mb[j].node)) {
      s.members.push_back(ma[i++]);
    } else if (i == ma.size() || mb[j].node < ma[i].node) {
      s.members.push_back(mb[j++]);
    } else {
      s.members.push_back(member_key(ma[i]) >= member_key(mb[j]) ? ma[i] : mb[j]);
      ++i;
      ++j;
    }
  }
  s.owners.reserve(a.partition_count());
  for (Partition p = 0; p < a.partition_count(); ++p) {
    const Owner& x = a.owners()[p];
    const Owner& y = b.owners()[p];
    s.owners.push_back(owner_key(x) >= owner_key(y) ? x : y);
  }
  const auto& ta = a.transfers();
  const auto& tb = b.transfers();
  i = 0;
  j = 0;
  while (i < ta.size() || j < tb.size()) {
    if (j == tb.size() || (i < ta.size() && ta[i].partition < tb[j].partition)) {
      s.transfers.push_back(ta[i++]);
    } else if (i == ta.size() || tb[j].partition < ta[i].partition) {
      s.transfers.push_back(tb[j++]);
    } else {
      s.transfers.push_back(transfer_key(ta[i]) >= transfer_key(tb[j]) ? ta[i] : tb[j]);
      ++i;
      ++j;
    }
  }
  return build(std::move(s));
}

bool operator==(const Ring& a, const Ring& b) {
  const auto& x = *a.state_;
  const auto& y = *b.state_;
  return x.cluster_name == y.cluster_name && x.target_n_val == y.target_n_val && x.version == y.version &&
         x.members == y.members && x.owners == y.owners && x.transfers == y.transfers;
}

std::string Ring::encode() const {
  const State& s = *state_;
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  codec::pack_header(pk, kRingTypeTag, kRingVersion, 6);
  codec::pack_bytes(pk, s.cluster_name);
  pk.pack_uint32(s.target_n_val);
  s.version.encode_body(pk);
  pk.pack_array(static_cast<std::uint32_t>(s.members.size()));
  for (const Member& m : s.members) {
    pk.pack_array(4);
    codec::pack_bytes(pk, m.node);
    pk.pack_uint8(static_cast<std::uint8_t>(m.status));
    codec::pack_bytes(pk, m.location);
    pk.pack_uint64(m.counter);
  }
  // Owners by member index: Q entries, so names are not repeated Q times.
  pk.pack_array(static_cast<std::uint32_t>(s.owners.size()));
  for (Partition p = 0; p < s.owners.size(); ++p) {
    pk.pack_array(2);
    pk.pack_uint32(s.placement.owner_index(p));
    pk.pack_uint64(s.owners[p].epoch);
  }
  pk.pack_array(static_cast<std::uint32_t>(s.transfers.size()));
  for (const Transfer& t : s.transfers) {
    pk.pack_array(5);
    pk.pack_uint32(t.partition);
    pk.pack_uint32(static_cast<std::uint32_t>(s.placement.node_index(t.from)));
    pk.pack_uint32(static_cast<std::uint32_t>(s.placement.node_index(t.to)));
    pk.pack_uint8(static_cast<std::uint8_t>(t.state));
    pk.pack_uint64(t.epoch);
  }
  return std::string(buffer.data(), buffer.size());
}

Result<Ring> Ring::decode(std::string_view bytes) {
  codec::Limits limits;
  limits.bytes_max = 4 * 1024 * 1024;
  limits.array_max = 65536;
  limits.map_max = 0;
  limits.bin_max = 4096;
  limits.depth_max = 8;
  SHOAL_TRY(handle, codec::unpack(bytes, limits));
  SHOAL_TRY(fields, codec::expect_header(handle.get(), kRingTypeTag, kRingVersion, 6, 6, "ring state"));
  State s;
  SHOAL_TRY(name, codec::expect_bytes(fields[0], "cluster name", kClusterNameBytesMax));
  s.cluster_name = std::move(name);
  SHOAL_TRY(target, codec::expect_uint(fields[1], "target_n_val", kTargetNValMax));
  s.target_n_val = static_cast<std::uint32_t>(target);
  SHOAL_TRY(version, crdt::VClock::decode_body(fields[2]));
  s.version = std::move(version);
  SHOAL_TRY(members, codec::expect_array(fields[3], 1, kNodesMax, "members"));
  for (const msgpack::object& o : members) {
    SHOAL_TRY(m, codec::expect_array(o, 4, 4, "member"));
    SHOAL_TRY(node, codec::expect_bytes(m[0], "member node", kNodeIdBytesMax));
    SHOAL_TRY(status, codec::expect_uint(m[1], "member status", static_cast<std::uint64_t>(MemberStatus::removed)));
    SHOAL_TRY(location, codec::expect_bytes(m[2], "member location", kLocationBytesMax));
    SHOAL_TRY(counter, codec::expect_uint(m[3], "member counter"));
    s.members.push_back(Member{std::move(node), static_cast<MemberStatus>(status), std::move(location), counter});
  }
  SHOAL_TRY(owners, codec::expect_array(fields[4], kPartitionCountMin, kPartitionCountMax, "owners"));
  for (const msgpack::object& o : owners) {
    SHOAL_TRY(pair, codec::expect_array(o, 2, 2, "owner"));
    SHOAL_TRY(index, codec::expect_uint(pair[0], "owner index", s.members.size() - 1));
    SHOAL_TRY(epoch, codec::expect_uint(pair[1], "owner epoch"));
    s.owners.push_back(Owner{s.members[index].node, epoch});
  }
  SHOAL_TRY(transfers, codec::expect_array(fields[5], 0, owners.size(), "transfers"));
  for (const msgpack::object& o : transfers) {
    SHOAL_TRY(t, codec::expect_array(o, 5, 5, "transfer"));
    SHOAL_TRY(partition, codec::expect_uint(t[0], "transfer partition", owners.size() - 1));
    SHOAL_TRY(from, codec::expect_uint(t[1], "transfer from", s.members.size() - 1));
    SHOAL_TRY(to, codec::expect_uint(t[2], "transfer to", s.members.size() - 1));
    SHOAL_TRY(state, codec::expect_uint(t[3], "transfer state", static_cast<std::uint64_t>(TransferState::cancelled)));
    SHOAL_TRY(epoch, codec::expect_uint(t[4], "transfer epoch"));
    s.transfers.push_back(Transfer{static_cast<Partition>(partition), s.members[from].node, s.members[to].node,
                                   static_cast<TransferState>(state), epoch});
  }
  auto ring = build(std::move(s));
  if (!ring) return malformed(ring.error().message);
  return ring;
}

std::uint64_t Ring::digest() const {
  const State& s = *state_;
  Hasher64 h;
  h.add("shoal.ring.v1");
  h.add(s.cluster_name);
  add_u64(h, s.target_n_val);
  add_u64(h, s.owners.size());
  add_u64(h, s.version.size());
  for (const auto& [actor, counter] : s.version.entries()) {
    h.add(actor);
    add_u64(h, counter);
  }
  add_u64(h, s.members.size());
  for (const Member& m : s.members) {
    h.add(m.node);
    add_u64(h, static_cast<std::uint64_t>(m.status));
    h.add(m.location);
    add_u64(h, m.counter);
  }
  for (const Owner& o : s.owners) {
    h.add(o.node);
    add_u64(h, o.epoch);
  }
  add_u64(h, s.transfers.size());
  for (const Transfer& t : s.transfers) {
    add_u64(h, t.partition);
    h.add(t.from);
    h.add(t.to);
    add_u64(h, static_cast<std::uint64_t>(t.state));
    add_u64(h, t.epoch);
  }
  return h.digest();
}

}  // namespace shoal::ring
