/*
 * port.h for the kernel: what kernel/llm, kernel/net and kernel/http may use from
 * their environment, mapped onto the heap, the clock and printk. The host side of the
 * same interface is tests/host/port_host.c.
 */
#include "port.h"
#include "clock.h"
#include "mm.h"
#include "x86.h"

#define PORT_ALLOC_ALIGN 16 /* bytes, what port.h promises */
#define PORT_LOG_MAX 384    /* longest log line, bytes */

/* Whom port_alloc charges, by the caller's source path (__FILE__, root-relative in the
 * kernel build): the first prefix that matches wins, so a file comes before its
 * directory. A new subsystem is one row here and one enum heap_tag. */
static const struct port_tag {
    const char *prefix;
    enum heap_tag tag;
} port_tags[] = {
    {"kernel/llm/kv", HEAP_TAG_KV},
    {"kernel/llm/tokenizer", HEAP_TAG_TOKENIZER},
    {"kernel/llm/grammar", HEAP_TAG_GRAMMAR},
    {"kernel/llm/gguf", HEAP_TAG_MODEL},
    {"kernel/llm/arch", HEAP_TAG_MODEL},
    {"kernel/llm/llama2c", HEAP_TAG_MODEL},
    {"kernel/llm/", HEAP_TAG_LLM},
    {"kernel/http/api", HEAP_TAG_API},
    {"kernel/http/", HEAP_TAG_HTTP},
    {"kernel/net/", HEAP_TAG_NET},
};

static enum heap_tag port_tag_of(const char *file) {
    /* Calls come from a few files over and over; the literal's address repeats. */
    static const char *last_file;
    static enum heap_tag last_tag;
    if (file == last_file)
        return last_tag;
    enum heap_tag tag = HEAP_TAG_OTHER;
    for (size_t i = 0; i < sizeof(port_tags) / sizeof(port_tags[0]); i++) {
        if (strncmp(file, port_tags[i].prefix, strlen(port_tags[i].prefix)) == 0) {
            tag = port_tags[i].tag;
            break;
        }
    }
    last_file = file;
    last_tag = tag;
    return tag;
}

void *port_alloc_from(size_t n, const char *file) {
    return heap_alloc(n, PORT_ALLOC_ALIGN, file ? port_tag_of(file) : HEAP_TAG_OTHER);
}

/* The plain entry (its name in parentheses: port.h makes port_alloc a macro). */
void *(port_alloc)(size_t n) {
    return kmalloc_aligned(n, PORT_ALLOC_ALIGN);
}

void port_free(void *p) {
    kfree(p);
}

uint64_t port_time_us(void) {
    return clock_us();
}

/* The TSC where the clock calibrated one (clock_tsc_hz is 0 otherwise). */
uint64_t port_cycles(void) {
    return clock_tsc_hz() ? rdtsc() : clock_us();
}

uint64_t port_cycles_hz(void) {
    return clock_tsc_hz() ? clock_tsc_hz() : 1000000u;
}

uint64_t port_unix_time(void) {
    return clock_unix_s();
}

void port_log(const char *fmt, ...) {
    char line[PORT_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printk("cllm: %s\n", line);
}
