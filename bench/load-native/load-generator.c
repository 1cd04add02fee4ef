/*
 * The native load generator: one process, one thread, epoll (level-triggered), non-blocking
 * sockets to 127.0.0.1. It drives the same lines as bench/src/load/line-content.ts
 *   c000012 s0000000123 <filler from the alphabet at offset (id*7+seq)%62>\n
 * and checks every echoed byte, in order, against what it sent (a ring per connection holds
 * the bytes sent and not yet echoed: memcmp on each read). Started by the orchestrator
 * (bench/src/native-load-generator.ts) once per scenario, with the scenario on its command line;
 * it prints one JSON line (what it counted, its latency histogram, its own CPU time in the
 * measured window) and exits. Every loop is bounded in count and in time.
 *
 *   gcc -O2 -o load-generator bench/load-native/load-generator.c
 *   ./load-generator --mode stream --port P --connections 50 --window 64 --line-bytes 64 \
 *       [--first-id 0] [--record-latency] [--warmup-ms 500] [--duration-ms 1000] [--drain-ms 20000]
 *       [--start-at EPOCH_MS]
 *   ./load-generator --mode connect --port P --connections 16 --line-bytes 64 [--lines-per-connection 1]
 *       [--max-iterations N] ...   (each of the 16 loops: connect, send the lines, read their echo,
 *                                  half-close, wait for the server's close; again until the window ends)
 *
 * Output: {"operations":…,"windowBytes":…,"verifiedBytes":…,"connectionsOpened":…,"failureCount":…,
 *   "failures":[…],"latency":[[lowest value of an HDR sub-bucket in µs,count],…],
 *   "cpuSeconds":…,"userCpuSeconds":…,"cpuWindowMs":…}
 * Latencies go into buckets laid out as an HdrHistogram with 3 significant digits (2048
 * sub-buckets, lowest discernible value 1): the TypeScript side rebuilds the same histogram.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 20000
#define MAX_EVENTS 512
#define READ_BUFFER_BYTES (256 * 1024)
#define READS_PER_WAKEUP 8
#define MAX_FAILURES_DESCRIBED 5
#define MAX_ITERATIONS 10000000ULL
#define HEADER_BYTES 20
#define ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define ALPHABET_LENGTH 62
/* HDR layout, 3 significant digits: values below 2048 exact, then 1024 sub-buckets per power of 2. */
#define HISTOGRAM_MAX_US 3600000000ULL
#define HISTOGRAM_SLOTS (2048 + 22 * 1024)

enum mode { MODE_STREAM, MODE_CONNECT };
enum state { CONNECTING, ACTIVE, CLOSING, DONE };

struct connection {
  int fd;
  int id;
  enum state state;
  uint32_t events;
  uint64_t iteration; /* connect mode: which connection of this loop */
  uint64_t next_sequence;
  uint64_t generated; /* bytes put into the ring */
  uint64_t written;   /* bytes written to the socket */
  uint64_t received;  /* bytes echoed and found equal */
  int64_t sent_at_ns; /* stream: the last fill; connect: the start of the cycle */
  char header[HEADER_BYTES]; /* the next line's `cIIIIII sSSSSSSSSSS `, its digits counted up */
  uint32_t filler_offset;    /* the next line's filler offset, (id*7+seq)%62 */
  char *ring;         /* ring_bytes, a multiple of line_bytes: a line never wraps */
};

static enum mode mode = MODE_STREAM;
static int port = 0;
static int connection_count = 1;
static int first_id = 0;
static uint64_t window_lines = 1;
static int line_bytes = 64;
static int record_latency = 0;
static uint64_t lines_per_connection = 1;
static uint64_t max_iterations = MAX_ITERATIONS;
static double warmup_ms = 0, duration_ms = 1000, drain_ms = 20000, start_at_epoch_ms = 0;

static struct connection *connections;
static size_t ring_bytes;
static char *filler; /* the alphabet repeated: any line's filler from any offset */
static int epoll_fd;
static int64_t window_start_ns, window_end_ns, drain_end_ns;
static int is_sending = 1;
static int open_count = 0;

