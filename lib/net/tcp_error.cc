#include <coraft/tcp_network.h>

namespace coraft {
namespace {

class tcp_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coraft.tcp"; }

  std::string message(int value) const override {
    switch (static_cast<tcp_error>(value)) {
      case tcp_error::cluster_mismatch: return "peer refused: cluster id mismatch";
      case tcp_error::wrong_receiver: return "peer refused: it is not the node addressed";
      case tcp_error::unsupported_version: return "peer refused: unsupported protocol version";
      case tcp_error::invalid_sender: return "peer refused: invalid sender node id";
      case tcp_error::handshake_failed: return "handshake failed";
      case tcp_error::frame_too_large: return "frame too large";
      case tcp_error::malformed_frame: return "malformed frame";
      case tcp_error::truncated_frame: return "truncated frame";
      case tcp_error::call_timeout: return "call timed out";
      case tcp_error::backing_off: return "peer unreachable, waiting before reconnecting";
      case tcp_error::unknown_address: return "no address known for peer";
      case tcp_error::remote_failure: return "peer failed to handle the request";
      case tcp_error::snapshot_corrupt: return "snapshot data corrupt";
      case tcp_error::snapshot_incomplete: return "snapshot stream incomplete";
      case tcp_error::closed: return "closed";
    }
    return "unknown tcp error";
  }
};

}  // namespace

const std::error_category& tcp_category() {
  static const tcp_error_category category;
  return category;
}

std::error_code make_error_code(tcp_error error) { return {static_cast<int>(error), tcp_category()}; }

}  // namespace coraft
