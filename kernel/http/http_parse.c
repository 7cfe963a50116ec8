/*
 * Incremental HTTP/1.1 request parser (see http_parse.h). Called by server.c with
 * each received segment. The header block is buffered whole and parsed once its
 * empty line arrives, so the result cannot depend on how the bytes were split; the
 * body is then read by a small state machine (Content-Length or chunked).
 *
 * Grammar (RFC 9112), as enforced here:
 *   request-line = method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
 *   field-line   = field-name ":" OWS field-value OWS CRLF   (no space before ':',
 *                  no obs-fold, no control characters but HTAB in values)
 *   chunked-body = *( chunk-size [ chunk-ext ] CRLF chunk-data CRLF ) "0" [ext] CRLF
 *                  *( trailer-field CRLF ) CRLF
 * A bare LF is accepted as a line end (RFC 9112 section 2.2); a bare CR is not.
 */
#include "http/http_parse.h"

static bool http_is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* memchr, which the kernel's string library does not provide. */
static char *http_find(const char *s, int c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == (char)c)
            return (char *)s + i;
    }
    return NULL;
}

static char http_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool http_str_ieq(const char *a, const char *b) {
    while (*a && *b) {
        if (http_lower(*a) != http_lower(*b))
            return false;
        a++;
        b++;
    }
    return *a == *b;
}

/* True if s starts with the lower-case prefix, compared without case. */
static bool http_str_prefix(const char *s, const char *prefix) {
    for (; *prefix; s++, prefix++) {
        if (http_lower(*s) != *prefix)
            return false;
    }
    return true;
}

const char *http_header_get(const struct http_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++) {
        if (http_str_ieq(r->headers[i].name, name))
            return r->headers[i].value;
    }
    return NULL;
}

static enum http_parse_result http_fail(struct http_parser *p, int status, const char *msg) {
    p->state = HTTP_PS_ERROR;
    p->status = status;
    snprintf(p->error, sizeof(p->error), "%s", msg);
    return HTTP_PARSE_ERROR;
}

void http_parser_init(struct http_parser *p) {
    memset(p, 0, sizeof(*p));
    http_parser_reset(p);
}

void http_parser_reset(struct http_parser *p) {
    char *body = p->body;
    size_t cap = p->body_cap;
    /* A large body buffer is not kept for the connection's next request. */
    if (body && cap > 64 * 1024) {
        port_free(body);
        body = NULL;
        cap = 0;
    }
    p->state = HTTP_PS_HEAD;
    p->status = 0;
    p->error[0] = 0;
    memset(&p->req, 0, sizeof(p->req));
    p->started = false;
    p->blank_bytes = 0;
    p->head_done = false;
    p->method_done = false;
    p->head_len = 0;
    p->line_start = 0;
    p->body = body;
    p->body_cap = cap;
    p->body_len = 0;
    p->chunk_left = 0;
    p->chunk_line_len = 0;
    p->trailer_bytes = 0;
    p->trailer_line_len = 0;
}

void http_parser_free(struct http_parser *p) {
    port_free(p->body);
    p->body = NULL;
    p->body_cap = 0;
}

static bool http_body_reserve(struct http_parser *p, size_t need) {
    if (need + 1 <= p->body_cap)
        return true;
    size_t cap = p->body_cap ? p->body_cap : 1024;
    while (cap < need + 1)
        cap *= 2;
    char *b = port_alloc(cap);
    if (!b)
        return false;
    if (p->body_len)
        memcpy(b, p->body, p->body_len);
    port_free(p->body);
    p->body = b;
    p->body_cap = cap;
    return true;
}

