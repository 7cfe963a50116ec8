/*
 * net_init / net_poll (subsys.h): the kernel side of the network stack. net_init
 * probes the NIC chosen by cllm.nic= through the driver table (kernel/dev/nic.c;
 * auto: each driver in turn), binds the stack to it, configures IPv4
 * (cllm.ip=/netmask=/gw= static, else DHCP with the QEMU user-net defaults as
 * fallback), waits for the address, then starts the echo diagnostic (port 7); main.c
 * starts the HTTP server over it. net_poll drains the RX ring and runs the stack's
 * timers. Relies on clock.h for time and cmdline.h for options.
 */
#include "clock.h"
#include "cmdline.h"
#include "dev/netdev.h"
#include "kernel.h"
#include "net/echo.h"
#include "net/net.h"
#include "net/net_param.h"
#include "subsys.h"

#define NET_LINK_CHECK_MS 1000                  /* how often link state changes are looked for */
#define NET_UP_WAIT_MS (DHCP_TIMEOUT_MS + 1000) /* net_init's bound on waiting for an address */
#define QEMU_USER_IP NET_IP4(10, 0, 2, 15)
#define QEMU_USER_GW NET_IP4(10, 0, 2, 2)
#define NET_MASK_24 NET_IP4(255, 255, 255, 0)

static struct netdev *net_dev;
static bool net_link;
static uint32_t net_link_checked_ms;

static void net_rx(struct netdev *d, const uint8_t *frame, size_t len) {
    net_input(frame, len);
}

static void net_print_ip(const char *what, uint32_t ip) {
    printk(" %s %u.%u.%u.%u", what, ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

/* Drain received frames and run timers; true if any frame came in. The clock is read
 * before the frames are handled: at the previous turn's time (a generation step may lie
 * between two turns) a retransmission timer armed by a reply would already be due, and
 * that reply (a FIN, data) would go out twice. */
static bool net_turn(void) {
    uint32_t now_ms = (uint32_t)clock_ms();
    net_stack_set_time(now_ms);
    int n = net_dev->ops->poll_rx(net_dev, net_rx, NET_RX_BUDGET);
    net_stack_poll(now_ms);
    return n > 0;
}

void net_init(const struct bootinfo *bi) {
    const char *nic = cmdline_get("nic");
    if (!nic)
        nic = "auto";
    if (!strcmp(nic, "none")) {
        printk("cllm: net: disabled (cllm.nic=none)\n");
        return;
    }
    if (nic_probe(nic) != 0 || netdev_count() == 0) {
        printk("cllm: net: no network card found (cllm.nic=%s)\n", nic);
        return;
    }
    net_dev = netdev_get(0);
    net_link = net_dev->ops->link_up(net_dev);
    net_stack_init(net_dev, (uint32_t)clock_ms());

    uint32_t ip, mask = NET_MASK_24, gw = 0;
    if (cmdline_get_ipv4("ip", &ip)) {
        cmdline_get_ipv4("netmask", &mask);
        cmdline_get_ipv4("gw", &gw);
        net_stack_configure(ip, mask, gw);
    } else {
        net_dhcp_start(QEMU_USER_IP, NET_MASK_24, QEMU_USER_GW);
    }
    uint64_t deadline = clock_ms() + NET_UP_WAIT_MS;
    while (!net_config_get()->up && clock_ms() < deadline)
        net_turn();
    const struct net_config *cfg = net_config_get();
    printk("cllm: net: %s", net_dev->name);
    net_print_ip("ip", cfg->ip);
    net_print_ip("netmask", cfg->netmask);
    net_print_ip("gw", cfg->gw);
    printk(" (%s)\n", cfg->dhcp ? "dhcp" : "static");

    if (echo_start(ECHO_PORT) != 0)
        printk("cllm: net: echo service could not listen on %d\n", ECHO_PORT);
    UNUSED(bi);
}

bool net_ready(void) {
    return net_dev != NULL;
}

bool net_poll(void) {
    if (!net_dev)
        return false;
    bool worked = net_turn();
    uint32_t now = (uint32_t)clock_ms();
    if ((int32_t)(now - net_link_checked_ms) >= NET_LINK_CHECK_MS) {
        net_link_checked_ms = now;
        bool up = net_dev->ops->link_up(net_dev);
        if (up != net_link)
            printk("cllm: net: %s link %s\n", net_dev->name, up ? "up" : "down");
        net_link = up;
    }
    return worked;
}
