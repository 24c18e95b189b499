#include "storage/merkle.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "base/codec.hpp"
#include "base/hash.hpp"
#include "storage/segment.hpp"

using namespace shoal;
using namespace shoal::storage;

namespace {

using State = std::map<std::string, std::uint64_t>;  // storage key -> value hash

MerkleTree make_tree(TreeShape shape = {}) {
  auto tree = MerkleTree::create(TreeConfig{shape, kTreeMemoryBytesMaxDefault});
  REQUIRE(tree.has_value());
  return std::move(tree).value();
}

MerkleTree build(const State& state, TreeShape shape = {}) {
  MerkleTree tree = make_tree(shape);
  for (const auto& [key, hash] : state) tree.insert(key, hash);
  return tree;
}

std::string random_key(std::mt19937_64& rng) {
  // Storage keys are binary and of varied length, including long ones.
  std::size_t length = 1 + rng() % 40;
  if (rng() % 50 == 0) length = 600 + rng() % 2000;
  std::string key(length, '\0');
  for (auto& c : key) c = static_cast<char>(rng() & 0xff);
  return key;
}

std::vector<KeyHash> key_hashes_in(const State& state, const std::set<std::uint32_t>& segments, TreeShape shape) {
  std::vector<KeyHash> out;
  for (const auto& [key, hash] : state)
    if (segments.count(segment_of_key(key, shape))) out.push_back(KeyHash{key, hash});
  return out;
}

std::vector<std::uint32_t> exchange_segments(const MerkleTree& local, const MerkleTree& remote) {
  // The wire walk: remote sends its root, then branches, then the segments
  // of the branches that differ; each step through its encoding.
  auto root = decode_root_level(encode(root_level(remote)));
  REQUIRE(root.has_value());
  auto differ = roots_differ(local, root.value());
  REQUIRE(differ.has_value());
  if (!differ.value()) return {};
  auto branches = decode_branch_level(encode(branch_level(remote)));
  REQUIRE(branches.has_value());
  auto branch_ids = differing_branches(local, branches.value());
  REQUIRE(branch_ids.has_value());
  auto set = segments_of_branches(remote, branch_ids.value());
  REQUIRE(set.has_value());
  auto decoded = decode_segment_set(encode(set.value()));
  REQUIRE(decoded.has_value());
  CHECK(decoded.value() == set.value());
  auto segments = differing_segments(local, decoded.value());
  REQUIRE(segments.has_value());
  return segments.value();
}

}  // namespace

TEST_CASE("leaf hash is Hasher64 of key and value hash, for short and long keys", "[merkle]") {
  for (std::size_t length : {0, 1, 511, 512, 513, 70000}) {
    INFO("key length " << length);
    std::string key(length, 'k');
    std::uint64_t value = 0x0123456789abcdefULL;
    std::string value_bytes("\xef\xcd\xab\x89\x67\x45\x23\x01", 8);
    Hasher64 hasher;
    hasher.add(key);
    hasher.add(value_bytes);
    CHECK(leaf_hash(key, value) == hasher.digest());
    CHECK(leaf_hash(key, value) != leaf_hash(key, value + 1));
  }
  CHECK(value_hash("encoding") == hash64("encoding"));
}

TEST_CASE("a key lands in the tree segment that covers its engine index segment", "[merkle]") {
  TreeShape shape;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string key = random_key(rng);
    std::uint32_t tree_segment = segment_of_key(key, shape);
    auto [first, last] = index_segments_of(tree_segment, shape, 1u << 20);
    std::uint32_t index_segment = segment_of(key, 1u << 20);
    CHECK(first <= index_segment);
    CHECK(index_segment < last);
  }
}

