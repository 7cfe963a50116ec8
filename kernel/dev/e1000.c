/*
 * Intel 8254x (e1000) driver, tested against the 82540EM that QEMU emulates
 * (-nic model=e1000). Legacy descriptors, polled: no interrupts are enabled; the
 * stack calls poll_rx/send from net_poll. e1000_driver is its row in the driver
 * table (kernel/dev/nic.c). Relies on dev/pci.h (BAR0 is MMIO,
 * identity-mapped uncached) and mm.h (heap blocks are physically contiguous and
 * their address is the DMA address). Register layout: Intel 8254x Software
 * Developer's Manual, section 13.
 */
#include "clock.h"
#include "dev/netdev.h"
#include "dev/pci.h"
#include "kernel.h"
#include "mm.h"

#define E1000_VENDOR 0x8086
static const uint16_t e1000_device_ids[] = {0x100e /* 82540EM */, 0x100f /* 82545EM */,
                                            0x10d3 /* 82574L */};

/* Registers (byte offsets into BAR0). */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EERD 0x0014
#define E1000_IMC 0x00d8
#define E1000_RCTL 0x0100
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_MTA 0x5200 /* 128 x 32-bit multicast table */
#define E1000_RAL0 0x5400
#define E1000_RAH0 0x5404

#define E1000_CTRL_SLU (1u << 6)
#define E1000_CTRL_RST (1u << 26)
#define E1000_STATUS_LU (1u << 1)
#define E1000_EERD_START 1u
#define E1000_EERD_DONE (1u << 4)
#define E1000_RAH_AV (1u << 31)
#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_BAM (1u << 15)   /* accept broadcast */
#define E1000_RCTL_SECRC (1u << 26) /* strip the FCS */
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)      /* pad short packets */
#define E1000_TCTL_CT (0x10u << 4)    /* collision threshold */
#define E1000_TCTL_COLD (0x40u << 12) /* collision distance, full duplex */
#define E1000_TIPG_DEFAULT (10u | 8u << 10 | 6u << 20)

#define E1000_RXD_DD 0x01
#define E1000_RXD_EOP 0x02
#define E1000_TXD_EOP 0x01
#define E1000_TXD_IFCS 0x02
#define E1000_TXD_RS 0x08
#define E1000_TXD_DD 0x01

#define E1000_N_RX 64            /* RX descriptors (multiple of 8) */
#define E1000_N_TX 64            /* TX descriptors (multiple of 8) */
#define E1000_BUF_LEN 2048       /* bytes per buffer, RCTL.BSIZE = 00 */
#define E1000_RESET_WAIT_US 2000 /* after CTRL.RST */

struct e1000_rx_desc {
    volatile uint64_t addr;
    volatile uint16_t len;
    volatile uint16_t csum;
    volatile uint8_t status;
    volatile uint8_t errors;
    volatile uint16_t special;
} PACKED;

struct e1000_tx_desc {
    volatile uint64_t addr;
    volatile uint16_t len;
    volatile uint8_t cso;
    volatile uint8_t cmd;
    volatile uint8_t status;
    volatile uint8_t css;
    volatile uint16_t special;
} PACKED;

struct e1000 {
    volatile uint8_t *mmio;
    struct e1000_rx_desc *rx; /* (E1000_N_RX) ring, 128-byte aligned */
    struct e1000_tx_desc *tx; /* (E1000_N_TX) ring */
    uint8_t *rx_buf;          /* (E1000_N_RX, E1000_BUF_LEN) */
    uint8_t *tx_buf;          /* (E1000_N_TX, E1000_BUF_LEN) */
    uint32_t rx_next;         /* next RX descriptor to look at */
    uint32_t tx_next;         /* next TX descriptor to fill */
};

static struct e1000 e1000_state;
static struct netdev e1000_dev;

