#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "storage/fault_engine.hpp"
#include "storage/lmdb_engine.hpp"
#include "storage/memory_engine.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace shoal;
using namespace shoal::storage;

namespace {
std::string value_of(Engine& engine, std::string_view key) {
  auto got = engine.get(key);
  REQUIRE(got);
  return got.value().value_or("<absent>");
}

void exercise(FaultEngine& engine) {
  REQUIRE(engine.put("a", "1"));
  REQUIRE(engine.put("b", "1"));
  REQUIRE(engine.flush());

  SECTION("writes fail on demand, reads keep working") {
    engine.fail_writes(Errc::disk_full);
    CHECK(engine.put("a", "2").error().code == Errc::disk_full);
    CHECK(engine.read_merge_write("a", [](const std::optional<std::string>&) -> Result<std::optional<std::string>> {
                  return std::optional<std::string>("3");
                }).error().code == Errc::disk_full);
    CHECK(value_of(engine, "a") == "1");
    engine.fail_writes(std::nullopt);
    REQUIRE(engine.put("a", "2"));
    CHECK(value_of(engine, "a") == "2");
  }
  SECTION("the next N writes fail with EIO") {
    engine.fail_next_writes(2, Errc::io_error);
    CHECK(engine.put("c", "1").error().code == Errc::io_error);
    CHECK(engine.put("c", "1").error().code == Errc::io_error);
    REQUIRE(engine.put("c", "1"));
    CHECK(value_of(engine, "c") == "1");
  }
  SECTION("reads fail on demand") {
    engine.fail_reads(Errc::io_error);
    CHECK(engine.get("a").error().code == Errc::io_error);
    CHECK(engine.fold({}, [](std::string_view, std::string_view) { return true; }).error().code == Errc::io_error);
    engine.fail_reads(std::nullopt);
    CHECK(value_of(engine, "a") == "1");
  }
  SECTION("a simulated crash drops exactly the writes since the last flush") {
    REQUIRE(engine.put("a", "2"));
    REQUIRE(engine.put("a", "3"));
    REQUIRE(engine.erase("b"));
    REQUIRE(engine.put("new", "x"));
    REQUIRE(engine.read_merge_write("m", [](const std::optional<std::string>&) -> Result<std::optional<std::string>> {
      return std::optional<std::string>("merged");
    }));
    CHECK(engine.unsynced_keys() == 5);
    auto dropped = engine.simulate_crash();
    REQUIRE(dropped);
    CHECK(dropped.value() == 5);
    CHECK(value_of(engine, "a") == "1");
    CHECK(value_of(engine, "b") == "1");
    CHECK(value_of(engine, "new") == "<absent>");
    CHECK(value_of(engine, "m") == "<absent>");
    REQUIRE(engine.put("a", "after"));
    REQUIRE(engine.flush());
    REQUIRE(engine.simulate_crash());
    CHECK(value_of(engine, "a") == "after");
  }
}
}  // namespace

TEST_CASE("fault engine over memory", "[storage][fault]") {
  FaultEngine engine(std::make_unique<MemoryEngine>());
  exercise(engine);
}

TEST_CASE("fault engine over LMDB", "[storage][fault]") {
  test::TempDir dir;
  auto env = LmdbEnvironment::open(dir.path()).value();
  FaultEngine engine(env->open_engine("vnode/9").value());
  exercise(engine);
}
