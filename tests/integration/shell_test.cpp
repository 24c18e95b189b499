// The shoal shell as a user (or a script) runs it: one-shot commands, human
// and --json output in the documented shapes, exit statuses, siblings
// resolved with --context, values from stdin and files, and the
// interactive mode fed from a pipe.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

#include "tests/integration/cluster.hpp"

using shoal::test::Cluster;

namespace {

Cluster& shell_cluster() {
  static Cluster cluster(3, {"--ring-size", "16"}, "shell");
  static bool started = false;
  if (!started) {
    cluster.start_all();
    started = true;
  }
  return cluster;
}

std::string json_field(const std::string& json, const std::string& name) {
  std::regex re("\"" + name + "\": \"([^\"]*)\"");
  std::smatch m;
  if (!std::regex_search(json, m, re)) return {};
  return m[1];
}

}  // namespace

TEST_CASE("shell: put, get, siblings and --context", "[integration]") {
  Cluster& c = shell_cluster();
  auto put = c.shell(0, {"put", "default/shell/greeting", "hello", "--content-type", "text/plain"});
  INFO(put.err);
  REQUIRE(put.exit_code == 0);
  auto get = c.shell(1, {"get", "default/shell/greeting", "--json"});
  REQUIRE(get.exit_code == 0);
  CHECK(get.out.rfind("{\"found\": true, \"siblings\": [{\"value\": \"hello\", \"content_type\": \"text/plain\", "
                      "\"last_modified\": \"",
                      0) == 0);
  CHECK_FALSE(json_field(get.out, "context").empty());

  // A second writer without the context: two siblings, shown clearly.
  REQUIRE(c.shell(2, {"put", "default/shell/greeting", "bonjour"}).exit_code == 0);
  auto both = c.shell(0, {"get", "default/shell/greeting"});
  REQUIRE(both.exit_code == 0);
  CHECK(both.out.find("2 siblings") != std::string::npos);
  CHECK(both.out.find("hello") != std::string::npos);
  CHECK(both.out.find("bonjour") != std::string::npos);
  auto json = c.shell(0, {"get", "default/shell/greeting", "--json"});
  std::string context = json_field(json.out, "context");
  REQUIRE_FALSE(context.empty());
  REQUIRE(c.shell(1, {"put", "default/shell/greeting", "hello and bonjour", "--context", context}).exit_code == 0);
  auto resolved = c.shell(2, {"get", "default/shell/greeting", "--r", "all"});
  REQUIRE(resolved.exit_code == 0);
  CHECK(resolved.out.rfind("hello and bonjour\n", 0) == 0);
  CHECK(resolved.out.find("siblings") == std::string::npos);
}

