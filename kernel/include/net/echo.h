/*
 * echo.h: the TCP echo service (RFC 862) of the stack, kernel/net/echo.c. It sends
 * back every byte it receives, in order; net_init starts it on port 7 as a network
 * diagnostic independent of the HTTP server, and the tests use it to check bulk
 * transfers under loss. Each connection owns one ECHO_BUF_LEN backlog buffer.
 */
#ifndef CLLM_NET_ECHO_H
#define CLLM_NET_ECHO_H

#include "types.h"

#define ECHO_PORT 7
#define ECHO_BUF_LEN 32768 /* bytes a connection may owe its peer; more = reset */
#define ECHO_MAX_CONNS 8   /* at once; more are reset, so the diagnostic never starves the API */

/* Listen on `port`; 0 or -1 (port taken). */
int echo_start(uint16_t port);

/* Connections currently open (tests check it returns to zero). */
size_t echo_active(void);

#endif
