#include <coraft/in_process_network.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>

namespace coraft {
namespace detail {

enum class fate { deliver, lose, refuse };

// A request's fate, decided when it reaches the network; when delivered, the
// handler's awaitable (created while the handler was certainly attached).
template <class Response>
struct routed_call {
  fate outcome = fate::refuse;
  std::optional<asio::awaitable<Response>> call;
  asio::any_io_executor executor;
  std::uint64_t generation = 0;
};

class in_process_fabric {
 public:
  explicit in_process_fabric(std::uint64_t seed) : random_(seed) {}

  void attach(node_id id, rpc_handler& handler, asio::any_io_executor executor) {
    std::lock_guard lock(mutex_);
    endpoints_[id] = {&handler, std::move(executor), ++last_generation_};
  }

  void detach(node_id id) {
    std::lock_guard lock(mutex_);
    endpoints_.erase(id);
  }

  void detach_all() {
    std::lock_guard lock(mutex_);
    endpoints_.clear();
  }

  template <class Response, class Invoke>
  routed_call<Response> route(node_id from, node_id to, Invoke& invoke) {
    std::lock_guard lock(mutex_);
    routed_call<Response> routed;
    auto target = endpoints_.find(to);
    if (target == endpoints_.end()) {
      ++stats_.refused;
      return routed;
    }
    if (lost(from, to)) {
      routed.outcome = fate::lose;
      return routed;
    }
    ++stats_.delivered;
    routed.outcome = fate::deliver;
    routed.call.emplace(invoke(*target->second.handler));
    routed.executor = target->second.executor;
    routed.generation = target->second.generation;
    return routed;
  }

  // Whether the reply of `to` to a request of `from` is lost.
  bool reply_lost(node_id from, node_id to) {
    std::lock_guard lock(mutex_);
    return lost(to, from);
  }

  std::chrono::microseconds draw_delay() {
    std::lock_guard lock(mutex_);
    if (delay_max_ <= delay_min_) return delay_min_;
    std::uniform_int_distribution<std::int64_t> spread(delay_min_.count(), delay_max_.count());
    return std::chrono::microseconds(spread(random_));
  }

  std::chrono::milliseconds failure_timeout() const {
    std::lock_guard lock(mutex_);
    return failure_timeout_;
  }

  void set_drop_probability(double probability) {
    std::lock_guard lock(mutex_);
    drop_probability_ = std::clamp(probability, 0.0, 1.0);
  }

  void set_delay(std::chrono::microseconds min, std::chrono::microseconds max) {
    std::lock_guard lock(mutex_);
    delay_min_ = std::max(min, std::chrono::microseconds::zero());
    delay_max_ = std::max(max, delay_min_);
  }

  void set_failure_timeout(std::chrono::milliseconds timeout) {
    std::lock_guard lock(mutex_);
    failure_timeout_ = std::max(timeout, std::chrono::milliseconds::zero());
  }

  void cut_one_way(node_id from, node_id to) {
    std::lock_guard lock(mutex_);
    cut_.emplace(from, to);
  }

  void isolate(node_id id) {
    std::lock_guard lock(mutex_);
    isolated_.insert(id);
  }

  void heal() {
    std::lock_guard lock(mutex_);
    cut_.clear();
    isolated_.clear();
  }

  in_process_network::statistics stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  struct endpoint {
    rpc_handler* handler = nullptr;
    asio::any_io_executor executor;
    std::uint64_t generation = 0;  // new at each attach: links then get a fresh strand
  };

  // Whether a message travelling from `from` to `to` is lost. Holds mutex_.
  bool lost(node_id from, node_id to) {
    const bool cut = cut_.contains({from, to}) || isolated_.contains(from) || isolated_.contains(to);
    const bool dropped = drop_probability_ > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < drop_probability_;
    if (cut || dropped) ++stats_.lost;
    return cut || dropped;
  }

  mutable std::mutex mutex_;
  std::map<node_id, endpoint> endpoints_;
  std::uint64_t last_generation_ = 0;
  std::set<std::pair<node_id, node_id>> cut_;  // directed links
  std::set<node_id> isolated_;
  double drop_probability_ = 0;
  std::chrono::microseconds delay_min_{0};
  std::chrono::microseconds delay_max_{0};
  std::chrono::milliseconds failure_timeout_{50};
  std::mt19937_64 random_;
  in_process_network::statistics stats_;
};

}  // namespace detail

namespace {

// The client of one link. Its calls come from one strand (the network
// contract), which is what keeps the ordering state below free of races.
class in_process_client final : public network {
 public:
  in_process_client(std::shared_ptr<detail::in_process_fabric> fabric, node_id self, node_id peer)
      : fabric_(std::move(fabric)), self_(self), peer_(peer) {}

  asio::awaitable<vote_response> vote(vote_request request) override {
    return call<vote_response>(
        [request = std::move(request)](rpc_handler& h) mutable { return h.handle_vote(std::move(request)); });
  }
  asio::awaitable<append_response> append(append_request request) override {
    return call<append_response>(
        [request = std::move(request)](rpc_handler& h) mutable { return h.handle_append(std::move(request)); });
  }
  asio::awaitable<heartbeat_response> heartbeat(heartbeat_request request) override {
    return call<heartbeat_response>(
        [request = std::move(request)](rpc_handler& h) mutable { return h.handle_heartbeat(std::move(request)); });
  }
  asio::awaitable<timeout_now_response> timeout_now(timeout_now_request request) override {
    return call<timeout_now_response>(
        [request = std::move(request)](rpc_handler& h) mutable { return h.handle_timeout_now(std::move(request)); });
  }
  asio::awaitable<read_index_response> read_index(read_index_request request) override {
    return call<read_index_response>(
        [request = std::move(request)](rpc_handler& h) mutable { return h.handle_read_index(std::move(request)); });
  }
  // `data` outlives the call: the caller awaits it.
  asio::awaitable<snapshot_response> install_snapshot(snapshot_request request, snapshot_source& data) override {
    return call<snapshot_response>([request = std::move(request), &data](rpc_handler& h) mutable {
      return h.handle_snapshot(std::move(request), data);
    });
  }

