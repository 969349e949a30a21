#include "storage/preallocated_log.h"

#include "core/codec.h"
#include "net/crc32c.h"
#include "storage/durable_files.h"

#include <leveldb/env.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace coraft::storage {
namespace {

// LevelDB's log format (doc/log_format.md): 32 KiB blocks of records, each a
// 7-byte header (masked CRC-32C of type and data, 2-byte length, type) and its
// data; a block's last bytes too few for a header are zero padding.
constexpr std::size_t block_bytes = 32 << 10;
constexpr std::size_t crc_bytes = 4;
constexpr std::size_t length_bytes = 2;
constexpr std::size_t type_offset = crc_bytes + length_bytes;
constexpr std::size_t header_bytes = type_offset + 1;
constexpr unsigned last_record_type = 4;  // FULL 1, FIRST 2, MIDDLE 3, LAST 4
constexpr std::uint32_t crc_mask_delta = 0xa282ead8u;

// Writes stop at a sector's edge when a crash interrupts them.
constexpr std::size_t sector_bytes = 512;

constexpr std::size_t zeroed_chunk_bytes = 1 << 20;
// LevelDB flushes after every record; larger runs of appends are written in pieces.
constexpr std::size_t buffered_bytes = 64 << 10;

std::uint32_t unmasked_crc(std::string_view log, std::size_t at) {
  const auto rotated = static_cast<std::uint32_t>(codec::load_little_endian(log.substr(at), crc_bytes) - crc_mask_delta);
  return (rotated >> 17) | (rotated << 15);
}

// Where the record at `at` ends by its header; a header cut short claims at least itself.
std::size_t claimed_end(std::string_view log, std::size_t at) {
  if (at + header_bytes > log.size()) return at + header_bytes;
  return at + header_bytes + codec::load_little_endian(log.substr(at + crc_bytes), length_bytes);
}

// The end of the whole, intact record at `at`, or nullopt when none starts there.
std::optional<std::size_t> record_end(std::string_view log, std::size_t at) {
  const std::size_t limit = std::min(log.size(), (at / block_bytes + 1) * block_bytes);
  const std::size_t end = claimed_end(log, at);
  if (end > limit) return std::nullopt;
  const unsigned type = static_cast<unsigned char>(log[at + type_offset]);
  if (type == 0 || type > last_record_type) return std::nullopt;
  if (net::crc32c(0, log.substr(at + type_offset, end - at - type_offset)) != unmasked_crc(log, at)) return std::nullopt;
  return end;
}

// Where the record after one ending at `at` starts.
std::size_t next_record_start(std::size_t at) {
  const std::size_t left_in_block = block_bytes - at % block_bytes;
  return left_in_block < header_bytes ? at + left_in_block : at;
}

std::size_t round_up_to_sector(std::size_t offset) { return (offset + sector_bytes - 1) / sector_bytes * sector_bytes; }

leveldb::Status io_error(const std::string& file, int error) {
  return leveldb::Status::IOError(file, std::strerror(error));
}

bool is_log_file(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return path.extension() == ".log" && name.size() > 4 &&
         name.find_first_not_of("0123456789") == name.size() - path.extension().string().size();
}

// A log file that grows zeroed_chunk_bytes of zeros at a time before the
// records reach that space. Invariant: written_ <= zeroed_.
class preallocated_file final : public leveldb::WritableFile {
 public:
  preallocated_file(std::string name, int descriptor) : name_(std::move(name)), descriptor_(descriptor) {}
  ~preallocated_file() override {
    if (descriptor_ >= 0) ::close(descriptor_);
  }

  leveldb::Status Append(const leveldb::Slice& data) override {
    pending_.append(data.data(), data.size());
    return pending_.size() >= buffered_bytes ? Flush() : leveldb::Status::OK();
  }

  leveldb::Status Flush() override {
    if (pending_.empty()) return leveldb::Status::OK();
    if (auto status = zero_up_to(written_ + pending_.size()); !status.ok()) return status;
    if (auto status = write_at(pending_, written_); !status.ok()) return status;
    written_ += pending_.size();
    pending_.clear();
    return leveldb::Status::OK();
  }

  // One fdatasync covers the records and any zeroed space written since the
  // last one, with the size it gave the file.
  leveldb::Status Sync() override {
    if (auto status = Flush(); !status.ok()) return status;
    if (::fdatasync(descriptor_) != 0) return io_error(name_, errno);
    return leveldb::Status::OK();
  }

  // The zeroed space stays; cut_unwritten_tails() removes it at the next open.
  leveldb::Status Close() override {
    leveldb::Status status = Flush();
    if (::close(std::exchange(descriptor_, -1)) != 0 && status.ok()) status = io_error(name_, errno);
    return status;
  }

 private:
  leveldb::Status zero_up_to(std::size_t end) {
    static const std::string zeros(zeroed_chunk_bytes, '\0');
    while (zeroed_ < end) {
      if (auto status = write_at(zeros, zeroed_); !status.ok()) return status;
      zeroed_ += zeros.size();
    }
    return leveldb::Status::OK();
  }

  leveldb::Status write_at(std::string_view bytes, std::size_t offset) {
    while (!bytes.empty()) {
      const ssize_t done = ::pwrite(descriptor_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
      if (done < 0 && errno == EINTR) continue;
      if (done < 0) return io_error(name_, errno);
      bytes.remove_prefix(static_cast<std::size_t>(done));
      offset += static_cast<std::size_t>(done);
    }
    return leveldb::Status::OK();
  }

  std::string name_;
  int descriptor_;
  std::string pending_;      // appended, not yet written
  std::size_t written_ = 0;  // bytes of records in the file
  std::size_t zeroed_ = 0;   // the file's size: records, then zeros
};

class preallocating_env_type final : public leveldb::EnvWrapper {
 public:
  preallocating_env_type() : EnvWrapper(leveldb::Env::Default()) {}

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** result) override {
    if (!is_log_file(name)) return target()->NewWritableFile(name, result);
    *result = nullptr;
    const int descriptor = ::open(name.c_str(), O_TRUNC | O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (descriptor < 0) return io_error(name, errno);
    *result = new preallocated_file(name, descriptor);
    return leveldb::Status::OK();
  }
};

}  // namespace

leveldb::Env& preallocating_env() {
  static preallocating_env_type env;
  return env;
}

std::size_t written_length(std::string_view log) {
  std::size_t end = 0;
  while (auto next = record_end(log, next_record_start(end))) end = *next;
  const std::size_t last_nonzero = log.find_last_not_of('\0');
  const std::size_t zeros_from = last_nonzero == std::string_view::npos ? 0 : last_nonzero + 1;
  if (zeros_from <= end) return end;
  // Something follows the last whole record. A record cut short by a crash
  // was written up to a sector's edge and no further, so that edge falls
  // before the end its header claims; anything else is damage.
  const std::size_t cut_short_at = round_up_to_sector(zeros_from);
  return cut_short_at < claimed_end(log, next_record_start(end)) ? end : log.size();
}

void cut_unwritten_tails(const std::filesystem::path& directory) {
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (!entry.is_regular_file() || !is_log_file(entry.path())) continue;
    const std::string log = read_small_file(entry.path()).value_or(std::string());
    const std::size_t keep = written_length(log);
    if (keep == log.size()) continue;
    std::filesystem::resize_file(entry.path(), keep);
    sync_path(entry.path());
  }
}

}  // namespace coraft::storage
