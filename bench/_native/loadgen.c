/* Open-loop HTTP/1.1 load generator for the Lateen benchmarks (no coordinated omission).
 *
 *   loadgen -a ADDR -p PORT -r RATE -c CONNS -d SECONDS [-w WARMUP_S] [-H HOST] [-u PATH]
 *           [-t DRAIN_S] [-o FILE]
 *
 * Request k (k = 0, 1, ...) is scheduled at t0 + k/RATE and belongs to connection k % CONNS
 * (each connection carries RATE/CONNS requests per second, keep-alive, one request in flight,
 * no pipelining). A connection that is idle sends its next request at its scheduled time; a
 * connection still waiting for the previous response sends it as soon as that response is in.
 * Latency is measured from the *scheduled* time, so a slow response delays, and is charged to,
 * the requests queued behind it (as wrk2 does). The first WARMUP_S seconds of the schedule are
 * sent but not recorded. After the last scheduled send, responses are awaited DRAIN_S seconds.
 *
 * FILE gets one record per recorded request: three little-endian int64: latency ns (from the
 * scheduled time; -1 when no complete response came), send lag ns (start of the write -
 * scheduled time: the generator's own delay plus any wait behind the previous response on the
 * connection; -1 when never sent), HTTP status (0 on a connection error or no response).
 * stdout gets one JSON object with the counts and the achieved send rate.
 *
 * Timing: CLOCK_MONOTONIC; a timerfd wakes the loop SPIN_NS before the next scheduled send
 * (timer slack 1 ns instead of Linux's default 50 us), which then spins to the exact time
 * (waking from epoll costs ~40 us on the VMs we run on); one epoll loop, one thread.
 * Built at run time by bench/_native.py (gcc -O2). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define SPIN_NS 60000 /* wake this early, then spin to the scheduled time */

struct conn {
    int fd;
    int busy;
    long k;    /* request in flight */
    long next; /* next request index of this connection */
    size_t len;
    char buf[BUF];
};

static struct sockaddr_in addr;
static double rate;
static int64_t t0;
static long total, warm;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t sched(long k) { return t0 + (int64_t)((double)k * 1e9 / rate); }

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int dial(int ep, struct conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->len = 0;
    c->busy = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void hangup(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->busy = 0;
    c->len = 0;
}

/* Is a complete response in c->buf? 1: yes (*status, *keep set), 0: not yet, -1: malformed. */
static int parse(struct conn *c, int *status, int *keep) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return c->len == BUF ? -1 : 0;
    size_t head = (size_t)(end - c->buf) + 4;
    if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->buf + 9);
    long cl = -1;
    *keep = 1;
    for (char *p = c->buf; p && p < end; p = memmem(p, (size_t)(end - p), "\r\n", 2)) {
        p += 2;
        if (strncasecmp(p, "content-length:", 15) == 0) cl = atol(p + 15);
        else if (strncasecmp(p, "connection:", 11) == 0) {
            char *v = p + 11;
            while (*v == ' ') v++;
            if (strncasecmp(v, "close", 5) == 0) *keep = 0;
        }
    }
    if (cl < 0) return -1; /* chunked or close-delimited bodies: not expected here */
    if (c->len < head + (size_t)cl) return 0;
    if (c->len > head + (size_t)cl) return -1; /* bytes nobody asked for */
    return 1;
}

