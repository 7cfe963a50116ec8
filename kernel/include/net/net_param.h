/*
 * Tunables of the network stack, one place, one comment each.
 */
#ifndef CLLM_NET_PARAM_H
#define CLLM_NET_PARAM_H

/* ARP */
#define ARP_CACHE_SIZE 16      /* resolved neighbours kept */
#define ARP_ENTRY_TTL_MS 60000 /* a learned entry expires after this */
#define ARP_PENDING_MAX 8      /* frames waiting for a resolution */
#define ARP_RETRY_MS 500       /* re-send a request after this */
#define ARP_RETRIES 4          /* requests before pending frames are dropped */

/* IPv4 */
#define NET_RX_BUDGET 32 /* frames handled per net_poll */

/* UDP */
#define UDP_BINDINGS 4 /* bound local ports */

/* DHCP */
#define DHCP_RETRY_MS 1000   /* first retransmission; doubles up to 4 s */
#define DHCP_TIMEOUT_MS 6000 /* give up and fall back to static defaults */

/* TCP */
#define TCP_LISTENERS 4              /* listening ports */
#define TCP_MAX_CONNS 88             /* connection pool (all states but LISTEN) */
#define TCP_MAX_HALF_OPEN 8          /* SYN_RCVD records; past them a SYN gets a cookie */
#define TCP_COOKIE_EPOCH_MS 64000    /* a SYN cookie is honoured for one to two of these */
#define TCP_SND_BUF 16384            /* send buffer bytes per connection (power of 2) */
#define TCP_RCV_WND 16384            /* receive window advertised */
#define TCP_OOO_SEGS 8               /* out-of-order segments queued per connection */
#define TCP_MSS_DEFAULT 536          /* peer MSS without the option (RFC 879) */
#define TCP_MSS_LOCAL 1460           /* our MSS: MTU - IP - TCP headers */
#define TCP_RTO_INIT_MS 1000         /* RFC 6298 initial RTO */
#define TCP_RTO_MIN_MS 200           /* lower bound (RFC says 1 s; 200 ms as Linux) */
#define TCP_RTO_MAX_MS 60000         /* upper bound of the backed-off RTO */
#define TCP_MAX_RETRIES 8            /* retransmissions before the connection is reset */
#define TCP_SYN_RETRIES 4            /* SYN+ACK retransmissions before a half-open dies */
#define TCP_TIME_WAIT_MS 2000        /* 2*MSL, short: a server never reuses the 4-tuple */
#define TCP_FIN_WAIT_2_MS 30000      /* FIN_WAIT_2 without the peer's FIN is bounded too */
#define TCP_PERSIST_MS 500           /* first zero-window probe */
#define TCP_DUPACK_THRESH 3          /* duplicate ACKs that trigger fast retransmit */
#define TCP_INIT_CWND_SEGS 10        /* initial congestion window (RFC 6928) */
#define TCP_KEEPALIVE_IDLE_MS 120000 /* silence before the first keepalive probe */
#define TCP_KEEPALIVE_INTVL_MS 10000 /* between unanswered probes */
#define TCP_KEEPALIVE_PROBES 3       /* unanswered probes before the connection is reset */

#endif
