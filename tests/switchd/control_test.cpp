// The control socket's transport, against a real unix socket: requests are
// answered in order; garbage, oversized lines, stalling and surplus clients
// get an error or are cut off while the server keeps serving; a stale socket
// is replaced, a live one refused; streaming is bounded and ends cleanly.
#include "switchd/control.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <fstream>
#include <atomic>
#include <future>
#include <string>
#include <thread>

namespace switchd {
namespace {

using namespace std::chrono_literals;

std::string temp_path(const char* name) {
  return ::testing::TempDir() + "vswitchd_control_test_" + std::to_string(::getpid()) + "_" + name;
}

/// A blocking client socket with a receive timeout.
class client {
 public:
  explicit client(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~client() { ::close(fd_); }
  bool connected() const { return connected_; }
  void shut_write() { ::shutdown(fd_, SHUT_WR); }

  bool send(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  /// One line (without '\n'), or "<closed>" / "<timeout>".
  std::string line(std::chrono::milliseconds timeout = 3000ms) {
    while (true) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string l = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return l;
      }
      if (!fill(timeout)) return closed_ ? "<closed>" : "<timeout>";
    }
  }
  /// Exactly n bytes, or fewer when the connection ends first.
  std::string bytes(std::size_t n, std::chrono::milliseconds timeout = 3000ms) {
    while (buffer_.size() < n && fill(timeout)) {
    }
    std::string out = buffer_.substr(0, std::min(n, buffer_.size()));
    buffer_.erase(0, out.size());
    return out;
  }
  /// Whether the server closed the connection within `timeout`.
  bool closed(std::chrono::milliseconds timeout = 3000ms) {
    while (!closed_ && fill(timeout)) buffer_.clear();
    return closed_;
  }

 private:
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffer_;
};

/// A server on its own io thread. The handler answers "echo" with its args,
/// "later" after a while, "stream" by streaming (see below), "throw" by throwing.
class control_test : public ::testing::Test {
 protected:
  void start(std::chrono::milliseconds timeout = 10s) {
    path_ = temp_path(::testing::UnitTest::GetInstance()->current_test_info()->name());
    server_ = std::make_unique<control_server>(
        io_, path_, std::nullopt,
        [this](const std::string& cmd, const nlohmann::json& args,
               const std::shared_ptr<control_client>& c) { handle(cmd, args, c); },
        "--control", timeout);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (thread_.joinable()) {
      boost::asio::post(io_, [this] {
        server_->stop();
        io_.stop();
      });
      thread_.join();
    }
    server_.reset();
  }
  void handle(const std::string& cmd, const nlohmann::json& args, const std::shared_ptr<control_client>& c) {
    if (cmd == "echo") {
      c->reply(args);
    } else if (cmd == "later") {
      // Answered after a while (as uplink add is, after a name lookup).
      auto timer = std::make_shared<boost::asio::steady_timer>(io_, 200ms);
      timer->async_wait([c, timer](const boost::system::error_code&) { c->reply({{"late", true}}); });
    } else if (cmd == "big") {
      c->reply({{"big", std::string(1u << 20, 'b')}});
    } else if (cmd == "throw") {
      throw std::runtime_error("handler bug");
    } else if (cmd == "stream") {
      c->reply({{"streaming", true}}, true);
      streamed_ = c;
      c->on_close([this] { stream_closed_.set_value(); });
      // 1 MiB chunks until the backlog refuses one: the client reads nothing yet.
      const std::vector<std::byte> chunk(1u << 20, std::byte{'x'});
      while (c->stream(chunk, {})) ++accepted_;
      ++refused_;
    } else if (cmd == "end") {
      const std::string tail = "END\n";
      streamed_->end_stream(std::as_bytes(std::span(tail.data(), tail.size())));
    } else {
      c->fail("unknown command " + cmd);
    }
  }

