#include "core/build_info.hpp"

#include "net/protocol.hpp"

namespace shoal::core {

std::string build_info() {
  std::string info = "shoal " SHOAL_VERSION " (protocol ";
  info += std::to_string(net::kProtocolVersionMin) + ".." + std::to_string(net::kProtocolVersionMax) + ")";
#ifdef __OPTIMIZE__
  info += " optimised";
#endif
#if defined(__SANITIZE_ADDRESS__)
  info += " asan";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  info += " asan";
#endif
#endif
  return info;
}

}  // namespace shoal::core