TEST_CASE("incremental updates equal a rebuild from the final state", "[merkle][property]") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    // Small shapes put many keys in each segment; the default is the real one.
    TreeShape shape = seed % 3 == 0 ? TreeShape{4, 4} : TreeShape{};
    MerkleTree tree = make_tree(shape);
    State state;
    std::vector<std::string> keys;
    for (int op = 0; op < 3000; ++op) {
      int kind = static_cast<int>(rng() % 10);
      if (kind < 4 || keys.empty()) {  // write a new key (maybe one deleted earlier)
        std::string key = keys.empty() || rng() % 4 != 0 ? random_key(rng) : keys[rng() % keys.size()];
        std::optional<std::uint64_t> old;
        if (auto it = state.find(key); it != state.end()) old = it->second;
        std::uint64_t hash = rng();
        tree.update(key, old, hash);
        state[key] = hash;
        keys.push_back(key);
      } else if (kind < 7) {  // overwrite, sometimes with a tombstone's hash (still a value)
        const std::string& key = keys[rng() % keys.size()];
        std::optional<std::uint64_t> old;
        if (auto it = state.find(key); it != state.end()) old = it->second;
        std::uint64_t hash = kind == 6 ? value_hash("tombstone") : rng();
        tree.update(key, old, hash);
        state[key] = hash;
      } else {  // reap: the key becomes absent (a no-op if it already is)
        const std::string& key = keys[rng() % keys.size()];
        std::optional<std::uint64_t> old;
        if (auto it = state.find(key); it != state.end()) old = it->second;
        tree.update(key, old, std::nullopt);
        state.erase(key);
      }
    }
    MerkleTree rebuilt = build(state, shape);
    CHECK(encode(tree) == encode(rebuilt));
    CHECK(tree == rebuilt);
    // The tree really depends on the contents: one key less changes it.
    REQUIRE(!state.empty());
    State fewer = state;
    fewer.erase(fewer.begin());
    CHECK(encode(build(fewer, shape)) != encode(tree));
    // And the persisted form comes back identical.
    auto decoded = decode_tree(encode(tree));
    REQUIRE(decoded.has_value());
    CHECK(decoded.value() == tree);
  }
}

TEST_CASE("the same writes in any order give the same tree", "[merkle][property]") {
  for (std::uint64_t seed = 100; seed < 110; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    // Each key gets a history of values; a key's own history stays in order
    // (the old hash must be right) while histories interleave arbitrarily.
    std::vector<std::vector<std::optional<std::uint64_t>>> histories(300);
    std::vector<std::string> keys;
    for (auto& history : histories) {
      keys.push_back(random_key(rng));
      std::size_t steps = 1 + rng() % 4;
      for (std::size_t i = 0; i < steps; ++i)
        history.push_back(rng() % 5 == 0 ? std::nullopt : std::optional<std::uint64_t>(rng()));
    }
    std::string first;
    for (int order = 0; order < 4; ++order) {
      std::vector<std::size_t> schedule;
      for (std::size_t k = 0; k < histories.size(); ++k)
        for (std::size_t i = 0; i < histories[k].size(); ++i) schedule.push_back(k);
      std::shuffle(schedule.begin(), schedule.end(), rng);
      MerkleTree tree = make_tree(TreeShape{16, 8});
      std::vector<std::size_t> next(histories.size(), 0);
      std::vector<std::optional<std::uint64_t>> current(histories.size());
      for (std::size_t k : schedule) {
        auto value = histories[k][next[k]++];
        tree.update(keys[k], current[k], value);
        current[k] = value;
      }
      if (order == 0) {
        first = encode(tree);
        CHECK(tree.root() != 0);
      } else {
        CHECK(encode(tree) == first);
      }
    }
  }
}

TEST_CASE("trees differing in k keys report exactly those segments and keys", "[merkle][property]") {
  for (TreeShape shape : {TreeShape{}, TreeShape{8, 4}}) {
    for (std::size_t k : {0, 1, 2, 10, 1000}) {
      std::uint64_t seed = 1000 + k + shape.segment_count();
      INFO("seed " << seed << " k " << k << " shape " << shape.to_string());
      std::mt19937_64 rng(seed);
      State local;
      while (local.size() < 4000) local[random_key(rng)] = rng();
      State remote = local;
      std::vector<std::string> existing;
      for (const auto& entry : local) existing.push_back(entry.first);
      std::shuffle(existing.begin(), existing.end(), rng);

      std::set<std::string> changed;
      while (changed.size() < k) {
        std::string key;
        if (changed.size() % 2 == 1 && changed.size() < 10) {
          // Force a difference into the segment of an earlier one.
          std::uint32_t target = segment_of_key(*std::prev(changed.end()), shape);
          do key = random_key(rng);
          while (segment_of_key(key, shape) != target || local.count(key));
        } else {
          key = existing[changed.size()];
        }
        if (!changed.insert(key).second) continue;
        switch (changed.size() % 3) {
          case 0: remote.erase(key); local[key] = rng(); break;  // missing remotely
          case 1: local.erase(key); remote[key] = rng(); break;  // missing locally
          default: local[key] = rng(); remote[key] = rng(); break;  // different versions
        }
      }
      std::set<std::uint32_t> expected_segments;
      for (const auto& key : changed) expected_segments.insert(segment_of_key(key, shape));
      if (k >= 2) CHECK(expected_segments.size() < changed.size());  // some share a segment

      MerkleTree a = build(local, shape);
      MerkleTree b = build(remote, shape);
      auto direct = differing_segments(a, b);
      REQUIRE(direct.has_value());
      std::vector<std::uint32_t> expected(expected_segments.begin(), expected_segments.end());
      CHECK(direct.value() == expected);
      CHECK(exchange_segments(a, b) == expected);
      CHECK(exchange_segments(b, a) == expected);

      // Keys of those segments, through the wire encoding of key/hash lists.
      auto local_list = key_hashes_in(local, expected_segments, shape);
      auto remote_list = decode_key_hash_list(encode(key_hashes_in(remote, expected_segments, shape)));
      REQUIRE(remote_list.has_value());
      std::shuffle(local_list.begin(), local_list.end(), rng);
      auto keys = differing_keys(local_list, remote_list.value());
      REQUIRE(keys.has_value());
      CHECK(keys.value() == std::vector<std::string>(changed.begin(), changed.end()));
    }
  }
}