  boost::asio::io_context io_;
  std::string path_;
  std::unique_ptr<control_server> server_;
  std::thread thread_;
  std::shared_ptr<control_client> streamed_;
  std::atomic<int> accepted_ = 0, refused_ = 0;  // set on the io thread
  std::promise<void> stream_closed_;
};

TEST_F(control_test, answers_each_request_in_order_on_one_connection) {
  start();
  client c(path_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("{\"cmd\":\"echo\",\"args\":{\"n\":1}}\n{\"cmd\":\"echo\",\"args\":{\"n\":2}}\n"));
  EXPECT_EQ(nlohmann::json::parse(c.line()), nlohmann::json::parse(R"({"ok":true,"result":{"n":1}})"));
  EXPECT_EQ(nlohmann::json::parse(c.line()), nlohmann::json::parse(R"({"ok":true,"result":{"n":2}})"));
  ASSERT_TRUE(c.send("{\"cmd\":\"echo\"}\r\n"));  // no args, CRLF
  EXPECT_EQ(nlohmann::json::parse(c.line()), nlohmann::json::parse(R"({"ok":true,"result":{}})"));
  ASSERT_TRUE(c.send("{\"cmd\":\"what\"}\n"));
  const auto error = nlohmann::json::parse(c.line());
  EXPECT_EQ(error["ok"], false);
  EXPECT_EQ(error["error"], "unknown command what");
}

TEST_F(control_test, pipelined_requests_are_all_answered_in_order) {
  start();
  client c(path_);
  // 300 requests before reading a single answer: the server answers them one
  // by one as they are read (it holds one answer at a time, not a pile).
  std::string requests;
  for (int i = 0; i < 300; ++i) requests += "{\"cmd\":\"echo\",\"args\":{\"n\":" + std::to_string(i) + "}}\n";
  ASSERT_TRUE(c.send(requests));
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 300; ++i) {
    const std::string line = c.line();
    ASSERT_NE(line, "<timeout>") << i;
    EXPECT_EQ(nlohmann::json::parse(line)["result"]["n"], i);
  }
}

TEST_F(control_test, a_client_that_half_closes_gets_its_whole_answer) {
  start();
  client c(path_);
  // A big answer (as fdb show of a full table would be) to a client that
  // shuts its side right after asking, as `socat` and `nc -U` do.
  ASSERT_TRUE(c.send("{\"cmd\":\"big\"}\n"));
  c.shut_write();
  const std::string line = c.line();
  ASSERT_GT(line.size(), 1u << 20);
  EXPECT_EQ(nlohmann::json::parse(line)["result"]["big"].get<std::string>().size(), 1u << 20);
  EXPECT_TRUE(c.closed());
}

TEST_F(control_test, clients_that_leave_mid_request_leave_the_server_serving) {
  start();
  {
    client half(path_);
    ASSERT_TRUE(half.send("{\"cmd\":"));  // half a request, then gone
  }
  {
    client waiting(path_);
    ASSERT_TRUE(waiting.send("{\"cmd\":\"later\"}\n"));  // gone before the answer comes
  }
  std::this_thread::sleep_for(400ms);  // the late answer finds its client gone
  client c(path_);
  ASSERT_TRUE(c.send("{\"cmd\":\"later\"}\n"));
  EXPECT_EQ(nlohmann::json::parse(c.line())["result"]["late"], true);
}

TEST_F(control_test, the_socket_is_private) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(control_test, malformed_requests_get_an_error_and_the_connection_goes_on) {
  start();
  client c(path_);
  for (const char* bad : {"garbage", "[1,2]", "{\"cmd\": 5}", "{\"nocmd\": 1}",
                          "{\"cmd\": \"echo\", \"args\": [1]}", "\xff\xfe{", "{\"cmd\":\"throw\"}"}) {
    ASSERT_TRUE(c.send(std::string(bad) + "\n"));
    const auto response = nlohmann::json::parse(c.line());
    EXPECT_EQ(response["ok"], false) << bad;
    EXPECT_FALSE(response["error"].get<std::string>().empty()) << bad;
  }
  ASSERT_TRUE(c.send("{\"cmd\":\"echo\",\"args\":{\"still\":\"here\"}}\n"));
  EXPECT_EQ(nlohmann::json::parse(c.line())["result"]["still"], "here");
}

TEST_F(control_test, an_oversized_line_is_refused_and_cut_off) {
  start();
  client c(path_);
  // 10 MB without a newline: the server answers once it has 64 KiB, then closes.
  const std::string huge(10u << 20, 'a');
  c.send(huge);  // may fail part way once the server has closed
  const std::string answer = c.line();
  ASSERT_NE(answer, "<timeout>");
  EXPECT_NE(answer.find("request longer than 65536 bytes"), std::string::npos) << answer;
  EXPECT_TRUE(c.closed());
  client d(path_);
  ASSERT_TRUE(d.send("{\"cmd\":\"echo\"}\n"));
  EXPECT_EQ(nlohmann::json::parse(d.line())["ok"], true);
}

TEST_F(control_test, a_stalled_client_is_cut_off_and_others_are_served_meanwhile) {
  start(300ms);
  client stalled(path_);
  ASSERT_TRUE(stalled.send("{\"cmd\":"));  // half a request, then nothing
  client other(path_);
  ASSERT_TRUE(other.send("{\"cmd\":\"echo\"}\n"));
  EXPECT_EQ(nlohmann::json::parse(other.line())["ok"], true);
  EXPECT_TRUE(stalled.closed(3000ms));
}

TEST_F(control_test, clients_beyond_the_limit_are_closed) {
  start();
  std::vector<std::unique_ptr<client>> clients;
  for (std::size_t i = 0; i < control_server::max_clients; ++i) {
    clients.push_back(std::make_unique<client>(path_));
    ASSERT_TRUE(clients.back()->send("{\"cmd\":\"echo\"}\n"));
    ASSERT_EQ(nlohmann::json::parse(clients.back()->line())["ok"], true);
  }
  client extra(path_);
  EXPECT_TRUE(extra.closed());
  clients.pop_back();  // one leaves: there is room again
  std::string answer = "<closed>";
  for (int attempt = 0; attempt < 50 && answer == "<closed>"; ++attempt) {
    client again(path_);
    again.send("{\"cmd\":\"echo\"}\n");
    answer = again.line();
    if (answer == "<closed>") std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(nlohmann::json::parse(answer)["ok"], true);
}

TEST_F(control_test, streaming_is_bounded_and_ends_with_the_tail) {
  start();
  client c(path_);
  ASSERT_TRUE(c.send("{\"cmd\":\"stream\"}\n"));
  EXPECT_EQ(nlohmann::json::parse(c.line())["result"]["streaming"], true);
  // The handler queued chunks until the backlog limit refused one.
  for (int i = 0; i < 300 && refused_ == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(refused_, 1);
  const std::size_t queued = std::size_t(accepted_) << 20;
  EXPECT_GE(accepted_, 7);
  EXPECT_LE(queued, control_client::max_stream_backlog + (1u << 20));
  const std::string got = c.bytes(queued);
  EXPECT_EQ(got.size(), queued);
  EXPECT_EQ(got.find_first_not_of('x'), std::string::npos);
  client ender(path_);
  ASSERT_TRUE(ender.send("{\"cmd\":\"end\"}\n"));
  const std::string tail = c.line();
  EXPECT_EQ(tail.substr(0, 100), "END");
  EXPECT_TRUE(c.closed());
}

TEST_F(control_test, a_streaming_client_that_leaves_is_noticed) {
  start();
  {
    client c(path_);
    ASSERT_TRUE(c.send("{\"cmd\":\"stream\"}\n"));
    EXPECT_EQ(nlohmann::json::parse(c.line())["ok"], true);
  }  // closed here
  EXPECT_EQ(stream_closed_.get_future().wait_for(3s), std::future_status::ready);
}

TEST(control_server_setup, a_stale_socket_is_replaced_and_a_live_one_refused) {
  boost::asio::io_context io;
  const std::string path = temp_path("stale");
  const auto handler = [](const std::string&, const nlohmann::json&,
                          const std::shared_ptr<control_client>&) {};
  {
    // A socket file nobody listens on (a daemon that was killed).
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ::unlink(path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  control_server first(io, path, std::nullopt, handler);
  try {
    control_server second(io, path, std::nullopt, handler);
    ADD_FAILURE() << "a second server took a live socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("a running process serves this socket (another vswitchd?)"), std::string::npos) << e.what();
  }
  first.stop();
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "stop() removes the socket";
}

TEST(control_server_setup, bad_paths_name_the_option_and_the_fix) {
  boost::asio::io_context io;
  const auto handler = [](const std::string&, const nlohmann::json&,
                          const std::shared_ptr<control_client>&) {};
  const std::string file = temp_path("plainfile");
  std::ofstream(file) << "not a socket";
  const auto error_of = [&](const std::string& path) -> std::string {
    try {
      control_server s(io, path, std::nullopt, handler);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(file).find("--control " + file + ": exists and is not a socket"), std::string::npos);
  EXPECT_NE(error_of(std::string(200, 'x')).find("choose a shorter one"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent-dir/deeper/vswitchd.ctl").find("cannot create the directory"),
            std::string::npos);
  std::remove(file.c_str());
}

}  // namespace
}  // namespace switchd
