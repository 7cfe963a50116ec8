/*
 * Weight block formats (ggml layouts), half-precision conversion and the
 * dequantizers of the block types. Used by the weight-type table and kernels (ops.c,
 * ops_sse2.c) and by the model loader for size checks (quant_row_bytes).
 */
#ifndef CLLM_LLM_QUANT_H
#define CLLM_LLM_QUANT_H

#include "port.h"

#define QUANT_QK 32 /* elements per Q8_0 / Q4_0 block */

/* Q8_0: value[i] = d * qs[i] */
struct quant_q8_0 {
    uint16_t d; /* scale, IEEE half */
    int8_t qs[QUANT_QK];
} PACKED;

/* Q4_0: value[j] = d * ((qs[j] & 15) - 8), value[j + 16] = d * ((qs[j] >> 4) - 8) */
struct quant_q4_0 {
    uint16_t d; /* scale, IEEE half */
    uint8_t qs[QUANT_QK / 2];
} PACKED;

/* Q4_1: value[j] = d * (qs[j] & 15) + m, value[j + 16] = d * (qs[j] >> 4) + m */
struct quant_q4_1 {
    uint16_t d, m; /* scale and offset, IEEE halves */
    uint8_t qs[QUANT_QK / 2];
} PACKED;

/* Q5_0: value[j] = d * (((qs[j] & 15) | bit j of qh << 4) - 16), value[j + 16] the
 * same with qs[j] >> 4 and bit j + 16 of qh (qh a little-endian uint32). */
struct quant_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QUANT_QK / 2];
} PACKED;

/* Q5_1: as Q5_0 without the - 16, plus the offset m. */
struct quant_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QUANT_QK / 2];
} PACKED;

/* IEEE half to float, exact for every input (subnormals, inf, NaN). */
float quant_f16_to_f32(uint16_t h);

/* The 65536-entry conversion table (256 KiB), built by quant_init; NULL before. */
extern const float *quant_f16_table;

/* Build quant_f16_table. 0 on success, -1 when out of memory (conversion then
 * falls back to quant_f16_to_f32). */
int quant_init(void);

/* Bytes of one row of `cols` elements of a model_wtype; 0 if cols does not split
 * into whole blocks or the type is unknown. */
size_t quant_row_bytes(uint32_t type, int cols);

/* Dequantizers: out(n) = the n values of a row of that type (n a whole number of
 * blocks). */
void quant_dequant_f32(const void *row, float *out, int n);
void quant_dequant_f16(const void *row, float *out, int n);
void quant_dequant_q8_0(const void *row, float *out, int n);
void quant_dequant_q4_0(const void *row, float *out, int n);

#endif
