/*
 * Paging: one page directory identity-mapping the whole 4 GiB address space (mm.h).
 * RAM (usable regions of the memory map) is mapped write-back; everything else below
 * 4 GiB, the PCI MMIO hole included, is mapped uncached (PCD|PWT) so device registers
 * see every access. A 4 MiB region that is all of one kind gets one PSE page; a region
 * that mixes kinds, or holds page 0 or a stack guard page (the boot stack's and those
 * of the application processors' stacks, smp.h; left unmapped so NULL dereferences
 * and stack overflows fault), gets a 4 KiB page table. Without PSE
 * every region gets a table. Called once by kernel_main after page_init.
 */
#include "cpu.h"
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"
#include "smp.h"
#include "trap.h"
#include "x86.h"

#define PTE_PRESENT 0x001u
#define PTE_WRITE 0x002u
#define PTE_PWT 0x008u
#define PTE_PCD 0x010u
#define PDE_LARGE 0x080u
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define PD_ENTRIES 1024
#define PT_ENTRIES 1024

enum vm_kind { VM_UNMAPPED, VM_RAM, VM_MMIO };

static uint32_t *page_dir; /* (PD_ENTRIES) one per 4 MiB region */
static const struct bootinfo *vm_boot;

static bool vm_is_hole(uint64_t addr) {
    for (int cpu = 1; cpu < SMP_MAX_CPUS; cpu++)
        if (addr == smp_stack_guard(cpu))
            return true;
    return addr == 0 || addr == (uintptr_t)boot_stack_guard;
}

/* True if a hole lies in [base, end). */
static bool vm_has_hole(uint64_t base, uint64_t end) {
    for (int cpu = 1; cpu < SMP_MAX_CPUS; cpu++)
        if (smp_stack_guard(cpu) >= base && smp_stack_guard(cpu) < end)
            return true;
    return base == 0 || ((uintptr_t)boot_stack_guard >= base && (uintptr_t)boot_stack_guard < end);
}

static enum vm_kind vm_kind_of(uint64_t page) {
    if (vm_is_hole(page))
        return VM_UNMAPPED;
    for (size_t r = 0; r < vm_boot->n_mem; r++) {
        const struct boot_mem_region *reg = &vm_boot->mem[r];
        if (reg->type == 1 && reg->base < page + PAGE_SIZE && page < reg->base + reg->len)
            return VM_RAM;
    }
    return VM_MMIO;
}

/* True if every page of the 4 MiB region at base is of one kind. */
static bool vm_region_uniform(uint64_t base) {
    uint64_t end = base + LARGE_PAGE_SIZE;
    if (vm_has_hole(base, end))
        return false;
    for (size_t r = 0; r < vm_boot->n_mem; r++) {
        const struct boot_mem_region *reg = &vm_boot->mem[r];
        uint64_t rend = reg->base + reg->len;
        if (reg->type == 1 &&
            ((reg->base > base && reg->base < end) || (rend > base && rend < end)))
            return false;
    }
    return true;
}

static uint32_t vm_flags(enum vm_kind kind) {
    if (kind == VM_UNMAPPED)
        return 0;
    return PTE_PRESENT | PTE_WRITE | (kind == VM_MMIO ? PTE_PCD | PTE_PWT : 0);
}

static uint32_t *vm_table(void) {
    uintptr_t t = page_alloc(1, 1, PAGE_OWNER_PAGETABLE);
    if (!t)
        panic("out of memory for page tables");
    return (uint32_t *)t;
}

void vm_init(const struct bootinfo *bi) {
    vm_boot = bi;
    bool pse = cpu_has_pse();
    unsigned n_large = 0, n_tables = 0;
    page_dir = vm_table();
    for (unsigned i = 0; i < PD_ENTRIES; i++) {
        uint64_t base = (uint64_t)i << 22;
        bool uniform = vm_region_uniform(base);
        if (pse && uniform) {
            page_dir[i] = (uint32_t)base | vm_flags(vm_kind_of(base)) | PDE_LARGE;
            n_large++;
            continue;
        }
        uint32_t *pt = vm_table();
        enum vm_kind kind = vm_kind_of(base);
        for (unsigned j = 0; j < PT_ENTRIES; j++) {
            uint64_t a = base + (uint64_t)j * PAGE_SIZE;
            uint32_t flags = vm_flags(uniform ? kind : vm_kind_of(a));
            pt[j] = flags ? (uint32_t)a | flags : 0;
        }
        page_dir[i] = (uint32_t)(uintptr_t)pt | PTE_PRESENT | PTE_WRITE;
        n_tables++;
    }
    if (pse)
        write_cr4(read_cr4() | CR4_PSE);
    write_cr3((uint32_t)(uintptr_t)page_dir);
    write_cr0(read_cr0() | CR0_PG);
    gdt_set_fault_cr3((uint32_t)(uintptr_t)page_dir);
    printk("cllm: paging: identity map, %u large pages, %u page tables, guard page 0x%08x\n",
           n_large, n_tables, (unsigned)(uintptr_t)boot_stack_guard);
}

/* The entry that maps addr (PDE for a large page, else PTE), 0 if none. */
static uint32_t vm_entry(uintptr_t addr) {
    if (!page_dir)
        return 0;
    uint32_t pde = page_dir[addr >> 22];
    if (!(pde & PTE_PRESENT) || (pde & PDE_LARGE))
        return pde;
    const uint32_t *pt = (const uint32_t *)(uintptr_t)(pde & ~0xFFFu);
    return pt[(addr >> 12) & 0x3FF];
}

bool vm_is_mapped(uintptr_t addr) {
    return (vm_entry(addr) & PTE_PRESENT) != 0;
}

bool vm_is_uncached(uintptr_t addr) {
    return (vm_entry(addr) & PTE_PCD) != 0;
}
