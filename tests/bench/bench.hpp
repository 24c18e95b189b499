// Shared by the benchmark files of shoal-microbench.
#pragma once

#include <cstddef>

namespace shoal::bench {
// True under --smoke: use tiny sizes, the run only proves the code works.
extern bool smoke;
inline std::size_t scaled(std::size_t full, std::size_t small) { return smoke ? small : full; }
}  // namespace shoal::bench
