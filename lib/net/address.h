// "host:port" addresses as they appear in configuration and membership.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace coraft::net {

struct host_port {
  std::string host;  // a name or an IP address, without brackets
  std::string port;  // decimal, 0 to 65535
};

// Splits "host:port"; an IPv6 host is written in brackets ("[::1]:7001").
// nullopt when the address has no host or no valid port.
std::optional<host_port> split_host_port(std::string_view address);

}  // namespace coraft::net
