/*
 * multiboot.h: the Multiboot (version 1) information structure as the boot loader
 * leaves it (see the Multiboot 0.6.96 specification, section 3.3). Only
 * kernel/core/multiboot.c includes this; it copies what the kernel needs into the
 * bootinfo (bootinfo.h) and nothing later reads these structures.
 */
#ifndef CLLM_MULTIBOOT_H
#define CLLM_MULTIBOOT_H

#include "types.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

#define MULTIBOOT_INFO_MEMORY 0x001u      /* mem_lower, mem_upper valid */
#define MULTIBOOT_INFO_CMDLINE 0x004u     /* cmdline valid */
#define MULTIBOOT_INFO_MODS 0x008u        /* mods_count, mods_addr valid */
#define MULTIBOOT_INFO_MMAP 0x040u        /* mmap_length, mmap_addr valid */
#define MULTIBOOT_INFO_LOADER_NAME 0x200u /* boot_loader_name valid */

#define MULTIBOOT_MEMORY_AVAILABLE 1u

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB below 1 MiB */
    uint32_t mem_upper; /* KiB above 1 MiB, up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline; /* physical address of a NUL-terminated string */
    uint32_t mods_count;
    uint32_t mods_addr; /* physical address of mods_count struct multiboot_module */
    uint32_t syms[4];
    uint32_t mmap_length; /* bytes of memory map */
    uint32_t mmap_addr;   /* physical address of the first struct multiboot_mmap_entry */
    uint32_t drives_length;
    uint32_t drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
    uint32_t apm_table;
    uint32_t vbe_control_info, vbe_mode_info;
    uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
} PACKED;

struct multiboot_module {
    uint32_t mod_start; /* first byte */
    uint32_t mod_end;   /* one past the last byte */
    uint32_t string;    /* physical address of the module's command line */
    uint32_t reserved;
} PACKED;

/* Entries are variable-sized: the next one starts size + 4 bytes after this one. */
struct multiboot_mmap_entry {
    uint32_t size; /* of the rest of the entry, excluding this field */
    uint64_t addr;
    uint64_t len;
    uint32_t type; /* MULTIBOOT_MEMORY_AVAILABLE = usable RAM */
} PACKED;

#endif
