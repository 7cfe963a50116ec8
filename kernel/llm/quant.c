/*
 * Half-precision conversion and block dequantization (see quant.h). Called by ops.c
 * (row lookups, scalar kernels) and model.c; relies on port.h.
 */
#include "llm/quant.h"
#include "llm/model.h"

const float *quant_f16_table;

float quant_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int quant_init(void) {
    if (quant_f16_table)
        return 0;
    float *t = port_alloc(65536 * sizeof(float));
    if (!t)
        return -1;
    for (uint32_t i = 0; i < 65536; i++)
        t[i] = quant_f16_to_f32((uint16_t)i);
    quant_f16_table = t;
    return 0;
}

size_t quant_row_bytes(uint32_t type, int cols) {
    if (cols <= 0)
        return 0;
    if (type == MODEL_WTYPE_Q8_SPLIT) /* int8 values; the scales are stored apart */
        return (size_t)cols;
    const struct gguf_type_info *ti = gguf_type_info(type);
    if (!ti || (uint32_t)cols % ti->block)
        return 0;
    return (size_t)((uint32_t)cols / ti->block) * ti->block_bytes;
}

static float quant_half(uint16_t h) {
    return quant_f16_table ? quant_f16_table[h] : quant_f16_to_f32(h);
}

void quant_dequant_f32(const void *row, float *out, int n) {
    memcpy(out, row, (size_t)n * 4);
}

void quant_dequant_f16(const void *row, float *out, int n) {
    const uint16_t *h = row;
    for (int i = 0; i < n; i++)
        out[i] = quant_half(h[i]);
}

void quant_dequant_q8_0(const void *row, float *out, int n) {
    const struct quant_q8_0 *b = row;
    for (int k = 0; k < n / QUANT_QK; k++) {
        float d = quant_half(b[k].d);
        for (int i = 0; i < QUANT_QK; i++)
            out[k * QUANT_QK + i] = d * (float)b[k].qs[i];
    }
}

void quant_dequant_q4_0(const void *row, float *out, int n) {
    const struct quant_q4_0 *b = row;
    for (int k = 0; k < n / QUANT_QK; k++) {
        float d = quant_half(b[k].d);
        for (int j = 0; j < QUANT_QK / 2; j++) {
            out[k * QUANT_QK + j] = d * (float)((b[k].qs[j] & 15) - 8);
            out[k * QUANT_QK + j + 16] = d * (float)((b[k].qs[j] >> 4) - 8);
        }
    }
}
