// Durability against a real crash: a child process writes with sync mode and
// reports every acknowledged key through a pipe; the parent SIGKILLs it at a
// random moment and checks that everything acknowledged is there.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/failpoint.hpp"
#include "storage/lmdb_engine.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace shoal;
using namespace shoal::storage;

namespace {

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string value_for(int round, int i) { return "value-" + std::to_string(round) + "-" + std::to_string(i) + std::string(i % 300, 'x'); }

// The child: never returns into the test framework.
[[noreturn]] void write_until_killed(const std::string& dir, int round, int fd) {
  auto env = LmdbEnvironment::open(dir);
  if (!env) _exit(2);
  auto engine = env.value()->open_engine("vnode/1");
  if (!engine) _exit(3);
  std::string line = "id " + hex(engine.value()->metadata().incarnation_id) + "\n";
  if (write(fd, line.data(), line.size()) < 0) _exit(4);
  for (int i = 0;; ++i) {
    WriteBatch batch;
    batch.put("r" + std::to_string(round) + "-" + std::to_string(i), value_for(round, i));
    if (i % 3 == 0) batch.put("r" + std::to_string(round) + "-extra-" + std::to_string(i), "x");
    if (!engine.value()->write(std::move(batch))) _exit(5);
    line = std::to_string(i) + "\n";
    if (write(fd, line.data(), line.size()) < 0) _exit(6);
  }
}

}  // namespace

TEST_CASE("crash: every write acknowledged in sync mode survives SIGKILL", "[storage][lmdb][crash]") {
  std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  test::TempDir dir;
  std::string incarnation;
  std::vector<int> acknowledged_per_round;
  for (int round = 0; round < 4; ++round) {
    INFO("round " << round);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(fds[0]);
      write_until_killed(dir.path(), round, fds[1]);
    }
    close(fds[1]);
    FILE* from_child = fdopen(fds[0], "r");
    REQUIRE(from_child != nullptr);
    int kill_after = static_cast<int>(rng() % 300);
    int acknowledged = -1;
    std::string id;
    char line[128];
    bool killed = false;
    while (std::fgets(line, sizeof line, from_child) != nullptr) {
      std::string text(line);
      if (text.starts_with("id ")) {
        id = text.substr(3, text.size() - 4);
      } else {
        acknowledged = std::stoi(text);
      }
      if (!killed && acknowledged >= kill_after) {
        kill(child, SIGKILL);
        killed = true;  // keep reading: acks already in the pipe count too
      }
    }
    std::fclose(from_child);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    REQUIRE(acknowledged >= kill_after);
    acknowledged_per_round.push_back(acknowledged);

    auto env = LmdbEnvironment::open(dir.path());
    REQUIRE(env);
    auto engine = env.value()->open_engine("vnode/1");
    REQUIRE(engine);
    Engine& e = *engine.value();
    CHECK_FALSE(e.metadata().previous_shutdown_clean);
    // Sync mode loses no acknowledged write, so the vnode keeps its incarnation.
    CHECK_FALSE(e.metadata().incarnation_renewed);
    CHECK(hex(e.metadata().incarnation_id) == id);
    if (round == 0) incarnation = id;
    CHECK(id == incarnation);
    for (int r = 0; r <= round; ++r)
      for (int i = 0; i <= acknowledged_per_round[r]; ++i) {
        auto got = e.get("r" + std::to_string(r) + "-" + std::to_string(i));
        REQUIRE(got);
        REQUIRE(got.value() == value_for(r, i));
      }
    // The close of this check run is clean; the next child's open marks it unclean again.
    REQUIRE(e.close());
  }
}

TEST_CASE("crash: abort at storage.commit.after keeps the committed write", "[storage][lmdb][crash]") {
  test::TempDir dir;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    signal(SIGABRT, SIG_DFL);  // die of the abort, not of the test framework's report
    failpoint::enable();
    auto env = LmdbEnvironment::open(dir.path());
    if (!env) _exit(2);
    auto engine = env.value()->open_engine("vnode/1");
    if (!engine || !engine.value()->put("before", "1")) _exit(3);
    if (!failpoint::set("storage.commit.after", "abort")) _exit(4);
    (void)engine.value()->put("at-abort", "2");  // commits, then the process aborts
    _exit(5);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  auto env = LmdbEnvironment::open(dir.path());
  REQUIRE(env);
  auto engine = env.value()->open_engine("vnode/1");
  REQUIRE(engine);
  CHECK_FALSE(engine.value()->metadata().previous_shutdown_clean);
  CHECK(engine.value()->get("before").value() == "1");
  CHECK(engine.value()->get("at-abort").value() == "2");
}