static uint64_t operations = 0, window_bytes = 0, verified_bytes = 0, connections_opened = 0;
static uint64_t failure_count = 0;
static char failures[MAX_FAILURES_DESCRIBED][256];
static uint64_t *histogram;
static int has_latency = 0;

static int64_t now_ns(void) {
  struct timespec time;
  clock_gettime(CLOCK_MONOTONIC, &time);
  return (int64_t)time.tv_sec * 1000000000LL + time.tv_nsec;
}

static double cpu_seconds(void) {
  struct timespec time;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time);
  return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

/* Its CPU time in user space alone: its own code, without the kernel's share (the system calls,
 * and on loopback the TCP work of the peer's side that they run). */
static double user_cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6;
}

static int is_in_window(int64_t time) { return time >= window_start_ns && time <= window_end_ns; }

static void record_value(uint64_t value) {
  if (value < 1) value = 1;
  if (value > HISTOGRAM_MAX_US) value = HISTOGRAM_MAX_US;
  size_t slot;
  if (value < 2048) {
    slot = (size_t)value;
  } else {
    int shift = 63 - __builtin_clzll(value) - 10; /* value in [2^(shift+10), 2^(shift+11)) */
    slot = 2048 + (size_t)(shift - 1) * 1024 + (size_t)((value >> shift) - 1024);
  }
  histogram[slot] += 1;
  has_latency = 1;
}

static uint64_t slot_value(size_t slot) {
  if (slot < 2048) return slot;
  size_t shift = (slot - 2048) / 1024 + 1;
  return (uint64_t)(1024 + (slot - 2048) % 1024) << shift;
}

static void fail(struct connection *connection, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void close_connection(struct connection *connection) {
  if (connection->fd >= 0) {
    close(connection->fd); /* also takes it out of the epoll set (no other copy of the fd) */
    connection->fd = -1;
    open_count -= 1;
  }
  connection->state = DONE;
}

static void fail(struct connection *connection, const char *format, ...) {
  if (connection != NULL && connection->state == DONE) return;
  char text[200];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(text, sizeof text, format, arguments);
  va_end(arguments);
  if (failure_count < MAX_FAILURES_DESCRIBED) {
    if (connection == NULL)
      snprintf(failures[failure_count], sizeof failures[0], "%s", text);
    else if (mode == MODE_STREAM)
      snprintf(failures[failure_count], sizeof failures[0], "connection %d: %s", connection->id, text);
    else
      snprintf(failures[failure_count], sizeof failures[0], "loop %d, connection %llu: %s",
               connection->id, (unsigned long long)connection->iteration, text);
  }
  failure_count += 1;
  if (connection != NULL) close_connection(connection);
}

static void write_digits(char *end, int width, uint64_t value) {
  for (int index = 1; index <= width; index++) {
    end[-index] = (char)('0' + value % 10);
    value /= 10;
  }
}

/* Makes `sequence` the next line `connection` generates (its header and filler offset). */
static void seek_line(struct connection *connection, uint64_t sequence) {
  char *header = connection->header;
  header[0] = 'c';
  write_digits(header + 7, 6, (uint64_t)connection->id);
  header[7] = ' ';
  header[8] = 's';
  write_digits(header + 19, 10, sequence);
  header[19] = ' ';
  connection->filler_offset = (uint32_t)(((uint64_t)connection->id * 7 + sequence) % ALPHABET_LENGTH);
}

/*
 * The next line of `connection` into `target`; then counts its sequence number up (the ten
 * digits, modulo 10^10 as line-content.ts writes the lowest digits) and its filler offset.
 */
static void next_line(struct connection *connection, char *target) {
  memcpy(target, connection->header, HEADER_BYTES);
  memcpy(target + HEADER_BYTES, filler + connection->filler_offset, (size_t)line_bytes - HEADER_BYTES - 1);
  target[line_bytes - 1] = '\n';
  for (int position = 18; position >= 9; position--) {
    if (connection->header[position] != '9') {
      connection->header[position] += 1;
      break;
    }
    connection->header[position] = '0';
  }
  connection->filler_offset = connection->filler_offset == ALPHABET_LENGTH - 1 ? 0 : connection->filler_offset + 1;
}

static void set_events(struct connection *connection, uint32_t events) {
  if (connection->events == events) return;
  struct epoll_event event = {.events = events, .data.ptr = connection};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &event);
  connection->events = events;
}