 private:
  template <class Response, class Invoke>
  asio::awaitable<Response> call(Invoke invoke) {
    co_await wait_turn();
    detail::routed_call<Response> routed = fabric_->route<Response>(self_, peer_, invoke);
    if (routed.outcome == detail::fate::refuse) throw failure(std::errc::connection_refused, "is not attached");
    if (routed.outcome == detail::fate::lose) co_await fail_after_timeout("did not answer (request lost)");
    if (!link_ || link_generation_ != routed.generation) {
      link_.emplace(asio::make_strand(routed.executor));
      link_generation_ = routed.generation;
    }
    Response response = co_await asio::co_spawn(*link_, std::move(*routed.call), asio::use_awaitable);
    co_await hold(fabric_->draw_delay());
    if (fabric_->reply_lost(self_, peer_)) co_await fail_after_timeout("did not answer (reply lost)");
    co_return response;
  }

  // Holds a request for its delay while keeping call order: a held request
  // leaves after its delay and after the request before it left. (Timers
  // alone would not do: on a context run by several threads, timers that
  // expire together complete in any order.)
  asio::awaitable<void> wait_turn() {
    const std::chrono::microseconds delay = fabric_->draw_delay();
    if (delay == std::chrono::microseconds::zero() && requests_held_ == 0) co_return;
    auto executor = co_await asio::this_coro::executor;
    std::shared_ptr<departure> before = std::exchange(last_departure_, std::make_shared<departure>(executor, 1));
    std::shared_ptr<departure> mine = last_departure_;
    ++requests_held_;
    co_await hold(delay);
    if (before) co_await before->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    --requests_held_;
    // The caller leaves right after this returns, without suspending, so the
    // next request cannot overtake it.
    mine->try_send(asio::error_code(), true);
  }

  static asio::awaitable<void> hold(std::chrono::microseconds delay) {
    if (delay == std::chrono::microseconds::zero()) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> fail_after_timeout(const char* what) {
    asio::steady_timer timer(co_await asio::this_coro::executor, fabric_->failure_timeout());
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    throw failure(std::errc::timed_out, what);
  }

  std::system_error failure(std::errc code, const char* what) const {
    std::ostringstream message;
    message << "in-process call from " << self_ << " to " << peer_ << ": " << peer_ << " " << what;
    return std::system_error(std::make_error_code(code), message.str());
  }

  std::shared_ptr<detail::in_process_fabric> fabric_;
  node_id self_;
  node_id peer_;
  std::optional<asio::strand<asio::any_io_executor>> link_;  // to the peer's current attachment
  std::uint64_t link_generation_ = 0;
  // Signalled when a held request leaves; the next held request waits for it.
  // Asio 1.22 channels need a value besides the error: the bool carries nothing.
  using departure = asio::experimental::channel<void(asio::error_code, bool)>;
  std::shared_ptr<departure> last_departure_;
  std::size_t requests_held_ = 0;  // requests waiting in wait_turn()
};

class in_process_factory final : public network_factory {
 public:
  in_process_factory(std::shared_ptr<detail::in_process_fabric> fabric, node_id self)
      : fabric_(std::move(fabric)), self_(self) {}

  std::unique_ptr<network> connect(node_id peer, const std::string&) override {
    return std::make_unique<in_process_client>(fabric_, self_, peer);
  }

 private:
  std::shared_ptr<detail::in_process_fabric> fabric_;
  node_id self_;
};

}  // namespace

in_process_network::in_process_network(std::uint64_t seed)
    : fabric_(std::make_shared<detail::in_process_fabric>(seed)) {}

in_process_network::~in_process_network() { fabric_->detach_all(); }

void in_process_network::attach(node_id id, rpc_handler& handler, asio::any_io_executor executor) {
  fabric_->attach(id, handler, std::move(executor));
}

void in_process_network::detach(node_id id) { fabric_->detach(id); }

std::shared_ptr<network_factory> in_process_network::factory_for(node_id self) {
  return std::make_shared<in_process_factory>(fabric_, self);
}

void in_process_network::set_drop_probability(double probability) { fabric_->set_drop_probability(probability); }

void in_process_network::set_delay(std::chrono::microseconds min, std::chrono::microseconds max) {
  fabric_->set_delay(min, max);
}

void in_process_network::set_failure_timeout(std::chrono::milliseconds timeout) {
  fabric_->set_failure_timeout(timeout);
}

void in_process_network::cut(node_id a, node_id b) {
  fabric_->cut_one_way(a, b);
  fabric_->cut_one_way(b, a);
}

void in_process_network::cut_one_way(node_id from, node_id to) { fabric_->cut_one_way(from, to); }

void in_process_network::isolate(node_id id) { fabric_->isolate(id); }

void in_process_network::partition(const std::vector<std::set<node_id>>& groups) {
  for (std::size_t a = 0; a < groups.size(); ++a)
    for (std::size_t b = 0; b < groups.size(); ++b)
      if (a != b)
        for (node_id from : groups[a])
          for (node_id to : groups[b]) fabric_->cut_one_way(from, to);
}

void in_process_network::heal() { fabric_->heal(); }

in_process_network::statistics in_process_network::stats() const { return fabric_->stats(); }

}  // namespace coraft