/* Order descriptor writes against the doorbell; the MMIO write itself is uncached. */
static inline void e1000_barrier(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static uint32_t e1000_rd(struct e1000 *e, uint32_t reg) {
    return *(volatile uint32_t *)(e->mmio + reg);
}

static void e1000_wr(struct e1000 *e, uint32_t reg, uint32_t v) {
    *(volatile uint32_t *)(e->mmio + reg) = v;
}

static int e1000_send(struct netdev *d, const void *frame, size_t len) {
    struct e1000 *e = d->priv;
    struct e1000_tx_desc *t = &e->tx[e->tx_next];
    if (len > E1000_BUF_LEN)
        return -1;
    /* A descriptor is free once the NIC wrote DD back (all start with DD set). */
    if (!(t->status & E1000_TXD_DD))
        return -1;
    memcpy(e->tx_buf + (size_t)e->tx_next * E1000_BUF_LEN, frame, len);
    t->len = (uint16_t)len;
    t->cmd = E1000_TXD_EOP | E1000_TXD_IFCS | E1000_TXD_RS;
    t->status = 0;
    e1000_barrier();
    e->tx_next = (e->tx_next + 1) % E1000_N_TX;
    e1000_wr(e, E1000_TDT, e->tx_next);
    return 0;
}

static int e1000_poll_rx(struct netdev *d, netdev_rx_fn rx, int budget) {
    struct e1000 *e = d->priv;
    int n = 0;
    while (n < budget) {
        struct e1000_rx_desc *r = &e->rx[e->rx_next];
        if (!(r->status & E1000_RXD_DD))
            break;
        e1000_barrier();
        /* Frames larger than one buffer never come (LPE off); drop partial ones. */
        if ((r->status & E1000_RXD_EOP) && r->errors == 0 && r->len <= E1000_BUF_LEN)
            rx(d, e->rx_buf + (size_t)e->rx_next * E1000_BUF_LEN, r->len);
        r->status = 0;
        e1000_barrier();
        e1000_wr(e, E1000_RDT, e->rx_next); /* hand the descriptor back */
        e->rx_next = (e->rx_next + 1) % E1000_N_RX;
        n++;
    }
    return n;
}

static bool e1000_link_up(struct netdev *d) {
    struct e1000 *e = d->priv;
    return (e1000_rd(e, E1000_STATUS) & E1000_STATUS_LU) != 0;
}

static const struct netdev_ops e1000_ops = {
    .send = e1000_send,
    .poll_rx = e1000_poll_rx,
    .link_up = e1000_link_up,
};

static bool e1000_eeprom_word(struct e1000 *e, uint8_t addr, uint16_t *out) {
    e1000_wr(e, E1000_EERD, E1000_EERD_START | (uint32_t)addr << 8);
    for (int i = 0; i < 10000; i++) {
        uint32_t v = e1000_rd(e, E1000_EERD);
        if (v & E1000_EERD_DONE) {
            *out = (uint16_t)(v >> 16);
            return true;
        }
        clock_delay_us(1);
    }
    return false;
}

static void e1000_read_mac(struct e1000 *e, uint8_t mac[6]) {
    uint32_t lo = e1000_rd(e, E1000_RAL0), hi = e1000_rd(e, E1000_RAH0);
    if (hi & E1000_RAH_AV) {
        for (int i = 0; i < 4; i++)
            mac[i] = (uint8_t)(lo >> (8 * i));
        mac[4] = (uint8_t)hi;
        mac[5] = (uint8_t)(hi >> 8);
        return;
    }
    for (uint8_t w = 0; w < 3; w++) {
        uint16_t v = 0;
        e1000_eeprom_word(e, w, &v);
        mac[2 * w] = (uint8_t)v;
        mac[2 * w + 1] = (uint8_t)(v >> 8);
    }
}

static int e1000_rings_init(struct e1000 *e) {
    e->rx = heap_alloc(sizeof(struct e1000_rx_desc) * E1000_N_RX, 128, HEAP_TAG_NET);
    e->tx = heap_alloc(sizeof(struct e1000_tx_desc) * E1000_N_TX, 128, HEAP_TAG_NET);
    e->rx_buf = heap_alloc((size_t)E1000_N_RX * E1000_BUF_LEN, 16, HEAP_TAG_NET);
    e->tx_buf = heap_alloc((size_t)E1000_N_TX * E1000_BUF_LEN, 16, HEAP_TAG_NET);
    if (!e->rx || !e->tx || !e->rx_buf || !e->tx_buf)
        return -1;
    /* Heap blocks are not zeroed and the NIC writes back only some fields of an RX
     * descriptor (QEMU's 82540EM leaves `errors` as it found it): a stale nonzero
     * `errors` byte, left by whatever used the block before, dropped good frames. */
    memset(e->rx, 0, sizeof(struct e1000_rx_desc) * E1000_N_RX);
    for (uint32_t i = 0; i < E1000_N_RX; i++)
        e->rx[i].addr = (uintptr_t)(e->rx_buf + (size_t)i * E1000_BUF_LEN);
    for (uint32_t i = 0; i < E1000_N_TX; i++) {
        e->tx[i].addr = (uintptr_t)(e->tx_buf + (size_t)i * E1000_BUF_LEN);
        e->tx[i].cmd = 0;
        e->tx[i].status = E1000_TXD_DD;
    }
    e1000_wr(e, E1000_RDBAL, (uint32_t)(uintptr_t)e->rx);
    e1000_wr(e, E1000_RDBAH, 0);
    e1000_wr(e, E1000_RDLEN, sizeof(struct e1000_rx_desc) * E1000_N_RX);
    e1000_wr(e, E1000_RDH, 0);
    e1000_wr(e, E1000_RDT, E1000_N_RX - 1); /* one slot stays empty: head == tail means full */
    e1000_wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
    e1000_wr(e, E1000_TDBAL, (uint32_t)(uintptr_t)e->tx);
    e1000_wr(e, E1000_TDBAH, 0);
    e1000_wr(e, E1000_TDLEN, sizeof(struct e1000_tx_desc) * E1000_N_TX);
    e1000_wr(e, E1000_TDH, 0);
    e1000_wr(e, E1000_TDT, 0);
    e1000_wr(e, E1000_TIPG, E1000_TIPG_DEFAULT);
    e1000_wr(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT | E1000_TCTL_COLD);
    return 0;
}

static struct netdev *e1000_probe(const struct pci_device *pd) {
    if (pd->bar[0] & PCI_BAR_IO) {
        printk("cllm: net: e1000 BAR0 %x is I/O space, want MMIO\n", pd->bar[0]);
        return NULL;
    }
    struct e1000 *e = &e1000_state;
    e->mmio = (volatile uint8_t *)(uintptr_t)(pd->bar[0] & PCI_BAR_MEM_MASK);
    pci_enable_bus_master(pd);
    e1000_wr(e, E1000_IMC, 0xffffffffu);
    e1000_wr(e, E1000_CTRL, e1000_rd(e, E1000_CTRL) | E1000_CTRL_RST);
    clock_delay_us(E1000_RESET_WAIT_US);
    e1000_wr(e, E1000_IMC, 0xffffffffu);
    e1000_wr(e, E1000_CTRL, e1000_rd(e, E1000_CTRL) | E1000_CTRL_SLU);
    for (uint32_t i = 0; i < 128; i++)
        e1000_wr(e, E1000_MTA + 4 * i, 0);
    e1000_read_mac(e, e1000_dev.mac);
    if (e1000_rings_init(e) != 0) {
        printk("cllm: net: e1000 out of memory for rings\n");
        return NULL;
    }
    e1000_dev.name = "e1000";
    e1000_dev.ops = &e1000_ops;
    e1000_dev.priv = e;
    return &e1000_dev;
}

const struct netdev_driver e1000_driver = {
    .name = "e1000",
    .vendor = E1000_VENDOR,
    .device_ids = e1000_device_ids,
    .n_device_ids = ARRAY_SIZE(e1000_device_ids),
    .probe = e1000_probe,
};
