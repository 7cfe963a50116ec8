/*
 * GGUF reader (see gguf.h). Called by model.c and the tokenizer; relies on port.h.
 *
 * The format (little endian, versions 2 and 3 are identical in layout):
 *   header   char magic[4] = "GGUF"; uint32 version; uint64 n_tensors; uint64 n_kv
 *   kv       n_kv times: string key; uint32 type; value
 *            value: uint8/int8/bool 1 byte, (u)int16 2, (u)int32/float32 4,
 *                   (u)int64/float64 8, string = uint64 len + len bytes (no NUL),
 *                   array = uint32 elem_type + uint64 n + n values (no nested arrays)
 *   tensors  n_tensors times: string name; uint32 n_dims (<= 4); uint64 ne[n_dims];
 *            uint32 ggml_type; uint64 offset (from the data section, aligned)
 *   padding  up to a multiple of general.alignment (uint32, default 32)
 *   data     tensor bytes; a tensor holds ne0*ne1*ne2*ne3 / block_elems * block_bytes
 *
 * Every read goes through a cursor that checks the remaining length first, and
 * every product or sum of file values is overflow-checked, so a hostile file gives
 * an error message, never an out-of-bounds read.
 */
#include "llm/gguf.h"

struct cursor {
    const uint8_t *p;
    size_t left;
    const uint8_t *base;
};

static bool cur_take(struct cursor *c, size_t n, const uint8_t **out) {
    if (n > c->left)
        return false;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return true;
}

static bool cur_u32(struct cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (!cur_take(c, 4, &p))
        return false;
    memcpy(v, p, 4);
    return true;
}

static bool cur_u64(struct cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (!cur_take(c, 8, &p))
        return false;
    memcpy(v, p, 8);
    return true;
}

static unsigned long cur_off(const struct cursor *c) {
    return (unsigned long)(c->p - c->base);
}

/* string = uint64 len + bytes; fails if len exceeds what is left. */
static bool cur_str(struct cursor *c, struct gguf_str *s, uint64_t *len_out) {
    uint64_t n;
    const uint8_t *p;
    *len_out = 0;
    if (!cur_u64(c, &n))
        return false;
    *len_out = n;
    if (n > c->left)
        return false;
    if (!cur_take(c, (size_t)n, &p))
        return false;
    s->ptr = (const char *)p;
    s->len = (size_t)n;
    return true;
}

/* Size in bytes of a scalar of this type; 0 for string/array/unknown. */
static size_t gguf_scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

bool gguf_str_eq(struct gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

bool gguf_is_gguf(const uint8_t *data, size_t len) {
    return len >= 4 && memcmp(data, "GGUF", 4) == 0;
}

/* Print at most 48 bytes of a file string, non-printables as '?', into buf. */
static const char *gguf_show(struct gguf_str s, char *buf, size_t n) {
    size_t k = MIN(s.len, n - 1);
    for (size_t i = 0; i < k; i++) {
        char ch = s.ptr[i];
        buf[i] = (ch >= 32 && ch < 127) ? ch : '?';
    }
    buf[k] = 0;
    return buf;
}

/* The ggml tensor types, indexed by type number: name, values per block, bytes per
 * block. Layouts of the block types (little endian, d/m/scales are IEEE halves):
 *   Q4_0  d, 16 bytes of 4-bit values          Q4_1  d, m, 16 bytes of 4-bit values
 *   Q5_0  d, 4 bytes of fifth bits, 16 bytes    Q5_1  d, m, 4 bytes of fifth bits, 16 bytes
 *   Q8_0  d, 32 int8                           Q8_1  d, s, 32 int8
 *   K types: super-blocks of 256 values in sub-blocks with 6-bit (Q3_K..Q5_K) or
 *   8-bit (Q6_K) or 4-bit (Q2_K) sub-scales; Q8_K (the K input form): f32 d, 256
 *   int8, 16 int16 sums of 16. IQ types are known by size only. */
static const struct gguf_type_info gguf_types[GGUF_GGML_TYPE_COUNT] = {
    [GGUF_GGML_F32] = {"F32", 1, 4},
    [GGUF_GGML_F16] = {"F16", 1, 2},
    [GGUF_GGML_Q4_0] = {"Q4_0", 32, 18},
    [GGUF_GGML_Q4_1] = {"Q4_1", 32, 20},
    [GGUF_GGML_Q5_0] = {"Q5_0", 32, 22},
    [GGUF_GGML_Q5_1] = {"Q5_1", 32, 24},
    [GGUF_GGML_Q8_0] = {"Q8_0", 32, 34},
    [GGUF_GGML_Q8_1] = {"Q8_1", 32, 36},
    [GGUF_GGML_Q2_K] = {"Q2_K", 256, 84},
    [GGUF_GGML_Q3_K] = {"Q3_K", 256, 110},
    [GGUF_GGML_Q4_K] = {"Q4_K", 256, 144},
    [GGUF_GGML_Q5_K] = {"Q5_K", 256, 176},
    [GGUF_GGML_Q6_K] = {"Q6_K", 256, 210},
    [GGUF_GGML_Q8_K] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98},
    [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},
    [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},
    [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},
    [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},
    [GGUF_GGML_BF16] = {"BF16", 1, 2},
};

