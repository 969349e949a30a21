#include <coraft/error.h>

namespace coraft {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coraft"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::not_leader: return "not the leader";
      case errc::overloaded: return "overloaded";
      case errc::shutting_down: return "shutting down";
      case errc::timeout: return "timed out";
      case errc::leadership_lost: return "leadership lost before the entry committed";
      case errc::transfer_in_progress: return "leadership transfer in progress";
      case errc::membership_change_in_progress: return "a membership change is in progress";
      case errc::not_member: return "not a member";
      case errc::storage_failed: return "storage failed";
      case errc::invalid_argument: return "invalid argument";
    }
    return "unknown coraft error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace coraft
