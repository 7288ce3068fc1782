// vswitchctl: main(), the control socket (one request, one answer, under
// --timeout) and the capture loop (the answer, then pcap records copied
// verbatim to a file until the end marker or Ctrl-C). The command line and
// the output formats are in ctl_format.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "switchd/ctl_format.hpp"

namespace {

using vswitchctl::json;
using steady = std::chrono::steady_clock;

/// Something that ends the run with exit 1; the message follows "vswitchctl: ".
class failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string error_text(int err) { return std::strerror(err); }

/// "10 s", "0.5 s".
std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s == std::floor(s) ? "%.0f s" : "%g s", s);
  return buf;
}

/// The time `seconds` from now.
steady::time_point deadline_after(double seconds) {
  return steady::now() +
         std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
}

/// Milliseconds left until `deadline` for poll(), at least 0.
int ms_left(steady::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000'000));
}

/// Bytes read from a socket and not consumed yet.
class byte_buffer {
 public:
  std::span<const std::uint8_t> bytes() const { return {data_.data() + start_, end_ - start_}; }
  void consume(std::size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  /// Free space after the bytes, at least `want` bytes of it.
  std::span<std::uint8_t> room(std::size_t want) {
    if (data_.size() - end_ < want && start_ > 0) {
      std::memmove(data_.data(), data_.data() + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    if (data_.size() - end_ < want) data_.resize(end_ + want);
    return {data_.data() + end_, data_.size() - end_};
  }
  void commit(std::size_t n) { end_ += n; }

 private:
  std::vector<std::uint8_t> data_;
  std::size_t start_ = 0;  ///< first unconsumed byte
  std::size_t end_ = 0;    ///< one past the last byte read
};

/// The longest answer line accepted (a show of thousands of ports fits).
constexpr std::size_t max_line_size = 64u << 20;

/// A connection to the control socket.
class connection {
 public:
  /// Connects to `path`, giving up at `deadline`; throws failure.
  connection(const std::string& path, steady::time_point deadline, double timeout_s)
      : path_(path), timeout_s_(timeout_s) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw failure("cannot create a unix socket (" + error_text(errno) + ")");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // parse_args has checked that the path fits.
    std::memcpy(addr.sun_path, path.c_str(), std::min(path.size() + 1, sizeof addr.sun_path));
    // A blocking connect to a unix socket waits (while the daemon's backlog
    // is full) for at most SO_SNDTIMEO.
    const int ms = std::max(ms_left(deadline), 1);
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    do {
      rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      const int err = errno;
      ::close(fd_);
      if (err == EAGAIN || err == EINPROGRESS || err == ETIMEDOUT) {
        throw failure("vswitchd at " + path + " did not take the connection within " +
                      seconds_text(timeout_s) + " (--timeout); it is busy or stuck");
      }
      if (err == EACCES || err == EPERM) {
        throw failure("cannot connect to " + path + " (" + error_text(err) +
                      "); the control socket is for root or vswitchd's --user: run as one of "
                      "them (e.g. with sudo)");
      }
      throw failure("cannot connect to " + path + " (" + error_text(err) +
                    "); is vswitchd running? Give its --control PATH with --control");
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~connection() { close(); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int fd() const { return fd_; }
  byte_buffer& buffer() { return buffer_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  /// Sends all of `line` by `deadline`; throws failure.
  void send(const std::string& line, steady::time_point deadline) {
    std::size_t sent = 0;
    while (sent < line.size()) {
      const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait(POLLOUT, deadline);
      } else if (n < 0 && errno != EINTR) {
        throw failure("cannot send the request to vswitchd at " + path_ + " (" + error_text(errno) +
                      ")");
      }
    }
  }

  /// Reads one line (without its '\n') by `deadline`; bytes after it stay in
  /// buffer(). Throws failure on timeout or error, and failure(at_end) at the
  /// end of the stream.
  std::string read_line(steady::time_point deadline, const std::string& at_end) {
    std::size_t scanned = 0;
    for (;;) {
      const auto bytes = buffer_.bytes();
      const auto newline = std::find(bytes.begin() + static_cast<std::ptrdiff_t>(scanned),
                                     bytes.end(), std::uint8_t{'\n'});
      if (newline != bytes.end()) {
        std::string line(bytes.begin(), newline);
        buffer_.consume(line.size() + 1);
        return line;
      }
      scanned = bytes.size();
      if (scanned > max_line_size) {
        throw failure("the answer from vswitchd is longer than " +
                      std::to_string(max_line_size >> 20) + " MiB; not reading it");
      }
      wait(POLLIN, deadline);
      if (fill() == 0) throw failure(at_end);
    }
  }

  /// Reads what is there into buffer() (at least `want` bytes of room);
  /// returns the count, 0 at the end of the stream, or -1 (EAGAIN).
  ssize_t fill(std::size_t want = 64 * 1024) {
    auto room = buffer_.room(want);
    for (;;) {
      const ssize_t n = ::read(fd_, room.data(), room.size());
      if (n >= 0) {
        buffer_.commit(static_cast<std::size_t>(n));
        return n;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
      if (errno != EINTR) {
        throw failure("cannot read from vswitchd at " + path_ + " (" + error_text(errno) + ")");
      }
    }
  }

 private:
  /// Waits until the socket is ready for `events`, or throws failure at `deadline`.
  void wait(short events, steady::time_point deadline) {
    for (;;) {
      pollfd p{fd_, events, 0};
      const int rc = ::poll(&p, 1, ms_left(deadline));
      if (rc > 0) return;
      if (rc == 0) {
        throw failure("no answer from vswitchd at " + path_ + " within " +
                      seconds_text(timeout_s_) +
                      " (--timeout); it may be busy or stuck: try again, or raise --timeout");
      }
      if (errno != EINTR) throw failure("poll: " + error_text(errno));
    }
  }

  std::string path_;
  double timeout_s_;
  int fd_ = -1;
  byte_buffer buffer_;
};

const std::string no_answer =
    "vswitchd closed the connection without answering (it serves 16 clients at once; try again)";

/// Writes all of `data` to `fd`; returns 0 or the errno.
int write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

std::string dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

/// The answer line, checked: {"ok": true, "result": ...} or {"ok": false, "error": ...}.
json parse_response(const std::string& line) {
  json response;
  try {
    response = json::parse(line);
  } catch (const json::exception&) {
    throw failure("bad answer from vswitchd (not JSON): " + line.substr(0, 200));
  }
  if (!response.is_object() || !response.contains("ok") || !response["ok"].is_boolean()) {
    throw failure("bad answer from vswitchd (no \"ok\"): " + line.substr(0, 200));
  }
  return response;
}

/// For an ok:false answer: prints the error (and with --json, the answer) and returns 1.
int report_refusal(const vswitchctl::invocation& inv, const json& response) {
  const json error = response.value("error", json("(no message)"));
  const std::string message = error.is_string() ? error.get<std::string>() : error.dump();
  std::fprintf(stderr, "vswitchctl: %s\n", message.c_str());
  if (inv.as_json) print(dump(json{{"ok", false}, {"error", message}}) + "\n");
  return 1;
}

int run_command(const vswitchctl::invocation& inv) {
  const auto deadline = deadline_after(inv.timeout_s);
  connection conn(inv.control, deadline, inv.timeout_s);
  conn.send(vswitchctl::request_line(inv), deadline);
  const json response = parse_response(conn.read_line(deadline, no_answer));
  conn.close();
  if (!response["ok"].get<bool>()) return report_refusal(inv, response);
  const json result = response.value("result", json::object());
  if (inv.as_json) {
    print(dump(result) + "\n");
  } else {
    print(vswitchctl::format_result(inv.request["cmd"].get<std::string>(), result));
  }
  return 0;
}

// --- capture -----------------------------------------------------------------

volatile sig_atomic_t stop_signal = 0;

extern "C" void on_stop_signal(int sig) { stop_signal = sig; }

/// Blocks SIGINT and SIGTERM (they set stop_signal when delivered); returns
/// the mask to wait with, in which they are open.
sigset_t block_stop_signals() {
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  sigset_t waiting_mask;
  ::sigprocmask(SIG_BLOCK, &stop_set, &waiting_mask);
  sigdelset(&waiting_mask, SIGINT);
  sigdelset(&waiting_mask, SIGTERM);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  return waiting_mask;
}

/// Copies whole records from `conn` to `out` until the end marker (nullopt)
/// or an early end (the exit status: a signal, the reader gone, the daemon
/// gone). `frames` counts the records written.
std::optional<int> copy_records(connection& conn, int out, const std::string& name,
                                const vswitchctl::capture_start& start,
                                const vswitchctl::invocation& inv, const sigset_t& waiting_mask,
                                std::uint64_t& frames) {
  const std::size_t room =
      std::max<std::size_t>(1u << 20, 2 * (vswitchctl::record_header_size + start.snaplen));
  auto stopped = [&](const std::string& why) {
    std::fprintf(
        stderr, "%s\n",
        (std::to_string(frames) + (frames == 1 ? " frame" : " frames") + " captured (" + why + ")")
            .c_str());
    if (inv.as_json) {
      print(dump(json{{"captured", frames}, {"dropped", nullptr}, {"reason", "interrupted"}}) +
            "\n");
    }
  };
  for (;;) {
    const auto scan = vswitchctl::scan_records(conn.buffer().bytes(), start.snaplen);
    if (scan.size > 0) {
      if (const int err = write_all(out, conn.buffer().bytes().data(), scan.size)) {
        conn.close();
        if (err == EPIPE) {
          stopped("the program reading standard output has exited");
          return 0;
        }
        throw failure("cannot write " + name + " (" + error_text(err) + ") after " +
                      std::to_string(frames) + " frames");
      }
      frames += scan.records;
      conn.buffer().consume(scan.size);
      continue;  // what follows them: more records, the end, or a bad record
    }
    if (scan.ended) return std::nullopt;
    if (stop_signal != 0) {
      conn.close();
      stopped(std::string("stopped by ") + (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
              "; vswitchd's drop count is not known");
      return 0;
    }
    pollfd p{conn.fd(), POLLIN, 0};
    const int rc = ::ppoll(&p, 1, nullptr, &waiting_mask);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw failure("poll: " + error_text(errno));
    }
    if (conn.fill(room) == 0) {
      std::fprintf(stderr,
                   "vswitchctl: vswitchd closed the connection before the capture's end; %llu "
                   "%s written to %s\n",
                   static_cast<unsigned long long>(frames), frames == 1 ? "frame" : "frames",
                   name.c_str());
      return 1;
    }
  }

}

int run_capture(const vswitchctl::invocation& inv) {
  const std::string& file = inv.capture_file;
  const bool to_stdout = file == "-";
  if (to_stdout && ::isatty(STDOUT_FILENO) != 0) {
    std::fprintf(stderr,
                 "vswitchctl: capture: standard output is a terminal; pipe it into a program "
                 "(e.g. | tcpdump -n -r -) or give a FILE\n");
    return 2;
  }

  // 1. The request and its answer, under --timeout.
  const auto deadline = deadline_after(inv.timeout_s);
  connection conn(inv.control, deadline, inv.timeout_s);
  conn.send(vswitchctl::request_line(inv), deadline);
  const json response = parse_response(conn.read_line(deadline, no_answer));
  if (!response["ok"].get<bool>()) return report_refusal(inv, response);
  const auto start = vswitchctl::parse_capture_start(response.value("result", json::object()));

  // 2. The file and its global header.
  const int out = to_stdout ? STDOUT_FILENO
                            : ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    throw failure("cannot write " + file + " (" + error_text(errno) +
                  "); give a FILE in a directory you can write");
  }
  struct output_file {
    int fd;
    bool own;
    ~output_file() {
      if (own) ::close(fd);
    }
  } closer{out, !to_stdout};
  const std::string name = to_stdout ? "standard output" : file;
  const auto header = vswitchctl::pcap_global_header(start.snaplen, start.linktype);
  if (const int err = write_all(out, header.data(), header.size())) {
    throw failure("cannot write " + name + " (" + error_text(err) + ")");
  }

  // 3. Whole records, verbatim, until the end marker. SIGINT and SIGTERM are
  //    blocked except while waiting for the daemon, so they stop the capture
  //    between records, never within one.
  const sigset_t waiting_mask = block_stop_signals();
  std::uint64_t frames = 0;
  if (const std::optional<int> early =
          copy_records(conn, out, name, start, inv, waiting_mask, frames)) {
    return *early;
  }

  // 4. The summary line after the end marker.
  conn.buffer().consume(vswitchctl::record_header_size);
  const auto summary_deadline = deadline_after(inv.timeout_s);
  json summary;
  try {
    summary = json::parse(conn.read_line(
        summary_deadline, "vswitchd closed the connection without the capture's summary; " +
                              std::to_string(frames) + " frames written to " + name));
  } catch (const json::exception&) {
    throw failure("bad capture summary from vswitchd (not JSON) after " + std::to_string(frames) +
                  " frames");
  }
  conn.close();
  std::fprintf(stderr, "%s\n", vswitchctl::capture_summary(frames, summary).c_str());
  if (inv.as_json) print(dump(summary) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  vswitchctl::invocation inv;
  try {
    inv = vswitchctl::parse_args(argc, argv, std::getenv("VSWITCHD_CONTROL"));
  } catch (const vswitchctl::usage_error& e) {
    std::fprintf(stderr, "vswitchctl: %s\n", e.what());
    return 2;
  }
  if (inv.what == vswitchctl::invocation::action::help) {
    print(vswitchctl::usage_text());
    return 0;
  }
  if (inv.what == vswitchctl::invocation::action::version) {
    print(std::string("vswitchctl ") + VSWITCHD_VERSION + "\n");
    return 0;
  }
  try {
    return inv.request["cmd"] == "capture" ? run_capture(inv) : run_command(inv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vswitchctl: %s\n", e.what());
    return 1;
  }
}