TEST_CASE("shell: values from stdin and files, binary values, deletes and exit codes", "[integration]") {
  Cluster& c = shell_cluster();
  REQUIRE(c.shell(0, {"put", "default/shell/stdin", "-"}, "from stdin").exit_code == 0);
  CHECK(c.shell(0, {"get", "default/shell/stdin"}).out.rfind("from stdin\n", 0) == 0);
  std::string file = c.dir() + "/value.bin";
  std::ofstream(file, std::ios::binary) << std::string("\xff\x00\x01", 3);
  REQUIRE(c.shell(0, {"put", "default/shell/binary", "--file", file}).exit_code == 0);
  auto binary = c.shell(1, {"get", "default/shell/binary", "--json"});
  CHECK(binary.out.find("\"value\": {\"base64\": \"/wAB\"}") != std::string::npos);

  auto missing = c.shell(0, {"get", "default/shell/missing"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("not found") != std::string::npos);
  REQUIRE(c.shell(0, {"delete", "default/shell/stdin"}).exit_code == 0);
  CHECK(c.shell(1, {"get", "default/shell/stdin", "--r", "all"}).exit_code == 2);

  auto bad_key = c.shell(0, {"get", "no-slashes"});
  CHECK(bad_key.exit_code == 1);
  CHECK(bad_key.err.find("must be TYPE/BUCKET/KEY") != std::string::npos);
  auto bad_option = c.shell(0, {"get", "default/shell/x", "--w", "most"});
  CHECK(bad_option.exit_code == 1);
  auto unknown = c.shell(0, {"frobnicate"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);
  auto quorum = c.shell(0, {"get", "default/shell/x", "--r", "4"});
  CHECK(quorum.exit_code == 1);
  CHECK(quorum.err.find("r=4 exceeds n_val=3") != std::string::npos);
}

TEST_CASE("shell: CRDT commands", "[integration]") {
  Cluster& c = shell_cluster();
  REQUIRE(c.shell(0, {"counter", "incr", "counters/shell/c", "5"}).exit_code == 0);
  REQUIRE(c.shell(1, {"counter", "decr", "counters/shell/c", "2"}).exit_code == 0);
  auto counter = c.shell(2, {"counter", "get", "counters/shell/c", "--json"});
  CHECK(counter.out.rfind("{\"found\": true, \"type\": \"counter\", \"value\": 3,", 0) == 0);
  REQUIRE(c.shell(0, {"set", "add", "sets/shell/s", "a", "b", "c"}).exit_code == 0);
  REQUIRE(c.shell(1, {"set", "remove", "sets/shell/s", "b"}).exit_code == 0);
  auto set = c.shell(2, {"set", "get", "sets/shell/s", "--json"});
  CHECK(set.out.find("\"value\": [\"a\", \"c\"]") != std::string::npos);
  REQUIRE(c.shell(0, {"map", "update", "maps/shell/m", "visits:counter", "incr", "4"}).exit_code == 0);
  REQUIRE(c.shell(1, {"map", "update", "maps/shell/m", "profile.name:register", "set", "ada"}).exit_code == 0);
  REQUIRE(c.shell(2, {"map", "update", "maps/shell/m", "admin:flag", "enable"}).exit_code == 0);
  REQUIRE(c.shell(0, {"map", "remove", "maps/shell/m", "admin:flag"}).exit_code == 0);
  auto map = c.shell(1, {"map", "get", "maps/shell/m", "--json"});
  CHECK(map.out.find("\"value\": {\"profile_map\": {\"name_register\": \"ada\"}, \"visits_counter\": 4}") !=
        std::string::npos);
  REQUIRE(c.shell(0, {"register", "set", "registers/shell/r", "v1"}).exit_code == 0);
  CHECK(c.shell(0, {"register", "get", "registers/shell/r"}).out.rfind("v1\n", 0) == 0);
  REQUIRE(c.shell(0, {"flag", "enable", "flags/shell/f"}).exit_code == 0);
  CHECK(c.shell(0, {"flag", "get", "flags/shell/f"}).out.rfind("enabled\n", 0) == 0);
  REQUIRE(c.shell(0, {"hll", "add", "hlls/shell/h", "x", "y", "z", "x"}).exit_code == 0);
  CHECK(c.shell(0, {"hll", "get", "hlls/shell/h"}).out.rfind("~3 distinct", 0) == 0);
  auto wrong = c.shell(0, {"counter", "incr", "sets/shell/s"});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("another datatype") != std::string::npos);
}

TEST_CASE("shell: admin and cluster views in their JSON shapes", "[integration]") {
  Cluster& c = shell_cluster();
  REQUIRE(c.shell(0, {"put", "default/shell/replicated", "v", "--w", "all"}).exit_code == 0);
  auto replicas = c.shell(1, {"admin", "replica-get", "default/shell/replicated", "--json"});
  REQUIRE(replicas.exit_code == 0);
  CHECK(replicas.out.rfind("{\"replicas\": [{\"node\": \"n", 0) == 0);
  std::size_t found = 0;
  for (std::size_t at = 0; (at = replicas.out.find("\"found\": true", at)) != std::string::npos; ++at) ++found;
  CHECK(found == 3);
  CHECK(replicas.out.find("\"primary\": true") != std::string::npos);

  auto ring = c.shell(0, {"ring", "--json"});
  REQUIRE(ring.exit_code == 0);
  CHECK(ring.out.find("\"partitions\": [{\"index\": 0, \"owner\": \"n") != std::string::npos);
  auto status = c.shell(2, {"status", "--json"});
  REQUIRE(status.exit_code == 0);
  for (const char* counter : {"\"read_repairs\": ", "\"aae_repairs\": ", "\"aae_exchanges\": ", "\"hints\": ",
                              "\"vnode_puts\": ", "\"vnode_gets\": "})
    CHECK(status.out.find(counter) != std::string::npos);
  auto members = c.shell(0, {"members"});
  REQUIRE(members.exit_code == 0);
  CHECK(members.out.find("UNREACHABLE") == std::string::npos);
  std::size_t views = 0;
  for (std::size_t at = 0; (at = members.out.find("as seen from", at)) != std::string::npos; ++at) ++views;
  CHECK(views == 3);
  REQUIRE(c.shell(0, {"put", "default/shell-list/a", "1"}).exit_code == 0);
  REQUIRE(c.shell(0, {"put", "default/shell-list/b", "2"}).exit_code == 0);
  auto keys = c.shell(1, {"list-keys", "default/shell-list"});
  CHECK(keys.out == "a\nb\n");
}

TEST_CASE("shell: the interactive mode reads commands line by line", "[integration]") {
  Cluster& c = shell_cluster();
  auto session =
      c.shell(0, {}, "put default/shell/interactive 'two words'\nget default/shell/interactive\nhelp get\nquit\n");
  CHECK(session.exit_code == 0);
  CHECK(session.out.find("two words") != std::string::npos);
  CHECK(session.out.find("usage: get TYPE/BUCKET/KEY") != std::string::npos);
}
