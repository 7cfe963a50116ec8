/*
 * virtio-net driver over the legacy PCI transport (virtio 0.9.5 / virtio 1.0
 * section 4.1.4.8; QEMU -nic model=virtio-net-pci is transitional and offers it).
 * Two split virtqueues, 0 = receive and 1 = transmit, each buffer one descriptor
 * holding the 10-byte virtio_net_hdr followed by the frame. Polled: the used rings
 * are read from net_poll, interrupts stay unused. virtio_net_driver is its row in
 * the driver table (kernel/dev/nic.c). Relies on dev/pci.h (BAR0 is the
 * I/O-port register block), x86.h port I/O, mm.h (heap address = DMA address).
 */
#include "dev/netdev.h"
#include "dev/pci.h"
#include "kernel.h"
#include "mm.h"
#include "x86.h"

#define VIRTIO_VENDOR 0x1af4
static const uint16_t virtio_net_device_ids[] = {0x1000 /* legacy and transitional network */};

/* Legacy register block (offsets from the BAR0 I/O base). */
#define VIO_DEVICE_FEATURES 0x00
#define VIO_GUEST_FEATURES 0x04
#define VIO_QUEUE_PFN 0x08  /* ring address >> 12 */
#define VIO_QUEUE_SIZE 0x0c /* 16-bit, read only */
#define VIO_QUEUE_SELECT 0x0e
#define VIO_QUEUE_NOTIFY 0x10
#define VIO_STATUS 0x12     /* 8-bit */
#define VIO_NET_MAC 0x14    /* 6 bytes, without MSI-X */
#define VIO_NET_STATUS 0x1a /* 16-bit */

#define VIO_STATUS_ACK 1
#define VIO_STATUS_DRIVER 2
#define VIO_STATUS_DRIVER_OK 4
#define VIO_STATUS_FAILED 128

#define VIRTIO_NET_F_MAC (1u << 5)
#define VIRTIO_NET_F_STATUS (1u << 16)
#define VIRTIO_NET_S_LINK_UP 1

#define VRING_DESC_F_WRITE 2
#define VRING_AVAIL_F_NO_INTERRUPT 1 /* we poll: ask the device not to raise INTx */
#define VRING_ALIGN 4096
#define VNET_HDR_LEN 10     /* struct virtio_net_hdr without num_buffers */
#define VNET_BUF_LEN 2048   /* bytes per buffer: header + frame */
#define VNET_QUEUE_MAX 1024 /* largest ring we accept from the device */
#define VNET_RXQ 0
#define VNET_TXQ 1

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} PACKED;

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
} PACKED;

/* One split virtqueue in the legacy layout: desc[n], then avail {flags, idx, ring[n]},
 * then at the next VRING_ALIGN boundary used {flags, idx, ring[n]}. */
struct vnet_queue {
    uint16_t n;               /* queue size the device reported */
    struct vring_desc *desc;  /* (n) */
    volatile uint16_t *avail; /* [0] flags, [1] idx, [2..] ring (n) */
    volatile uint16_t *used;  /* [0] flags, [1] idx, then (n) used elems */
    uint16_t last_used;       /* used entries consumed so far */
    uint16_t avail_idx;       /* our copy of avail->idx */
    uint8_t *bufs;            /* (n, VNET_BUF_LEN) */
};

struct vnet {
    uint16_t io;
    bool has_status;
    struct vnet_queue q[2];
};

static struct vnet vnet_state;
static struct netdev vnet_dev;

