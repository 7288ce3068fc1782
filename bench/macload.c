/* macload: 64-byte frames out of an interface (AF_PACKET), for bench/run.sh's
 * frames per second against the MAC table size.
 *
 *   macload IFNAME learn N     frames from N source MACs (02:6d:00:00:00:00 + i,
 *                              i < N), to 02:6d:ff:ff:ff:ff, one each: the switch
 *                              learns them on this port
 *   macload IFNAME hit N SECS  for SECS seconds, frames to those N MACs (in a
 *                              random order), from 02:6d:ff:ff:ff:fe, as fast as
 *                              the interface takes them; prints the number sent
 *
 * Sends in batches of 64 with sendmmsg; a full queue (ENOBUFS, EAGAIN) is
 * waited out. `learn` is paced (a TAP drops what its reader has not taken). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { batch = 64, frame_size = 60 };

static void put_mac(unsigned char *p, uint32_t i) {
  p[0] = 0x02; p[1] = 0x6d;
  p[2] = (unsigned char)(i >> 24); p[3] = (unsigned char)(i >> 16);
  p[4] = (unsigned char)(i >> 8); p[5] = (unsigned char)i;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[2], "learn") != 0 && strcmp(argv[2], "hit") != 0) ||
      (strcmp(argv[2], "hit") == 0 && argc < 5)) {
    fprintf(stderr, "usage: macload IFNAME learn N | macload IFNAME hit N SECONDS\n");
    return 2;
  }
  const int learn = strcmp(argv[2], "learn") == 0;
  const uint32_t n = (uint32_t)strtoul(argv[3], NULL, 10);
  const double seconds = learn ? 0 : atof(argv[4]);
  if (n == 0 || n >= 0xfffffffeU) { fprintf(stderr, "macload: N from 1 to 4294967293\n"); return 2; }

  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("macload: socket"); return 1; }
  struct sockaddr_ll to = {0};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = (int)if_nametoindex(argv[1]);
  to.sll_halen = 6;
  if (to.sll_ifindex == 0) { fprintf(stderr, "macload: no interface %s\n", argv[1]); return 1; }
  if (bind(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("macload: bind"); return 1; }

  static unsigned char frames[batch][frame_size];
  struct iovec iov[batch];
  struct mmsghdr msgs[batch];
  memset(frames, 0, sizeof frames);
  memset(msgs, 0, sizeof msgs);
  for (int k = 0; k < batch; ++k) {
    frames[k][12] = 0x88; frames[k][13] = 0xb5;  /* local experimental ethertype */
    iov[k].iov_base = frames[k];
    iov[k].iov_len = frame_size;
    msgs[k].msg_hdr.msg_iov = &iov[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0, x = 0x9e3779b97f4a7c15ULL;
  const double end = now() + seconds;
  uint32_t next = 0;
  for (;;) {
    if (learn && next >= n) break;
    if (!learn && (sent & 0x3ff) < batch && now() >= end) break;
    int count = 0;
    for (; count < batch && (!learn || next < n); ++count) {
      if (learn) {
        put_mac(frames[count], 0xffffffffU);
        put_mac(frames[count] + 6, next++);
      } else {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;  /* xorshift64 */
        put_mac(frames[count], (uint32_t)(x % n));
        put_mac(frames[count] + 6, 0xfffffffeU);
      }
    }
    int done = 0;
    while (done < count) {
      const int r = sendmmsg(fd, msgs + done, (unsigned)(count - done), 0);
      if (r < 0) {
        if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) { usleep(50); continue; }
        perror("macload: sendmmsg");
        return 1;
      }
      done += r;
    }
    sent += (uint64_t)count;
    /* Learning is paced (about 150 k frames/s): a TAP's queue drops what the switch has not read. */
    if (learn) usleep(400);
  }
  printf("%llu\n", (unsigned long long)sent);
  return 0;
}
