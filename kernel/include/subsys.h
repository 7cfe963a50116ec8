/*
 * The subsystems kernel_main starts once the substrate (memory, traps, timer, PCI)
 * is up, and the hooks of the steady-state poll loop. Each is implemented by its
 * subsystem: kernel/llm/llm_boot.c, kernel/llm/console.c, kernel/net/net_boot.c.
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

/* Probe NICs, bring up IPv4 (DHCP or cllm.ip=/cllm.gw=), start the HTTP server. */
void net_init(const struct bootinfo *bi);

/* One turn of the steady-state loop: receive and handle packets, run timers. */
void net_poll(void);

/* One turn of the generation scheduler: advance every active request by a step. */
void llm_poll(void);

#endif
