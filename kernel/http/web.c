/*
 * The chat page served at GET /. cllm build embeds kernel/http/web/chat.html in the
 * image as symbol web_page (cllm_build/steps/web.py), plain and gzip-compressed;
 * this file picks the form the client accepts. Called through api.c's route table.
 *
 * Blob layout (little-endian u32 fields, 4-byte aligned, written by steps/web.py):
 *   magic "CWEB" | plain_len | gz_len | plain bytes (plain_len) | gz bytes (gz_len)
 *
 * The symbol is weak: a build without the page (the host harnesses) answers 404.
 */
#include "http/web.h"
#include "http/conn.h"

extern const uint8_t web_page[] __attribute__((weak));

#define WEB_MAGIC "CWEB"
#define WEB_HEADER_LEN 12u

/* Headers of both forms: caches key on Accept-Encoding, the browser revalidates (a new
 * image may serve a new page), and the page may load nothing from elsewhere. */
#define WEB_HEADERS                                                                                \
    "Vary: Accept-Encoding\r\n"                                                                    \
    "Cache-Control: no-cache\r\n"                                                                  \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "                    \
    "style-src 'unsafe-inline'\r\n"

static uint32_t web_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool web_span_ieq(const char *s, size_t n, const char *word) {
    size_t i = 0;
    for (; i < n && word[i]; i++) {
        char a = s[i], b = word[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return false;
    }
    return i == n && word[i] == '\0';
}

/* q is zero when its value is 0, 0., 0.0, 0.00 or 0.000 (RFC 9110 12.4.2). */
static bool web_q_zero(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p >= end || *p != '0')
        return false;
    for (p++; p < end && (*p == '.' || *p == '0'); p++)
        ;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p == end;
}

bool web_accepts_gzip(const char *v) {
    if (!v)
        return false;
    bool star = false, gzip = false, gzip_seen = false;
    while (*v) {
        const char *end = v;
        while (*end && *end != ',')
            end++;
        const char *name = v;
        while (name < end && (*name == ' ' || *name == '\t'))
            name++;
        const char *name_end = name;
        while (name_end < end && *name_end != ';' && *name_end != ' ' && *name_end != '\t')
            name_end++;
        bool refused = false;
        for (const char *p = name_end; p < end; p++) {
            if (*p != ';')
                continue;
            const char *q = p + 1;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (q + 1 < end && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                const char *qend = q + 2;
                while (qend < end && *qend != ';')
                    qend++;
                refused = web_q_zero(q + 2, qend);
            }
        }
        size_t n = (size_t)(name_end - name);
        if (web_span_ieq(name, n, "gzip") || web_span_ieq(name, n, "x-gzip")) {
            gzip_seen = true;
            gzip = gzip || !refused;
        } else if (web_span_ieq(name, n, "*")) {
            star = !refused;
        }
        v = *end ? end + 1 : end;
    }
    /* An explicit gzip entry wins over "*". */
    return gzip_seen ? gzip : star;
}

void web_page_handle(struct http_conn *c, const struct http_request *req) {
    if (!web_page || memcmp(web_page, WEB_MAGIC, 4) != 0) {
        http_respond_error(c, 404, "File Not Found: / (this image has no chat page)");
        return;
    }
    uint32_t plain_len = web_u32(web_page + 4);
    uint32_t gz_len = web_u32(web_page + 8);
    const char *plain = (const char *)web_page + WEB_HEADER_LEN;
    if (gz_len > 0 && web_accepts_gzip(http_header_get(req, "Accept-Encoding")))
        http_respond(c, 200, "text/html; charset=utf-8", plain + plain_len, gz_len,
                     "Content-Encoding: gzip\r\n" WEB_HEADERS);
    else
        http_respond(c, 200, "text/html; charset=utf-8", plain, plain_len, WEB_HEADERS);
}