/* Parse a decimal Content-Length; false on anything but 1+ digits or overflow. */
static bool http_parse_length(const char *s, size_t *out) {
    size_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        size_t d = (size_t)(*s - '0');
        if (v > ((size_t)-1 - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* True if the comma-separated token list `list` contains `token` (no case). */
static bool http_list_has(const char *list, const char *token) {
    size_t tl = strlen(token);
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *start = s;
        while (*s && *s != ',')
            s++;
        const char *end = s;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == tl) {
            bool eq = true;
            for (size_t i = 0; i < tl; i++)
                eq = eq && http_lower(start[i]) == http_lower(token[i]);
            if (eq)
                return true;
        }
    }
    return false;
}

static enum http_parse_result http_parse_request_line(struct http_parser *p, char *line) {
    struct http_request *r = &p->req;
    char *s = line;
    r->method = s;
    while (http_is_tchar((unsigned char)*s))
        s++;
    if (s == line || *s != ' ')
        return http_fail(p, 400, "malformed request line: bad method");
    *s++ = 0;
    r->target = s;
    while ((unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f)
        s++;
    if (s == r->target || *s != ' ')
        return http_fail(p, 400, "malformed request line: bad request-target");
    *s++ = 0;
    if (strncmp(s, "HTTP/", 5) != 0 || s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' ||
        s[7] > '9' || s[8] != 0)
        return http_fail(p, 400, "malformed request line: bad HTTP version");
    if (s[5] != '1')
        return http_fail(p, 505, "HTTP version not supported: only HTTP/1.x");
    r->version_minor = s[7] == '0' ? 0 : 1;
    /* Origin form "/path?query", or the absolute form "http://host/path?query" that a
     * server must also accept (RFC 9112 section 3.2.2); the path is what routes. */
    const char *t = r->target;
    if (t[0] != '/') {
        size_t scheme = http_str_prefix(t, "http://") ? 7 : http_str_prefix(t, "https://") ? 8 : 0;
        if (scheme == 0)
            return http_fail(p, 400, "request-target must start with '/' or http://");
        t += scheme;
        while (*t && *t != '/' && *t != '?' && *t != '#')
            t++;
    }
    size_t i = 0;
    if (t[0] != '/')
        p->path_buf[i++] = '/'; /* "http://host" and "http://host?q" mean "/" */
    for (; *t && *t != '?' && *t != '#'; t++)
        p->path_buf[i++] = *t;
    p->path_buf[i] = 0;
    r->path = p->path_buf;
    return HTTP_PARSE_MORE;
}

static enum http_parse_result http_parse_field(struct http_parser *p, char *line) {
    struct http_request *r = &p->req;
    if (line[0] == ' ' || line[0] == '\t')
        return http_fail(p, 400, "obsolete header line folding is not accepted");
    char *s = line;
    while (http_is_tchar((unsigned char)*s))
        s++;
    if (s == line || *s != ':')
        return http_fail(p, 400, "malformed header field name");
    *s++ = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    char *value = s;
    for (char *q = value; *q; q++) {
        unsigned char c = (unsigned char)*q;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return http_fail(p, 400, "control character in a header value");
    }
    char *end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = 0;
    if (r->n_headers == HTTP_MAX_HEADERS)
        return http_fail(p, 431, "too many header fields");
    r->headers[r->n_headers].name = line;
    r->headers[r->n_headers].value = value;
    r->n_headers++;
    return HTTP_PARSE_MORE;
}

/* The header block is complete in head[0..head_len): split it into lines and check it. */
static enum http_parse_result http_parse_head(struct http_parser *p) {
    struct http_request *r = &p->req;
    char *s = p->head;
    char *end = p->head + p->head_len;
    bool first = true;
    while (s < end) {
        char *nl = http_find(s, '\n', (size_t)(end - s));
        if (!nl)
            break;
        char *le = nl;
        if (le > s && le[-1] == '\r')
            le--;
        *le = 0;
        if (http_find(s, '\r', (size_t)(le - s)) || http_find(s, 0, (size_t)(le - s)))
            return http_fail(p, 400, "stray CR or NUL in the header block");
        if (le == s)
            break; /* the empty line ending the block */
        enum http_parse_result res = first ? http_parse_request_line(p, s) : http_parse_field(p, s);
        if (res != HTTP_PARSE_MORE)
            return res;
        first = false;
        s = nl + 1;
    }
    if (first)
        return http_fail(p, 400, "empty request");

    r->keep_alive = r->version_minor >= 1;
    size_t n_host = 0;
    bool has_te = false;
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *name = r->headers[i].name;
        const char *value = r->headers[i].value;
        if (http_str_ieq(name, "Host")) {
            n_host++;
        } else if (http_str_ieq(name, "Content-Length")) {
            size_t v;
            if (!http_parse_length(value, &v))
                return http_fail(p, 400, "invalid Content-Length");
            if (r->has_length && v != r->content_length)
                return http_fail(p, 400, "conflicting Content-Length fields");
            r->has_length = true;
            r->content_length = v;
        } else if (http_str_ieq(name, "Transfer-Encoding")) {
            if (has_te || !http_str_ieq(value, "chunked"))
                return http_fail(p, 501, "unsupported Transfer-Encoding: only chunked");
            has_te = true;
            r->chunked = true;
        } else if (http_str_ieq(name, "Connection")) {
            if (http_list_has(value, "close"))
                r->keep_alive = false;
            else if (http_list_has(value, "keep-alive"))
                r->keep_alive = true;
        } else if (http_str_ieq(name, "Expect")) {
            if (http_str_ieq(value, "100-continue"))
                r->expect_continue = true;
        }
    }
    if (r->version_minor >= 1 && n_host != 1)
        return http_fail(p, 400, n_host ? "more than one Host field" : "missing Host field");
    if (r->chunked && r->has_length)
        return http_fail(p, 400, "both Content-Length and Transfer-Encoding");
    if (r->chunked && r->version_minor == 0)
        return http_fail(p, 400, "chunked Transfer-Encoding in an HTTP/1.0 request");
    if (r->has_length && r->content_length > HTTP_MAX_BODY_BYTES)
        return http_fail(p, 413, "request body too large");
    p->head_done = true;
    if (r->chunked) {
        p->state = HTTP_PS_CHUNK_SIZE;
    } else if (r->has_length && r->content_length > 0) {
        if (!http_body_reserve(p, r->content_length))
            return http_fail(p, 503, "out of memory for the request body");
        p->state = HTTP_PS_BODY;
    } else {
        p->state = HTTP_PS_DONE;
    }
    return HTTP_PARSE_MORE;
}

static enum http_parse_result http_chunk_size_line(struct http_parser *p) {
    char *s = p->chunk_line;
    size_t n = p->chunk_line_len;
    if (n && s[n - 1] == '\r')
        n--;
    s[n] = 0;
    size_t v = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char c = http_lower(s[i]);
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            break;
        if (v > HTTP_MAX_BODY_BYTES)
            return http_fail(p, 413, "request body too large");
        v = v * 16 + d;
    }
    if (i == 0)
        return http_fail(p, 400, "malformed chunk size");
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] != ';')
        return http_fail(p, 400, "malformed chunk size");
    if (http_find(s, '\r', n))
        return http_fail(p, 400, "stray CR in a chunk-size line");
    if (v > HTTP_MAX_BODY_BYTES - p->body_len)
        return http_fail(p, 413, "request body too large");
    p->chunk_line_len = 0;
    if (v == 0) {
        p->state = HTTP_PS_TRAILER;
        return HTTP_PARSE_MORE;
    }
    if (!http_body_reserve(p, p->body_len + v))
        return http_fail(p, 503, "out of memory for the request body");
    p->chunk_left = v;
    p->state = HTTP_PS_CHUNK_DATA;
    return HTTP_PARSE_MORE;
}