/* Writes what is generated and not written (one writev, two parts when it wraps). */
static int flush(struct connection *connection) {
  for (int attempts = 0; attempts < 4 && connection->written < connection->generated; attempts++) {
    size_t start = (size_t)(connection->written % ring_bytes);
    size_t total = (size_t)(connection->generated - connection->written);
    struct iovec parts[2];
    int count = 1;
    parts[0].iov_base = connection->ring + start;
    parts[0].iov_len = start + total <= ring_bytes ? total : ring_bytes - start;
    if (parts[0].iov_len < total) {
      parts[1].iov_base = connection->ring;
      parts[1].iov_len = total - parts[0].iov_len;
      count = 2;
    }
    ssize_t written = writev(connection->fd, parts, count);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(connection, "%s", strerror(errno));
      return -1;
    }
    connection->written += (uint64_t)written;
  }
  set_events(connection, connection->written < connection->generated ? EPOLLIN | EPOLLOUT : EPOLLIN);
  return 0;
}

/* Stream mode: up to `window_lines` lines outstanding. */
static void fill(struct connection *connection, int64_t time) {
  /* A line partly echoed is still outstanding (its bytes stay in the ring until all are back). */
  uint64_t outstanding_lines =
      connection->generated / (uint64_t)line_bytes - connection->received / (uint64_t)line_bytes;
  if (outstanding_lines >= window_lines || connection->next_sequence >= max_iterations) return;
  uint64_t count = window_lines - outstanding_lines;
  for (uint64_t index = 0; index < count; index++) {
    next_line(connection, connection->ring + connection->generated % ring_bytes);
    connection->next_sequence += 1;
    connection->generated += (uint64_t)line_bytes;
  }
  connection->sent_at_ns = time;
}

