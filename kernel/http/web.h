/*
 * The chat page at GET / (web.c): a row in api.c's route table, answered without the
 * API key (the page holds no data; the requests it makes carry the key).
 */
#ifndef CLLM_HTTP_WEB_H
#define CLLM_HTTP_WEB_H

#include "http/http_parse.h"

struct http_conn;

/* Answer GET or HEAD / with the embedded page: gzip when the client accepts it. */
void web_page_handle(struct http_conn *c, const struct http_request *req);

/* True when an Accept-Encoding value admits gzip (by name or "*", with q above 0). */
bool web_accepts_gzip(const char *accept_encoding);

#endif
