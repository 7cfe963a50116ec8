/*
 * memlayout.h: the address map. Physical == virtual everywhere (identity paging),
 * so these are both. The linker symbols come from boot/linker.ld.
 */
#ifndef CLLM_MEMLAYOUT_H
#define CLLM_MEMLAYOUT_H

#include "types.h"

#define PAGE_SIZE 4096u
#define PAGE_SHIFT 12
#define LARGE_PAGE_SIZE 0x400000u /* 4 MiB PSE page */

#define VGA_TEXT_BASE 0xB8000u /* 80x25 colour text buffer */

/* Linker symbols: use their addresses only. */
extern char kernel_image_start[], kernel_image_end[];
extern char bss_start[], bss_end[];
extern char boot_stack_guard[];  /* one unmapped page: a stack overflow faults here */
extern char boot_stack_bottom[]; /* lowest byte of the 64 KiB boot stack */
extern char boot_stack_top[];    /* initial ESP */
extern char simd_text_start[], simd_text_end[];
extern char embedded_model_start[], embedded_model_end[];

#endif