TEST_CASE("key/hash list comparison: missing, different, equal, duplicates", "[merkle]") {
  std::vector<KeyHash> local{{"c", 3}, {"a", 1}, {"b", 2}, {"e", 5}};
  std::vector<KeyHash> remote{{"b", 2}, {"a", 9}, {"d", 4}, {"e", 5}};
  auto keys = differing_keys(local, remote);
  REQUIRE(keys.has_value());
  CHECK(keys.value() == std::vector<std::string>{"a", "c", "d"});
  CHECK(differing_keys({}, {}).value().empty());
  auto dup = differing_keys(local, {{"x", 1}, {"x", 2}});
  REQUIRE(dup.has_error());
  CHECK(dup.error().code == Errc::invalid_argument);
  CHECK(dup.error().message.find("remote") != std::string::npos);
}

TEST_CASE("trees of different shapes are not comparable", "[merkle]") {
  MerkleTree a = make_tree(TreeShape{16, 8});
  MerkleTree b = make_tree(TreeShape{8, 16});
  auto segments = differing_segments(a, b);
  REQUIRE(segments.has_error());
  CHECK(segments.error().code == Errc::invalid_argument);
  CHECK(segments.error().message.find("16x8") != std::string::npos);
  CHECK(segments.error().message.find("8x16") != std::string::npos);
  CHECK(roots_differ(a, root_level(b)).has_error());
  CHECK(differing_branches(a, branch_level(b)).has_error());
  auto set = segment_set(b, std::vector<std::uint32_t>{1, 2});
  REQUIRE(set.has_value());
  CHECK(differing_segments(a, set.value()).has_error());
  CHECK(segment_set(b, std::vector<std::uint32_t>{128}).error().code == Errc::invalid_argument);
  CHECK(segments_of_branches(b, std::vector<std::uint32_t>{8}).error().code == Errc::invalid_argument);
}

TEST_CASE("tree memory is bounded and configurable", "[merkle]") {
  MerkleTree tree = make_tree();
  CHECK(tree.shape().segment_count() == 32768);
  CHECK(tree.memory_bytes() <= 512 * 1024);
  CHECK(tree.memory_bytes() >= 32768 * 8);
  CHECK(tree.memory_bytes() == tree_memory_bytes(tree.shape()));

  auto too_big = MerkleTree::create(TreeConfig{TreeShape{4096, 32}, kTreeMemoryBytesMaxDefault});
  REQUIRE(too_big.has_error());
  CHECK(too_big.error().code == Errc::too_large);
  CHECK(too_big.error().message.find("memory_bytes_max") != std::string::npos);
  CHECK(MerkleTree::create(TreeConfig{TreeShape{4096, 32}, 2 << 20}).has_value());
  CHECK(MerkleTree::create(TreeConfig{TreeShape{1000, 32}, kTreeMemoryBytesMaxDefault}).error().code ==
        Errc::invalid_argument);
  CHECK(MerkleTree::create(TreeConfig{TreeShape{1, 1}, kTreeMemoryBytesMaxDefault}).error().code ==
        Errc::invalid_argument);
  CHECK(MerkleTree::create(TreeConfig{TreeShape{1u << 31, 2}, SIZE_MAX}).error().code == Errc::too_large);
  CHECK(validate(TreeConfig{}).has_value());
}

