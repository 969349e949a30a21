#include "chat_terminal.h"

#include "chat_rules.h"
#include "follower.h"
#include "message_format.h"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>

#include <csignal>
#include <iostream>
#include <optional>

#include <termios.h>
#include <unistd.h>

namespace chatlog {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// How many earlier messages the chat shows when it opens.
constexpr std::uint64_t history_length = 20;
// Lines typed but not yet posted; typing beyond this waits for the cluster.
constexpr std::size_t post_queue_length = 64;
// Queued after the last line typed (typed lines are never empty).
const std::string end_of_input;

// Both ends are a terminal: the chat edits the input line itself.
bool interactive_terminal() { return ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO); }

// The terminal in character mode (no echo, no line buffering) for as long
// as the object lives; signals (Ctrl-C) still work.
class raw_mode {
 public:
  raw_mode() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~raw_mode() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  raw_mode(const raw_mode&) = delete;
  raw_mode& operator=(const raw_mode&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// The screen: messages scroll above a prompt line that holds what the user
// is typing. Interactive only on a terminal; otherwise plain lines.
class screen {
 public:
  screen(bool interactive, std::string prompt) : interactive_(interactive), prompt_(std::move(prompt)) {}

  void show(const std::string& line) {
    if (interactive_) std::cout << "\r\033[2K";
    std::cout << line << "\n";
    redraw();
  }
  void notice(const std::string& text) { show("\033[2;33m-- " + text + "\033[0m"); }
  void redraw() {
    if (interactive_) std::cout << "\r\033[2K" << prompt_ << typed_;
    std::cout << std::flush;
  }

  // Edits the line being typed by one input byte. Returns the line when the
  // byte ends it.
  std::optional<std::string> type(char byte);

 private:
  bool interactive_;
  std::string prompt_;
  std::string typed_;
  // Inside an escape sequence (arrow keys and the like), which are ignored.
  enum class escape { none, started, parameters } escape_ = escape::none;
};

std::optional<std::string> screen::type(char byte) {
  const auto code = static_cast<unsigned char>(byte);
  if (escape_ != escape::none) {
    if (escape_ == escape::started) {
      escape_ = byte == '[' || byte == 'O' ? escape::parameters : escape::none;
    } else if (code >= 0x40 && code <= 0x7e) {
      escape_ = escape::none;
    }
    return std::nullopt;
  }
  if (byte == '\n' || byte == '\r') {
    std::string line = std::exchange(typed_, {});
    redraw();
    return line;
  }
  if (code == 0x7f || code == 0x08) {  // backspace: remove one UTF-8 character
    while (!typed_.empty() && (static_cast<unsigned char>(typed_.back()) & 0xc0) == 0x80) typed_.pop_back();
    if (!typed_.empty()) typed_.pop_back();
  } else if (code == 0x15) {  // Ctrl-U
    typed_.clear();
  } else if (code == 0x1b) {
    escape_ = escape::started;
  } else if (code >= 0x20) {
    typed_ += byte;
  }
  redraw();
  return std::nullopt;
}

class chat_session {
 public:
  chat_session(asio::io_context& io, const client_options& options, std::string room, std::string user)
      : io_(io),
        options_(options),
        room_(std::move(room)),
        user_(std::move(user)),
        interactive_(interactive_terminal()),
        screen_(interactive_, "\033[1m" + room_ + "\033[0m " + user_ + "> "),
        client_(io.get_executor(), options),
        input_(io, ::dup(STDIN_FILENO)),
        to_post_(io, post_queue_length) {}

  asio::awaitable<void> run();
  int status() const { return status_; }

 private:
  asio::awaitable<std::uint64_t> show_history();
  asio::awaitable<void> read_input();
  asio::awaitable<void> post_typed();
  asio::awaitable<void> submit(std::string line);
  void show(const json& message) {
    screen_.show(format_message(message, message.value("user", std::string()) == user_, true));
  }
  void finish(int status) {
    status_ = status;
    io_.stop();
  }

  asio::io_context& io_;
  client_options options_;
  std::string room_;
  std::string user_;
  bool interactive_;
  screen screen_;
  cluster_client client_;
  asio::posix::stream_descriptor input_;
  // Lines to post, in the order typed, then end_of_input.
  asio::experimental::channel<void(asio::error_code, std::string)> to_post_;
  std::uint64_t client_id_ = new_client_id();
  std::uint64_t sequence_ = 0;
  int status_ = 0;
};

asio::awaitable<void> chat_session::run() {
  std::uint64_t next = 0;
  try {
    next = co_await show_history();
  } catch (const unavailable_error& error) {
    std::cerr << "chatlog chat: " << error.what() << "\n";
    finish(1);
    co_return;
  }
  follow_callbacks callbacks{[this](const json& message) { show(message); },
                             [this](const std::string& text) { screen_.notice(text); }};
  asio::co_spawn(io_, follow_room(options_, room_, next, std::move(callbacks)), [this](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& failure) {
      std::cerr << "\nchatlog chat: " << failure.what() << "\n";
    }
    finish(1);
  });
  asio::co_spawn(io_, post_typed(), [this](std::exception_ptr) { finish(status_); });
  co_await read_input();
}

// Prints the room's last messages and answers the sequence number after them.
asio::awaitable<std::uint64_t> chat_session::show_history() {
  const json request = {{"op", "tail"}, {"room", room_}, {"last", history_length}};
  const json reply = co_await client_.call(request);
  if (!reply.value("ok", false)) throw unavailable_error(reply.value("message", std::string("tail refused")));
  for (const json& message : reply.at("messages")) show(message);
  screen_.notice("you are " + user_ + " in " + room_ + "; /quit or Ctrl-D leaves");
  co_return reply.at("last").get<std::uint64_t>() + 1;
}

asio::awaitable<void> chat_session::read_input() {
  char bytes[512];
  bool quit = false;
  while (!quit) {
    auto [error, length] = co_await input_.async_read_some(asio::buffer(bytes), as_tuple_awaitable);
    for (std::size_t i = 0; i < length && !quit; ++i) {
      const bool ctrl_d = bytes[i] == 0x04 && interactive_;
      std::optional<std::string> line = ctrl_d ? std::optional<std::string>("/quit") : screen_.type(bytes[i]);
      if (!line) continue;
      quit = *line == "/quit";
      if (!quit) co_await submit(std::move(*line));
    }
    quit = quit || error;
  }
  // The poster finishes what was typed, then ends the chat.
  co_await to_post_.async_send(asio::error_code(), end_of_input, as_tuple_awaitable);
}

asio::awaitable<void> chat_session::submit(std::string line) {
  if (line.find_first_not_of(' ') == std::string::npos) co_return;
  if (auto problem = check_text(line)) {
    screen_.notice("not sent: " + *problem);
    co_return;
  }
  co_await to_post_.async_send(asio::error_code(), std::move(line), as_tuple_awaitable);
}

// Posts the typed lines one after the other, each with the next sequence
// number of this chat's session, so that retries never post a line twice.
asio::awaitable<void> chat_session::post_typed() {
  for (;;) {
    auto [error, text] = co_await to_post_.async_receive(as_tuple_awaitable);
    if (error || text == end_of_input) co_return;
    const json request = {{"op", "post"}, {"room", room_}, {"user", user_}, {"text", text},
                          {"client", client_id_}, {"seq", ++sequence_}};
    try {
      const json reply = co_await client_.call(request);
      if (!reply.value("ok", false)) screen_.notice("not sent: " + reply.value("message", reply.value("error", std::string())));
    } catch (const unavailable_error& error) {
      screen_.notice(std::string("not sent: ") + error.what());
      status_ = 1;
    }
  }
}

}  // namespace

int run_chat(const client_options& options, const std::string& room, const std::string& user) {
  if (auto problem = check_room(room)) {
    std::cerr << "chatlog chat: " << *problem << "\n";
    return 2;
  }
  if (auto problem = check_user(user)) {
    std::cerr << "chatlog chat: " << *problem << "\n";
    return 2;
  }
  asio::io_context io;
  chat_session session(io, options, room, user);
  std::optional<raw_mode> terminal;
  if (interactive_terminal()) terminal.emplace();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](std::error_code, int) { io.stop(); });
  asio::co_spawn(io, session.run(), [&io](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& failure) {
      std::cerr << "\nchatlog chat: " << failure.what() << "\n";
    }
    io.stop();
  });
  io.run();
  std::cout << "\n" << std::flush;
  return session.status();
}

}  // namespace chatlog
