/*
 * The load generator's ceiling: a minimal epoll echo server in C, one thread, level-triggered,
 * non-blocking sockets. What it reads it writes back; if the peer does not take it all, it
 * keeps the rest, stops reading that socket and waits for EPOLLOUT. Loopback only, port 0.
 *
 *   gcc -O2 -o c-echo bench/baselines/c-echo.c && ./c-echo
 *
 * Prints `Echo server running on port N`; exits on SIGINT or SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_BYTES 65536
#define MAX_EVENTS 256

struct connection {
  int fd;
  size_t pending_start;
  size_t pending_end;
  char buffer[BUFFER_BYTES];
};

static volatile sig_atomic_t stopping = 0;

static void on_signal(int signal_number) {
  (void)signal_number;
  stopping = 1;
}

static void close_connection(int epoll_fd, struct connection *connection) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection->fd, NULL);
  close(connection->fd);
  free(connection);
}

/* Writes what is pending; returns -1 on error, 0 if some is still pending, 1 when all is written. */
static int flush_pending(struct connection *connection) {
  while (connection->pending_start < connection->pending_end) {
    ssize_t written = send(connection->fd, connection->buffer + connection->pending_start,
                           connection->pending_end - connection->pending_start, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    connection->pending_start += (size_t)written;
  }
  connection->pending_start = connection->pending_end = 0;
  return 1;
}

static void serve(int epoll_fd, struct connection *connection, uint32_t events) {
  struct epoll_event update = {.data.ptr = connection};
  if (events & (EPOLLERR | EPOLLHUP)) {
    close_connection(epoll_fd, connection);
    return;
  }
  if (events & EPOLLOUT) {
    int flushed = flush_pending(connection);
    if (flushed < 0) {
      close_connection(epoll_fd, connection);
      return;
    }
    if (flushed == 0) return;
    update.events = EPOLLIN;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &update);
  }
  if (!(events & EPOLLIN) || connection->pending_end > 0) return;
  for (int reads = 0; reads < 16; reads++) {
    ssize_t count = recv(connection->fd, connection->buffer, BUFFER_BYTES, 0);
    if (count == 0) {
      close_connection(epoll_fd, connection);
      return;
    }
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close_connection(epoll_fd, connection);
      return;
    }
    connection->pending_start = 0;
    connection->pending_end = (size_t)count;
    int flushed = flush_pending(connection);
    if (flushed < 0) {
      close_connection(epoll_fd, connection);
      return;
    }
    if (flushed == 0) {
      update.events = EPOLLOUT;
      epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &update);
      return;
    }
  }
}

int main(void) {
  struct sigaction action = {0};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);

  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int yes = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&address, sizeof address) != 0 ||
      listen(listen_fd, 4096) != 0) {
    perror("c-echo: listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listen_fd, (struct sockaddr *)&address, &length);

  int epoll_fd = epoll_create1(0);
  struct epoll_event listen_event = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &listen_event);
  printf("Echo server running on port %d\n", ntohs(address.sin_port));
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  while (!stopping) {
    int ready = epoll_wait(epoll_fd, events, MAX_EVENTS, 1000);
    for (int index = 0; index < ready; index++) {
      if (events[index].data.ptr != NULL) {
        serve(epoll_fd, events[index].data.ptr, events[index].events);
        continue;
      }
      for (int accepts = 0; accepts < 256; accepts++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) break;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
        struct connection *connection = malloc(sizeof *connection);
        if (connection == NULL) {
          close(fd);
          continue;
        }
        connection->fd = fd;
        connection->pending_start = connection->pending_end = 0;
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = connection};
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
      }
    }
  }
  printf("\n\nLeaving.\n");
  return 1;
}
