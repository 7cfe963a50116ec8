/*
 * bootinfo: what the boot loader told the kernel, translated at the door.
 * kernel/core/multiboot.c fills it from the Multiboot info; nothing after that
 * sees a Multiboot structure. Everything here points into memory the page
 * allocator has reserved (owner PAGE_OWNER_BOOT), so it stays valid forever.
 */
#ifndef CLLM_BOOTINFO_H
#define CLLM_BOOTINFO_H

#include "types.h"

#define BOOT_MAX_MODULES 8
#define BOOT_MAX_MEM 32

struct boot_module {
    uintptr_t start;  /* physical == virtual (identity mapped) */
    size_t len;       /* bytes */
    const char *name; /* last word of the module's command line, e.g. "model" or "prompt" */
};

struct boot_mem_region {
    uint64_t base;
    uint64_t len;
    uint32_t type; /* 1 = usable RAM, as in the Multiboot memory map */
};

struct bootinfo {
    const char *cmdline; /* the kernel command line, "" if none */
    size_t n_modules;
    struct boot_module modules[BOOT_MAX_MODULES];
    size_t n_mem;
    struct boot_mem_region mem[BOOT_MAX_MEM];
    uint64_t mem_usable; /* bytes of usable RAM */
};

/* kernel/core/multiboot.c: check the magic and translate the Multiboot info at
 * info_addr into the bootinfo (copying the command line and module names). Reports
 * each module ("cllm: module <name> at 0x.. len N"). */
const struct bootinfo *multiboot_parse(uint32_t magic, uint32_t info_addr);

/* The boot information; valid after multiboot_parse() in kernel_main. */
const struct bootinfo *bootinfo_get(void);

/* The first module whose name equals `name`, or NULL. */
const struct boot_module *bootinfo_module(const char *name);

#endif
