/*
 * The transformer's math: matrix-vector products by weight type, RMSNorm, softmax,
 * SiLU. forward.c calls these. Every weight type is one row of the weight-type
 * table (struct ops_type: the input form it multiplies, its dequantizer, its dot
 * products; the scalar rows in ops.c, their kernels in ops.c and wt_*.c); the SSE2
 * set (ops_sse2.c, wt_*_sse2.c) replaces the dot products of the rows it lists when
 * the CPU has SSE2 and the kernel enabled it, the AVX2 set (ops_avx2.c, wt_*_avx2.c)
 * those of the SSE2 set when it has AVX2, chosen once at boot (ops_select_kernels). A
 * type without a row is refused at load. The matrix products split their rows
 * across every CPU through ops_par_rows (ops_par.c). Relies on quant.h, port.h and
 * smp.h.
 */
#ifndef CLLM_LLM_OPS_H
#define CLLM_LLM_OPS_H

#include "llm/model.h"

/* Distance in bytes at which the SSE2 dot products prefetch the weight row ahead
 * of their loads (the rows of a matrix are contiguous, so this runs into the next
 * row); tuned on the host: 2 KiB gave the best Q8_0 rate of 1-4 KiB. */
#ifndef OPS_PREFETCH_BYTES
#define OPS_PREFETCH_BYTES 2048
#endif

/* The input vector of a matmul with Q8 input (OPS_INPUT_Q8), quantized once as llama.cpp
 * does: per block of QUANT_QK values one scale d and int8 values q (|q| <= 127),
 * stored widened to int16 so the SSE2 kernels can use pmaddwd directly. The block
 * dot products are then exact integer sums, the same in every kernel set. */
struct ops_xq {
    int16_t *q; /* (n) */
    float *d;   /* (n / QUANT_QK) */
};

#define OPS_QK_K 256 /* values per K-quant super-block and per Q8_K input block */

/* The input of a K-quant matmul, rounded as ggml's Q8_K: per block of OPS_QK_K
 * values d = 1 / (-127 / v) with v the value of largest magnitude, q = x / d rounded
 * to nearest even (at most 127), and the sums of each 16 q. q is kept twice: widened
 * to int16 for the SSE2 and scalar kernels (pmaddwd), and as int8 for the AVX2 ones
 * (vpmaddubsw multiplies unsigned weight bytes by signed input bytes). */
struct ops_xk {
    int16_t *q;     /* (n) */
    float *d;       /* (n / OPS_QK_K) */
    int16_t *bsums; /* (n / 16) */
    int8_t *q8;     /* (n) the same values as q */
};

/* Round x(n) into xk (n a multiple of OPS_QK_K); a block with NaN or inf gets
 * d = NaN and q = 0. Portable C, the same in every kernel set (wt_kquant.c). */
void ops_quantize_k(struct ops_xk *xk, const float *x, int n);

/* Round x(n) to bfloat16 (nearest even; NaN stays NaN) into out(n) (wt_bf16.c). */
void ops_round_bf16(uint16_t *out, const float *x, int n);

/* The largest finite float: inputs above it in magnitude (inf, and NaN, which
 * compares false) are not quantized. */
#define OPS_FLOAT_MAX 3.40282347e38f

/* Mark block k of xq as holding non-finite input: scale NaN, values 0 (the
 * quantizers of every kernel set do this rather than convert NaN or inf). */
void ops_quantize_nonfinite(struct ops_xq *xq, int k);

/* The scratch of forward passes on one CPU: the rounded matmul input (ops.c) and the
 * activations of a batch of rows (forward.c). One per CPU that runs forward passes
 * (forward.c keeps the boot CPU's); its owner passes it down to every ops_matmul
 * call. Zeroed is empty; the buffers grow to the largest model seen and
 * ops_scratch_free releases them. */