static inline void vnet_barrier(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static volatile struct vring_used_elem *vnet_used_elem(struct vnet_queue *q, uint16_t i) {
    return (volatile struct vring_used_elem *)(q->used + 2) + (i % q->n);
}

static int vnet_queue_init(struct vnet *v, uint16_t idx) {
    struct vnet_queue *q = &v->q[idx];
    outw(v->io + VIO_QUEUE_SELECT, idx);
    q->n = inw(v->io + VIO_QUEUE_SIZE);
    if (q->n == 0 || q->n > VNET_QUEUE_MAX)
        return -1;
    size_t first =
        ALIGN_UP(sizeof(struct vring_desc) * q->n + sizeof(uint16_t) * (3u + q->n), VRING_ALIGN);
    size_t second =
        ALIGN_UP(sizeof(uint16_t) * 3u + sizeof(struct vring_used_elem) * q->n, VRING_ALIGN);
    uint8_t *mem = heap_alloc(first + second, VRING_ALIGN, HEAP_TAG_NET);
    q->bufs = heap_alloc((size_t)q->n * VNET_BUF_LEN, 16, HEAP_TAG_NET);
    if (!mem || !q->bufs)
        return -1;
    memset(mem, 0, first + second);
    q->desc = (struct vring_desc *)mem;
    q->avail = (volatile uint16_t *)(mem + sizeof(struct vring_desc) * q->n);
    q->used = (volatile uint16_t *)(mem + first);
    q->avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
    for (uint16_t i = 0; i < q->n; i++) {
        q->desc[i].addr = (uintptr_t)(q->bufs + (size_t)i * VNET_BUF_LEN);
        q->desc[i].len = VNET_BUF_LEN;
        q->desc[i].flags = idx == VNET_RXQ ? VRING_DESC_F_WRITE : 0;
    }
    outl(v->io + VIO_QUEUE_PFN, (uint32_t)((uintptr_t)mem >> 12));
    return 0;
}

static int vnet_send(struct netdev *d, const void *frame, size_t len) {
    struct vnet *v = d->priv;
    struct vnet_queue *q = &v->q[VNET_TXQ];
    if (len + VNET_HDR_LEN > VNET_BUF_LEN)
        return -1;
    /* Buffers are used in ring order; one is free once the device returned it. */
    q->last_used = q->used[1];
    if ((uint16_t)(q->avail_idx - q->last_used) >= q->n)
        return -1;
    uint16_t slot = q->avail_idx % q->n;
    uint8_t *buf = q->bufs + (size_t)slot * VNET_BUF_LEN;
    memset(buf, 0, VNET_HDR_LEN);
    memcpy(buf + VNET_HDR_LEN, frame, len);
    q->desc[slot].len = (uint32_t)(len + VNET_HDR_LEN);
    q->avail[2 + slot] = slot;
    vnet_barrier();
    q->avail_idx++;
    q->avail[1] = q->avail_idx;
    vnet_barrier();
    outw(v->io + VIO_QUEUE_NOTIFY, VNET_TXQ);
    return 0;
}

static int vnet_poll_rx(struct netdev *d, netdev_rx_fn rx, int budget) {
    struct vnet *v = d->priv;
    struct vnet_queue *q = &v->q[VNET_RXQ];
    int n = 0;
    bool returned = false;
    while (n < budget && q->last_used != q->used[1]) {
        vnet_barrier();
        volatile struct vring_used_elem *u = vnet_used_elem(q, q->last_used);
        uint32_t id = u->id, len = u->len;
        if (id < q->n && len > VNET_HDR_LEN && len <= VNET_BUF_LEN)
            rx(d, q->bufs + (size_t)id * VNET_BUF_LEN + VNET_HDR_LEN, len - VNET_HDR_LEN);
        q->last_used++;
        if (id < q->n) { /* give the buffer back */
            q->avail[2 + q->avail_idx % q->n] = (uint16_t)id;
            vnet_barrier();
            q->avail_idx++;
            q->avail[1] = q->avail_idx;
            returned = true;
        }
        n++;
    }
    if (returned) {
        vnet_barrier();
        outw(v->io + VIO_QUEUE_NOTIFY, VNET_RXQ);
    }
    return n;
}

static bool vnet_link_up(struct netdev *d) {
    struct vnet *v = d->priv;
    return !v->has_status || (inw(v->io + VIO_NET_STATUS) & VIRTIO_NET_S_LINK_UP);
}

static const struct netdev_ops vnet_ops = {
    .send = vnet_send,
    .poll_rx = vnet_poll_rx,
    .link_up = vnet_link_up,
};

static struct netdev *virtio_net_probe(const struct pci_device *pd) {
    if (!(pd->bar[0] & PCI_BAR_IO)) {
        printk("cllm: net: virtio-net BAR0 %x is not I/O space (legacy transport disabled?)\n",
               pd->bar[0]);
        return NULL;
    }
    struct vnet *v = &vnet_state;
    v->io = (uint16_t)(pd->bar[0] & PCI_BAR_IO_MASK);
    pci_enable_bus_master(pd);
    outb(v->io + VIO_STATUS, 0); /* reset */
    outb(v->io + VIO_STATUS, VIO_STATUS_ACK);
    outb(v->io + VIO_STATUS, VIO_STATUS_ACK | VIO_STATUS_DRIVER);
    uint32_t features = inl(v->io + VIO_DEVICE_FEATURES) & (VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS);
    outl(v->io + VIO_GUEST_FEATURES, features);
    v->has_status = (features & VIRTIO_NET_F_STATUS) != 0;
    if (vnet_queue_init(v, VNET_RXQ) != 0 || vnet_queue_init(v, VNET_TXQ) != 0) {
        outb(v->io + VIO_STATUS, VIO_STATUS_FAILED);
        printk("cllm: net: virtio-net queue setup failed\n");
        return NULL;
    }
    if (features & VIRTIO_NET_F_MAC) {
        for (int i = 0; i < 6; i++)
            vnet_dev.mac[i] = inb((uint16_t)(v->io + VIO_NET_MAC + i));
    } else {
        static const uint8_t fixed[6] = {0x52, 0x54, 0x00,
                                         0xc1, 0x1a, 0x01}; /* locally administered */
        memcpy(vnet_dev.mac, fixed, 6);
    }
    /* Post every receive buffer. */
    struct vnet_queue *rq = &v->q[VNET_RXQ];
    for (uint16_t i = 0; i < rq->n; i++)
        rq->avail[2 + i] = i;
    rq->avail_idx = rq->n;
    vnet_barrier();
    rq->avail[1] = rq->avail_idx;
    outb(v->io + VIO_STATUS, VIO_STATUS_ACK | VIO_STATUS_DRIVER | VIO_STATUS_DRIVER_OK);
    outw(v->io + VIO_QUEUE_NOTIFY, VNET_RXQ);
    vnet_dev.name = "virtio-net";
    vnet_dev.ops = &vnet_ops;
    vnet_dev.priv = v;
    return &vnet_dev;
}

const struct netdev_driver virtio_net_driver = {
    .name = "virtio",
    .vendor = VIRTIO_VENDOR,
    .device_ids = virtio_net_device_ids,
    .n_device_ids = ARRAY_SIZE(virtio_net_device_ids),
    .probe = virtio_net_probe,
};
