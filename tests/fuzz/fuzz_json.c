/*
 * libFuzzer target: the JSON reader and writer (kernel/http/json_read.c,
 * json_write.c). A document the reader accepts is written back, read again and
 * written again: the second read must succeed and both writes must be the same
 * bytes (the writer emits valid JSON and the round trip is stable). Built by
 * tests/fuzzing.py with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/json.h"

static void write_doc(struct hbuf *out, const struct json_value *v) {
    struct json_writer w;
    hbuf_init(out);
    json_write_init(&w, out);
    json_write_value(&w, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct json_doc doc;
    if (json_parse(&doc, (const char *)data, size) != 0) {
        if (doc.root || !doc.err[0])
            abort(); /* a failed parse leaves no tree and says why */
        json_doc_free(&doc);
        return 0;
    }
    struct hbuf a, b;
    write_doc(&a, doc.root);
    json_doc_free(&doc);
    if (a.failed) {
        hbuf_free(&a);
        return 0;
    }
    struct json_doc again;
    if (json_parse(&again, a.data, a.len) != 0) {
        fprintf(stderr, "written JSON does not parse: %s\n%.*s\n", again.err, (int)a.len, a.data);
        abort();
    }
    write_doc(&b, again.root);
    json_doc_free(&again);
    if (!b.failed && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) {
        fprintf(stderr, "round trip differs:\n%.*s\n%.*s\n", (int)a.len, a.data, (int)b.len,
                b.data);
        abort();
    }
    hbuf_free(&a);
    hbuf_free(&b);
    return 0;
}