static void http_finish(struct http_parser *p) {
    if (!p->body) {
        static const char empty[1] = {0};
        p->req.body = empty;
    } else {
        p->body[p->body_len] = 0;
        p->req.body = p->body;
    }
    p->req.body_len = p->body_len;
    p->state = HTTP_PS_DONE;
}

enum http_parse_result http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
                                        size_t *consumed) {
    size_t i = 0;
    enum http_parse_result res = HTTP_PARSE_MORE;
    while (res == HTTP_PARSE_MORE && p->state != HTTP_PS_DONE && p->state != HTTP_PS_ERROR &&
           i < len) {
        uint8_t c = data[i];
        switch (p->state) {
        case HTTP_PS_HEAD:
            i++;
            /* Empty lines before the request line are skipped (RFC 9112 section 2.2). */
            if (p->head_len == 0 && (c == '\r' || c == '\n')) {
                if (++p->blank_bytes > HTTP_MAX_BLANK_BYTES)
                    p->started = true;
                break;
            }
            p->started = true;
            if (p->head_len == HTTP_MAX_HEADER_BYTES) {
                res = http_fail(p, 431, "request header block too large");
                break;
            }
            p->head[p->head_len++] = (char)c;
            /* Fail fast on a request line that cannot be one (binary junk): the method
             * is the bytes before the first space and must be a token. */
            if (p->line_start == 0 && !p->method_done) {
                if (c == ' ' && p->head_len > 1) {
                    p->method_done = true;
                } else if (!http_is_tchar(c)) {
                    res = http_fail(p, 400, "malformed request line: bad method");
                    break;
                }
            }
            if (c == '\n') {
                size_t ll = p->head_len - 1 - p->line_start;
                if (ll && p->head[p->head_len - 2] == '\r')
                    ll--;
                p->line_start = p->head_len;
                if (ll == 0) {
                    p->head[p->head_len] = 0;
                    res = http_parse_head(p);
                }
            }
            break;
        case HTTP_PS_BODY: {
            size_t n = MIN(len - i, p->req.content_length - p->body_len);
            memcpy(p->body + p->body_len, data + i, n);
            p->body_len += n;
            i += n;
            if (p->body_len == p->req.content_length)
                p->state = HTTP_PS_DONE;
            break;
        }
        case HTTP_PS_CHUNK_SIZE:
            i++;
            if (c == '\n') {
                res = http_chunk_size_line(p);
                break;
            }
            if (p->chunk_line_len == HTTP_MAX_CHUNK_LINE) {
                res = http_fail(p, 400, "chunk-size line too long");
                break;
            }
            p->chunk_line[p->chunk_line_len++] = (char)c;
            break;
        case HTTP_PS_CHUNK_DATA: {
            size_t n = MIN(len - i, p->chunk_left);
            memcpy(p->body + p->body_len, data + i, n);
            p->body_len += n;
            p->chunk_left -= n;
            i += n;
            if (p->chunk_left == 0) {
                p->state = HTTP_PS_CHUNK_CRLF;
                p->chunk_line_len = 0;
            }
            break;
        }
        case HTTP_PS_CHUNK_CRLF:
            i++;
            if (c == '\r' && p->chunk_line_len == 0) {
                p->chunk_line_len = 1;
            } else if (c == '\n') {
                p->chunk_line_len = 0;
                p->state = HTTP_PS_CHUNK_SIZE;
            } else {
                res = http_fail(p, 400, "missing CRLF after chunk data");
            }
            break;
        case HTTP_PS_TRAILER:
            i++;
            if (++p->trailer_bytes > HTTP_MAX_HEADER_BYTES) {
                res = http_fail(p, 431, "trailer section too large");
                break;
            }
            if (c == '\n') {
                if (p->trailer_line_len == 0)
                    p->state = HTTP_PS_DONE;
                p->trailer_line_len = 0;
            } else if (c != '\r' || p->trailer_line_len != 0) {
                p->trailer_line_len++;
            }
            break;
        default:
            break;
        }
    }
    *consumed = i;
    if (res == HTTP_PARSE_ERROR)
        return res;
    if (p->state == HTTP_PS_DONE) {
        http_finish(p);
        return HTTP_PARSE_DONE;
    }
    return HTTP_PARSE_MORE;
}
