/*
 * Tunables of the HTTP server and the API (kernel/http). One place for every limit,
 * timeout and buffer size the server, parser, JSON reader and API handlers use.
 */
#ifndef CLLM_HTTP_PARAM_H
#define CLLM_HTTP_PARAM_H

/* Request line plus header block, bytes; larger -> 431. */
#define HTTP_MAX_HEADER_BYTES 8192
/* Header fields per request; more -> 431. */
#define HTTP_MAX_HEADERS 48
/* Request body after de-chunking, bytes; larger -> 413. */
#define HTTP_MAX_BODY_BYTES (256 * 1024)
/* CR/LF bytes before a request line ignored as if nothing arrived (RFC 9112 2.2: at
 * least one empty line); past this they count as the start of a request, so blank
 * lines sent now and then cannot hold a connection open without a request timeout. */
#define HTTP_MAX_BLANK_BYTES 4
/* One chunk-size line of a chunked body (size, extensions), bytes; longer -> 400. */
#define HTTP_MAX_CHUNK_LINE 128

/* Open HTTP connections. Kept below the TCP connection pool (TCP_MAX_CONNS in
 * net/net_param.h, with the echo service's share) so a new SYN always finds a slot;
 * an accept at the limit resets one idle or unfinished connection to make room
 * (server.c), or is refused with 503 when every connection is producing or
 * delivering a response. */
#define HTTP_MAX_CONNS 72
/* A connection younger than this that has not sent a whole request is never the one
 * reset to make room, ms: in a burst of connects each gets the time to send its
 * request (then it is answered, with 503 if the server is full). */
#define HTTP_ACCEPT_GRACE_MS 1000
/* Retry-After of a 503 that a retry can cure (server full, generation slots busy), s. */
#define HTTP_RETRY_AFTER_S 1
/* A connection the server closed whose peer has not closed its side becomes
 * eligible for that reset this long after its last byte out, ms (its response has
 * been acknowledged by then). */
#define HTTP_CLOSE_GRACE_MS 1000
/* A keep-alive connection with no request in progress is closed after this, ms. */
#define HTTP_IDLE_TIMEOUT_MS 30000
/* A request must arrive completely (head and body) within this of its first byte, ms;
 * a slower client gets 408 and the connection is closed. cllm.request_timeout_ms=
 * overrides it. */
#define HTTP_REQUEST_TIMEOUT_MS 15000
/* A response that cannot be delivered (peer not reading) for this long is aborted, ms. */
#define HTTP_SEND_TIMEOUT_MS 60000
/* Bytes received while a response is still being produced (pipelining), held per
 * connection; more -> the connection is closed after the current response. */
#define HTTP_MAX_PENDING_BYTES (64 * 1024)
/* Unsent response bytes per connection above which generation pauses for that
 * connection (backpressure from a slow reader). */
#define HTTP_OUT_HIGH_WATER (16 * 1024)
/* Growable buffers (responses, generated text) never grow past this, bytes. */
#define HTTP_MAX_BUF_BYTES (4 * 1024 * 1024)

/* JSON: nesting depth of arrays and objects; deeper -> error. */
#define JSON_MAX_DEPTH 64
/* JSON: arena bytes added to what a document's length requires (json_parse). */
#define JSON_ARENA_BASE 4096

/* API: chat messages per request. */
#define API_MAX_MESSAGES 64
/* API: tokens accepted by /detokenize and produced by /tokenize. */
#define API_MAX_TOKENS 65536
/* API: room for the network stack's counters in /metrics, bytes. */
#define API_NET_STATS_BYTES 16384
/* API: most simultaneous generations (slots); another request gets 503. The KV pool
 * bounds them too: past what its blocks hold, the scheduler preempts or holds
 * sequences back (kernel/llm/sched.h), so a slot is cheap. Leaves HTTP_MAX_CONNS room
 * for requests that generate nothing (/health, /metrics). */
#define API_MAX_SLOTS 64

#endif
