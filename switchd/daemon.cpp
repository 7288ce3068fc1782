#include "switchd/daemon.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <sched.h>

#include <algorithm>
#include <thread>

#include "switchd/capture.hpp"
#include "switchd/metrics.hpp"
#include "switchd/service.hpp"
#include "switchd/status.hpp"

namespace switchd {

namespace ip = boost::asio::ip;

namespace {

/// Worker threads for --workers: 0 is one per core, at most 4.
unsigned worker_threads(const options& opts) {
  if (opts.workers != 0) return opts.workers;
  // The cores this process may run on (taskset, a container's cpuset).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const unsigned cores = ::sched_getaffinity(0, sizeof allowed, &allowed) == 0
                             ? static_cast<unsigned>(CPU_COUNT(&allowed))
                             : std::thread::hardware_concurrency();
  return std::clamp(cores, 1U, 4U);
}

}  // namespace

daemon::daemon(const options& opts, std::vector<std::string> args)
    : opts_(opts),
      args_(std::move(args)),
      datapath_(io_, opts.mac_table_size, std::chrono::seconds(opts.mac_aging)),
      signals_(io_),
      watch_timer_(io_),
      stop_timer_(io_) {
  // Captures on a port end before it goes.
  registry_.on_remove([this](l2::port_id id) {
    for (std::size_t i = captures_.size(); i-- > 0;) {
      if (captures_[i]->port_ == id) end_capture(captures_[i].get(), "port removed");
    }
  });
  // The control socket first: a second daemon on the same socket stops here,
  // before it touches any device.
  if (opts.control != "none") {
    try {
      std::optional<std::pair<uid_t, gid_t>> owner;
      if (opts.user) owner = user_ids(*opts.user);
      control_ = std::make_unique<control_server>(
          io_, opts.control, owner,
          [this](const std::string& cmd, const nlohmann::json& a,
                 const std::shared_ptr<control_client>& client) { handle_request(cmd, a, client); });
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
  }
  if (opts.metrics) {
    const ip::tcp::endpoint where(resolve_now(io_, *opts.metrics, "--metrics", true).front().address(),
                                  opts.metrics->port);
    try {
      metrics_ = std::make_unique<metrics_server>(io_, where, "--metrics " + opts.metrics->text,
                                                  [this] { return render_prometheus(status()); });
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
  }
  peers_.load();  // (the peers file read and the port count checked before any device opens)
  datapath_.set_clamp_mss(opts.clamp_mss);
  datapath_.set_workers(worker_threads(opts), std::chrono::microseconds(opts.busy_poll));
  factory_.set_worker_queues(worker_threads(opts));
  apply_mac_table_settings(opts);
  for (const port_spec& spec : opts.ports) registry_.open(spec);
  peers_.open();
  try {
    for (const stream_listen_spec& spec : opts.stream_listens) open_stream_listener(spec);
  } catch (const ports::port_error& e) {
    throw startup_error(e.what());
  }
}

void daemon::open_stream_listener(const stream_listen_spec& spec) {
  ports::stream_listen_settings settings;
  settings.address = ports::parse_stream_address(spec.address, "--stream-listen");
  settings.access.mode = opts_.stream_mode;
  if (opts_.stream_group) settings.access.group = *opts_.stream_group;
  settings.option = "--stream-listen " + spec.text;
  listeners_.push_back(ports::stream_listener::open(
      io_, settings, [this, spec](ports::stream_connection connection) {
        // Each guest that connects is a port, until it disconnects.
        if (datapath_.next_id() >= l2::max_ports) {
          spdlog::warn("--stream-listen {}: a guest connected but there are {} ports already; closed",
                       spec.address, l2::max_ports);
          return;
        }
        const l2::port_id id = datapath_.next_id();
        const std::string name = "stream:" + spec.address + "#" + std::to_string(connection.serial);
        auto port = factory_.open_stream(
            std::move(connection), id, name, [this](ports::port& p, const std::string& why) {
              // Posted by the port after it closed: it can go now.
              spdlog::info("port {}: the guest went away ({}); removed", p.name(), why);
              const l2::port_id pid = p.id();
              if (pid < datapath_.ports().size() && datapath_.ports()[pid].get() == &p) {
                remove_port(pid);
              }
            });
        registry_.add(std::move(port), spec.options);
      }));
}

daemon::~daemon() {
  // As on SIGTERM, in case run() did not get there: captures refer to the
  // datapath and to control clients.
  while (!captures_.empty()) end_capture(captures_.back().get(), "stopping");
  if (control_) control_->stop();
  if (metrics_) metrics_->stop();
  datapath_.stop();
}

void daemon::apply_mac_table_settings(const options& o) {
  l2::mac_table& table = datapath_.forwarder().table();
  table.set_full_policy(o.mac_table_evict ? l2::full_policy::evict : l2::full_policy::refuse);
  table.set_move_damping(o.mac_move_limit, std::chrono::seconds(o.mac_move_window),
                         std::chrono::seconds(o.mac_hold_down));
  datapath_.set_move_damping_text(o.mac_move_limit, o.mac_move_window, o.mac_hold_down);
}

void daemon::schedule_watch() {
  watch_timer_.expires_after(std::chrono::seconds(1));
  watch_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    peers_.tick();  // (what changes ports pauses the workers itself: registry, add_port)
    registry_.reattach_gone();
    schedule_watch();
  });
}

running_view daemon::running_now() const {
  running_view v;
  v.opened = registry_.opened();
  for (const auto& p : datapath_.ports()) {
    if (!p) continue;
    v.running.insert(p->name());
    if (dynamic_cast<const ports::uplink_port*>(p.get()) != nullptr) v.uplinks.insert(p->name());
  }
  v.waited_for = registry_.waited_for();
  v.option_peers = peers_.option_peer_keys();
  v.has_uplink_socket = peers_.endpoint() != nullptr;
  v.interface_exists = [this](const std::string& name) { return factory_.interface_exists(name); };
  return v;
}

nlohmann::json daemon::reload_config() {
  const auto paused = datapath_.pause();
  options next;
  try {
    std::vector<const char*> argv{"vswitchd"};
    for (const std::string& a : args_) argv.push_back(a.c_str());
    next = parse_options(static_cast<int>(argv.size()), argv.data()).opts;
  } catch (const options_error& e) {
    spdlog::error("reload: {}; the running configuration stays", e.what());
    return {{"error", std::string(e.what()) + "; the running configuration stays"}};
  }
  // What can be checked is checked before anything changes.
  reload_plan plan = plan_reload(opts_, next, running_now());
  if (plan.refusal) {
    spdlog::error("reload: {}; the running configuration stays", *plan.refusal);
    return {{"error", *plan.refusal + "; the running configuration stays"}};
  }
  const auto array = nlohmann::json::array();
  nlohmann::json result = {{"ports_added", array},   {"ports_removed", array},
                           {"ports_changed", array}, {"peers_added", array},
                           {"peers_removed", array}, {"unchanged", plan.unchanged},
                           {"failed", array},        {"restart_needed", plan.restart_needed}};
  const port_changes ports = registry_.apply(plan);
  result["ports_added"] = ports.added;
  result["ports_removed"] = ports.removed;
  result["ports_changed"] = ports.changed;
  result["failed"] = ports.failed;
  const peer_changes peers = peers_.apply(plan);
  result["peers_added"] = peers.added;
  result["peers_removed"] = peers.removed;
  apply_settings(plan);
  for (const std::string& name : plan.restart_needed) {
    spdlog::warn("reload: --{} changed; it takes effect at the next start (kept as it runs)", name);
  }
  opts_ = std::move(plan.next);
  spdlog::info("reload: ports {} added, {} removed, {} changed; peers {} added, {} removed; {} "
               "unchanged{}",
               result["ports_added"].size(), result["ports_removed"].size(),
               result["ports_changed"].size(), result["peers_added"].size(),
               result["peers_removed"].size(), plan.unchanged,
               result["failed"].empty() ? "" : "; some failed (see above)");
  return result;
}

void daemon::apply_settings(const reload_plan& plan) {
  const options& next = plan.next;
  for (const std::string& name : plan.at_once) {
    if (name == "log-level") spdlog::set_level(spdlog::level::from_str(next.log_level));
    if (name == "mac-aging") {
      datapath_.forwarder().table().set_aging(std::chrono::seconds(next.mac_aging));
    }
    if (name == "clamp-mss") datapath_.set_clamp_mss(next.clamp_mss);
  }
  apply_mac_table_settings(next);  // --mac-table-full and move damping
}

void daemon::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGUSR1) {
      const auto paused = datapath_.pause();
      log_counters();
      wait_for_signals();
      return;
    }
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP: reloading the options{}{}{}",
                   opts_.config_file ? " and --config " + *opts_.config_file : std::string(),
                   opts_.key_file ? ", --key-file" : "", opts_.peers_file ? ", --peers-file" : "");
      reload_config();
      peers_.reload_keys();
      peers_.reload_peers();
      wait_for_signals();
      return;
    }
    spdlog::info("{}: stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
    watch_timer_.cancel();
    for (const auto& l : listeners_) l->stop();
    datapath_.stop();
    peers_.stop();
    if (metrics_) metrics_->stop();
    while (!captures_.empty()) end_capture(captures_.back().get(), "stopping");
    if (!control_) {
      io_.stop();
      return;
    }
    // Captures' ends (and answers) get up to 300 ms to reach their clients.
    control_->drain([this] { io_.stop(); });
    stop_timer_.expires_after(std::chrono::milliseconds(300));
    stop_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e) io_.stop();
    });
  });
}

