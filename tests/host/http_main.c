/*
 * Host harness for kernel/http, driven by tests/test_http*.py, test_json*.py and
 * test_api*.py:
 *   http_main parse FILE [STRIDE]  parse a request stream whole, then split at every
 *                               STRIDE-th byte boundary and one byte at a time; print
 *                               the requests and "splits ok" if every split parsed the same
 *   http_main json FILE         parse JSON; print "ok <re-encoded>" or "error <msg>"
 *   http_main fuzz N SEED       N random mutations of JSON and HTTP samples
 *   http_main serve [MODEL] < SCRIPT  drive the server glue through a fake transport
 *                               (MODEL: a model file, when linked with http_llm_host.c)
 * Serve script lines: backend ready|none|loading|error, key K, open ID, send ID HEX,
 * space ID N (bytes the transport accepts from now on, -1: unlimited), writable ID,
 * fin ID, reset ID, clock MS, poll N (N turns: the generations' step, then the
 * server's, as the kernel's poll loop runs them), run (poll until no connection is
 * busy), stamp (print "stamp US", the monotonic clock: benchmarks time rounds), dump.
 * Output: "out ID HEX" and "state ID open|closing|closed" per connection, then
 * "conns N" and "tasks N", and once every connection is closed "after close: conns N
 * tasks N running N" (running: generations the backend still steps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/api.h"
#include "http/conn.h"
#include "http/http_parse.h"
#include "http/json.h"
#include "http/server.h"
#include "port.h"

/* The model behind the API: the fake (http_fake_backend.c) or the real engine
 * (http_llm_host.c, loading the model named on the command line); the driver of its
 * generations (the kernel's gen_poll) and how many it runs; its counters for /metrics. */
const struct api_backend *harness_backend(const char *model);
void harness_set_status(int status);
bool harness_gen_poll(void);
int harness_gen_active(void);
size_t harness_metrics(char *buf, size_t cap);

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static void hex_append(struct hbuf *b, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        hbuf_printf(b, "%02x", p[i]);
}

/* Describe every request of a stream fed in the given pieces. */
static void parse_describe(const uint8_t *data, size_t len, const size_t *cuts, size_t n_cuts,
                           struct hbuf *out) {
    struct http_parser *p = malloc(sizeof(*p));
    http_parser_init(p);
    size_t piece = 0, start = 0;
    while (piece <= n_cuts) {
        size_t end = piece < n_cuts ? cuts[piece] : len;
        const uint8_t *d = data + start;
        size_t n = end - start;
        while (n > 0) {
            size_t used = 0;
            enum http_parse_result r = http_parser_feed(p, d, n, &used);
            d += used;
            n -= used;
            if (r == HTTP_PARSE_ERROR) {
                hbuf_printf(out, "error %d %s\n", p->status, p->error);
                goto done;
            }
            if (r == HTTP_PARSE_DONE) {
                struct http_request *q = &p->req;
                hbuf_printf(out,
                            "request %s %s path=%s 1.%d keep_alive=%d chunked=%d continue=%d\n",
                            q->method, q->target, q->path, q->version_minor, q->keep_alive,
                            q->chunked, q->expect_continue);
                for (size_t i = 0; i < q->n_headers; i++)
                    hbuf_printf(out, "header %s: %s\n", q->headers[i].name, q->headers[i].value);
                hbuf_puts(out, "body ");
                hex_append(out, q->body, q->body_len);
                hbuf_puts(out, "\n");
                http_parser_reset(p);
            }
        }
        start = end;
        piece++;
    }
    hbuf_printf(out, "end started=%d\n", p->started);
done:
    http_parser_free(p);
    free(p);
}

static int cmd_parse(const char *path, size_t stride) {
    size_t len;
    uint8_t *data = (uint8_t *)read_file(path, &len);
    struct hbuf whole, other;
    hbuf_init(&whole);
    hbuf_init(&other);
    parse_describe(data, len, NULL, 0, &whole);
    fputs(whole.data, stdout);
    int bad = 0;
    for (size_t i = 1; i < len && !bad; i += stride) {
        hbuf_reset(&other);
        parse_describe(data, len, &i, 1, &other);
        if (strcmp(whole.data, other.data) != 0) {
            printf("split mismatch at %zu:\n%s", i, other.data);
            bad = 1;
        }
    }
    size_t *cuts = malloc((len + 1) * sizeof(size_t));
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    hbuf_reset(&other);
    parse_describe(data, len, cuts, len ? len - 1 : 0, &other);
    if (!bad && strcmp(whole.data, other.data) != 0) {
        printf("bytewise mismatch:\n%s", other.data);
        bad = 1;
    }
    if (!bad)
        printf("splits ok %zu\n", len);
    free(cuts);
    hbuf_free(&whole);
    hbuf_free(&other);
    free(data);
    return 0;
}

