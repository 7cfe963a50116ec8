/*
 * libFuzzer target: the whole request path, from bytes on a connection through the
 * HTTP server (kernel/http/server.c), the API (api*.c) and the generation scheduler
 * (kernel/llm/sched.c) to the real engine on a tiny model ($CLLM_FUZZ_MODEL, a GGUF
 * loaded once by tests/host/http_llm_host.c). The input is a list of operations on up
 * to four connections of a fake transport, as the kernel's TCP glue would drive them:
 *   op & 7 = 0..3: bytes arrive on connection op (next byte: length, then the bytes)
 *            4: poll turns (next byte, at most 64: the scheduler's step, then the server's)
 *            5: the peer resets a connection (next byte & 3)
 *            6: the peer sends FIN on a connection (next byte & 3)
 *            7: the clock moves (next byte x 100 ms: idle and request timeouts)
 * Afterwards every connection is closed and the server must come back to nothing:
 * no connection, no task, no generation left running. Built by tests/fuzzing.py
 * with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/api.h"
#include "http/server.h"
#include "llm/ops.h"

const struct api_backend *harness_backend(const char *model);
bool harness_gen_poll(void);
int harness_gen_active(void);
size_t harness_metrics(char *buf, size_t cap);

#define FUZZ_CONNS 4

struct fconn {
    struct http_conn *c;
    bool close_requested, closed;
};

static struct fconn conns[FUZZ_CONNS];
static uint64_t now_ms = 1000;

static size_t f_send(void *t, const void *data, size_t len) {
    struct fconn *f = t;
    return f->close_requested || f->closed ? 0 : len; /* what the server sends is dropped */
}

static void f_close(void *t) {
    ((struct fconn *)t)->close_requested = true;
}

static void f_gone(struct fconn *f) {
    f->closed = true;
    struct http_conn *c = f->c;
    f->c = NULL;
    if (c)
        http_conn_closed(c);
}

static void f_abort(void *t) {
    f_gone(t);
}

static const struct http_transport_ops f_ops = {f_send, f_close, f_abort};

static void settle(void) {
    for (int i = 0; i < FUZZ_CONNS; i++)
        if (conns[i].close_requested && !conns[i].closed)
            f_gone(&conns[i]);
}

static void turn(void) {
    harness_gen_poll();
    http_server_poll_at(now_ms);
    settle();
}

static struct fconn *conn(int i) {
    struct fconn *f = &conns[i];
    if (!f->c && !f->closed) {
        f->c = http_conn_open(f, &f_ops, now_ms);
        if (!f->c)
            f->closed = true;
    }
    return f->c && !f->closed ? f : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    ops_select(true);
    const char *model = getenv("CLLM_FUZZ_MODEL");
    const struct api_backend *b = model ? harness_backend(model) : NULL;
    if (!b) {
        fprintf(stderr, "fuzz_server: set CLLM_FUZZ_MODEL to a small GGUF model\n");
        exit(2);
    }
    api_configure(b, NULL);
    api_metrics_add_source(harness_metrics);
    http_server_host(&api_app);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    memset(conns, 0, sizeof(conns));
    size_t off = 0;
    while (off + 1 < size) {
        uint8_t op = data[off] & 7, arg = data[off + 1];
        off += 2;
        if (op < FUZZ_CONNS) {
            size_t n = MIN((size_t)arg, size - off);
            struct fconn *f = conn(op);
            if (f)
                http_conn_recv(f->c, data + off, n, now_ms);
            settle();
            off += n;
        } else if (op == 4) {
            for (int i = 0; i < MIN(arg, 64); i++)
                turn();
        } else if (op == 5) {
            struct fconn *f = &conns[arg & 3];
            if (f->c && !f->closed)
                f_gone(f);
        } else if (op == 6) {
            struct fconn *f = &conns[arg & 3];
            if (f->c && !f->closed)
                http_conn_peer_fin(f->c, now_ms);
            settle();
        } else {
            now_ms += (uint64_t)arg * 100;
            turn();
        }
    }
    for (int i = 0; i < FUZZ_CONNS; i++)
        if (conns[i].c && !conns[i].closed)
            f_gone(&conns[i]);
    for (int i = 0; i < 4; i++)
        turn();
    if (http_server_n_conns() != 0 || api_tasks_active() != 0 || harness_gen_active() != 0) {
        fprintf(stderr, "left behind: conns %zu tasks %d running %d\n", http_server_n_conns(),
                api_tasks_active(), harness_gen_active());
        abort();
    }
    return 0;
}
