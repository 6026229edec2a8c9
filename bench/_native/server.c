/* A minimal HTTP/1.1 server for the Lateen benchmarks: every request (GET, no body) gets
 * "200 OK" with a SIZE-byte body and Content-Length; connections are kept alive and
 * pipelined requests are answered in order. THREADS threads each own a listening socket on
 * ADDR:PORT (SO_REUSEPORT) and an epoll loop. Prints "listening" once every thread listens.
 *
 *   server ADDR PORT [SIZE=1024] [THREADS=1]
 *
 * Built at run time by bench/_native.py (gcc -O2). Stops on SIGTERM/SIGINT. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
    int fd;
    size_t in_len;
    char in[BUF];
    char *out; /* pending response bytes */
    size_t out_len, out_off, out_cap;
};

static struct sockaddr_in addr;
static char *response;
static size_t response_len;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int listen_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(fd, 1024) < 0) die("listen");
    return fd;
}

static void conn_close(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    free(c);
}

/* Queue one response per complete request in c->in; returns the number queued. */
static int parse_requests(struct conn *c) {
    int n = 0;
    size_t off = 0;
    for (;;) {
        char *end = memmem(c->in + off, c->in_len - off, "\r\n\r\n", 4);
        if (!end) break;
        off = (size_t)(end - c->in) + 4;
        if (c->out_len + response_len > c->out_cap) {
            c->out_cap = (c->out_len + response_len) * 2;
            c->out = realloc(c->out, c->out_cap);
            if (!c->out) die("realloc");
        }
        memcpy(c->out + c->out_len, response, response_len);
        c->out_len += response_len;
        n++;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return n;
}

/* Write what is pending; returns -1 on error, 1 when bytes remain (EPOLLOUT needed). */
static int flush_out(struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN) return 1;
            if (errno == EINTR) continue;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static void *serve(void *arg) {
    int lfd = (int)(long)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[64];
    if (ep < 0) die("epoll_create1");
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c) die("calloc");
                    c->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            int closed = 0;
            if (evs[i].events & EPOLLIN) {
                for (;;) {
                    ssize_t r = read(c->fd, c->in + c->in_len, BUF - c->in_len);
                    if (r > 0) {
                        c->in_len += (size_t)r;
                        parse_requests(c);
                        if (c->in_len == BUF) { /* a request header over 64 KB */
                            closed = 1;
                            break;
                        }
                        continue;
                    }
                    if (r == 0) closed = 1;
                    else if (errno != EAGAIN && errno != EINTR) closed = 1;
                    if (r < 0 && errno == EINTR) continue;
                    break;
                }
            }
            if (!closed && (evs[i].events & (EPOLLERR | EPOLLHUP))) closed = 1;
            if (!closed) {
                int pending = flush_out(c);
                if (pending < 0) {
                    closed = 1;
                } else {
                    struct epoll_event cev = {
                        .events = EPOLLIN | EPOLLRDHUP | (pending ? EPOLLOUT : 0),
                        .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                }
            }
            if (closed) conn_close(ep, c);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDR PORT [SIZE] [THREADS]\n", argv[0]);
        return 2;
    }
    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 1024;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    signal(SIGPIPE, SIG_IGN);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", argv[1]);
        return 2;
    }
    char head[128];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n\r\n",
                      size);
    response_len = (size_t)hl + size;
    response = malloc(response_len);
    if (!response) die("malloc");
    memcpy(response, head, (size_t)hl);
    memset(response + hl, 'x', size);
    /* every listener is bound before "listening" is printed */
    pthread_t tid;
    for (int t = 0; t < threads; t++) {
        long lfd = listen_socket();
        if (pthread_create(&tid, NULL, serve, (void *)lfd) != 0) die("pthread_create");
    }
    printf("listening %s:%s\n", argv[1], argv[2]);
    fflush(stdout);
    pause();
    return 0;
}
