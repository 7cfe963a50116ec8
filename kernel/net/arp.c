/*
 * ARP (RFC 826): answers requests for our address, learns neighbours into a small
 * cache with expiry, and resolves next hops for ip_out.c. A frame whose next hop
 * is unknown waits in a bounded pending queue while requests are retried; after
 * ARP_RETRIES it is dropped (NET_DROP_ARP_UNRESOLVED).
 */
#include "net/stack.h"

struct arp_entry {
    uint32_t ip; /* host order; 0 = free slot */
    uint8_t mac[ETH_ALEN];
    uint32_t expires_ms;
};

struct arp_pending {
    bool used;
    uint32_t next_hop;
    uint32_t retry_ms; /* when to send the next request */
    uint8_t tries;     /* requests sent so far */
    size_t len;
    uint8_t frame[ETH_FRAME_MAX];
};

static struct arp_entry cache[ARP_CACHE_SIZE];
static struct arp_pending pending[ARP_PENDING_MAX];

void arp_reset(void) {
    memset(cache, 0, sizeof(cache));
    for (size_t i = 0; i < ARP_PENDING_MAX; i++)
        pending[i].used = false;
    net_stats.arp_pending = 0;
}

static struct arp_entry *arp_lookup(uint32_t ip) {
    for (size_t i = 0; i < ARP_CACHE_SIZE; i++)
        if (cache[i].ip == ip && net_time_after_eq(cache[i].expires_ms, net_state.now_ms))
            return &cache[i];
    return NULL;
}

static void arp_send(uint16_t op, const uint8_t *dst_mac, uint32_t target_ip,
                     const uint8_t *target_mac) {
    uint8_t frame[ETH_FRAME_MAX];
    struct arp_pkt *a = (struct arp_pkt *)(frame + ETH_HLEN);
    a->htype = net_htons(ARP_HTYPE_ETHER);
    a->ptype = net_htons(ETH_TYPE_IPV4);
    a->hlen = ETH_ALEN;
    a->plen = 4;
    a->op = net_htons(op);
    memcpy(a->sha, net_state.dev->mac, ETH_ALEN);
    a->spa = net_htonl(net_state.cfg.ip);
    memcpy(a->tha, target_mac, ETH_ALEN);
    a->tpa = net_htonl(target_ip);
    if (op == ARP_OP_REQUEST)
        net_stats.arp_requests_sent++;
    else
        net_stats.arp_replies_sent++;
    ether_output(dst_mac, ETH_TYPE_ARP, frame, ETH_HLEN + sizeof(*a));
}

/* Send every pending frame waiting for `ip`. */
static void arp_flush(uint32_t ip, const uint8_t *mac) {
    for (size_t i = 0; i < ARP_PENDING_MAX; i++) {
        struct arp_pending *p = &pending[i];
        if (!p->used || p->next_hop != ip)
            continue;
        p->used = false;
        net_stats.arp_pending--;
        ether_output(mac, ETH_TYPE_IPV4, p->frame, p->len);
    }
}

/* Insert or refresh; `create` false only refreshes an existing entry (RFC 826 merge). */
static void arp_learn(uint32_t ip, const uint8_t *mac, bool create) {
    struct arp_entry *slot = NULL;
    for (size_t i = 0; i < ARP_CACHE_SIZE; i++)
        if (cache[i].ip == ip)
            slot = &cache[i];
    if (!slot && !create)
        return;
    if (!slot) {
        /* A free or expired slot, else the one closest to expiry. */
        slot = &cache[0];
        for (size_t i = 0; i < ARP_CACHE_SIZE; i++) {
            if (cache[i].ip == 0 || !net_time_after_eq(cache[i].expires_ms, net_state.now_ms)) {
                slot = &cache[i];
                break;
            }
            if ((int32_t)(cache[i].expires_ms - slot->expires_ms) < 0)
                slot = &cache[i];
        }
    }
    slot->ip = ip;
    memcpy(slot->mac, mac, ETH_ALEN);
    slot->expires_ms = net_state.now_ms + ARP_ENTRY_TTL_MS;
    arp_flush(ip, mac);
}

void arp_input(const uint8_t *pkt, size_t len) {
    enum net_drop why;
    const struct arp_pkt *a = (const struct arp_pkt *)pkt;
    if (len < sizeof(*a)) {
        why = NET_DROP_ARP_SHORT;
        goto drop;
    }
    if (net_ntohs(a->htype) != ARP_HTYPE_ETHER || net_ntohs(a->ptype) != ETH_TYPE_IPV4 ||
        a->hlen != ETH_ALEN || a->plen != 4) {
        why = NET_DROP_ARP_FORMAT;
        goto drop;
    }
    uint32_t spa = net_ntohl(a->spa), tpa = net_ntohl(a->tpa);
    uint16_t op = net_ntohs(a->op);
    if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY) {
        why = NET_DROP_ARP_FORMAT;
        goto drop;
    }
    bool for_us = net_state.cfg.up && tpa == net_state.cfg.ip;
    if (spa != 0)
        arp_learn(spa, a->sha, for_us);
    if (!for_us) {
        why = NET_DROP_ARP_NOT_US;
        goto drop;
    }
    if (op == ARP_OP_REQUEST)
        arp_send(ARP_OP_REPLY, a->sha, spa, a->sha);
    return;
drop:
    net_drop(why);
}

int arp_output_ip(uint32_t next_hop, uint8_t *frame, size_t len) {
    if (next_hop == IP_BROADCAST ||
        (net_state.cfg.up && next_hop == (net_state.cfg.ip | ~net_state.cfg.netmask)))
        return ether_output(ether_broadcast, ETH_TYPE_IPV4, frame, len);
    struct arp_entry *e = arp_lookup(next_hop);
    if (e)
        return ether_output(e->mac, ETH_TYPE_IPV4, frame, len);
    bool asking = false;
    struct arp_pending *slot = NULL;
    for (size_t i = 0; i < ARP_PENDING_MAX; i++) {
        if (pending[i].used && pending[i].next_hop == next_hop)
            asking = true;
        else if (!pending[i].used && !slot)
            slot = &pending[i];
    }
    if (!slot) {
        net_drop(NET_DROP_ARP_QUEUE_FULL);
        return -1;
    }
    slot->used = true;
    slot->next_hop = next_hop;
    slot->len = len;
    memcpy(slot->frame, frame, len);
    slot->tries = 1;
    slot->retry_ms = net_state.now_ms + ARP_RETRY_MS;
    net_stats.arp_pending++;
    if (!asking) {
        static const uint8_t zero[ETH_ALEN];
        arp_send(ARP_OP_REQUEST, ether_broadcast, next_hop, zero);
    }
    return 0;
}

void arp_timers(void) {
    static const uint8_t zero[ETH_ALEN];
    for (size_t i = 0; i < ARP_PENDING_MAX; i++) {
        struct arp_pending *p = &pending[i];
        if (!p->used || !net_time_after_eq(net_state.now_ms, p->retry_ms))
            continue;
        if (p->tries >= ARP_RETRIES) {
            p->used = false;
            net_stats.arp_pending--;
            net_drop(NET_DROP_ARP_UNRESOLVED);
            continue;
        }
        /* One request per address: move every frame for this hop to the same schedule. */
        for (size_t j = 0; j < ARP_PENDING_MAX; j++) {
            if (pending[j].used && pending[j].next_hop == p->next_hop) {
                pending[j].tries++;
                pending[j].retry_ms = net_state.now_ms + ARP_RETRY_MS;
            }
        }
        arp_send(ARP_OP_REQUEST, ether_broadcast, p->next_hop, zero);
    }
}