static int cmd_json(const char *path) {
    size_t len;
    char *data = read_file(path, &len);
    struct json_doc doc;
    if (json_parse(&doc, data, len) != 0) {
        printf("error %zu %s\n", doc.err_pos, doc.err);
    } else {
        struct hbuf b;
        struct json_writer w;
        hbuf_init(&b);
        json_write_init(&w, &b);
        json_write_value(&w, doc.root);
        printf("ok %s\n", b.data);
        hbuf_free(&b);
    }
    json_doc_free(&doc);
    free(data);
    return 0;
}

static const char *const fuzz_json[] = {
    "{\"prompt\":\"hi \\u00e9\\ud83d\\ude00\",\"n\":[1,-2.5e3,0.125,true,false,null],\"o\":{}}",
    "[[[[{\"a\":[{\"b\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}]}]]]]",
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]}",
    "-0.0e+10",
    "\"\xe2\x82\xac\xf0\x9f\x98\x80\"",
    "123456789012345678901234567890",
};

static const char *const fuzz_http[] = {
    "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"prompt\":\"abc\"}\n",
    "POST /completion HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;ext=1\r\n{\"pro\r\na\r\nmpt\":\"ab\"}\r\n0\r\nX-T: 1\r\n\r\n",
    "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
};

static uint64_t fuzz_rng;

static uint32_t fuzz_next(void) {
    fuzz_rng ^= fuzz_rng << 13;
    fuzz_rng ^= fuzz_rng >> 7;
    fuzz_rng ^= fuzz_rng << 17;
    return (uint32_t)(fuzz_rng >> 16);
}

static size_t fuzz_mutate(const char *src, uint8_t *buf, size_t cap) {
    size_t n = strlen(src);
    memcpy(buf, src, n);
    int k = 1 + (int)(fuzz_next() % 6);
    static const char tokens[] = "{}[]\",:\\u0d8\r\n \t-+.eE1";
    for (int i = 0; i < k; i++) {
        size_t pos = n ? fuzz_next() % n : 0;
        switch (fuzz_next() % 5) {
        case 0: /* flip bits */
            if (n)
                buf[pos] ^= (uint8_t)(1u << (fuzz_next() % 8));
            break;
        case 1: /* delete */
            if (n) {
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            }
            break;
        case 2: /* insert a syntax byte */
            if (n + 1 < cap) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = (uint8_t)tokens[fuzz_next() % (sizeof(tokens) - 1)];
                n++;
            }
            break;
        case 3: /* random byte */
            if (n)
                buf[pos] = (uint8_t)fuzz_next();
            break;
        default: /* truncate */
            n = pos;
            break;
        }
    }
    return n;
}

static int cmd_fuzz(long iters, unsigned long seed) {
    fuzz_rng = seed * 0x9e3779b97f4a7c15ull + 1;
    uint8_t buf[1024];
    long ok = 0, bad = 0;
    struct http_parser *p = malloc(sizeof(*p));
    http_parser_init(p);
    for (long it = 0; it < iters; it++) {
        if (it % 2 == 0) {
            size_t n =
                fuzz_mutate(fuzz_json[fuzz_next() % ARRAY_SIZE(fuzz_json)], buf, sizeof(buf));
            /* An exact-size heap copy, so ASan catches reads past the end. */
            char *copy = malloc(n ? n : 1);
            memcpy(copy, buf, n);
            struct json_doc doc;
            if (json_parse(&doc, copy, n) == 0) {
                struct hbuf b;
                struct json_writer w;
                hbuf_init(&b);
                json_write_init(&w, &b);
                json_write_value(&w, doc.root);
                /* What the writer produced must parse again. */
                struct json_doc again;
                if (json_parse(&again, b.data, b.len) != 0) {
                    printf("reparse failed: %s\n", again.err);
                    return 1;
                }
                json_doc_free(&again);
                hbuf_free(&b);
                ok++;
            } else {
                bad++;
            }
            json_doc_free(&doc);
            free(copy);
        } else {
            size_t n =
                fuzz_mutate(fuzz_http[fuzz_next() % ARRAY_SIZE(fuzz_http)], buf, sizeof(buf));
            size_t off = 0;
            http_parser_reset(p);
            while (off < n) {
                size_t step = 1 + fuzz_next() % 16, used = 0;
                if (step > n - off)
                    step = n - off;
                uint8_t *copy = malloc(step);
                memcpy(copy, buf + off, step);
                enum http_parse_result r = http_parser_feed(p, copy, step, &used);
                free(copy);
                off += used;
                if (r == HTTP_PARSE_ERROR)
                    break;
                if (r == HTTP_PARSE_DONE)
                    http_parser_reset(p);
            }
        }
    }
    http_parser_free(p);
    free(p);
    printf("fuzz ok %ld valid %ld invalid\n", ok, bad);
    return 0;
}