const struct gguf_type_info *gguf_type_info(uint32_t type) {
    if (type >= GGUF_GGML_TYPE_COUNT || !gguf_types[type].name)
        return NULL;
    return &gguf_types[type];
}

const char *gguf_type_name(uint32_t type) {
    const struct gguf_type_info *ti = gguf_type_info(type);
    return ti ? ti->name : "unknown";
}

void gguf_close(struct gguf_file *g) {
    if (g->kv) {
        for (size_t i = 0; i < g->n_kv; i++)
            port_free(g->kv[i].str_off);
        port_free(g->kv);
    }
    port_free(g->tensors);
    memset(g, 0, sizeof(*g));
}

/* Parse one value of type t (not an array) at the cursor. */
static int gguf_read_value(struct cursor *c, uint32_t t, struct gguf_kv *kv, char keyshow[64],
                           char *err, size_t errlen) {
    size_t sz = gguf_scalar_size(t);
    const uint8_t *p;
    if (t == GGUF_TYPE_STRING) {
        struct gguf_str s;
        uint64_t n;
        kv->val = c->p;
        if (!cur_str(c, &s, &n)) {
            port_fail(err, errlen,
                      "metadata %s: string length %llu past end of file (offset 0x%lx)", keyshow,
                      (unsigned long long)n, cur_off(c));
            return -1;
        }
        return 0;
    }
    if (!sz) {
        port_fail(err, errlen, "metadata %s: unknown value type %u", keyshow, (unsigned)t);
        return -1;
    }
    if (!cur_take(c, sz, &p)) {
        port_fail(err, errlen, "metadata %s: value past end of file (offset 0x%lx)", keyshow,
                  cur_off(c));
        return -1;
    }
    kv->val = p;
    return 0;
}