static int open_socket(struct connection *connection) {
  connection->state = CONNECTING;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    fail(connection, "socket: %s", strerror(errno));
    return -1;
  }
  int yes = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connection->fd = fd;
  connection->state = CONNECTING;
  connection->generated = connection->written = connection->received = 0;
  open_count += 1;
  struct epoll_event event = {.events = EPOLLOUT, .data.ptr = connection};
  connection->events = EPOLLOUT;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0 && errno != EINPROGRESS) {
    fail(connection, "connect: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* Connect mode: a new connection of this loop, its lines ready to go. */
static void start_cycle(struct connection *connection, int64_t time) {
  connection->sent_at_ns = time;
  if (open_socket(connection) != 0) return;
  seek_line(connection, connection->iteration * lines_per_connection);
  for (uint64_t index = 0; index < lines_per_connection; index++) {
    next_line(connection, connection->ring + index * (uint64_t)line_bytes);
  }
  connection->generated = lines_per_connection * (uint64_t)line_bytes;
}

static void half_close(struct connection *connection) {
  shutdown(connection->fd, SHUT_WR);
  connection->state = CLOSING;
  set_events(connection, EPOLLIN);
}

/* The server closed its side. */
static void on_end(struct connection *connection, int64_t time) {
  uint64_t missing = connection->generated - connection->received;
  if (missing > 0) {
    fail(connection, "the server closed with %llu byte(s) not echoed", (unsigned long long)missing);
    return;
  }
  if (mode == MODE_STREAM) {
    if (is_sending && connection->state != CLOSING) {
      fail(connection, "the server closed the connection while the client was sending");
      return;
    }
    close_connection(connection);
    return;
  }
  /* Connect mode: the cycle is over (the server may close right after its echo, before our FIN). */
  close_connection(connection);
  if (is_in_window(time)) {
    operations += 1;
    record_value((uint64_t)((time - connection->sent_at_ns + 500) / 1000));
  }
  connection->iteration += 1;
  if (time < window_end_ns && connection->iteration < max_iterations) start_cycle(connection, time);
}

/* Checks `count` bytes just read as the next bytes of the echo. */
static int check(struct connection *connection, const char *data, size_t count) {
  uint64_t unechoed = connection->written - connection->received;
  if (count > unechoed) {
    fail(connection, "%llu extra byte(s) after %llu echoed", (unsigned long long)(count - unechoed),
         (unsigned long long)connection->received);
    return -1;
  }
  size_t done = 0;
  while (done < count) {
    size_t start = (size_t)((connection->received + done) % ring_bytes);
    size_t take = count - done;
    if (take > ring_bytes - start) take = ring_bytes - start;
    if (memcmp(connection->ring + start, data + done, take) != 0) {
      size_t at = 0;
      while (at < take && connection->ring[start + at] == data[done + at]) at++;
      fail(connection, "the echo differs from what was sent at byte %llu",
           (unsigned long long)(connection->received + done + at));
      return -1;
    }
    done += take;
  }
  return 0;
}

static void on_readable(struct connection *connection, char *buffer, int64_t time) {
  for (int reads = 0; reads < READS_PER_WAKEUP; reads++) {
    ssize_t count = recv(connection->fd, buffer, READ_BUFFER_BYTES, 0);
    if (count == 0) {
      on_end(connection, time);
      return;
    }
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(connection, "%s", strerror(errno));
      return;
    }
    if (check(connection, buffer, (size_t)count) != 0) return;
    uint64_t lines_before = connection->received / (uint64_t)line_bytes;
    connection->received += (uint64_t)count;
    verified_bytes += (uint64_t)count;
    if (is_in_window(time)) window_bytes += (uint64_t)count;
    uint64_t new_lines = connection->received / (uint64_t)line_bytes - lines_before;
    if (mode == MODE_STREAM && new_lines > 0 && is_in_window(time)) {
      operations += new_lines;
      if (record_latency) {
        uint64_t latency = (uint64_t)((time - connection->sent_at_ns + 500) / 1000);
        for (uint64_t index = 0; index < new_lines; index++) record_value(latency);
      }
    }
    if ((size_t)count < READ_BUFFER_BYTES) break;
  }
  if (connection->state != ACTIVE) return;
  if (mode == MODE_STREAM) {
    if (is_sending && time < window_end_ns) fill(connection, time);
    if (connection->received == connection->generated && (!is_sending || time >= window_end_ns)) {
      half_close(connection);
      return;
    }
  } else if (connection->received == connection->generated) {
    half_close(connection);
    return;
  }
  flush(connection);
}

static void on_event(struct connection *connection, uint32_t events, char *buffer, int64_t time) {
  if (connection->state == DONE) return;
  if (connection->state == CONNECTING) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(connection->fd, SOL_SOCKET, SO_ERROR, &error, &length);
      fail(connection, "connect: %s", strerror(error != 0 ? error : ECONNREFUSED));
      return;
    }
    connection->state = ACTIVE;
    connections_opened += 1;
    if (mode == MODE_STREAM) {
      if (is_sending && time < window_end_ns) {
        fill(connection, time);
      } else {
        half_close(connection);
        return;
      }
    }
    flush(connection);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    on_readable(connection, buffer, time);
    if (connection->state == DONE) return;
  }
  if ((events & EPOLLOUT) && connection->state == ACTIVE) flush(connection);
}

static void json_string(const char *text) {
  putchar('"');
  for (const char *character = text; *character != '\0'; character++) {
    if (*character == '"' || *character == '\\')
      printf("\\%c", *character);
    else if ((unsigned char)*character < 0x20)
      putchar(' ');
    else
      putchar(*character);
  }
  putchar('"');
}

static int usage(const char *problem) {
  fprintf(stderr, "load-generator: %s\n", problem);
  return 2;
}

