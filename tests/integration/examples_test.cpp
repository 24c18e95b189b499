// The example programs of net/client/examples compile with the suite and
// do what their comments say against a real cluster.
#include <catch2/catch.hpp>

#include "tests/integration/cluster.hpp"

using shoal::test::Cluster;
using shoal::test::run_process;

TEST_CASE("the client examples run against a cluster", "[integration]") {
  Cluster cluster(3, {"--ring-size", "16"}, "examples");
  cluster.start_all();
  std::string examples = std::string(SHOAL_BIN_DIR) + "/../examples/";
  std::string hosts = cluster.node(0).client_address() + "," + cluster.node(1).client_address();
  auto hello = run_process({examples + "example_hello", hosts});
  CHECK(hello.exit_code == 0);
  CHECK(hello.out == "hello, Shoal\n");
  auto siblings = run_process({examples + "example_siblings", cluster.node(2).client_address()});
  CHECK(siblings.exit_code == 0);
  CHECK(siblings.out.find("2 siblings") != std::string::npos);
  CHECK(siblings.out.find("resolved: ") != std::string::npos);
  auto counter = run_process({examples + "example_counter", cluster.node(1).client_address()});
  INFO(counter.out << counter.err);
  CHECK(counter.exit_code == 0);
  CHECK(counter.out.find("counter went from 0 to 1000 (0 failed)") != std::string::npos);
}
