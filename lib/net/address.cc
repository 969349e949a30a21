#include "net/address.h"

#include <algorithm>
#include <cctype>

namespace coraft::net {
namespace {

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return false;
  }
  return std::stoul(std::string(port)) <= 65535;
}

}  // namespace

std::optional<host_port> split_host_port(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // an IPv6 address needs brackets to tell it from the port
  }
  if (host.empty() || !valid_port(port)) return std::nullopt;
  return host_port{std::string(host), std::string(port)};
}

}  // namespace coraft::net