int main(int argc, char **argv) {
    const char *host = NULL, *path = "/", *out = NULL, *address = "127.0.0.1";
    int port = 0, conns = 1, opt;
    double duration = 1, warmup = 0, drain = 5;
    rate = 100;
    while ((opt = getopt(argc, argv, "a:p:r:c:d:w:H:u:t:o:")) != -1) {
        switch (opt) {
        case 'a': address = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'H': host = optarg; break;
        case 'u': path = optarg; break;
        case 't': drain = atof(optarg); break;
        case 'o': out = optarg; break;
        default:
            fprintf(stderr, "usage: %s -a ADDR -p PORT -r RATE -c CONNS -d S [-w S] [-H HOST] "
                            "[-u PATH] [-t S] [-o FILE]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || rate <= 0 || conns <= 0 || duration <= 0) {
        fprintf(stderr, "loadgen: -p, -r, -c and -d must be positive\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake at the scheduled ns, not up to 50 us later */
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, address, &addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad address %s\n", address);
        return 2;
    }
    char req[1024];
    char hostbuf[300];
    if (!host) {
        snprintf(hostbuf, sizeof hostbuf, "%s:%d", address, port);
        host = hostbuf;
    }
    int req_len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    warm = (long)(warmup * rate + 0.5);
    total = warm + (long)(duration * rate + 0.5);
    long n = total - warm;
    int64_t *rec = malloc(sizeof(int64_t) * 3 * (size_t)(n > 0 ? n : 1));
    if (!rec) die("malloc");
    for (long i = 0; i < n; i++) {
        rec[3 * i] = -1;
        rec[3 * i + 1] = -1;
        rec[3 * i + 2] = 0;
    }

    int ep = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (ep < 0 || tfd < 0) die("epoll/timerfd");
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (!cs) die("calloc");
    long connect_errors = 0, reconnects = 0;
    for (int i = 0; i < conns; i++) {
        cs[i].next = i;
        if (dial(ep, &cs[i]) < 0) {
            fprintf(stderr, "loadgen: connect %s:%d: %s\n", address, port, strerror(errno));
            return 1;
        }
    }

    long sent = 0, done = 0, ok = 0, non2xx = 0, errors = 0;
    int64_t first_send = -1, last_send = -1, last_done = -1;
    t0 = now_ns() + 10000000; /* 10 ms from now */
    int64_t deadline = sched(total - 1) + (int64_t)(drain * 1e9);
    struct epoll_event evs[64];
    for (;;) {
        int64_t now = now_ns();
        int64_t wake = deadline;
        for (int i = 0; i < conns; i++) {
            struct conn *c = &cs[i];
            if (c->busy || c->next >= total) continue;
            if (c->fd < 0) {
                if (dial(ep, c) < 0) {
                    connect_errors++;
                    /* this request fails; try the next one at its time */
                    if (c->next >= warm) errors++;
                    done++;
                    c->next += conns;
                    continue;
                }
                reconnects++;
            }
            int64_t s = sched(c->next);
            if (s > now + SPIN_NS) {
                if (s - SPIN_NS < wake) wake = s - SPIN_NS;
                continue;
            }
            while (now < s) now = now_ns(); /* the last few us: spin, waking costs ~40 us */
            int64_t at = now_ns();
            ssize_t w = write(c->fd, req, (size_t)req_len);
            if (c->next >= warm) {
                long m = c->next - warm;
                rec[3 * m + 1] = at - s;
                if (first_send < 0) first_send = at;
                last_send = at;
                sent++;
            }
            if (w != req_len) { /* the request is tiny and the socket idle: a dead connection */
                if (c->next >= warm) errors++;
                done++;
                c->next += conns;
                hangup(ep, c);
                continue;
            }
            c->busy = 1;
            c->k = c->next;
            c->next += conns;
        }
        if (done >= total || now >= deadline) break;
        struct itimerspec its = {{0, 0}, {wake / 1000000000LL, wake % 1000000000LL}};
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        int ne = epoll_wait(ep, evs, 64, -1);
        if (ne < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int e = 0; e < ne; e++) {
            struct conn *c = evs[e].data.ptr;
            if (!c) {
                uint64_t x;
                while (read(tfd, &x, sizeof x) > 0) {
                }
                continue;
            }
            if (c->fd < 0) continue;
            int broken = 0;
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    if (c->len == BUF) break;
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) broken = 1;
                if (r < 0 && errno == EINTR) continue;
                break;
            }
            int status = 0, keep = 1;
            int got = c->busy ? parse(c, &status, &keep) : (c->len ? -1 : 0);
            if (got == 1) {
                int64_t at = now_ns();
                if (c->k >= warm) {
                    long m = c->k - warm;
                    rec[3 * m] = at - sched(c->k);
                    rec[3 * m + 2] = status;
                    if (status >= 200 && status < 300) ok++;
                    else non2xx++;
                    last_done = at;
                }
                done++;
                c->busy = 0;
                c->len = 0;
                if (!keep) broken = 1;
            } else if (got < 0 || (broken && c->busy)) {
                if (c->busy) {
                    if (c->k >= warm) errors++;
                    done++;
                }
                broken = 1;
            }
            if (broken) hangup(ep, c);
        }
    }
    long unfinished = 0;
    for (int i = 0; i < conns; i++)
        if (cs[i].busy && cs[i].k >= warm) unfinished++;
    long never_sent = n - sent;

    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(rec, sizeof(int64_t) * 3, (size_t)n, f) != (size_t)n) die(out);
        fclose(f);
    }
    double span = (first_send >= 0 && last_send > first_send) ? (last_send - first_send) / 1e9 : 0;
    printf("{\"rate\": %.3f, \"connections\": %d, \"duration_s\": %.3f, \"warmup_s\": %.3f, "
           "\"scheduled\": %ld, \"sent\": %ld, \"ok\": %ld, \"non_2xx\": %ld, \"errors\": %ld, "
           "\"unfinished\": %ld, \"never_sent\": %ld, \"reconnects\": %ld, "
           "\"connect_errors\": %ld, \"send_span_s\": %.6f, \"send_rate\": %.3f, "
           "\"last_response_s\": %.6f}\n",
           rate, conns, duration, warmup, n, sent, ok, non2xx, errors, unfinished, never_sent,
           reconnects, connect_errors, span, span > 0 ? (sent - 1) / span : 0.0,
           last_done >= 0 ? (last_done - sched(warm)) / 1e9 : 0.0);
    return 0;
}
