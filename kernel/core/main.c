/*
 * kernel_main: the boot order of cllm, one step per line. Called by the entry stub
 * (boot/entry.s) with the Multiboot magic and the address of the Multiboot info.
 */
#include "dev/serial.h"
#include "kernel.h"
#include "x86.h"

void kernel_main(uint32_t magic, uint32_t mbi_addr) __attribute__((section(".text.kernel_main")));

void kernel_main(uint32_t magic, uint32_t mbi_addr) {
    serial_init(); /* COM1 first, so every later step can report */
    printk("cllm %s build %s\n", cllm_version, cllm_build_id);
    printk("cllm: multiboot magic %x info %x\n", magic, mbi_addr);
    printk("cllm: ready\n");
    for (;;)
        hlt();
}