TEST_CASE("a tree set keeps one tree per preference list and n_val, bounded", "[merkle]") {
  TreeSetConfig config;
  config.tree.shape = TreeShape{8, 8};
  config.trees_max = 3;
  auto created = TreeSet::create(config);
  REQUIRE(created.has_value());
  TreeSet set = std::move(created).value();
  TreeId p5n3{5, 3}, p5n2{5, 2}, p4n3{4, 3}, p9n3{9, 3};
  CHECK(p5n2 < p5n3);
  CHECK(p4n3 < p5n2);
  CHECK(set.find(p5n3) == nullptr);
  REQUIRE(set.update(p5n3, "k1", std::nullopt, 1).has_value());
  REQUIRE(set.update(p5n2, "k2", std::nullopt, 2).has_value());
  REQUIRE(set.update(p4n3, "k3", std::nullopt, 3).has_value());
  CHECK(set.ids() == std::vector<TreeId>{p4n3, p5n2, p5n3});
  auto refused = set.update(p9n3, "k4", std::nullopt, 4);
  REQUIRE(refused.has_error());
  CHECK(refused.error().code == Errc::too_large);
  CHECK(set.size() == 3);
  // Trees are separate: the same key in two preference lists.
  REQUIRE(set.update(p5n2, "k1", std::nullopt, 1).has_value());
  CHECK(set.find(p5n3)->root() == leaf_hash("k1", 1));
  CHECK(set.find(p5n2)->root() == (leaf_hash("k1", 1) ^ leaf_hash("k2", 2)));

  MerkleTree rebuilt = make_tree(TreeShape{8, 8});
  rebuilt.insert("k9", 9);
  REQUIRE(set.replace(p5n3, std::move(rebuilt)).has_value());
  CHECK(set.find(p5n3)->root() == leaf_hash("k9", 9));
  CHECK(set.replace(p5n3, make_tree(TreeShape{16, 8})).error().code == Errc::invalid_argument);
  CHECK(set.erase(p4n3));
  CHECK(!set.erase(p4n3));
  CHECK(set.update(p9n3, "k4", std::nullopt, 4).has_value());
  CHECK(set.memory_bytes() >= 3 * tree_memory_bytes(TreeShape{8, 8}));
  config.trees_max = 0;
  CHECK(TreeSet::create(config).has_error());
  config.trees_max = 1;
  config.tree.shape = TreeShape{3, 8};
  CHECK(TreeSet::create(config).has_error());
}

TEST_CASE("decoding truncated, mutated and oversized bytes returns errors", "[merkle][codec]") {
  std::mt19937_64 rng(4242);
  INFO("seed 4242");
  TreeShape shape{16, 8};
  MerkleTree tree = make_tree(shape);
  for (int i = 0; i < 200; ++i) tree.insert(random_key(rng), rng());
  std::vector<KeyHash> list{{"alpha", 1}, {"beta", 2}, {std::string(700, 'x'), 3}};
  auto set = segments_of_branches(tree, std::vector<std::uint32_t>{1, 5});
  REQUIRE(set.has_value());

  // Each encoding with a decoder that reports only success or failure and,
  // on success, checks the bytes were the canonical encoding of the value.
  struct Case {
    std::string name;
    std::string bytes;
    std::function<bool(std::string_view)> decodes;
  };
  std::vector<Case> cases{
      {"tree", encode(tree),
       [](std::string_view b) {
         auto r = decode_tree(b);
         if (r.has_value()) CHECK(encode(r.value()) == b);  // decoders accept canonical bytes only
         return r.has_value();
       }},
      {"root", encode(root_level(tree)),
       [](std::string_view b) {
         auto r = decode_root_level(b);
         if (r.has_value()) CHECK(encode(r.value()) == b);  // decoders accept canonical bytes only
         return r.has_value();
       }},
      {"branches", encode(branch_level(tree)),
       [](std::string_view b) {
         auto r = decode_branch_level(b);
         if (r.has_value()) CHECK(encode(r.value()) == b);  // decoders accept canonical bytes only
         return r.has_value();
       }},
      {"segments", encode(set.value()),
       [](std::string_view b) {
         auto r = decode_segment_set(b);
         if (r.has_value()) CHECK(encode(r.value()) == b);  // decoders accept canonical bytes only
         return r.has_value();
       }},
      {"keys", encode(list),
       [](std::string_view b) {
         auto r = decode_key_hash_list(b);
         if (r.has_value()) CHECK(encode(r.value()) == b);  // decoders accept canonical bytes only
         return r.has_value();
       }},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    REQUIRE(c.decodes(c.bytes));
    for (std::size_t n = 0; n < c.bytes.size(); ++n) {
      INFO("truncated to " << n);
      CHECK(!c.decodes(std::string_view(c.bytes).substr(0, n)));
    }
    CHECK(!c.decodes(c.bytes + '\0'));  // trailing bytes
    for (int i = 0; i < 3000; ++i) {
      std::string mutated = c.bytes;
      int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) {
        // Bias towards the header, where structure lives.
        std::size_t at = rng() % 2 ? rng() % std::min<std::size_t>(mutated.size(), 16) : rng() % mutated.size();
        mutated[at] = static_cast<char>(rng() & 0xff);
      }
      c.decodes(mutated);
    }
  }
}

