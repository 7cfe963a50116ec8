/*
 * Multiboot v1 -> bootinfo, at the door (bootinfo.h). Called once by kernel_main
 * before paging, while the loader's structures are still where it left them. The
 * command line and module names are copied into the kernel image; module contents
 * stay in place and the page allocator reserves them (PAGE_OWNER_BOOT). A module's
 * name is the last word of its command line. Every field
 * read from the loader is checked: a bad module or map entry is skipped with a
 * warning naming it.
 */
#include "multiboot.h"
#include "bootinfo.h"
#include "kernel.h"
#include "memlayout.h"
#include "param.h"

static struct bootinfo boot;
static char boot_cmdline[CMDLINE_MAX];
static char boot_module_names[BOOT_MAX_MODULES][BOOT_MODULE_NAME_MAX];

/* Copy a loader string (physical == virtual before paging) with a bound. */
static void copy_string(char *dst, size_t cap, uint32_t src_addr) {
    const char *src = (const char *)(uintptr_t)src_addr;
    size_t n = src_addr ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A command line longer than the copy ends at the last whole word: the word the cut
 * fell in is dropped with a warning, never kept short (a key or an address cut short
 * would be used as if it were whole). */
static void drop_cut_word(const char *src) {
    size_t n = strlen(boot_cmdline);
    if (n < sizeof(boot_cmdline) - 1 || src[n] == '\0')
        return;
    while (n > 0 && boot_cmdline[n - 1] != ' ')
        n--;
    printk("cllm: warning: command line longer than %u bytes: \"%.32s...\" and what follows "
           "ignored\n",
           (unsigned)sizeof(boot_cmdline) - 1, boot_cmdline + n);
    boot_cmdline[n] = '\0';
}

static size_t mem_dropped;

static void add_mem(uint64_t base, uint64_t len, uint32_t type) {
    if (type == MULTIBOOT_MEMORY_AVAILABLE)
        boot.mem_usable += len;
    /* UEFI firmware splits RAM into many same-typed neighbours: merge them. */
    struct boot_mem_region *last = boot.n_mem ? &boot.mem[boot.n_mem - 1] : NULL;
    if (last && last->type == type && last->base + last->len == base) {
        last->len += len;
        return;
    }
    if (boot.n_mem == BOOT_MAX_MEM) {
        if (type == MULTIBOOT_MEMORY_AVAILABLE)
            boot.mem_usable -= len;
        mem_dropped++;
        return;
    }
    boot.mem[boot.n_mem++] = (struct boot_mem_region){base, len, type};
}

static void parse_mmap(const struct multiboot_info *mbi) {
    uint32_t off = 0;
    while (off + sizeof(struct multiboot_mmap_entry) <= mbi->mmap_length) {
        const struct multiboot_mmap_entry *e =
            (const struct multiboot_mmap_entry *)(uintptr_t)(mbi->mmap_addr + off);
        if (e->size < sizeof(*e) - 4) {
            printk("cllm: warning: memory map entry size %u at offset %u too small; map ends\n",
                   e->size, off);
            return;
        }
        if (e->len != 0)
            add_mem(e->addr, e->len, e->type);
        off += e->size + 4;
    }
}

/* A module's name is the last word of its command line: QEMU passes "path name",
 * GRUB's `module /boot/x name` passes "name". The word is taken from the whole string
 * (scanned up to MODULE_CMDLINE_SCAN bytes), so a long path cannot push it out of the
 * fixed-size name buffer. */
#define MODULE_CMDLINE_SCAN 4096

static void module_name_from(char *dst, size_t cap, uint32_t src_addr) {
    const char *s = (const char *)(uintptr_t)src_addr;
    size_t n = src_addr ? strnlen(s, MODULE_CMDLINE_SCAN) : 0;
    while (n && s[n - 1] == ' ')
        n--;
    size_t start = n;
    while (start && s[start - 1] != ' ')
        start--;
    size_t len = MIN(n - start, cap - 1);
    memcpy(dst, s + start, len);
    dst[len] = '\0';
}

/* A module must lie in usable RAM, above low memory, clear of the kernel image. */
static bool module_placement_ok(uint32_t start, uint32_t end) {
    if (start < LOW_MEMORY_RESERVED)
        return false;
    if (start < (uintptr_t)kernel_image_end && end > (uintptr_t)kernel_image_start)
        return false;
    for (size_t r = 0; r < boot.n_mem; r++) {
        const struct boot_mem_region *reg = &boot.mem[r];
        if (reg->type == MULTIBOOT_MEMORY_AVAILABLE && start >= reg->base &&
            end <= reg->base + reg->len)
            return true;
    }
    return false;
}

static void parse_modules(const struct multiboot_info *mbi) {
    const struct multiboot_module *mods =
        (const struct multiboot_module *)(uintptr_t)mbi->mods_addr;
    for (uint32_t i = 0; i < mbi->mods_count; i++) {
        if (boot.n_modules == BOOT_MAX_MODULES) {
            printk("cllm: warning: %u modules given, only %d kept\n", mbi->mods_count,
                   BOOT_MAX_MODULES);
            return;
        }
        const struct multiboot_module *m = &mods[i];
        char *name = boot_module_names[boot.n_modules];
        module_name_from(name, BOOT_MODULE_NAME_MAX, m->string);
        if (m->mod_end < m->mod_start) {
            printk("cllm: warning: module %s skipped: end 0x%x before start 0x%x\n", name,
                   m->mod_end, m->mod_start);
            continue;
        }
        if (!module_placement_ok(m->mod_start, m->mod_end)) {
            printk("cllm: warning: module %s skipped: 0x%x..0x%x is not free RAM above 1 MiB "
                   "outside the kernel image\n",
                   name, m->mod_start, m->mod_end);
            continue;
        }
        boot.modules[boot.n_modules++] =
            (struct boot_module){m->mod_start, m->mod_end - m->mod_start, name};
        printk("cllm: module %s at 0x%x len %u\n", name, m->mod_start, m->mod_end - m->mod_start);
    }
}

const struct bootinfo *multiboot_parse(uint32_t magic, uint32_t info_addr) {
    boot.cmdline = boot_cmdline;
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        panic("not started by a Multiboot loader: magic 0x%08x", magic);
    const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info_addr;
    if (mbi->flags & MULTIBOOT_INFO_CMDLINE) {
        copy_string(boot_cmdline, sizeof(boot_cmdline), mbi->cmdline);
        drop_cut_word((const char *)(uintptr_t)mbi->cmdline);
    }
    if (mbi->flags & MULTIBOOT_INFO_MMAP) {
        parse_mmap(mbi);
    } else if (mbi->flags & MULTIBOOT_INFO_MEMORY) {
        /* No map: the classic two numbers describe low memory and the first block above 1 MiB. */
        add_mem(0, (uint64_t)mbi->mem_lower * 1024, MULTIBOOT_MEMORY_AVAILABLE);
        add_mem(0x100000, (uint64_t)mbi->mem_upper * 1024, MULTIBOOT_MEMORY_AVAILABLE);
    }
    if (mem_dropped)
        printk("cllm: warning: %u memory map entries past the first %d ignored\n",
               (unsigned)mem_dropped, BOOT_MAX_MEM);
    if (boot.n_mem == 0)
        panic("the boot loader gave no memory map and no memory size");
    if (mbi->flags & MULTIBOOT_INFO_LOADER_NAME) {
        char loader[64];
        copy_string(loader, sizeof(loader), mbi->boot_loader_name);
        printk("cllm: boot loader %s\n", loader);
    }
    if (mbi->flags & MULTIBOOT_INFO_MODS)
        parse_modules(mbi);
    return &boot;
}

const struct bootinfo *bootinfo_get(void) {
    return &boot;
}

const struct boot_module *bootinfo_module(const char *name) {
    for (size_t i = 0; i < boot.n_modules; i++) {
        if (strcmp(boot.modules[i].name, name) == 0)
            return &boot.modules[i];
    }
    return NULL;
}