int main(int argc, char **argv) {
  for (int index = 1; index < argc; index++) {
    const char *name = argv[index];
    const char *value = index + 1 < argc ? argv[index + 1] : NULL;
    if (strcmp(name, "--record-latency") == 0) {
      record_latency = 1;
      continue;
    }
    if (value == NULL) return usage("every option but --record-latency takes a value");
    index += 1;
    if (strcmp(name, "--mode") == 0) {
      if (strcmp(value, "stream") == 0)
        mode = MODE_STREAM;
      else if (strcmp(value, "connect") == 0)
        mode = MODE_CONNECT;
      else
        return usage("--mode is stream or connect");
    } else if (strcmp(name, "--port") == 0) {
      port = atoi(value);
    } else if (strcmp(name, "--connections") == 0) {
      connection_count = atoi(value);
    } else if (strcmp(name, "--first-id") == 0) {
      first_id = atoi(value);
    } else if (strcmp(name, "--window") == 0) {
      window_lines = strtoull(value, NULL, 10);
    } else if (strcmp(name, "--line-bytes") == 0) {
      line_bytes = atoi(value);
    } else if (strcmp(name, "--lines-per-connection") == 0) {
      lines_per_connection = strtoull(value, NULL, 10);
    } else if (strcmp(name, "--max-iterations") == 0) {
      max_iterations = strtoull(value, NULL, 10);
    } else if (strcmp(name, "--warmup-ms") == 0) {
      warmup_ms = atof(value);
    } else if (strcmp(name, "--duration-ms") == 0) {
      duration_ms = atof(value);
    } else if (strcmp(name, "--drain-ms") == 0) {
      drain_ms = atof(value);
    } else if (strcmp(name, "--start-at") == 0) {
      start_at_epoch_ms = atof(value);
    } else {
      return usage("unknown option");
    }
  }
  if (port < 1 || port > 65535) return usage("--port must be from 1 to 65535");
  if (connection_count < 1 || connection_count > MAX_CONNECTIONS) return usage("--connections out of range");
  if (first_id < 0 || first_id + connection_count > 1000000) return usage("ids must fit in 6 digits");
  if (line_bytes < HEADER_BYTES + 2 || line_bytes > 1 << 20) return usage("--line-bytes out of range");
  if (window_lines < 1 || window_lines > 1 << 20) return usage("--window out of range");
  if (lines_per_connection < 1 || lines_per_connection > 1 << 20)
    return usage("--lines-per-connection out of range");
  if (max_iterations < 1 || max_iterations > MAX_ITERATIONS) max_iterations = MAX_ITERATIONS;
  if (warmup_ms < 0 || warmup_ms > 600000 || duration_ms < 0 || duration_ms > 600000 || drain_ms < 0 ||
      drain_ms > 600000)
    return usage("times must be from 0 to 600000 ms");
  signal(SIGPIPE, SIG_IGN);

  ring_bytes = (size_t)line_bytes * (mode == MODE_STREAM ? window_lines : lines_per_connection);
  if (ring_bytes * (size_t)connection_count > (size_t)1 << 31) return usage("too many bytes in flight");
  size_t filler_bytes = (size_t)line_bytes + ALPHABET_LENGTH;
  filler = malloc(filler_bytes);
  for (size_t index = 0; index < filler_bytes; index++) filler[index] = ALPHABET[index % ALPHABET_LENGTH];
  connections = calloc((size_t)connection_count, sizeof *connections);
  histogram = calloc(HISTOGRAM_SLOTS, sizeof *histogram);
  char *buffer = malloc(READ_BUFFER_BYTES);
  epoll_fd = epoll_create1(0);
  if (filler == NULL || connections == NULL || histogram == NULL || buffer == NULL || epoll_fd < 0)
    return usage("out of memory");

  /* A common start: the instant the orchestrator chose (epoch ms), at most 1 s away. */
  if (start_at_epoch_ms > 0) {
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    double wait_ms = start_at_epoch_ms - ((double)real.tv_sec * 1e3 + (double)real.tv_nsec / 1e6);
    if (wait_ms > 1000) wait_ms = 1000;
    if (wait_ms > 0) {
      struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)(wait_ms * 1e6)};
      if (wait_ms >= 1000) pause = (struct timespec){.tv_sec = 1, .tv_nsec = 0};
      nanosleep(&pause, NULL);
    }
  }
  int64_t start_ns = now_ns();
  window_start_ns = start_ns + (int64_t)(warmup_ms * 1e6);
  window_end_ns = window_start_ns + (int64_t)(duration_ms * 1e6);
  drain_end_ns = window_end_ns + (int64_t)(drain_ms * 1e6);

  for (int index = 0; index < connection_count; index++) {
    struct connection *connection = &connections[index];
    connection->fd = -1;
    connection->id = first_id + index;
    connection->ring = malloc(ring_bytes);
    if (connection->ring == NULL) return usage("out of memory");
    seek_line(connection, 0);
    if (mode == MODE_STREAM)
      open_socket(connection);
    else
      start_cycle(connection, start_ns);
  }

  double cpu_at_start = -1, cpu_at_end = -1, user_cpu_at_start = 0, user_cpu_at_end = 0;
  int64_t cpu_start_ns = 0, cpu_end_ns = 0;
  struct epoll_event events[MAX_EVENTS];
  for (uint64_t wakeups = 0; open_count > 0 && wakeups < 1000000000ULL; wakeups++) {
    int64_t time = now_ns();
    if (cpu_at_start < 0 && time >= window_start_ns) {
      user_cpu_at_start = user_cpu_seconds();
      cpu_at_start = cpu_seconds();
      cpu_start_ns = time;
    }
    if (cpu_at_end < 0 && time >= window_end_ns) {
      user_cpu_at_end = user_cpu_seconds();
      cpu_at_end = cpu_seconds();
      cpu_end_ns = time;
    }
    if (is_sending && time >= window_end_ns) {
      /* The window is over: stop sending, half-close every connection with nothing outstanding. */
      is_sending = 0;
      for (int index = 0; index < connection_count; index++) {
        struct connection *connection = &connections[index];
        if (mode == MODE_STREAM && connection->state == ACTIVE &&
            connection->received == connection->generated)
          half_close(connection);
      }
    }
    if (time >= drain_end_ns) {
      for (int index = 0; index < connection_count; index++) {
        struct connection *connection = &connections[index];
        if (connection->state != DONE) {
          fail(connection, "%llu byte(s) never echoed (or the server did not close)",
               (unsigned long long)(connection->generated - connection->received));
        }
      }
      break;
    }
    int64_t next = cpu_at_start < 0 ? window_start_ns : cpu_at_end < 0 ? window_end_ns : drain_end_ns;
    int timeout_ms = (int)((next - time + 999999) / 1000000);
    if (timeout_ms > 100) timeout_ms = 100;
    if (timeout_ms < 0) timeout_ms = 0;
    int ready = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      fail(NULL, "epoll_wait: %s", strerror(errno));
      break;
    }
    for (int index = 0; index < ready; index++) {
      on_event(events[index].data.ptr, events[index].events, buffer, now_ns());
    }
  }
  /* Ended early (every connection done before the window's end): the CPU up to now. */
  int64_t end_ns = now_ns();
  if (cpu_at_start < 0) {
    user_cpu_at_start = user_cpu_seconds();
    cpu_at_start = cpu_seconds();
    cpu_start_ns = end_ns;
  }
  if (cpu_at_end < 0) {
    user_cpu_at_end = user_cpu_seconds();
    cpu_at_end = cpu_seconds();
    cpu_end_ns = end_ns;
  }
  for (int index = 0; index < connection_count; index++) {
    if (connections[index].state != DONE) close_connection(&connections[index]);
  }

  printf("{\"operations\":%llu,\"windowBytes\":%llu,\"verifiedBytes\":%llu,\"connectionsOpened\":%llu,"
         "\"failureCount\":%llu,\"failures\":[",
         (unsigned long long)operations, (unsigned long long)window_bytes,
         (unsigned long long)verified_bytes, (unsigned long long)connections_opened,
         (unsigned long long)failure_count);
  for (uint64_t index = 0; index < failure_count && index < MAX_FAILURES_DESCRIBED; index++) {
    if (index > 0) putchar(',');
    json_string(failures[index]);
  }
  printf("],\"latency\":[");
  int is_first = 1;
  for (size_t slot = 0; has_latency && slot < HISTOGRAM_SLOTS; slot++) {
    if (histogram[slot] == 0) continue;
    printf("%s[%llu,%llu]", is_first ? "" : ",", (unsigned long long)slot_value(slot),
           (unsigned long long)histogram[slot]);
    is_first = 0;
  }
  printf("],\"cpuSeconds\":%.6f,\"userCpuSeconds\":%.6f,\"cpuWindowMs\":%.3f}\n",
         cpu_at_end - cpu_at_start, user_cpu_at_end - user_cpu_at_start,
         (double)(cpu_end_ns - cpu_start_ns) / 1e6);
  fflush(stdout);
  return 0;
}
