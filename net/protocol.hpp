// The wire protocol's fixed facts: the protocol versions this build speaks.
// Messages and the transport arrive with the node; these constants are here
// first because stored formats and handshakes name them. Thread-safe: constants.
#pragma once

#include <cstdint>

namespace shoal::net {

inline constexpr std::uint32_t kProtocolVersionMin = 1;
inline constexpr std::uint32_t kProtocolVersionMax = 1;

bool protocol_version_supported(std::uint32_t version);

}  // namespace shoal::net
