// Node configuration: flags, a config file, flags overriding the file, and a
// clear error for every malformed value.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/config.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace shoal;
using namespace shoal::core;

namespace {

Result<ParsedArgs> parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"shoald"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_node_args(static_cast<int>(argv.size()), argv.data());
}

NodeConfig config_of(std::vector<std::string> args) {
  auto parsed = parse(std::move(args));
  REQUIRE(parsed);
  REQUIRE(parsed.value().config);
  return *parsed.value().config;
}

std::string error_of(std::vector<std::string> args) {
  auto parsed = parse(std::move(args));
  REQUIRE_FALSE(parsed);
  return parsed.error().message;
}

}  // namespace

TEST_CASE("config: flags with their defaults") {
  NodeConfig c = config_of({"--name", "n1@127.0.0.2:7101", "--data", "/tmp/x"});
  CHECK(c.node.name == "n1");
  CHECK(c.node.host == "127.0.0.2");
  CHECK(c.node.port == 7101);
  CHECK(c.client_listen.to_string() == "127.0.0.2:8101");  // peer port + 1000 on the same host
  CHECK(c.cluster.empty());
  CHECK(c.ring_size == 64);
  CHECK(c.sync_mode == storage::SyncMode::nosync);
  CHECK(c.secret_is_default);
  CHECK(c.bucket_types().find("counters"));
}

TEST_CASE("config: a file, overridden by flags") {
  storage::test::TempDir dir;
  std::string path = dir.sub("shoald.conf");
  std::ofstream(path) << "name = n2@127.0.0.1:7102\n"
                         "data = /var/lib/shoal\n"
                         "cluster = n1@127.0.0.1:7101/zone-a,n2@127.0.0.1:7102/zone-b\n"
                         "cluster-secret = s3cret\n"
                         "ring-size = 128\n"
                         "sync-mode = sync\n"
                         "n-val = 2\n"
                         "bucket-type = carts:n_val=2,w=1\n"
                         "bucket-type = likes:datatype=counter\n";
  NodeConfig c = config_of({"--config", path, "--ring-size", "32", "--client-listen", "127.0.0.1:9999"});
  CHECK(c.node.full == "n2@127.0.0.1:7102");
  CHECK(c.ring_size == 32);  // the flag wins
  CHECK(c.client_listen.port == 9999);
  CHECK(c.sync_mode == storage::SyncMode::sync);
  CHECK(c.cluster_secret == "s3cret");
  CHECK_FALSE(c.secret_is_default);
  REQUIRE(c.cluster.size() == 2);
  CHECK(c.cluster[0].location == "zone-a");
  CHECK(c.location == "zone-b");  // this node's location comes from its --cluster entry
  BucketTypes types = c.bucket_types();
  REQUIRE(types.find("carts"));
  CHECK(types.find("carts")->n_val == 2);
  CHECK(types.find("default")->n_val == 2);
  CHECK(types.find("likes")->datatype == crdt::Datatype::counter);
}

TEST_CASE("config: malformed values are refused with the option named") {
  const std::vector<std::string> base = {"--name", "n1@127.0.0.1:7101", "--data", "/tmp/x"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  CHECK(error_of({"--data", "/tmp/x"}) == "--name NAME@HOST:PORT is required");
  CHECK(error_of({"--name", "n1@127.0.0.1:7101"}) == "--data DIR is required");
  CHECK(error_of({"--name", "n1@host", "--data", "x"}).find("must look like name@host:port") != std::string::npos);
  CHECK(error_of({"--name", "n1@h:99999", "--data", "x"}).find("port") != std::string::npos);
  CHECK(error_of(with({"--ring-size", "100"})).find("power of two") != std::string::npos);
  CHECK(error_of(with({"--sync-mode", "sometimes"})) == "--sync-mode must be sync or nosync");
  CHECK(error_of(with({"--w", "5"})) == "--w must be 1..n_val");
  CHECK(error_of(with({"--cluster", "n2@127.0.0.1:7102"})).find("must include this node") != std::string::npos);
  CHECK(error_of(with({"--cluster", "n1@127.0.0.1:7101,n1@127.0.0.1:7101"})).find("twice") != std::string::npos);
  CHECK(error_of(with({"--bucket-type", "x:n_val=0"})).find("n_val must be at least 1") != std::string::npos);
  CHECK(error_of(with({"--bucket-type", "x:colour=red"})).find("unknown bucket property 'colour'") !=
        std::string::npos);
  CHECK(error_of(with({"--bucket-type", "x:last_write_wins=true"})).find("allow_mult=false") != std::string::npos);
  CHECK(error_of(with({"--failpoints", "vnode.receive=throw"})) == "--failpoints needs --enable-failpoints");
  CHECK(error_of(with({"--object-bytes-max", "100000000"})).find("at most 64 MiB") != std::string::npos);
  CHECK(error_of(with({"--no-such-option"})).find("no-such-option") != std::string::npos);
  CHECK(error_of({"--config", "/nonexistent/shoald.conf"}).find("cannot read config file") != std::string::npos);
}

TEST_CASE("config: --help and --version print and stop") {
  auto help = parse({"--help"});
  REQUIRE(help);
  CHECK_FALSE(help.value().config);
  CHECK(help.value().output.find("--cluster-secret") != std::string::npos);
  auto version = parse({"--version"});
  REQUIRE(version);
  CHECK(version.value().output.rfind("shoald shoal ", 0) == 0);
}