int daemon::run(const std::function<void()>& ready) {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGUSR1);
  signals_.add(SIGHUP);
  wait_for_signals();
  datapath_.start();
  peers_.start();  // (also with no peer yet: --listen alone)
  schedule_watch();
  if (control_) {
    control_->start();
    spdlog::info("control socket {} (vswitchctl --control {})", control_->path(), control_->path());
  }
  if (metrics_) {
    metrics_->start();
    spdlog::info("metrics on http://{}/metrics", opts_.metrics->text);
  }
  for (const auto& l : listeners_) {
    l->start();
    spdlog::info("{}", l->describe());
  }
  spdlog::info("vswitchd ready: {} ports, MAC table {} entries, aging {} s",
               datapath_.port_count(), datapath_.forwarder().table().capacity(),
               std::chrono::duration_cast<std::chrono::seconds>(
                   datapath_.forwarder().table().aging()).count());
  if (opts_.busy_poll > 0)
    spdlog::info("busy polling: the data path polls for {} us after each frame before it sleeps", opts_.busy_poll);
  if (datapath_.workers() > 0) {
    const ports::udp_endpoint* e = peers_.endpoint();
    const bool uplinks = e != nullptr && e->worker_receives();
    spdlog::info("{} worker threads{} read the tap: and dev: ports{}; the main thread {}QEMU sockets "
                 "and the control side",
                 datapath_.workers(), opts_.workers == 0 ? " (--workers 0: one per core)" : "",
                 uplinks ? " and the uplinks" : "", e != nullptr && !uplinks ? "the uplinks, " : "");
  }
  peers_.log_ready();
  if (ready) ready();
  run_loop();
  log_counters();
  return 0;
}

void daemon::run_loop() {
  if (opts_.busy_poll == 0) {
    io_.run();
    return;
  }
  // Poll without sleeping while a frame arrived in the last busy_poll
  // microseconds; then block until the next event. poll() runs what is ready
  // (an epoll_wait with no timeout), run_one() sleeps for one. Only frames
  // count: the daemon's own timers must not keep an idle switch spinning.
  using clock = std::chrono::steady_clock;
  const auto window = std::chrono::microseconds(opts_.busy_poll);
  auto last = clock::now();
  std::uint64_t frames = datapath_.frames_seen();
  while (!io_.stopped()) {
    io_.poll();
    const auto now = clock::now();
    if (datapath_.frames_seen() != frames) {
      frames = datapath_.frames_seen();
      last = now;
    } else if (now - last >= window) {
      io_.run_one();  // a frame it brings restarts the window on the next turn
    }
  }
}

void daemon::log_counters() const {
  peers_.log_counters();
  datapath_.log_counters();
}

}  // namespace switchd
