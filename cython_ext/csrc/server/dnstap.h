/* dnstap.h — dnstap logging of queries and responses: one lock-free single-producer ring
 * per worker, and a writer thread that encodes AUTH_QUERY / AUTH_RESPONSE messages
 * (lib/dnstap_pb.h) into Frame Streams on a collector's unix socket or in a file.
 *
 * A worker copies the few facts of a message (addresses, ports, times, the DNS query and
 * response bytes) into its own ring and goes on: no lock, no system call, no Python; when
 * the ring is full the message is dropped and counted, never waited for.  The writer
 * thread alone talks to the sink: the Frame Streams bidirectional handshake on a socket
 * (READY, ACCEPT, START, then data frames; STOP and FINISH at the end), unidirectional
 * START on a file; a collector that goes away is reconnected to, once a second.
 */
#ifndef RD_DNSTAP_H
#define RD_DNSTAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* The Frame Streams content type of dnstap (the dnstap.proto Dnstap message). */
#define RD_DNSTAP_CONTENT_TYPE "protobuf:dnstap.Dnstap"

typedef struct rd_dnstap_config {
    const char *path;            /* the socket's or the file's path */
    int unix_socket;             /* 1: connect to a collector's socket; 0: write a file */
    int queries, responses;      /* which messages to write */
    uint32_t sample;             /* log one query in `sample` (>= 1), per worker */
    size_t ring_bytes;           /* per worker, a power of two >= 65536 */
    const char *identity;        /* dnstap identity ("" for none) */
    const char *version;         /* dnstap version ("" for none) */
} rd_dnstap_config;

typedef struct rd_dnstap rd_dnstap;
typedef struct rd_dnstap_ring rd_dnstap_ring;

/* What a worker knows of one answered query. */
typedef struct rd_dnstap_event {
    const struct sockaddr *client;   /* sockaddr_in or sockaddr_in6 */
    const struct sockaddr *server;   /* the address asked (same family), or NULL */
    int tcp;
    struct timespec query_time, response_time;
    const uint8_t *query;            /* NULL: no query message (the later messages of a
                                        zone transfer: responses only) */
    size_t query_len;
    const uint8_t *response;         /* NULL or response_len 0: none was sent */
    size_t response_len;
} rd_dnstap_event;

/* Make the rings (nrings: one per worker that will log) and start the writer thread.
 * NULL with a reason in err on failure. */
rd_dnstap *rd_dnstap_start(const rd_dnstap_config *cfg, int nrings, char *err, size_t errlen);

/* Ring `i` of the logger, for worker i (0 <= i < nrings). */
rd_dnstap_ring *rd_dnstap_ring_at(rd_dnstap *d, int i);

/* Worker side: 1 when this query is one to log (every sample-th, counted per ring). */
int rd_dnstap_sampled(rd_dnstap_ring *r);

/* Worker side: copy one event into the ring (the writer encodes it later); never blocks.
 * Returns 0, or -1 when the ring was full (its messages are dropped and counted). */
int rd_dnstap_log(rd_dnstap_ring *r, const rd_dnstap_event *e);

/* Stop the writer: it writes what the rings hold, ends the stream (STOP, and waits a
 * little for FINISH on a socket), closes the sink.  Call after the workers stopped. */
void rd_dnstap_stop(rd_dnstap *d);
void rd_dnstap_free(rd_dnstap *d);

/* Counted in dnstap messages (an event makes a query message, a response message, or
 * both, as configured); once the rings are drained, logged == written + the messages lost
 * to a sink that was away, and dropped counts both kinds of loss. */
typedef struct rd_dnstap_counters {
    uint64_t logged;      /* messages the workers put in their rings */
    uint64_t dropped;     /* messages lost: a ring was full, or the sink was away */
    uint64_t written;     /* messages written to the sink */
    uint64_t connects;    /* times the sink was opened (reconnections included) */
    int connected;        /* the sink is open now */
} rd_dnstap_counters;

void rd_dnstap_counters_get(const rd_dnstap *d, rd_dnstap_counters *out);

#endif
