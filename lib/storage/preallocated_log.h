// LevelDB's write-ahead log files ("NNNNNN.log") written into space zeroed
// ahead of them.
//
// Why: on ext4 the fdatasync after an append must also write the grown file's
// inode, a third wait after the data and the cache flush; into space the file
// already has, it need not (a loop of small writes and fdatasync sleeps 3.0
// times per write appending against 2.0 overwriting). LevelDB's log format
// reserves record type 0 for such space, and its reader skips it.
//
// The price is paid at recovery: after a crash the file ends in zeros, so a
// record the crash cut short no longer sits at the very end of the file, where
// LevelDB drops it quietly, but before zeros, where LevelDB (with
// paranoid_checks, which coraft sets) reports the log damaged.
// cut_unwritten_tails() puts it back at the end before LevelDB opens the
// database.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

namespace leveldb {
class Env;
}

namespace coraft::storage {

// The real file system, with log files created by growing them 1 MiB of zeros
// at a time ahead of the records. One instance serves every database.
leveldb::Env& preallocating_env();

// How much of the log file `log` to keep: up to the end of its last whole
// record when only unwritten space follows it (zeros, possibly behind one
// record a crash cut short), otherwise all of it, so that damage anywhere else
// still reaches LevelDB, which refuses the log.
std::size_t written_length(std::string_view log);

// Cuts every log file in `directory` to its written_length(), durably.
// Throws std::system_error naming the file when it cannot.
void cut_unwritten_tails(const std::filesystem::path& directory);

}  // namespace coraft::storage
