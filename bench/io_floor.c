// io_floor: a two-TAP forwarder that does nothing but the I/O, to measure
// what a frame costs below any switch logic (bench/io_floor.sh runs it):
//   io_floor epoll A B         level-triggered epoll, one read and one write per wake-up
//   io_floor epoll-batch A B   epoll, reads until EAGAIN, one write per frame
//   io_floor epoll-uwrite A B  epoll, reads until EAGAIN, the writes through
//                              io_uring, one io_uring_enter per wake-up
//   io_floor uring A B         io_uring only: 32 reads outstanding per TAP,
//                              writes batched (the reads go to io-wq threads)
//   io_floor uring-reads A B   io_uring reads, one write per frame
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static int tap(const char* name, int nonblock) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
  if (fd < 0) { perror("tun"); exit(1); }
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
  return fd;
}

static unsigned long frames;
static int direct_writes;
static int sync_writes;

static void run_epoll(int a, int b) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = a; epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
  ev.data.fd = b; epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
  char buf[65536];
  while (!stop) {
    struct epoll_event evs[2];
    int n = epoll_wait(ep, evs, 2, 200);
    for (int i = 0; i < n; ++i) {
      int from = evs[i].data.fd, to = from == a ? b : a;
      ssize_t len = read(from, buf, sizeof buf);  // once per wake-up: level-triggered
      if (len > 0) { if (write(to, buf, (size_t)len) > 0) ++frames; }
    }
  }
}

// epoll (level-triggered), reads until EAGAIN; writes queued on a ring and
// submitted once per wake-up (completions reaped without waiting).
static void run_epoll_uwrite(int a, int b) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = a; epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
  ev.data.fd = b; epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
  struct io_uring ring;
  if (io_uring_queue_init(256, &ring, 0) < 0) { perror("uring"); exit(1); }
  static char bufs[128][2048];
  unsigned next = 0, inflight = 0;
  while (!stop) {
    struct epoll_event evs[2];
    int n = epoll_wait(ep, evs, 2, 200);
    for (int i = 0; i < n; ++i) {
      int from = evs[i].data.fd, to = from == a ? b : a;
      for (int k = 0; k < 64; ++k) {
        if (inflight >= 128) break;
        char* buf = bufs[next % 128];
        ssize_t len = read(from, buf, 2048);
        if (len <= 0) break;
        if (sync_writes) {
          if (write(to, buf, (size_t)len) > 0) ++frames;
          continue;
        }
        struct io_uring_sqe* q = io_uring_get_sqe(&ring);
        io_uring_prep_write(q, to, buf, (unsigned)len, 0);
        ++next; ++inflight;
      }
    }
    io_uring_submit(&ring);
    struct io_uring_cqe* cqe; unsigned head, c = 0;
    io_uring_for_each_cqe(&ring, head, cqe) { ++c; if (cqe->res > 0) ++frames; }
    io_uring_cq_advance(&ring, c);
    inflight -= c;
  }
}

#define DEPTH 32
#define BUF 2048
struct slot { int from; int writing; char data[BUF]; };

static void run_uring(int a, int b) {
  struct io_uring ring;
  if (io_uring_queue_init(4 * DEPTH, &ring, 0) < 0) { perror("uring"); exit(1); }
  static struct slot slots[2 * DEPTH];
  for (int i = 0; i < 2 * DEPTH; ++i) {
    slots[i].from = i < DEPTH ? a : b;
    slots[i].writing = 0;
    struct io_uring_sqe* s = io_uring_get_sqe(&ring);
    io_uring_prep_read(s, slots[i].from, slots[i].data, BUF, 0);
    io_uring_sqe_set_data(s, &slots[i]);
  }
  struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 200000000};
  while (!stop) {
    struct io_uring_cqe* cqe;
    int r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
    if (r < 0 && r != -ETIME && r != -EINTR) { fprintf(stderr, "wait %d\n", r); break; }
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++n;
      struct slot* s = io_uring_cqe_get_data(cqe);
      struct io_uring_sqe* q = io_uring_get_sqe(&ring);
      if (direct_writes && cqe->res > 0) {  // read done: write it at once, read again
        if (write(s->from == a ? b : a, s->data, (size_t)cqe->res) > 0) ++frames;
        io_uring_prep_read(q, s->from, s->data, BUF, 0);
      } else if (!s->writing && cqe->res > 0) {  // read done: write it to the other TAP
        s->writing = 1;
        io_uring_prep_write(q, s->from == a ? b : a, s->data, (unsigned)cqe->res, 0);
      } else {  // write done (or a failed read): read again
        if (s->writing && cqe->res > 0) ++frames;
        s->writing = 0;
        io_uring_prep_read(q, s->from, s->data, BUF, 0);
      }
      io_uring_sqe_set_data(q, s);
    }
    io_uring_cq_advance(&ring, n);
  }
}

int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: io_floor epoll|epoll-batch|epoll-uwrite|uring|uring-reads A B\n"); return 2; }
  signal(SIGTERM, on_sig); signal(SIGINT, on_sig);
  direct_writes = strcmp(argv[1], "uring-reads") == 0;
  int uring = strcmp(argv[1], "uring") == 0 || direct_writes;
  int a = tap(argv[2], !uring), b = tap(argv[3], !uring);
  sync_writes = strcmp(argv[1], "epoll-batch") == 0;
  if (strcmp(argv[1], "epoll-uwrite") == 0 || sync_writes) run_epoll_uwrite(a, b);
  else if (uring) run_uring(a, b); else run_epoll(a, b);
  fprintf(stderr, "frames %lu\n", frames);
  return 0;
}
