/*
 * The subsystems kernel_main starts once the substrate (memory, traps, timer, PCI)
 * is up, and the hooks of the steady-state poll loop, which main.c runs as
 * net_poll() | http_poll() | gen_poll(): each returns whether it did work, and the
 * loop sleeps until the next interrupt when none did. Each is implemented by its
 * subsystem: kernel/llm/llm_boot.c, kernel/llm/console.c, kernel/net/net_boot.c,
 * kernel/http/server_tcp.c. None of them calls another: main.c wires them.
 */
#ifndef CLLM_SUBSYS_H
#define CLLM_SUBSYS_H

#include "bootinfo.h"

/* Find the model (Multiboot module "model", or the one embedded in the ELF), check
 * and bind it; print what was loaded or why not. The kernel keeps running without one. */
void llm_init(const struct bootinfo *bi);

/* True if a module "prompt" was given: the kernel runs console mode and exits. */
bool llm_console_requested(const struct bootinfo *bi);

/* Console mode: generate from the prompt module, write the continuation to the
 * data channel (COM2), report timings on the log. Returns the exit status (0 = ok). */
int llm_console_run(const struct bootinfo *bi);

/* Probe NICs, bring up IPv4 (DHCP or cllm.ip=/cllm.gw=), start the echo service. */
void net_init(const struct bootinfo *bi);
/* True once net_init bound a NIC: the services above IP can start. */
bool net_ready(void);

/* One turn of the network: receive and handle packets, run timers; true if any
 * frame came in. */
bool net_poll(void);

/* One turn of the HTTP server (kernel/http/server_tcp.c): flush, timeouts, the
 * requests that waited; true if it took one up. */
bool http_poll(void);

/* One turn of the generation scheduler (kernel/llm/sched.h): every running sequence
 * a step, then one batched decode pass; true if any stepped. */
bool gen_poll(void);

#endif