static int gguf_read_array(struct cursor *c, struct gguf_kv *kv, char keyshow[64], char *err,
                           size_t errlen) {
    uint32_t et;
    uint64_t n;
    if (!cur_u32(c, &et) || !cur_u64(c, &n)) {
        port_fail(err, errlen, "metadata %s: array header past end of file", keyshow);
        return -1;
    }
    kv->arr_type = et;
    kv->arr_n = n;
    kv->arr_data = c->p;
    kv->val = c->p;
    if (et == GGUF_TYPE_STRING) {
        /* each string takes at least 8 bytes: bound n before allocating */
        if (n > c->left / 8) {
            port_fail(err, errlen, "metadata %s: array count %llu past end of file", keyshow,
                      (unsigned long long)n);
            return -1;
        }

        kv->str_off = port_alloc((size_t)(n ? n : 1) * sizeof(uint32_t));
        if (!kv->str_off) {
            port_fail(err, errlen, "metadata %s: out of memory for %llu strings", keyshow,
                      (unsigned long long)n);
            return -1;
        }
        for (uint64_t i = 0; i < n; i++) {
            struct gguf_str s;
            uint64_t len;
            uint64_t rel = (uint64_t)(c->p - kv->arr_data);
            if (rel > 0xffffffffull) { /* the offset table holds 32-bit offsets */
                port_fail(err, errlen, "metadata %s: string array larger than 4 GiB", keyshow);
                return -1;
            }
            kv->str_off[i] = (uint32_t)rel;
            if (!cur_str(c, &s, &len)) {
                port_fail(err, errlen,
                          "metadata %s[%llu]: string length %llu past end of file (offset 0x%lx)",
                          keyshow, (unsigned long long)i, (unsigned long long)len, cur_off(c));
                return -1;
            }
        }
        return 0;
    }
    size_t sz = gguf_scalar_size(et);
    const uint8_t *p;
    if (!sz) {
        port_fail(err, errlen, "metadata %s: unsupported array element type %u", keyshow,
                  (unsigned)et);
        return -1;
    }
    if (n > c->left / sz || !cur_take(c, (size_t)n * sz, &p)) {
        port_fail(err, errlen, "metadata %s: array count %llu past end of file", keyshow,
                  (unsigned long long)n);
        return -1;
    }
    return 0;
}

static int gguf_read_tensor(struct cursor *c, struct gguf_tensor *t, size_t idx, char *err,
                            size_t errlen) {
    uint64_t len;
    char show[64];
    if (!cur_str(c, &t->name, &len)) {
        port_fail(err, errlen, "tensor %lu: name length %llu past end of file", (unsigned long)idx,
                  (unsigned long long)len);
        return -1;
    }
    gguf_show(t->name, show, sizeof(show));
    if (!cur_u32(c, &t->n_dims)) {
        port_fail(err, errlen, "tensor %s: n_dims past end of file", show);
        return -1;
    }
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS) {
        port_fail(err, errlen, "tensor %s: n_dims %u out of range 1..%d", show, (unsigned)t->n_dims,
                  GGUF_MAX_DIMS);
        return -1;
    }
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (!cur_u64(c, &t->ne[d])) {
            port_fail(err, errlen, "tensor %s: dims past end of file", show);
            return -1;
        }
        if (t->ne[d] == 0 || t->ne[d] > 0xffffffffull) {
            port_fail(err, errlen, "tensor %s: ne[%u] = %llu out of range", show, (unsigned)d,
                      (unsigned long long)t->ne[d]);
            return -1;
        }
    }
    if (!cur_u32(c, &t->type) || !cur_u64(c, &t->offset)) {
        port_fail(err, errlen, "tensor %s: type/offset past end of file", show);
        return -1;
    }
    return 0;
}

/* Check a tensor's size and place it inside the data section. */
static int gguf_place_tensor(struct gguf_file *g, struct gguf_tensor *t, char *err, size_t errlen) {
    char show[64];
    gguf_show(t->name, show, sizeof(show));
    const struct gguf_type_info *ti = gguf_type_info(t->type);
    if (!ti) {
        port_fail(err, errlen, "tensor %s: unknown type %u", show, (unsigned)t->type);
        return -1;
    }
    uint32_t be = ti->block, bb = ti->block_bytes;
    /* elements: each ne <= 2^32; cap the product at 2^56 so bytes (<= 8 per element) fit */
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        if (t->ne[d] && n > (1ull << 56) / t->ne[d]) {
            port_fail(err, errlen, "tensor %s: element count overflows", show);
            return -1;
        }
        n *= t->ne[d];
    }
    if (t->ne[0] % be) {
        port_fail(err, errlen, "tensor %s: ne[0] = %llu not a multiple of the %s block (%u)", show,
                  (unsigned long long)t->ne[0], gguf_type_name(t->type), (unsigned)be);
        return -1;
    }
    uint64_t nbytes = n / be * bb;
    uint64_t avail = (uint64_t)(g->data + g->len - g->tensor_data);
    if (t->offset % g->alignment) {
        port_fail(err, errlen, "tensor %s: offset 0x%llx not aligned to %lu", show,
                  (unsigned long long)t->offset, (unsigned long)g->alignment);
        return -1;
    }
    if (t->offset > avail || nbytes > avail - t->offset) {
        port_fail(err, errlen, "tensor %s: offset 0x%llx size %llu past end of file (len %lu)",
                  show, (unsigned long long)t->offset, (unsigned long long)nbytes,
                  (unsigned long)g->len);
        return -1;
    }
    t->data = g->tensor_data + t->offset;
    t->nbytes = (size_t)nbytes;
    return 0;
}

