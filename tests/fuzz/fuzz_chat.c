/*
 * libFuzzer target: the chat template renderer (kernel/llm/chat.c). The first byte
 * picks the template, the rest is split at NUL bytes into role, content, role,
 * content... Every template must give the same length with any buffer size
 * (snprintf-like), a NUL-terminated prefix of the full text when the buffer is too
 * small, and never write past it. Built by tests/fuzzing.py with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/chat.h"

#define FUZZ_MAX_MSGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static const char *const names[] = {"chatml", "llama2", "zephyr", "llama3", "gemma"};
    int tmpl = data[0] % (int)(sizeof(names) / sizeof(names[0]));
    if (chat_template_from_name(names[tmpl]) < 0)
        return 0;
    enum chat_template t = (enum chat_template)chat_template_from_name(names[tmpl]);
    bool add_assistant = data[0] & 0x80;
    struct chat_message msgs[FUZZ_MAX_MSGS];
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    size_t n = 0, off = 0, len = size - 1;
    while (off < len && n < FUZZ_MAX_MSGS) {
        const char *role = buf + off;
        off += strlen(role) + 1;
        const char *content = off < len ? buf + off : "";
        size_t clen = off < len ? strlen(content) : 0;
        off += clen + 1;
        msgs[n++] = (struct chat_message){role, content, clen};
    }
    size_t need = chat_apply(t, msgs, n, add_assistant, NULL, 0);
    char *full = malloc(need + 1);
    if (chat_apply(t, msgs, n, add_assistant, full, need + 1) != need || full[need] != 0)
        abort();
    size_t cap = need / 2 + 1;
    char *part = malloc(cap);
    if (chat_apply(t, msgs, n, add_assistant, part, cap) != need)
        abort();
    if (strlen(part) != cap - 1 || memcmp(part, full, cap - 1) != 0)
        abort();
    free(part);
    free(full);
    free(buf);
    return 0;
}
