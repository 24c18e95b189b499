#include "net/protocol.hpp"

namespace shoal::net {

bool protocol_version_supported(std::uint32_t version) {
  return version >= kProtocolVersionMin && version <= kProtocolVersionMax;
}

}  // namespace shoal::net
