/*
 * Small AVX2 helpers shared by the AVX2 kernel set (ops_avx2.c, wt_*_avx2.c): include
 * first, and only from files compiled for AVX2 (*_avx2.c, linked into .text.avx2);
 * such a file ends with WT_AVX2_END. The kernel build compiles those files with
 * -mavx2 -mfma -mf16c; the host harness compiles every source with one command line,
 * so for it this header turns the instructions on for the including file alone (its
 * code runs only where the CPU has them).
 */
#ifndef CLLM_LLM_WT_AVX2_H
#define CLLM_LLM_WT_AVX2_H

#if defined(CLLM_HOST) && !defined(__AVX2__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define WT_AVX2_END _Pragma("clang attribute pop")
#elif defined(CLLM_HOST) && !defined(__AVX2__)
#pragma GCC target("avx2,fma,f16c")
#endif
#ifndef WT_AVX2_END
#define WT_AVX2_END
#endif

#include <immintrin.h>

#include "llm/quant.h"

/* The AVX2 rows' weight-type kernels (their contracts: wt_legacy.h, wt_kquant.h). */
float wt_dot_q4_1_avx2(const void *w, const void *x, int n); /* wt_legacy_avx2.c */
float wt_dot_q5_0_avx2(const void *w, const void *x, int n);
float wt_dot_q5_1_avx2(const void *w, const void *x, int n);
void wt_dot_q4_1_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q5_0_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q5_1_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
float wt_dot_q2_k_avx2(const void *w, const void *x, int n); /* wt_kquant_avx2.c */
float wt_dot_q3_k_avx2(const void *w, const void *x, int n);
float wt_dot_q4_k_avx2(const void *w, const void *x, int n);
float wt_dot_q5_k_avx2(const void *w, const void *x, int n);
float wt_dot_q6_k_avx2(const void *w, const void *x, int n);
void wt_dot_q2_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q3_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q4_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q5_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q6_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride);
float wt_dot_bf16_avx2(const void *w, const void *x, int n); /* wt_bf16_avx2.c */

/* An IEEE half as float (F16C: exact, as quant_f16_to_f32). */
static inline float wt_avx2_half(uint16_t h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* The sum of the eight int32 lanes of s. */
static inline int32_t wt_avx2_hsum(__m256i s) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    return _mm_cvtsi128_si32(t);
}

/* Exact int32 lanes of 32 signed bytes v times 32 int16 inputs x (|x| <= 127). */
static inline __m256i wt_avx2_madd32(__m256i v, const int16_t *x) {
    __m256i v0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
    __m256i v1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1));
    __m256i s = _mm256_madd_epi16(v0, _mm256_loadu_si256((const __m256i *)x));
    return _mm256_add_epi32(s,
                            _mm256_madd_epi16(v1, _mm256_loadu_si256((const __m256i *)(x + 16))));
}

#endif
