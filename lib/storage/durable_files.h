// Small files and directories made durable with fsync, for state that LevelDB
// does not keep itself. Failures throw std::system_error carrying errno and
// naming the path.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace coraft::storage {

// Flushes a file's or a directory's contents (for a directory: its entries) to the disk.
void sync_path(const std::filesystem::path& path);

// Syncs every file directly inside `directory`, then `directory` and its parent,
// so that the directory, its entries and their contents survive a crash.
void sync_directory_with_files(const std::filesystem::path& directory);

// The contents of a small file, or nullopt when it does not exist.
std::optional<std::string> read_small_file(const std::filesystem::path& path);

// How far replace_file_durably has come; a crash after a step leaves the old
// contents (temporary_synced), either (renamed) or the new (directory_synced).
enum class replace_step { temporary_synced, renamed, directory_synced };

// Replaces the contents of `path` so that a crash leaves the old or the new
// contents whole: writes `path`.tmp, syncs it, renames it over `path` and syncs
// the directory. `after_step` (when set) is called after each step.
void replace_file_durably(const std::filesystem::path& path, std::string_view contents,
                          const std::function<void(replace_step)>& after_step = {});

// The temporary name replace_file_durably writes first.
std::filesystem::path temporary_path_of(const std::filesystem::path& path);

}  // namespace coraft::storage