struct ops_scratch {
    struct ops_xq xq; /* q (xq_cap), d (xq_cap / QUANT_QK + 1) */
    int xq_cap;       /* values */
    struct ops_xk xk; /* q, q8 (xk_cap), d (xk_cap / OPS_QK_K), bsums (xk_cap / 16) */
    int xk_cap;       /* values */
    uint16_t *xb;     /* (xb_cap) bfloat16 input */
    int xb_cap;       /* values */
    float *act; /* (act_cap) forward.c's batch activations, row after row, then its block-attention
                   scratch */
    size_t act_cap; /* floats */
};

/* Release the scratch's buffers; it is empty (and usable) again after. */
void ops_scratch_free(struct ops_scratch *sc);

/* What a weight type's dot product multiplies: a matmul rounds its f32 input once
 * to this form (as ggml's CPU backend does) and passes it to the dot kernels as x. */
enum ops_input {
    OPS_INPUT_F32,  /* x: const float * (the input as is) */
    OPS_INPUT_Q8,   /* x: const struct ops_xq * (Q8 blocks of QUANT_QK) */
    OPS_INPUT_Q8K,  /* x: const struct ops_xk * (Q8_K blocks of OPS_QK_K) */
    OPS_INPUT_BF16, /* x: const uint16_t * (bfloat16 values, ops_round_bf16) */
    OPS_INPUT_COUNT,
};

/* One row of the weight-type table (ggml's type_traits): how to read a type and
 * multiply it. The scalar set in ops.c has a row for every type the engine runs;
 * another kernel set lists rows that replace its dot and dot_rows. The name and the
 * block layout come from the container's table (gguf_type_info). */
struct ops_type {
    uint32_t type;        /* enum model_wtype */
    enum ops_input input; /* what x is in dot / dot_rows */
    /* out(n) = one row of n values (n a whole number of blocks) */
    void (*dequant)(const void *row, float *out, int n);
    /* w(n) . x(n): one weight row times the rounded input */
    float (*dot)(const void *w, const void *x, int n);
    /* One row against nx inputs stored row after row in x (f32: n floats apart; Q8: q
     * n apart, d n / QUANT_QK apart): out[i * stride] = dot of input i, bit for bit.
     * NULL: one dot call per input. */
    void (*dot_rows)(const void *w, const void *x, int nx, int n, float *out, int stride);
};

/* Attention of a group of query heads that share one KV head over a run of KV
 * positions (kv.h, struct kv_run): the run's K or V rows hold the head's hd elements
 * of the pool's type each, kv_stride elements apart. Every kernel set computes a score
 * as its dot_f32 of the query and the row (as floats), times scale, and a weighted
 * sum as its axpy position after position, so the results are the bits of those calls
 * (halves widen to floats exactly). */
struct ops_att {
    const float *q; /* (nq, hd) the query heads */
    float *out;     /* (nq, hd) their weighted sums of V rows, accumulated */
    int nq;         /* query heads in the group */
    int hd;         /* head_dim */
    int kv_stride;  /* elements from one position's row to the next (kv_dim) */
    int s_stride;   /* floats from one query head's scores to the next's */
    float scale;    /* multiplies each score */
};

/* A kernel set: its rows of the weight-type table and the type-independent kernels.
 * A set may extend another (base): the base's rows stand for the types it has no
 * row of. Its type-independent kernels are all its own. */
struct ops_kernels {
    const char *name;
    const struct ops_kernels *base; /* NULL: over the scalar rows alone */
    const struct ops_type *types;   /* (n_types) */
    int n_types;
    float (*dot_f32)(const float *w, const float *x, int n);    /* attention dot products */
    float (*dot_i8)(const int8_t *w, const float *x, int n);    /* unscaled int8 run */
    void (*softmax)(float *x, int n);                           /* in place */
    void (*swiglu)(float *g, const float *up, int n);           /* g = silu(g) * up */
    void (*axpy)(float *y, float a, const float *x, int n);     /* y += a * x */
    void (*quantize)(struct ops_xq *xq, const float *x, int n); /* see ops_quantize_x */
    /* Attention by KV element type (ops_att_scores, ops_att_values). */
    void (*att_scores[KV_TYPE_COUNT])(const struct ops_att *a, const void *k, int n, float *s);
    void (*att_values[KV_TYPE_COUNT])(const struct ops_att *a, const void *v, int n,
                                      const float *w);
    /* ops_rmsnorm and ops_rope */
    void (*rmsnorm)(float *out, const float *x, const float *weight, int n, float eps);
    void (*rope)(float *x, int n, int hd, const float *cs, int pairs, int half);
};

