#include "transports/ofi/fabric_probe.hpp"

#include <filesystem>
#include <string_view>
#include <system_error>

namespace banyan::transport::ofi {
namespace {

// The first entry of `directory` whose name starts with `prefix` ("" for any).
std::string firstEntry(const std::filesystem::path& directory, std::string_view prefix) {
  std::error_code error;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0) return it->path().string();
  }
  return {};
}

}  // namespace

FabricDevice findFabricDevice(const std::string& root) {
  const std::filesystem::path base = root.empty() ? std::filesystem::path("/") : std::filesystem::path(root);
  static constexpr std::pair<const char*, const char*> kPlaces[] = {
      {"sys/class/infiniband", ""}, {"sys/class/cxi", ""}, {"dev", "hfi1"}, {"dev", "ipath"}, {"dev", "kgni"},
  };
  for (const auto& [directory, prefix] : kPlaces) {
    std::string found = firstEntry(base / directory, prefix);
    if (!found.empty()) return FabricDevice{true, std::move(found)};
  }
  return {};
}

}  // namespace banyan::transport::ofi
