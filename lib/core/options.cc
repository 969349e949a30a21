#include <coraft/options.h>

namespace coraft {

std::optional<std::string> protocol_options::validate() const {
  if (heartbeat_interval_ticks == 0) return "heartbeat_interval_ticks must be at least 1";
  if (election_timeout_min_ticks <= heartbeat_interval_ticks)
    return "election_timeout_min_ticks must exceed heartbeat_interval_ticks";
  if (election_timeout_max_ticks <= election_timeout_min_ticks)
    return "election_timeout_max_ticks must exceed election_timeout_min_ticks";
  if (max_inflight_appends == 0) return "max_inflight_appends must be at least 1";
  if (max_inflight_bytes == 0) return "max_inflight_bytes must be at least 1";
  if (max_append_bytes == 0) return "max_append_bytes must be at least 1";
  if (max_apply_bytes == 0) return "max_apply_bytes must be at least 1";
  if (max_unapplied_bytes == 0) return "max_unapplied_bytes must be at least 1";
  if (max_clock_drift_ticks >= election_timeout_min_ticks)
    return "max_clock_drift_ticks must be below election_timeout_min_ticks";
  return std::nullopt;
}

}  // namespace coraft