extern const struct ops_kernels ops_scalar; /* ops.c */
extern const struct ops_kernels ops_sse2;   /* ops_sse2.c: enter only with SSE2 on */
extern const struct ops_kernels ops_avx2;   /* ops_avx2.c: enter only with AVX2 on */

/* Choose the kernels (true = SSE2) and build the f16 table; call once before use. */
void ops_select(bool use_sse2);

/* Choose the kernel set k (ops_scalar, ops_sse2 or ops_avx2), as ops_select. */
void ops_select_kernels(const struct ops_kernels *k);

/* Name of the active kernel set ("scalar", "sse2" or "avx2"). */
const char *ops_name(void);

/* True if matrices of this weight type can be multiplied (the table has a row with a
 * dequantizer and a dot product for it); the loader refuses the others by name. */
bool ops_supports(uint32_t type);

/* out(rows) = W(rows, cols) . x(cols). The rounded input goes to sc. */
void ops_matmul(struct ops_scratch *sc, float *out, const struct model_matrix *w, const float *x);

/* out[i] = w[i] . x for i < n, all with the same input (rounded once when the
 * matrices share an input form): the Q/K/V and gate/up projections. */
void ops_matmul_n(struct ops_scratch *sc, float *const *out, const struct model_matrix *const *w,
                  int n, const float *x);

/* Batched: out[i](nb, w[i]->rows) = x(nb, cols) . w[i]^T for i < n, matrices of the
 * same width. Each weight row is read once for all nb inputs; every product equals
 * the one ops_matmul gives for that input. Prompt processing (model_forward_batch). */
void ops_matmul_batch(struct ops_scratch *sc, float *const *out,
                      const struct model_matrix *const *w, int n, const float *x, int nb);

/* Rows [r0, r1) of some operation of `rows` rows, given its argument. */
typedef void (*ops_par_fn)(void *arg, int r0, int r1);

/* fn over [0, rows), split across every CPU in chunks of rows that each CPU takes
 * as it becomes free (ops_par.c, through smp_run), returning when all are done; on the calling CPU
 * alone when there is one CPU, or when `work` (multiply-adds) is under OPS_PAR_MIN_WORK (param.h).
 * fn must write disjoint outputs per row and may not allocate, print or call this again. Only the
 * boot CPU calls it. */
void ops_par_rows(ops_par_fn fn, void *arg, int rows, uint64_t work);
/* ops_par_rows over a range made of groups of `group` rows that are cheaper together
 * (the query heads that share a KV head read each K and V row once between them): the
 * rows go out a group at a time, or an equal part of one when there are fewer groups
 * than CPUs. */
void ops_par_groups(ops_par_fn fn, void *arg, int rows, uint64_t work, int group);

/* The batch profile: where the boot CPU's time goes in batched passes
 * (model_forward_rows), by phase. The pass calls ops_prof_mark(phase) at the end of
 * each piece of work, charging the cycles since the previous mark to that phase;
 * OPS_PROF_NONE charges nothing (the start of a pass). Totals since boot, in
 * port_cycles(); the boot CPU alone marks and reads them. */
enum ops_prof_id {
    OPS_PROF_NONE,
    OPS_PROF_EMBED,     /* token embeddings */
    OPS_PROF_NORM,      /* RMSNorms before the matrix products */
    OPS_PROF_MATMUL,    /* matrix products: rounding the inputs, then the split rows */
    OPS_PROF_ROPE,      /* biases, Q/K norms, RoPE, storing K and V */
    OPS_PROF_ATTENTION, /* attention of each row (split by heads) */
    OPS_PROF_RESIDUAL,  /* residual adds (and post-norms) */
    OPS_PROF_GLU,       /* the FFN activation */
    OPS_PROF_LOGITS,    /* final norm and output matrix of the rows that want logits */
    OPS_PROF_COUNT
};

