// shoal-bench: placeholder until the benchmark lands.
#include <cstdio>
int main() {
  std::fprintf(stderr, "shoal-bench: not built yet\n");
  return 1;
}
