// Entry point of shoal-microbench. `--smoke` shrinks every benchmark's data
// so the bench_smoke test can check the benchmarks still run; real figures
// come from a run without it (see docs/benchmarks.md for the command).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "tests/bench/bench.hpp"

namespace shoal::bench {
bool smoke = false;
}

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      shoal::bench::smoke = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
