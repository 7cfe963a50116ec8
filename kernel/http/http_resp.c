/*
 * Response writer: status line and headers, Content-Length bodies, OpenAI-shaped
 * error bodies and Server-Sent Events streams (chunked transfer coding for HTTP/1.1
 * clients, connection-close framing for HTTP/1.0). Called by the API handlers and
 * the server glue; every response head is reported to the hosted app
 * (http_conn_note_response), which keeps the counters.
 */
#include "http/conn.h"
#include "http/json.h"

const char *http_status_text(int status) {
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* The error "type" llama.cpp's server gives for each status. */
const char *http_error_type(int status) {
    switch (status) {
    case 401:
        return "authentication_error";
    case 404:
        return "not_found_error";
    case 500:
        return "server_error";
    case 501:
        return "not_supported_error";
    case 503:
        return "unavailable_error";
    default:
        return "invalid_request_error";
    }
}

static void http_write_head(struct http_conn *c, int status, const char *content_type) {
    struct hbuf *o = &c->out;
    hbuf_printf(o, "HTTP/1.1 %d %s\r\nServer: cllm\r\n", status, http_status_text(status));
    if (content_type)
        hbuf_printf(o, "Content-Type: %s\r\n", content_type);
    hbuf_puts(o, c->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    hbuf_puts(o, "Access-Control-Allow-Origin: *\r\n");
    http_conn_note_response(c, status);
}

void http_respond(struct http_conn *c, int status, const char *content_type, const char *body,
                  size_t len, const char *extra_headers) {
    http_write_head(c, status, content_type);
    hbuf_printf(&c->out, "Content-Length: %u\r\n%s\r\n", (unsigned)len,
                extra_headers ? extra_headers : "");
    /* A HEAD answer has the headers GET would get and no body (RFC 9110 9.3.2):
     * the client reads none, so any byte sent would be taken for the next response. */
    if (!c->head_only)
        hbuf_append(&c->out, body, len);
    http_conn_response_done(c);
}

void http_respond_error(struct http_conn *c, int status, const char *msg) {
    http_respond_error_headers(c, status, msg, status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
}

void http_respond_error_headers(struct http_conn *c, int status, const char *msg,
                                const char *extra) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "error");
    json_write_object_begin(&w);
    json_write_key(&w, "code");
    json_write_int(&w, status);
    json_write_key(&w, "message");
    json_write_string(&w, msg);
    json_write_key(&w, "type");
    json_write_string(&w, http_error_type(status));
    json_write_object_end(&w);
    json_write_object_end(&w);
    if (b.failed)
        http_respond(c, 500, "text/plain", "out of memory\n", 14, NULL);
    else
        http_respond(c, status, "application/json; charset=utf-8", b.data, b.len, extra);
    hbuf_free(&b);
}

void http_stream_begin(struct http_conn *c, int status, const char *content_type) {
    c->chunked_out = c->version_minor >= 1;
    if (!c->chunked_out)
        c->keep_alive = false; /* HTTP/1.0: the end of the stream is the end of the connection */
    http_write_head(c, status, content_type);
    hbuf_puts(&c->out, "Cache-Control: no-cache\r\n");
    if (c->chunked_out)
        hbuf_puts(&c->out, "Transfer-Encoding: chunked\r\n");
    hbuf_puts(&c->out, "\r\n");
    c->busy = true;
}

void http_stream_write(struct http_conn *c, const char *data, size_t len) {
    if (len == 0)
        return;
    if (c->chunked_out)
        hbuf_printf(&c->out, "%x\r\n", (unsigned)len);
    hbuf_append(&c->out, data, len);
    if (c->chunked_out)
        hbuf_append(&c->out, "\r\n", 2);
}

void http_stream_sse(struct http_conn *c, const char *json, size_t len) {
    if (c->chunked_out)
        hbuf_printf(&c->out, "%x\r\n", (unsigned)(len + 8));
    hbuf_append(&c->out, "data: ", 6);
    hbuf_append(&c->out, json, len);
    hbuf_append(&c->out, "\n\n", 2);
    if (c->chunked_out)
        hbuf_append(&c->out, "\r\n", 2);
}

void http_stream_end(struct http_conn *c) {
    if (c->chunked_out)
        hbuf_append(&c->out, "0\r\n\r\n", 5);
    c->chunked_out = false;
    http_conn_response_done(c);
}
