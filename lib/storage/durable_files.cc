#include "storage/durable_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace coraft::storage {
namespace {

[[noreturn]] void throw_errno(std::string_view operation, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), std::string(operation) + " '" + path.string() + "'");
}

// Closes the descriptor when the scope ends, also when an exception leaves it.
class file_descriptor {
 public:
  explicit file_descriptor(int descriptor) : descriptor_(descriptor) {}
  file_descriptor(const std::filesystem::path& path, int flags, std::string_view operation)
      : descriptor_(::open(path.c_str(), flags | O_CLOEXEC, 0644)) {
    if (descriptor_ < 0) throw_errno(operation, path);
  }
  ~file_descriptor() { ::close(descriptor_); }
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;

  int get() const { return descriptor_; }

 private:
  int descriptor_;
};

void write_all(const file_descriptor& file, std::string_view contents, const std::filesystem::path& path) {
  while (!contents.empty()) {
    const ssize_t written = ::write(file.get(), contents.data(), contents.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw_errno("write", path);
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace

void sync_path(const std::filesystem::path& path) {
  file_descriptor file(path, O_RDONLY, "open for sync");
  if (::fsync(file.get()) != 0) throw_errno("fsync", path);
}

void sync_directory_with_files(const std::filesystem::path& directory) {
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.is_regular_file()) sync_path(entry.path());
  }
  sync_path(directory);
  sync_path(directory.parent_path());
}

std::optional<std::string> read_small_file(const std::filesystem::path& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0 && errno == ENOENT) return std::nullopt;
  if (descriptor < 0) throw_errno("open", path);
  const file_descriptor file(descriptor);
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t count = ::read(file.get(), buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) throw_errno("read", path);
    if (count == 0) return contents;
    contents.append(buffer, static_cast<std::size_t>(count));
  }
}

std::filesystem::path temporary_path_of(const std::filesystem::path& path) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  return temporary;
}

void replace_file_durably(const std::filesystem::path& path, std::string_view contents,
                          const std::function<void(replace_step)>& after_step) {
  auto reached = [&](replace_step step) {
    if (after_step) after_step(step);
  };
  const std::filesystem::path temporary = temporary_path_of(path);
  {
    file_descriptor file(temporary, O_WRONLY | O_CREAT | O_TRUNC, "create");
    write_all(file, contents, temporary);
    if (::fsync(file.get()) != 0) throw_errno("fsync", temporary);
  }
  reached(replace_step::temporary_synced);
  if (::rename(temporary.c_str(), path.c_str()) != 0) throw_errno("rename over '" + path.string() + "'", temporary);
  reached(replace_step::renamed);
  sync_path(path.parent_path());
  reached(replace_step::directory_synced);
}

}  // namespace coraft::storage
