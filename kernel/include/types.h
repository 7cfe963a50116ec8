/*
 * Fixed-width integer types and the few freestanding basics every kernel file uses.
 * The kernel links no outside libc; this header is included first everywhere.
 * Portable code (kernel/llm, kernel/net, kernel/http) may include it on the host too,
 * where it defers to the compiler's <stdint.h>/<stddef.h>/<stdbool.h>.
 */
#ifndef CLLM_TYPES_H
#define CLLM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* a: a power of two. The mask takes x's type, so a 32-bit `a` cannot cut the high
 * bits off a 64-bit x. */
#define ALIGN_UP(x, a) (((x) + ((__typeof__(x))(a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define UNUSED(x) ((void)(x))
#define NORETURN __attribute__((noreturn))
#define PACKED __attribute__((packed))

#endif