int gguf_open(struct gguf_file *g, const uint8_t *data, size_t len, char *err, size_t errlen) {
    struct cursor c = {data, len, data};
    uint64_t n_tensors, n_kv;
    const uint8_t *p;
    memset(g, 0, sizeof(*g));
    g->data = data;
    g->len = len;
    if (!cur_take(&c, 4, &p) || memcmp(p, "GGUF", 4) != 0) {
        port_fail(err, errlen, "not a GGUF file: bad magic (len %lu)", (unsigned long)len);
        return -1;
    }
    if (!cur_u32(&c, &g->version) || !cur_u64(&c, &n_tensors) || !cur_u64(&c, &n_kv)) {
        port_fail(err, errlen, "GGUF header truncated (len %lu)", (unsigned long)len);
        return -1;
    }
    if (g->version != 2 && g->version != 3) {
        port_fail(err, errlen, "GGUF version %u not supported (2 or 3)", (unsigned)g->version);
        return -1;
    }
    /* each kv takes at least 8+4+1 bytes, each tensor info at least 8+4+8+4+8 */
    if (n_kv > GGUF_MAX_KV || n_kv > c.left / 13) {
        port_fail(err, errlen, "GGUF n_kv %llu too large for file (len %lu)",
                  (unsigned long long)n_kv, (unsigned long)len);
        return -1;
    }
    if (n_tensors > GGUF_MAX_TENSORS || n_tensors > c.left / 32) {
        port_fail(err, errlen, "GGUF n_tensors %llu too large for file (len %lu)",
                  (unsigned long long)n_tensors, (unsigned long)len);
        return -1;
    }
    g->n_kv = (size_t)n_kv;
    g->n_tensors = (size_t)n_tensors;
    g->kv = port_alloc(sizeof(struct gguf_kv) * (g->n_kv ? g->n_kv : 1));
    g->tensors = port_alloc(sizeof(struct gguf_tensor) * (g->n_tensors ? g->n_tensors : 1));
    if (!g->kv || !g->tensors) {
        port_fail(err, errlen, "out of memory for GGUF index");
        goto fail;
    }
    memset(g->kv, 0, sizeof(struct gguf_kv) * (g->n_kv ? g->n_kv : 1));
    memset(g->tensors, 0, sizeof(struct gguf_tensor) * (g->n_tensors ? g->n_tensors : 1));
    for (size_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        uint64_t klen;
        char show[64];
        if (!cur_str(&c, &kv->key, &klen)) {
            port_fail(err, errlen, "metadata %lu: key length %llu past end of file (offset 0x%lx)",
                      (unsigned long)i, (unsigned long long)klen, cur_off(&c));
            goto fail;
        }
        gguf_show(kv->key, show, sizeof(show));
        if (!cur_u32(&c, &kv->type)) {
            port_fail(err, errlen, "metadata %s: type past end of file", show);
            goto fail;
        }
        if (kv->type == GGUF_TYPE_ARRAY) {
            if (gguf_read_array(&c, kv, show, err, errlen))
                goto fail;
        } else if (gguf_read_value(&c, kv->type, kv, show, err, errlen)) {
            goto fail;
        }
    }
    for (size_t i = 0; i < g->n_tensors; i++)
        if (gguf_read_tensor(&c, &g->tensors[i], i, err, errlen))
            goto fail;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *al = gguf_find_kv(g, "general.alignment");
    if (al) {
        uint32_t a;
        if (!gguf_get_u32(g, "general.alignment", &a) || a == 0 || (a & (a - 1)) || a > 65536) {
            port_fail(err, errlen, "metadata general.alignment: bad value");
            goto fail;
        }
        g->alignment = a;
    }
    size_t off = (size_t)(c.p - data);
    size_t aligned = ALIGN_UP(off, g->alignment);
    if (aligned > len || aligned < off) {
        if (g->n_tensors) {
            port_fail(err, errlen, "GGUF data section at 0x%lx past end of file (len %lu)",
                      (unsigned long)aligned, (unsigned long)len);
            goto fail;
        }
        aligned = len;
    }
    g->tensor_data = data + aligned;
    for (size_t i = 0; i < g->n_tensors; i++)
        if (gguf_place_tensor(g, &g->tensors[i], err, errlen))
            goto fail;
    return 0;
fail:
    gguf_close(g);
    return -1;
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (gguf_str_eq(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *g, const char *name) {
    for (size_t i = 0; i < g->n_tensors; i++)
        if (gguf_str_eq(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

/* Any integer kv as int64 (uint64 values above INT64_MAX refused). */
static bool gguf_get_int(const struct gguf_file *g, const char *key, int64_t *out) {
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return false;
    const uint8_t *p = kv->val;
    switch (kv->type) {
    case GGUF_TYPE_UINT8:
        *out = p[0];
        return true;
    case GGUF_TYPE_INT8:
        *out = (int8_t)p[0];
        return true;
    case GGUF_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > 0x7fffffffffffffffull)
            return false;
        *out = (int64_t)v;
        return true;
    }
    case GGUF_TYPE_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        *out = v;
        return true;
    }
    default:
        return false;
    }
}

bool gguf_get_u32(const struct gguf_file *g, const char *key, uint32_t *out) {
    int64_t v;
    if (!gguf_get_int(g, key, &v) || v < 0 || v > 0xffffffffll)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_i32(const struct gguf_file *g, const char *key, int32_t *out) {
    int64_t v;
    if (!gguf_get_int(g, key, &v) || v < -0x80000000ll || v > 0x7fffffffll)
        return false;
    *out = (int32_t)v;
    return true;
}

bool gguf_get_f32(const struct gguf_file *g, const char *key, float *out) {
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return false;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->val, 4);
        return true;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = (float)d;
        return true;
    }
    return false;
}

bool gguf_get_bool(const struct gguf_file *g, const char *key, bool *out) {
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL)
        return false;
    *out = kv->val[0] != 0;
    return true;
}

