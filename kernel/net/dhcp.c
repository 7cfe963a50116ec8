/*
 * DHCP client (RFC 2131): DISCOVER -> OFFER -> REQUEST -> ACK, retried with
 * backoff; renews at half the lease. If no lease arrives within DHCP_TIMEOUT_MS
 * the interface falls back to the static address given to net_dhcp_start().
 * Runs from net_stack_poll (dhcp_timers) and udp.c (replies on port 68).
 */
#include "net/prot/dhcp.h"
#include "net/stack.h"
#include "net/udp.h"

enum dhcp_state {
    DHCP_STATE_OFF,
    DHCP_STATE_SELECTING,  /* DISCOVER sent, waiting for an OFFER */
    DHCP_STATE_REQUESTING, /* REQUEST sent, waiting for the ACK */
    DHCP_STATE_BOUND,
    DHCP_STATE_RENEWING, /* bound, REQUEST for an extension sent */
};

static struct {
    enum dhcp_state state;
    uint32_t xid;
    uint32_t offer_ip, server_id;
    uint32_t retry_ms, retry_gap_ms;
    uint32_t deadline_ms; /* fallback time while not yet bound */
    uint32_t renew_ms;    /* T1 */
    uint32_t fallback_ip, fallback_mask, fallback_gw;
} dhcp;

void dhcp_reset(void) {
    memset(&dhcp, 0, sizeof(dhcp));
}

static size_t dhcp_opt(uint8_t *o, size_t at, uint8_t code, const void *val, uint8_t len) {
    o[at] = code;
    o[at + 1] = len;
    memcpy(o + at + 2, val, len);
    return at + 2u + len;
}

static void dhcp_send(uint8_t type) {
    uint8_t buf[sizeof(struct dhcp_msg) + DHCP_OPTIONS_MAX];
    memset(buf, 0, sizeof(buf));
    struct dhcp_msg *m = (struct dhcp_msg *)buf;
    m->op = DHCP_OP_REQUEST;
    m->htype = 1;
    m->hlen = ETH_ALEN;
    m->xid = net_htonl(dhcp.xid);
    m->flags = net_htons(DHCP_FLAG_BROADCAST);
    memcpy(m->chaddr, net_state.dev->mac, ETH_ALEN);
    m->magic = net_htonl(DHCP_MAGIC);
    uint8_t *o = buf + sizeof(*m);
    size_t n = dhcp_opt(o, 0, DHCP_OPT_MSG_TYPE, &type, 1);
    if (type == DHCP_REQUEST) {
        if (dhcp.state == DHCP_STATE_RENEWING) {
            m->ciaddr = net_htonl(net_state.cfg.ip);
        } else {
            uint32_t req = net_htonl(dhcp.offer_ip), sid = net_htonl(dhcp.server_id);
            n = dhcp_opt(o, n, DHCP_OPT_REQ_IP, &req, 4);
            n = dhcp_opt(o, n, DHCP_OPT_SERVER_ID, &sid, 4);
        }
    }
    static const uint8_t params[] = {DHCP_OPT_SUBNET, DHCP_OPT_ROUTER, DHCP_OPT_LEASE};
    n = dhcp_opt(o, n, DHCP_OPT_PARAM_LIST, params, sizeof(params));
    o[n++] = DHCP_OPT_END;
    udp_send(dhcp.state == DHCP_STATE_RENEWING ? net_state.cfg.ip : 0, DHCP_CLIENT_PORT,
             IP_BROADCAST, DHCP_SERVER_PORT, buf, sizeof(*m) + n);
}

static void dhcp_schedule_retry(void) {
    dhcp.retry_ms = net_state.now_ms + dhcp.retry_gap_ms;
    dhcp.retry_gap_ms = MIN(dhcp.retry_gap_ms * 2, 4000u);
}