/* ---- serve: a fake transport ---- */

#define MAX_FAKE 128

struct fake_conn {
    int id;
    struct http_conn *c;
    struct hbuf rx; /* what the server sent */
    long allowance; /* bytes the transport still accepts; -1 unlimited */
    bool close_requested;
    bool closed;
};

static struct fake_conn fakes[MAX_FAKE];
static size_t n_fakes;

static size_t fake_send(void *t, const void *data, size_t len) {
    struct fake_conn *f = t;
    if (f->close_requested || f->closed)
        return 0;
    size_t n = len;
    if (f->allowance >= 0 && (long)n > f->allowance)
        n = (size_t)f->allowance;
    hbuf_append(&f->rx, data, n);
    if (f->allowance >= 0)
        f->allowance -= (long)n;
    return n;
}

static void fake_close(void *t) {
    struct fake_conn *f = t;
    f->close_requested = true;
}

static void fake_abort(void *t) {
    struct fake_conn *f = t;
    f->closed = true;
    struct http_conn *c = f->c;
    f->c = NULL;
    if (c)
        http_conn_closed(c);
}

static const struct http_transport_ops fake_ops = {fake_send, fake_close, fake_abort};

static struct fake_conn *fake_find(int id) {
    for (size_t i = 0; i < n_fakes; i++) {
        if (fakes[i].id == id)
            return &fakes[i];
    }
    fprintf(stderr, "no connection %d\n", id);
    exit(2);
}

/* The transport finishes an orderly close the server asked for. */
static void fake_settle(void) {
    for (size_t i = 0; i < n_fakes; i++) {
        struct fake_conn *f = &fakes[i];
        if (f->close_requested && !f->closed) {
            f->closed = true;
            struct http_conn *c = f->c;
            f->c = NULL;
            if (c)
                http_conn_closed(c);
        }
    }
}

static bool any_busy(void) {
    for (size_t i = 0; i < n_fakes; i++) {
        if (fakes[i].c && !fakes[i].closed && (fakes[i].c->busy || fakes[i].c->pending.len))
            return true;
    }
    return false;
}

/* One turn of the kernel's poll loop without the network: gen_poll, http_poll. */
static void turn(uint64_t now) {
    harness_gen_poll();
    http_server_poll_at(now);
    fake_settle();
}

