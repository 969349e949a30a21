// Reading and writing recorded client histories.
//
// JSON lines: the format of the nemesis harness and of coraft-lincheck. One
// key-value operation per line, a JSON object with these members (others are
// ignored; strings are UTF-8):
//   "client"    integer, the client that ran the operation (one open operation per client)
//   "kind"      "get", "put" or "append"
//   "key"       string
//   "value"     string, the argument of put or append; null for get
//   "invoke"    integer, when the client sent the request
//   "complete"  integer, when the answer arrived; null when the outcome is
//               unknown (timeout, crash, no answer): the operation may then
//               have taken effect at any time after its invocation, or never
//   "output"    string, the value a get returned (a missing key reads "");
//               null for put and append, and for a get without an answer
// Times come from one clock per file (nanoseconds, simulated ticks) and
// invoke <= complete. Empty lines are ignored; the order of lines does not
// matter. Example:
//   {"client":1,"kind":"put","key":"x","value":"a","invoke":100,"complete":180,"output":null}
//   {"client":2,"kind":"get","key":"x","value":null,"invoke":150,"complete":210,"output":"a"}
//   {"client":3,"kind":"append","key":"x","value":"b","invoke":160,"complete":null,"output":null}
//
// Also readers for the two formats of the recorded corpus (see the README of
// the linearizability test data): the kv histories, one EDN map per event, and
// Jepsen's etcd logs of a compare-and-set register. In both an event's time is
// its line number, and an invocation without a completion has an unknown
// outcome.
#pragma once

#include <iosfwd>
#include <span>
#include <stdexcept>
#include <vector>

#include "linearizability.h"

namespace coraft::lin {

// Malformed input; the message names the line.
class history_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::vector<kv_operation> read_json_lines(std::istream& in);
void write_json_lines(std::ostream& out, std::span<const kv_operation> history);

// Lines like {:process 3, :type :invoke, :f :append, :key "k", :value "v"}.
// :ok completes the process's open operation, :fail drops it (it had no
// effect) and :info leaves its outcome unknown.
std::vector<kv_operation> read_edn_kv_history(std::istream& in);

// Lines like "INFO  jepsen.util - 3	:ok	:cas	[1 4]"; lines of other
// loggers and of non-numeric processes (the nemesis) are skipped.
std::vector<register_operation> read_jepsen_register_history(std::istream& in);

}  // namespace coraft::lin
