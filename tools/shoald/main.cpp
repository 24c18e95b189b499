// shoald: the Shoal server. Parses its config (flags and --config file),
// starts the node, and runs until SIGTERM or SIGINT, then stops gracefully
// (stop admitting, finish or fail what is in flight, flush, close storage)
// and exits 0. Exits 1 on a configuration or start-up error (the message
// says what to fix) and 3 when supervision gave up on crashing actors, so the
// operating system's supervisor restarts it.
#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/failpoint.hpp"
#include "core/config.hpp"
#include "core/node.hpp"
#include "resp/server.hpp"

namespace {

int wait_for_signal(const shoal::core::Node& node) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (;;) {
    timespec timeout{0, 200'000'000};
    int signal = sigtimedwait(&set, nullptr, &timeout);
    if (signal == SIGTERM || signal == SIGINT) {
      spdlog::info("received {}, stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
      return 0;
    }
    if (node.failed()) {
      spdlog::critical("giving up: {}", node.failure());
      return 3;
    }
    if (node.exit_requested()) {
      spdlog::info("this node left the cluster; exiting");
      return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed memory instead of trimming each malloc arena back after every
  // burst: with several threads allocating message buffers, arena trims and
  // regrowth cost an mprotect system call each (measured: ~17% more YCSB-C
  // throughput without them). A server's heap stays near its high-water mark.
  // These tune glibc malloc, which a build without tcmalloc uses
  // (SHOAL_TCMALLOC=OFF, and the sanitizer builds); tcmalloc ignores them.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigtimedwait here sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto parsed = shoal::core::parse_node_args(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "shoald: %s\n(see shoald --help)\n", parsed.error().message.c_str());
    return 1;
  }
  if (!parsed.value().config) {
    std::fputs(parsed.value().output.c_str(), stdout);
    return 0;
  }
  shoal::core::NodeConfig config = *parsed.value().config;

  auto logger = spdlog::stderr_color_mt("shoald");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + config.node.name + "] %v");
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::flush_on(spdlog::level::info);

  if (config.enable_failpoints) {
    shoal::failpoint::enable();
    if (!config.failpoints.empty()) {
      if (auto armed = shoal::failpoint::configure(config.failpoints); !armed) {
        std::fprintf(stderr, "shoald: --failpoints: %s\n", armed.error().message.c_str());
        return 1;
      }
    }
    if (const char* env = std::getenv("SHOAL_FAILPOINTS"); env && *env) {
      if (auto armed = shoal::failpoint::configure(env); !armed) {
        std::fprintf(stderr, "shoald: SHOAL_FAILPOINTS: %s\n", armed.error().message.c_str());
        return 1;
      }
    }
    spdlog::warn("failpoints are enabled: this node can be made to fail on purpose");
  }
  if (config.secret_is_default)
    spdlog::warn("using the default cluster secret: set --cluster-secret so strangers cannot join");

  // The Redis port reaches the client socket in-process: no TCP hop and no
  // I/O-thread hand-off per request.
  if (config.resp.listen) config.client_inproc = "inproc://shoal-clients";
  auto node = shoal::core::Node::start(config);
  if (!node) {
    spdlog::critical("cannot start: {}", node.error().message);
    std::fprintf(stderr, "shoald: cannot start: %s\n", node.error().message.c_str());
    return 1;
  }
  std::unique_ptr<shoal::resp::RespServer> resp;
  if (config.resp.listen) {
    shoal::resp::RespConfig rc;
    rc.listen_host = config.resp.listen->host;
    rc.listen_port = config.resp.listen->port;
    rc.node_endpoint = config.client_inproc;
    rc.context = node.value()->zmq_context();
    rc.node_name = config.node.full;
    rc.version = SHOAL_VERSION;
    rc.bucket_type = config.resp.bucket_type;
    rc.bucket = config.resp.bucket;
    rc.parser.args_max = config.resp.args_max;
    rc.parser.bulk_bytes_max = config.resp.bulk_bytes_max;
    rc.connections_max = config.resp.connections_max;
    rc.buffer_bytes_max = config.resp.buffer_bytes_max;
    rc.pipeline_max = config.resp.pipeline_max;
    rc.request_timeout_ms = config.request_timeout_ms + 5'000;
    auto started = shoal::resp::RespServer::start(rc);
    if (!started) {
      spdlog::critical("cannot start: {}", started.error().message);
      std::fprintf(stderr, "shoald: cannot start: %s\n", started.error().message.c_str());
      node.value()->shutdown();
      return 1;
    }
    resp = std::move(started).value();
  }
  int code = wait_for_signal(*node.value());
  if (resp) resp->stop();
  node.value()->shutdown();
  spdlog::info("stopped");
  return code;
}