static uint32_t dhcp_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void dhcp_recv(uint32_t src_ip, uint16_t src_port, const uint8_t *data, size_t len) {
    const struct dhcp_msg *m = (const struct dhcp_msg *)data;
    if (len < sizeof(*m) || m->op != DHCP_OP_REPLY || net_ntohl(m->magic) != DHCP_MAGIC ||
        net_ntohl(m->xid) != dhcp.xid || memcmp(m->chaddr, net_state.dev->mac, ETH_ALEN) != 0)
        goto drop;
    uint8_t type = 0;
    uint32_t mask = 0, router = 0, server = 0, lease_s = 0;
    const uint8_t *o = data + sizeof(*m);
    size_t n = len - sizeof(*m);
    for (size_t i = 0; i < n;) {
        uint8_t code = o[i];
        if (code == DHCP_OPT_END)
            break;
        if (code == DHCP_OPT_PAD) {
            i++;
            continue;
        }
        if (i + 2 > n || i + 2 + o[i + 1] > n)
            goto drop;
        uint8_t olen = o[i + 1];
        const uint8_t *v = o + i + 2;
        if (code == DHCP_OPT_MSG_TYPE && olen >= 1)
            type = v[0];
        else if (code == DHCP_OPT_SUBNET && olen >= 4)
            mask = dhcp_be32(v);
        else if (code == DHCP_OPT_ROUTER && olen >= 4)
            router = dhcp_be32(v);
        else if (code == DHCP_OPT_SERVER_ID && olen >= 4)
            server = dhcp_be32(v);
        else if (code == DHCP_OPT_LEASE && olen >= 4)
            lease_s = dhcp_be32(v);
        i += 2u + olen;
    }
    uint32_t yiaddr = net_ntohl(m->yiaddr);
    if (type == DHCP_OFFER && dhcp.state == DHCP_STATE_SELECTING && yiaddr) {
        dhcp.offer_ip = yiaddr;
        dhcp.server_id = server ? server : src_ip;
        dhcp.state = DHCP_STATE_REQUESTING;
        dhcp.retry_gap_ms = DHCP_RETRY_MS;
        dhcp_send(DHCP_REQUEST);
        dhcp_schedule_retry();
        return;
    }
    if (type == DHCP_ACK &&
        (dhcp.state == DHCP_STATE_REQUESTING || dhcp.state == DHCP_STATE_RENEWING) && yiaddr) {
        bool fresh = dhcp.state == DHCP_STATE_REQUESTING;
        dhcp.state = DHCP_STATE_BOUND;
        if (lease_s == 0 || lease_s > 0x7fffffffu / 1000u)
            lease_s = 3600;
        dhcp.renew_ms = net_state.now_ms + lease_s * 500u; /* T1 = lease / 2 */
        if (fresh) {
            net_stack_configure(yiaddr, mask ? mask : 0xffffff00u, router);
            net_state.cfg.dhcp = true;
            port_log("net: dhcp lease %u.%u.%u.%u gw %u.%u.%u.%u for %u s", yiaddr >> 24,
                     (yiaddr >> 16) & 0xff, (yiaddr >> 8) & 0xff, yiaddr & 0xff, router >> 24,
                     (router >> 16) & 0xff, (router >> 8) & 0xff, router & 0xff, lease_s);
        }
        return;
    }
    if (type == DHCP_NAK && dhcp.state != DHCP_STATE_SELECTING) {
        dhcp.state = DHCP_STATE_SELECTING;
        dhcp.retry_gap_ms = DHCP_RETRY_MS;
        dhcp_send(DHCP_DISCOVER);
        dhcp_schedule_retry();
        return;
    }
drop:
    net_drop(NET_DROP_DHCP_FORMAT);
}

void net_dhcp_start(uint32_t fallback_ip, uint32_t fallback_mask, uint32_t fallback_gw) {
    const uint8_t *mac = net_state.dev->mac;
    dhcp.fallback_ip = fallback_ip;
    dhcp.fallback_mask = fallback_mask;
    dhcp.fallback_gw = fallback_gw;
    dhcp.xid = ((uint32_t)mac[2] << 24 | (uint32_t)mac[3] << 16 | (uint32_t)mac[4] << 8 | mac[5]) ^
               net_state.now_ms;
    dhcp.state = DHCP_STATE_SELECTING;
    dhcp.retry_gap_ms = DHCP_RETRY_MS;
    dhcp.deadline_ms = net_state.now_ms + DHCP_TIMEOUT_MS;
    udp_bind(DHCP_CLIENT_PORT, dhcp_recv);
    dhcp_send(DHCP_DISCOVER);
    dhcp_schedule_retry();
}

void dhcp_timers(void) {
    uint32_t now = net_state.now_ms;
    switch (dhcp.state) {
    case DHCP_STATE_SELECTING:
    case DHCP_STATE_REQUESTING:
        if (net_time_after_eq(now, dhcp.deadline_ms)) {
            dhcp.state = DHCP_STATE_OFF;
            net_stack_configure(dhcp.fallback_ip, dhcp.fallback_mask, dhcp.fallback_gw);
            port_log("net: dhcp timed out, static %u.%u.%u.%u", dhcp.fallback_ip >> 24,
                     (dhcp.fallback_ip >> 16) & 0xff, (dhcp.fallback_ip >> 8) & 0xff,
                     dhcp.fallback_ip & 0xff);
        } else if (net_time_after_eq(now, dhcp.retry_ms)) {
            dhcp_send(dhcp.state == DHCP_STATE_SELECTING ? DHCP_DISCOVER : DHCP_REQUEST);
            dhcp_schedule_retry();
        }
        break;
    case DHCP_STATE_BOUND:
        if (net_time_after_eq(now, dhcp.renew_ms)) {
            dhcp.state = DHCP_STATE_RENEWING;
            dhcp.retry_gap_ms = DHCP_RETRY_MS * 4;
            dhcp_send(DHCP_REQUEST);
            dhcp_schedule_retry();
        }
        break;
    case DHCP_STATE_RENEWING:
        /* Keep the address and ask again; the server answering later extends it. */
        if (net_time_after_eq(now, dhcp.retry_ms)) {
            dhcp_send(DHCP_REQUEST);
            dhcp_schedule_retry();
        }
        break;
    case DHCP_STATE_OFF:
        break;
    }
}
