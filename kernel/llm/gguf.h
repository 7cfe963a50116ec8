/*
 * GGUF reader: parses a GGUF v2/v3 file held in memory as (ptr, len) without copying
 * it. Called by model.c (weights and hyperparameters) and by the tokenizer (vocab).
 * Relies only on port.h (port_alloc for the key/tensor index tables).
 *
 * Everything returned points into the caller's buffer, which must outlive the
 * gguf_file. Every count, offset and length has been checked against the buffer by
 * gguf_open, so the getters below never read out of bounds.
 */
#ifndef CLLM_GGUF_H
#define CLLM_GGUF_H

#include "port.h"

/* Metadata value types, as numbered in the file. */
enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13,
};

/* Tensor element types (ggml numbering). gguf_open accepts every type of the table
 * in gguf.c (gguf_type_info); the model loader only those the math table of ops.c
 * has kernels for. */
enum gguf_ggml_type {
    GGUF_GGML_F32 = 0,
    GGUF_GGML_F16 = 1,
    GGUF_GGML_Q4_0 = 2,
    GGUF_GGML_Q4_1 = 3,
    GGUF_GGML_Q5_0 = 6,
    GGUF_GGML_Q5_1 = 7,
    GGUF_GGML_Q8_0 = 8,
    GGUF_GGML_Q8_1 = 9,
    GGUF_GGML_Q2_K = 10,
    GGUF_GGML_Q3_K = 11,
    GGUF_GGML_Q4_K = 12,
    GGUF_GGML_Q5_K = 13,
    GGUF_GGML_Q6_K = 14,
    GGUF_GGML_Q8_K = 15,
    GGUF_GGML_BF16 = 30,
    GGUF_GGML_TYPE_COUNT = 31, /* type numbers below this may be in the table */
};

/* What the container knows of a tensor type, ggml's type traits: its name and its
 * block layout. A tensor row holds a whole number of blocks. */
struct gguf_type_info {
    const char *name;
    uint32_t block;       /* values per block */
    uint32_t block_bytes; /* bytes per block */
};

#define GGUF_MAX_DIMS 4           /* ggml tensors have at most 4 dimensions */
#define GGUF_DEFAULT_ALIGNMENT 32 /* when general.alignment is absent */
#define GGUF_MAX_KV 65536         /* refuse files claiming more metadata pairs */
#define GGUF_MAX_TENSORS 65536    /* refuse files claiming more tensors */

/* A string inside the file: not NUL-terminated. */
struct gguf_str {
    const char *ptr;
    size_t len;
};

/* One metadata key/value pair. For arrays, `arr_type`/`arr_n` describe the elements
 * and `arr_data` points at the first one; string arrays get an offset table. */
struct gguf_kv {
    struct gguf_str key;
    uint32_t type;           /* enum gguf_type */
    const uint8_t *val;      /* scalar value bytes (unaligned), or array elements */
    uint32_t arr_type;       /* element type if type == GGUF_TYPE_ARRAY */
    uint64_t arr_n;          /* element count if type == GGUF_TYPE_ARRAY */
    const uint8_t *arr_data; /* first element */
    uint32_t *str_off;       /* (arr_n) offsets from arr_data of each string's length field */
};

/* One tensor: ne[0] is the fastest-moving (row length) dimension. */
struct gguf_tensor {
    struct gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* unused dims are 1 */
    uint32_t type;              /* enum gguf_ggml_type */
    uint64_t offset;            /* from the start of the tensor data section */
    const uint8_t *data;        /* checked: data + nbytes <= end of file */
    size_t nbytes;
};

struct gguf_file {
    const uint8_t *data; /* the whole file */
    size_t len;
    uint32_t version; /* 2 or 3 */
    size_t n_kv;
    size_t n_tensors;
    struct gguf_kv *kv;          /* (n_kv), owned: freed by gguf_close */
    struct gguf_tensor *tensors; /* (n_tensors), owned: freed by gguf_close */
    size_t alignment;
    const uint8_t *tensor_data; /* start of the tensor data section */
};

/* Parse and check. 0 on success; on failure -1 and a message naming the field and
 * value in err. On failure nothing needs freeing. */
int gguf_open(struct gguf_file *g, const uint8_t *data, size_t len, char *err, size_t errlen);
void gguf_close(struct gguf_file *g);

/* True if the buffer starts with the GGUF magic. */
bool gguf_is_gguf(const uint8_t *data, size_t len);

/* Metadata lookup by key; NULL if absent. */
const struct gguf_kv *gguf_find_kv(const struct gguf_file *g, const char *key);

/* Typed getters: false if absent or of an incompatible type. Integer getters accept
 * any integer type whose value fits; f32 accepts f32 and f64. */
bool gguf_get_u32(const struct gguf_file *g, const char *key, uint32_t *out);
bool gguf_get_i32(const struct gguf_file *g, const char *key, int32_t *out);
bool gguf_get_f32(const struct gguf_file *g, const char *key, float *out);
bool gguf_get_bool(const struct gguf_file *g, const char *key, bool *out);
bool gguf_get_str(const struct gguf_file *g, const char *key, struct gguf_str *out);

/* Arrays: the kv must be of type GGUF_TYPE_ARRAY; element access is O(1) and
 * index-checked (out-of-range or wrong element type returns false / 0). */
bool gguf_get_arr(const struct gguf_file *g, const char *key, const struct gguf_kv **out,
                  uint32_t *elem_type, uint64_t *n);
bool gguf_arr_str(const struct gguf_kv *kv, uint64_t i, struct gguf_str *out);
float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i);
int32_t gguf_arr_i32(const struct gguf_kv *kv, uint64_t i);

/* Tensor lookup by name; NULL if absent. */
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *g, const char *name);

/* The layout of a ggml type; NULL for a number the table does not know. */
const struct gguf_type_info *gguf_type_info(uint32_t type);

/* Name of a ggml type ("F32", "Q8_0", ...), or "unknown". */
const char *gguf_type_name(uint32_t type);

/* Compare a file string with a C string. */
bool gguf_str_eq(struct gguf_str s, const char *c);

#endif
