/*
 * RoPE pairs rotated one at a time in plain C, included by every kernel set (ops.c,
 * ops_sse2.c, ops_avx2.c) for the pairs its vector loop leaves over, so that each
 * compiles them with its own float unit. The vector loops do the same operations lane by lane: the
 * four products rounded each on its own, then the difference and the sum. RoPE is elementwise, so
 * these steps alone fix the bits, whatever the vector width.
 */
#ifndef CLLM_LLM_OPS_ROPE_H
#define CLLM_LLM_OPS_ROPE_H

/* (*v0, *v1) = (v0 c - v1 s, v0 s + v1 c). Each product is a full expression of its
 * own, so no compiler fuses it with the add into an FMA (which rounds differently). */
static inline void ops_rope_pair(float *v0, float *v1, float c, float s) {
    float p0 = *v0 * c, p1 = *v1 * s, p2 = *v0 * s, p3 = *v1 * c;
    *v0 = p0 - p1;
    *v1 = p2 + p3;
}

/* Pairs [j, pairs) of one head v (ops.h ops_rope), one at a time: the scalar set's
 * whole loop, the SIMD sets' pairs left over after their vector steps. */
static inline void ops_rope_rest(float *v, const float *cs, int j, int pairs, int half) {
    for (; j < pairs; j++) {
        int a = half ? j : 2 * j, b = half ? j + half : 2 * j + 1;
        ops_rope_pair(&v[a], &v[b], cs[2 * j], cs[2 * j + 1]);
    }
}

#endif