TEST_CASE("decoders name what is wrong with structurally bad encodings", "[merkle][codec]") {
  using Packer = msgpack::packer<msgpack::sbuffer>;
  auto tree_bytes = [](std::uint8_t tag, std::uint8_t version, std::uint64_t branches, std::uint64_t per,
                       std::size_t hash_bytes) {
    msgpack::sbuffer buffer;
    Packer pk(buffer);
    codec::pack_header(pk, tag, version, 3);
    pk.pack_uint64(branches);
    pk.pack_uint64(per);
    codec::pack_bytes(pk, std::string(hash_bytes, '\x01'));
    return std::string(buffer.data(), buffer.size());
  };
  REQUIRE(decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 4, 4, 128)).has_value());
  CHECK(decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 4, 4, 128)).value().root() == 0);  // 16 equal leaves
  CHECK(decode_tree(tree_bytes(kMerkleBranchesTag, kMerkleVersion, 4, 4, 128)).error().code == Errc::malformed);
  CHECK(decode_tree(tree_bytes(kMerkleTreeTag, 2, 4, 4, 128)).error().code == Errc::unsupported_version);
  CHECK(decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 4, 4, 120)).error().code == Errc::malformed);
  CHECK(decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 3, 4, 96)).error().code == Errc::malformed);
  // A shape claiming more memory than allowed is refused before allocating.
  auto huge = decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 1u << 20, 1u << 10, 8));
  REQUIRE(huge.has_error());
  CHECK(huge.error().code == Errc::too_large);
  CHECK(decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 1ULL << 40, 1ULL << 40, 8)).error().code ==
        Errc::too_large);
  // An oversized encoding is refused by size alone.
  CHECK(decode_tree(tree_bytes(kMerkleTreeTag, kMerkleVersion, 4, 4, 1 << 20)).error().code == Errc::too_large);
  DecodeLimits small;
  small.memory_bytes_max = 1024;
  CHECK(decode_tree(encode(make_tree()), small).error().code == Errc::too_large);

  auto segment_bytes = [](std::vector<std::uint32_t> ids) {
    msgpack::sbuffer buffer;
    Packer pk(buffer);
    codec::pack_header(pk, kMerkleSegmentsTag, kMerkleVersion, 4);
    pk.pack_uint32(4);
    pk.pack_uint32(4);
    std::string id_bytes;
    for (auto id : ids)
      for (int i = 0; i < 4; ++i) id_bytes.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
    codec::pack_bytes(pk, id_bytes);
    codec::pack_bytes(pk, std::string(8 * ids.size(), '\x02'));
    return std::string(buffer.data(), buffer.size());
  };
  CHECK(decode_segment_set(segment_bytes({1, 3, 15})).has_value());
  CHECK(decode_segment_set(segment_bytes({3, 1})).error().code == Errc::malformed);
  CHECK(decode_segment_set(segment_bytes({1, 1})).error().code == Errc::malformed);
  CHECK(decode_segment_set(segment_bytes({16})).error().code == Errc::malformed);

  // The same value in a wider msgpack integer form than the shortest.
  std::string compact("\x95\x51\x01\x10\x08\x00", 6);
  std::string wide("\x95\x51\x01\xcf\x00\x00\x00\x00\x00\x00\x00\x10\x08\x00", 14);
  REQUIRE(decode_root_level(compact).has_value());
  CHECK(decode_root_level(compact).value() == RootLevel{TreeShape{16, 8}, 0});
  auto not_canonical = decode_root_level(wide);
  REQUIRE(not_canonical.has_error());
  CHECK(not_canonical.error().message.find("canonical") != std::string::npos);

  DecodeLimits few;
  few.keys_max = 2;
  std::vector<KeyHash> three{{"a", 1}, {"b", 2}, {"c", 3}};
  CHECK(decode_key_hash_list(encode(three), few).has_error());
  CHECK(decode_key_hash_list(encode(three)).has_value());
  few.key_bytes_max = 4;
  std::vector<KeyHash> long_key{{"abcdef", 1}};
  CHECK(decode_key_hash_list(encode(long_key), few).has_error());
}