bool gguf_get_str(const struct gguf_file *g, const char *key, struct gguf_str *out) {
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    uint64_t n;
    if (!kv || kv->type != GGUF_TYPE_STRING)
        return false;
    memcpy(&n, kv->val, 8); /* checked by gguf_open */
    out->ptr = (const char *)kv->val + 8;
    out->len = (size_t)n;
    return true;
}

bool gguf_get_arr(const struct gguf_file *g, const char *key, const struct gguf_kv **out,
                  uint32_t *elem_type, uint64_t *n) {
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY)
        return false;
    *out = kv;
    if (elem_type)
        *elem_type = kv->arr_type;
    if (n)
        *n = kv->arr_n;
    return true;
}

bool gguf_arr_str(const struct gguf_kv *kv, uint64_t i, struct gguf_str *out) {
    uint64_t n;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING || i >= kv->arr_n)
        return false;
    const uint8_t *p = kv->arr_data + kv->str_off[i];
    memcpy(&n, p, 8);
    out->ptr = (const char *)p + 8;
    out->len = (size_t)n;
    return true;
}

float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i) {
    float v = 0;
    if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_FLOAT32 && i < kv->arr_n)
        memcpy(&v, kv->arr_data + i * 4, 4);
    return v;
}

int32_t gguf_arr_i32(const struct gguf_kv *kv, uint64_t i) {
    int32_t v = 0;
    if (kv->type == GGUF_TYPE_ARRAY &&
        (kv->arr_type == GGUF_TYPE_INT32 || kv->arr_type == GGUF_TYPE_UINT32) && i < kv->arr_n)
        memcpy(&v, kv->arr_data + i * 4, 4);
    return v;
}
