// What this build of Shoal is: version and build type, printed by every
// executable's --version and by `shoal status`. Thread-safe: constants.
#pragma once

#include <string>

namespace shoal::core {

std::string build_info();

}  // namespace shoal::core
