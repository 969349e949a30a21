#include <coraft/memory_kv_state_machine.h>

#include <algorithm>
#include <system_error>
#include <utility>

namespace coraft {
namespace {

[[noreturn]] void throw_invalid(const std::string& what) {
  throw std::system_error(std::make_error_code(std::errc::invalid_argument), "memory kv state machine: " + what);
}

class string_source final : public snapshot_source {
 public:
  string_source(std::shared_ptr<const std::string> data, std::size_t chunk_bytes)
      : data_(std::move(data)), chunk_bytes_(chunk_bytes) {}

  asio::awaitable<std::optional<std::string>> next_chunk() override {
    if (offset_ >= data_->size()) co_return std::nullopt;
    const std::size_t length = std::min(chunk_bytes_, data_->size() - offset_);
    std::string chunk = data_->substr(offset_, length);
    offset_ += length;
    co_return chunk;
  }

 private:
  std::shared_ptr<const std::string> data_;
  std::size_t chunk_bytes_;
  std::size_t offset_ = 0;
};

}  // namespace

class memory_kv_state_machine::receiver final : public snapshot_sink {
 public:
  receiver(memory_kv_state_machine& machine, snapshot_meta meta) : machine_(machine), meta_(std::move(meta)) {}

  asio::awaitable<void> write_chunk(std::string chunk) override {
    data_ += chunk;
    co_return;
  }

  asio::awaitable<void> finish() override {
    std::optional<kv::store> store = kv::store::decode_snapshot(data_);
    if (!store) throw_invalid("the received snapshot is incomplete or corrupt");
    machine_.stage({meta_, std::make_shared<const std::string>(std::move(data_)), std::move(*store)});
    co_return;
  }

 private:
  memory_kv_state_machine& machine_;
  snapshot_meta meta_;
  std::string data_;
};

memory_kv_state_machine::memory_kv_state_machine(std::size_t snapshot_chunk_bytes)
    : chunk_bytes_(std::max<std::size_t>(snapshot_chunk_bytes, 1)) {}

std::string memory_kv_state_machine::get(std::string_view key) const {
  std::lock_guard lock(mutex_);
  return store_.get(key);
}

kv::store memory_kv_state_machine::contents() const {
  std::lock_guard lock(mutex_);
  return store_;
}

applied_state memory_kv_state_machine::applied() const {
  std::lock_guard lock(mutex_);
  return applied_;
}

asio::awaitable<applied_state> memory_kv_state_machine::read_applied_state() { co_return applied(); }

asio::awaitable<std::vector<std::string>> memory_kv_state_machine::apply(std::vector<log_entry> entries) {
  std::vector<std::string> answers;
  answers.reserve(entries.size());
  std::lock_guard lock(mutex_);
  for (const log_entry& entry : entries) answers.push_back(apply_entry(entry));
  co_return answers;
}

// Precondition: the caller holds mutex_.
std::string memory_kv_state_machine::apply_entry(const log_entry& entry) {
  applied_.last_applied = entry.id();
  switch (entry.kind) {
    case entry_kind::command: {
      const std::optional<kv::command_view> command = kv::decode_view(entry.payload.view());
      return command ? store_.apply(*command) : "error: not a key-value command";
    }
    case entry_kind::membership:
      if (auto config = decode_membership(entry.payload.view())) applied_.config = std::move(*config);
      return {};
    case entry_kind::noop: return {};
  }
  return {};
}

asio::awaitable<std::string> memory_kv_state_machine::query(std::string request) {
  std::optional<kv::command> command = kv::decode(request);
  if (!command || command->op != kv::operation::get) co_return "error: a query must be an encoded get";
  co_return get(command->key);
}

asio::awaitable<snapshot_meta> memory_kv_state_machine::build_snapshot() {
  std::lock_guard lock(mutex_);
  snapshot_meta meta{applied_.last_applied, applied_.config};
  snapshot_ = snapshot{meta, std::make_shared<const std::string>(store_.encode_snapshot())};
  co_return meta;
}

asio::awaitable<std::optional<snapshot_meta>> memory_kv_state_machine::current_snapshot() {
  std::lock_guard lock(mutex_);
  if (!snapshot_) co_return std::nullopt;
  co_return snapshot_->meta;
}

asio::awaitable<std::unique_ptr<snapshot_source>> memory_kv_state_machine::open_snapshot() {
  std::lock_guard lock(mutex_);
  if (!snapshot_) throw_invalid("there is no snapshot to open");
  co_return std::make_unique<string_source>(snapshot_->data, chunk_bytes_);
}

asio::awaitable<std::unique_ptr<snapshot_sink>> memory_kv_state_machine::begin_receive_snapshot(snapshot_meta meta) {
  co_return std::make_unique<receiver>(*this, std::move(meta));
}

void memory_kv_state_machine::stage(received snapshot) {
  std::lock_guard lock(mutex_);
  received_ = std::move(snapshot);
}

asio::awaitable<void> memory_kv_state_machine::install_received_snapshot(snapshot_meta meta) {
  std::lock_guard lock(mutex_);
  if (!received_ || received_->meta != meta) throw_invalid("no finished snapshot matches the one to install");
  store_ = std::move(received_->store);
  applied_ = {meta.last_included, meta.config};
  snapshot_ = snapshot{meta, std::move(received_->data)};
  received_.reset();
  co_return;
}

}  // namespace coraft
