/*
 * The stack's front door: init, static configuration, frame input, the timer
 * turn, address parsing and the /metrics text. Called by net_boot.c in the
 * kernel and directly by host tests.
 */
#include "net/stack.h"

struct net_state net_state;
struct net_stats net_stats;

void net_stack_init(struct netdev *dev, uint32_t now_ms) {
    memset(&net_state, 0, sizeof(net_state));
    memset(&net_stats, 0, sizeof(net_stats));
    net_state.dev = dev;
    net_state.now_ms = now_ms;
    net_state.ip_id = (uint16_t)(now_ms * 7919u);
    arp_reset();
    udp_reset();
    dhcp_reset();
    tcp_reset();
}

void net_stack_configure(uint32_t ip, uint32_t netmask, uint32_t gw) {
    net_state.cfg.ip = ip;
    net_state.cfg.netmask = netmask;
    net_state.cfg.gw = gw;
    net_state.cfg.up = ip != 0;
    net_state.cfg.dhcp = false;
}

const struct net_config *net_config_get(void) {
    return &net_state.cfg;
}

void net_input(const uint8_t *frame, size_t len) {
    net_stats.rx_frames++;
    net_stats.rx_bytes += len;
    ether_input(frame, len);
}

void net_stack_set_time(uint32_t now_ms) {
    net_state.now_ms = now_ms;
}

void net_stack_poll(uint32_t now_ms) {
    net_stack_set_time(now_ms);
    arp_timers();
    dhcp_timers();
    tcp_timers();
}

int net_parse_ip(const char *s, uint32_t *out) {
    uint32_t ip = 0;
    for (int part = 0; part < 4; part++) {
        if (*s < '0' || *s > '9')
            return -1;
        uint32_t v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (uint32_t)(*s++ - '0');
            if (++digits > 3 || v > 255)
                return -1;
        }
        ip = ip << 8 | v;
        if (part < 3 && *s++ != '.')
            return -1;
    }
    if (*s != '\0')
        return -1;
    *out = ip;
    return 0;
}

static const char *const drop_names[NET_DROP_COUNT] = {
#define NET_DROP_NAME(e, s) s,
    NET_DROP_REASONS(NET_DROP_NAME)
#undef NET_DROP_NAME
};

size_t net_stats_format(char *buf, size_t cap) {
    size_t n = 0;
#define EMIT(...)                                                                                  \
    do {                                                                                           \
        int w = snprintf(buf + MIN(n, cap), n < cap ? cap - n : 0, __VA_ARGS__);                   \
        if (w > 0)                                                                                 \
            n += (size_t)w;                                                                        \
    } while (0)
    const struct net_stats *s = &net_stats;
    EMIT("# TYPE cllm_net_rx_frames_total counter\ncllm_net_rx_frames_total %llu\n",
         (unsigned long long)s->rx_frames);
    EMIT("# TYPE cllm_net_rx_bytes_total counter\ncllm_net_rx_bytes_total %llu\n",
         (unsigned long long)s->rx_bytes);
    EMIT("# TYPE cllm_net_tx_frames_total counter\ncllm_net_tx_frames_total %llu\n",
         (unsigned long long)s->tx_frames);
    EMIT("# TYPE cllm_net_tx_bytes_total counter\ncllm_net_tx_bytes_total %llu\n",
         (unsigned long long)s->tx_bytes);
    EMIT("# TYPE cllm_net_drops_total counter\n");
    for (size_t i = 0; i < NET_DROP_COUNT; i++)
        EMIT("cllm_net_drops_total{reason=\"%s\"} %llu\n", drop_names[i],
             (unsigned long long)s->drops[i]);
    EMIT("# TYPE cllm_net_tcp_accepted_total counter\ncllm_net_tcp_accepted_total %llu\n",
         (unsigned long long)s->tcp_accepted);
    EMIT("# TYPE cllm_net_tcp_retransmits_total counter\ncllm_net_tcp_retransmits_total %llu\n",
         (unsigned long long)s->tcp_retransmits);
    EMIT("# TYPE cllm_net_tcp_resets_sent_total counter\ncllm_net_tcp_resets_sent_total %llu\n",
         (unsigned long long)s->tcp_resets_sent);
    EMIT("# TYPE cllm_net_tcp_fast_retransmits_total counter\ncllm_net_tcp_fast_retransmits_total "
         "%llu\n",
         (unsigned long long)s->tcp_fast_retransmits);
    EMIT("# TYPE cllm_net_tcp_out_of_order_total counter\ncllm_net_tcp_out_of_order_total %llu\n",
         (unsigned long long)s->tcp_ooo_queued);
    EMIT("# TYPE cllm_net_tcp_syn_cookies_sent_total counter\n"
         "cllm_net_tcp_syn_cookies_sent_total %llu\n",
         (unsigned long long)s->tcp_syn_cookies_sent);
    EMIT("# TYPE cllm_net_tcp_syn_cookies_accepted_total counter\n"
         "cllm_net_tcp_syn_cookies_accepted_total %llu\n",
         (unsigned long long)s->tcp_syn_cookies_accepted);
    EMIT("# TYPE cllm_net_icmp_echo_replies_total counter\ncllm_net_icmp_echo_replies_total %llu\n",
         (unsigned long long)s->icmp_echo_replies);
    EMIT("# TYPE cllm_net_tcp_connections gauge\ncllm_net_tcp_connections %u\n",
         (unsigned)s->tcp_conns);
    EMIT("# TYPE cllm_net_tcp_buffers gauge\ncllm_net_tcp_buffers %u\n", (unsigned)s->tcp_buffers);
    EMIT("# TYPE cllm_net_tcp_half_open gauge\ncllm_net_tcp_half_open %u\n",
         (unsigned)s->tcp_half_open);
#undef EMIT
    return n;
}