struct ops_prof_phase {
    uint64_t cycles;   /* the boot CPU in this phase */
    uint64_t jobs;     /* split operations (ops_par_rows through smp_run) in it */
    uint64_t par;      /* the boot CPU inside those, barrier wait included */
    uint64_t own;      /* the boot CPU's own shares of them (par - own: waiting) */
    uint64_t ap_busy;  /* the other CPUs' shares, all together */
    uint64_t ap_delay; /* from hand-out to the start of each other CPU's share, summed */
};

void ops_prof_mark(enum ops_prof_id phase);
void ops_prof_get(struct ops_prof_phase out[OPS_PROF_COUNT]);

/* One line of the profile in milliseconds ("norm 1.2 ms, matmul 30.5 ms (split 29.9:
 * own 28.0, ...)"), as much as fits in buf. */
void ops_prof_format(char *buf, size_t cap);

/* out(cols) = row `row` of W, dequantized */
void ops_get_row(float *out, const struct model_matrix *w, int row);

/* out(n) = x / rms(x) * weight; out may alias x. The SSE2 and AVX2 sets give the
 * same bits: the sum of squares is their dot_f32 of x with itself (eight lanes). */
void ops_rmsnorm(float *out, const float *x, const float *weight, int n, float eps);

/* RoPE in place on n heads of hd floats at x: pair j < pairs of each head, (v0, v1) =
 * (x[2j], x[2j + 1]) when half is 0 (MODEL_ROPE_NORM) or (x[j], x[j + half]) otherwise
 * (MODEL_ROPE_NEOX, half = rope_dim / 2), becomes (v0 c - v1 s, v0 s + v1 c) with c =
 * cs[2j] and s = cs[2j + 1]: every product rounded, then the difference and the sum,
 * so the SIMD sets give the same bits (ops_rope.h). */
void ops_rope(float *x, int n, int hd, const float *cs, int pairs, int half);

/* Quantize x(n) into xq (n a multiple of QUANT_QK): per block d = max|x| / 127,
 * q = x / d rounded half away from zero; a block with NaN or inf gets d = NaN and
 * q = 0 (ops_quantize_nonfinite). */
void ops_quantize_x(struct ops_xq *xq, const float *x, int n);

/* sum a[i] * b[i] over n floats, and y(n) += a * x(n): the attention loops */
float ops_dot(const float *a, const float *b, int n);
void ops_axpy(float *y, float a, const float *x, int n);

/* Scores of the group a against the n K rows from k (a run of element type `type`):
 * s[i * s_stride + t] = (q_i . k_t) * scale for i < nq, t < n, each the float that
 * ops_dot of q_i and the row as floats, times scale, gives. */
void ops_att_scores(const struct ops_att *a, int type, const void *k, int n, float *s);

/* Weighted sums of the n V rows from v (a run of element type `type`): for t < n in
 * order, out_i += w[i * s_stride + t] * v_t, every element rounded as ops_axpy rounds
 * it (the product, then the sum). */
void ops_att_values(const struct ops_att *a, int type, const void *v, int n, const float *w);

/* In-place softmax over x(n). */
void ops_softmax(float *x, int n);

/* g(n) = silu(g) * up, silu(v) = v / (1 + exp(-v)) */
void ops_swiglu(float *g, const float *up, int n);

/* g(n) = gelu(g) * up with the tanh approximation, rounded as ggml's CPU backend
 * rounds it: gelu of g rounded to half precision, the result rounded to half
 * (g <= -10 gives 0, g >= 10 gives g). The same in every kernel set. */
void ops_geglu(float *g, const float *up, int n);

#endif