static int hexval(char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int cmd_serve(const char *model) {
    const struct api_backend *backend = harness_backend(model);
    if (!backend)
        return 1;
    api_configure(backend, NULL);
    api_metrics_add_source(harness_metrics);
    http_server_host(&api_app);
    static char line[1 << 20];
    uint64_t now = 1000;
    while (fgets(line, sizeof(line), stdin)) {
        char cmd[32] = "", arg[64] = "";
        int id = 0;
        if (sscanf(line, "%31s", cmd) != 1)
            continue;
        if (strcmp(cmd, "backend") == 0) {
            sscanf(line, "%*s %63s", arg);
            harness_set_status(strcmp(arg, "ready") == 0     ? API_MODEL_READY
                               : strcmp(arg, "loading") == 0 ? API_MODEL_LOADING
                               : strcmp(arg, "error") == 0   ? API_MODEL_ERROR
                                                             : API_MODEL_NONE);
        } else if (strcmp(cmd, "key") == 0) {
            static char key[1024]; /* room for keys longer than the API accepts */
            sscanf(line, "%*s %1023s", key);
            api_configure(backend, key);
        } else if (strcmp(cmd, "open") == 0) {
            sscanf(line, "%*s %d", &id);
            if (n_fakes == MAX_FAKE) {
                fprintf(stderr, "open %d: more than %d connections in one script\n", id, MAX_FAKE);
                return 1;
            }
            struct fake_conn *f = &fakes[n_fakes++];
            memset(f, 0, sizeof(*f));
            f->id = id;
            f->allowance = -1;
            hbuf_init(&f->rx);
            f->c = http_conn_open(f, &fake_ops, now);
            if (!f->c)
                f->close_requested = f->closed = true;
        } else if (strcmp(cmd, "send") == 0) {
            char *hex = line;
            sscanf(line, "%*s %d", &id);
            struct fake_conn *f = fake_find(id);
            hex = strchr(strchr(line, ' ') + 1, ' ');
            size_t n = 0;
            uint8_t *data = malloc(strlen(line) / 2 + 1);
            if (hex) {
                for (hex++; hex[0] && hex[1] && hex[0] != '\n'; hex += 2)
                    data[n++] = (uint8_t)(hexval(hex[0]) * 16 + hexval(hex[1]));
            }
            if (f->c && !f->closed)
                http_conn_recv(f->c, data, n, now);
            free(data);
        } else if (strcmp(cmd, "space") == 0) {
            long n = 0;
            sscanf(line, "%*s %d %ld", &id, &n);
            fake_find(id)->allowance = n;
        } else if (strcmp(cmd, "writable") == 0) {
            sscanf(line, "%*s %d", &id);
            struct fake_conn *f = fake_find(id);
            if (f->c && !f->closed)
                http_conn_writable(f->c, now);
        } else if (strcmp(cmd, "fin") == 0) {
            sscanf(line, "%*s %d", &id);
            struct fake_conn *f = fake_find(id);
            if (f->c && !f->closed)
                http_conn_peer_fin(f->c, now);
        } else if (strcmp(cmd, "reset") == 0) {
            sscanf(line, "%*s %d", &id);
            struct fake_conn *f = fake_find(id);
            f->closed = true;
            if (f->c)
                http_conn_closed(f->c);
            f->c = NULL;
        } else if (strcmp(cmd, "clock") == 0) {
            unsigned long long ms = 0;
            sscanf(line, "%*s %llu", &ms);
            now = ms;
        } else if (strcmp(cmd, "poll") == 0) {
            int n = 1;
            sscanf(line, "%*s %d", &n);
            for (int i = 0; i < n; i++)
                turn(now);
        } else if (strcmp(cmd, "stamp") == 0) {
            printf("stamp %llu\n", (unsigned long long)port_time_us());
        } else if (strcmp(cmd, "run") == 0) {
            for (int i = 0; i < 1000000 && (i == 0 || any_busy()); i++)
                turn(now);
            http_server_poll_at(now);
            fake_settle();
        }
        fake_settle();
    }
    for (size_t i = 0; i < n_fakes; i++) {
        struct fake_conn *f = &fakes[i];
        struct hbuf b;
        hbuf_init(&b);
        hex_append(&b, f->rx.data, f->rx.len);
        printf("out %d %s\n", f->id, b.data ? b.data : "");
        printf("state %d %s\n", f->id,
               f->closed            ? "closed"
               : f->close_requested ? "closing"
                                    : "open");
        hbuf_free(&b);
    }
    printf("conns %zu\ntasks %d\n", http_server_n_conns(), api_tasks_active());
    for (size_t i = 0; i < n_fakes; i++) {
        if (fakes[i].c && !fakes[i].closed)
            http_conn_closed(fakes[i].c);
        hbuf_free(&fakes[i].rx);
    }
    printf("after close: conns %zu tasks %d running %d\n", http_server_n_conns(),
           api_tasks_active(), harness_gen_active());
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "parse") == 0)
        return cmd_parse(argv[2], argc >= 4 ? strtoul(argv[3], NULL, 10) : 1);
    if (argc >= 3 && strcmp(argv[1], "json") == 0)
        return cmd_json(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "fuzz") == 0)
        return cmd_fuzz(atol(argv[2]), strtoul(argv[3], NULL, 10));
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc >= 3 ? argv[2] : NULL);
    fprintf(stderr,
            "usage: http_main parse FILE | json FILE | fuzz N SEED | serve [MODEL] < SCRIPT\n");
    return 2;
}
