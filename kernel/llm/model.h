/*
 * The loaded model: hyperparameters, weights bound in place inside the model file,
 * and the per-sequence state (KV cache and activations) the forward pass works on.
 * Loaders: model.c (format detection, GGUF via arch.c), llama2c.c (llama2.c
 * checkpoints). The forward pass is forward.c; the math is ops.c / ops_sse2.c.
 * Callers: llm_boot.c, generate.c, the HTTP API (through llm.h), host tests.
 *
 * Ownership: the model file buffer belongs to the caller and must outlive the
 * struct model; model_free releases only the small tables model_load allocated.
 * A model_state owns its buffers (port_alloc) and its block table, and is released by
 * model_state_free; its K/V live in a kv_pool (kv.h): a private one it owns, or a
 * shared one that outlives it.
 * Weights are read-only after load, so several model_states can share one model.
 */
#ifndef CLLM_LLM_MODEL_H
#define CLLM_LLM_MODEL_H

#include "llm/gguf.h"
#include "llm/kv.h"

#define MODEL_MAX_LAYERS 256    /* refuse files claiming more layers */
#define MODEL_MAX_DIM 65536     /* refuse embedding/hidden sizes above this */
#define MODEL_MAX_VOCAB 1048576 /* refuse vocabularies above this */
#define MODEL_MAX_CTX 1048576   /* refuse context lengths above this */
#define MODEL_NAME_LEN 64       /* bytes kept of general.name */

enum model_format {
    MODEL_FORMAT_GGUF = 1,
    MODEL_FORMAT_LLAMA2C = 2,
};

/* Weight storage types: the ggml numbers for GGUF types, plus the llama2.c v2
 * layout (int8 values of the whole tensor, then one f32 scale per group). */
enum model_wtype {
    MODEL_WTYPE_F32 = GGUF_GGML_F32,
    MODEL_WTYPE_F16 = GGUF_GGML_F16,
    MODEL_WTYPE_Q4_0 = GGUF_GGML_Q4_0,
    MODEL_WTYPE_Q4_1 = GGUF_GGML_Q4_1,
    MODEL_WTYPE_Q5_0 = GGUF_GGML_Q5_0,
    MODEL_WTYPE_Q5_1 = GGUF_GGML_Q5_1,
    MODEL_WTYPE_Q8_0 = GGUF_GGML_Q8_0,
    MODEL_WTYPE_Q2_K = GGUF_GGML_Q2_K,
    MODEL_WTYPE_Q3_K = GGUF_GGML_Q3_K,
    MODEL_WTYPE_Q4_K = GGUF_GGML_Q4_K,
    MODEL_WTYPE_Q5_K = GGUF_GGML_Q5_K,
    MODEL_WTYPE_Q6_K = GGUF_GGML_Q6_K,
    MODEL_WTYPE_BF16 = GGUF_GGML_BF16,
    MODEL_WTYPE_Q8_SPLIT = 1000,
};

/* How RoPE pairs the dimensions of a head (ggml's rope modes). */
enum model_rope {
    MODEL_ROPE_NORM = 0, /* pairs (2i, 2i+1): llama */
    MODEL_ROPE_NEOX = 1, /* pairs (i, i + rope_dim / 2): qwen2, gemma3 */
};

/* The gated FFN's activation: hidden = act(gate) * up. */
enum model_act {
    MODEL_ACT_SILU = 0, /* SwiGLU: llama, qwen2 */
    MODEL_ACT_GELU = 1, /* GeGLU with the tanh approximation: gemma3 */
};

struct model_config {
    int dim;        /* embedding width */
    int hidden_dim; /* FFN inner width */
    int n_layers;
    int n_heads;    /* query heads */
    int n_kv_heads; /* key/value heads (GQA when < n_heads) */
    int head_dim;   /* key/value length per head: dim / n_heads unless the file says */
    int vocab_size;
    int seq_len; /* trained context length */
    float rms_eps;
    float rope_theta;
    int rope_dim;   /* rotated dimensions per head (== head_dim here) */
    uint32_t wtype; /* the type of most matrices, for display (enum model_wtype) */
    /* Forward-pass options, set by the architecture binding (arch.c): */
    const char *arch;    /* architecture name ("llama", "qwen2", "gemma3"), static */
    int rope_kind;       /* enum model_rope */
    int ffn_act;         /* enum model_act */
    float embd_scale;    /* token embeddings are multiplied by this (1, or sqrt(dim)) */
    float attn_scale;    /* attention scores are q.k * attn_scale (1 / sqrt(head_dim)) */
    float logit_softcap; /* 0: none; else logits = softcap * tanh(logits / softcap) */
};

/* A weight matrix of `rows` outputs by `cols` inputs (row-major, rows of cols). */
struct model_matrix {
    uint32_t type;       /* enum model_wtype */
    const void *data;    /* rows * cols elements in `type` layout */
    const float *scales; /* MODEL_WTYPE_Q8_SPLIT only: (rows * cols / group) */
    int group;           /* MODEL_WTYPE_Q8_SPLIT only: elements per scale */
    int rows, cols;
};

struct model_layer {
    const float *attn_norm; /* (dim) */
    struct model_matrix wq; /* (n_heads * head_dim, dim) */
    struct model_matrix wk; /* (n_kv_heads * head_dim, dim) */
    struct model_matrix wv; /* (n_kv_heads * head_dim, dim) */
    struct model_matrix wo; /* (dim, n_heads * head_dim) */
    const float *ffn_norm;  /* (dim) */
    struct model_matrix w1; /* ffn_gate (hidden_dim, dim) */
    struct model_matrix w2; /* ffn_down (dim, hidden_dim) */
    struct model_matrix w3; /* ffn_up (hidden_dim, dim) */
    /* Optional tensors (NULL where the architecture has none): */
    const float *bq;             /* (n_heads * head_dim) bias of wq (qwen2) */
    const float *bk;             /* (n_kv_heads * head_dim) bias of wk */
    const float *bv;             /* (n_kv_heads * head_dim) bias of wv */
    const float *attn_q_norm;    /* (head_dim) RMSNorm of each query head (gemma3) */
    const float *attn_k_norm;    /* (head_dim) RMSNorm of each key head */
    const float *attn_post_norm; /* (dim) RMSNorm of the attention output (gemma3) */
    const float *ffn_post_norm;  /* (dim) RMSNorm of the FFN output */
    /* Per-layer attention options, set by the binding: */
    float rope_theta; /* RoPE frequency base of this layer */
    float rope_scale; /* positions are multiplied by this (1, or 1 / linear scaling factor) */
    int n_swa;        /* sliding window: the positions a query sees, its own included; 0: all */
};

struct model {
    struct model_config cfg;
    int format;                   /* enum model_format */
    char name[MODEL_NAME_LEN];    /* general.name, or "llama2c" */
    struct gguf_file gguf;        /* valid when format == MODEL_FORMAT_GGUF */
    struct model_matrix tok_embd; /* (vocab_size, dim) */
    const float *output_norm;     /* (dim) */
    struct model_matrix output;   /* (vocab_size, dim); == tok_embd when tied */
    bool tied_output;
    const float *rope_freqs;    /* (rope_dim / 2) frequency divisors (Llama 3), or NULL */
    struct model_layer *layers; /* (n_layers), owned */
};

/* Per-sequence state: the block table of its KV cache and the activation buffers of
 * one forward pass. */
struct model_state {
    int n_ctx;           /* positions the sequence may reach */
    float *x;            /* (dim) residual stream */
    float *xb;           /* (dim) normed input / attention output */
    float *xb2;          /* (dim) projection output */
    float *hb;           /* (hidden_dim) gate */
    float *hb2;          /* (hidden_dim) up */
    float *q;            /* (n_heads * head_dim) */
    float *att;          /* (n_heads, n_ctx) attention scores */
    float *logits;       /* (vocab_size) */
    float *k;            /* (n_kv_heads * head_dim) this position's key */
    float *v;            /* (n_kv_heads * head_dim) this position's value */
    struct kv_seq kv;    /* block table: positions -> blocks of kv.pool */
    struct kv_pool *own; /* the private pool of model_state_init, owned; NULL on a shared one */
    struct forward_rope_cache *rope; /* RoPE angles of recent positions (forward.c), owned;
                                      * NULL until the first forward pass */
    const char *error;               /* why the last refused forward pass failed (static text) */
};

/* Load a model from a file in memory: GGUF (an architecture of arch.c) or a llama2.c checkpoint
 * (legacy, v1 fp32, v2 int8). Weights stay in `data`. 0 on success; -1 with a
 * message naming the field and value in err. */
int model_load(struct model *m, const uint8_t *data, size_t len, char *err, size_t errlen);
void model_free(struct model *m);

/* Allocate the state for up to n_ctx positions (clamped to cfg.seq_len if larger
 * or <= 0), with a private F32 pool holding all of them. 0 on success, -1 when out
 * of memory (nothing to free then). */
int model_state_init(struct model_state *s, const struct model *m, int n_ctx);
/* The same on a shared pool (its shape must be the model's): no block is held yet;
 * the caller reserves them (kv_seq_reserve on s->kv) before running positions, and
 * may release them (kv_seq_release) to run the positions again later. */
int model_state_init_pool(struct model_state *s, const struct model *m, int n_ctx,
                          struct kv_pool *pool);
void model_state_free(struct model_state *s);

/* Run `token` at position `pos` (0 <= pos < s->n_ctx, a held block; positions before
 * pos must have been run in order). Returns the logits, (vocab_size) floats in s->logits;
 * NULL if token or pos is out of range, or if a logit is NaN or inf (a model with
 * NaN weights, an overflow): s->error then says which. */
const float *model_forward(const struct model *m, struct model_state *s, int token, int pos);

/* Run tokens[0..n) at positions pos..pos+n-1 (positions before pos must have been
 * run), several at a time through each matrix. Returns the logits of the last
 * token, equal to what model_forward token by token gives; NULL (and s->error) if a
 * token or the range is out of bounds or the logits are not finite. */
const float *model_forward_batch(const struct model *m, struct model_state *s, const int *tokens,
                                 int n, int pos);

/* One row of model_forward_rows: `token` at position `pos` of sequence s. */
struct model_row {
    struct model_state *s;
    int token, pos;
    bool logits; /* the row's logits are wanted (in s->logits: one such row per state) */
};

/* The general form of the two above: rows of any sequences, a sequence's rows in
 * position order (consecutive positions, e.g. a prompt chunk, then maybe a sampled
 * token), positions before each sequence's first row already run. Every matrix is
 * read once for up to 64 rows; within a layer each row's K and V are stored before
 * any row attends, so a chunk's rows see each other causally. The rows that ask get
 * their logits, equal to model_forward's. 0, or -1 if a token or position is out of
 * range (checked before anything runs) or wanted logits are not finite (that row's
 * s->error says so; running its rows alone again gives the same). */
int model_forward_rows(const struct model *m, const struct model_row *rows, int n);

/* Give back the forward pass's scratch (activations, rounded inputs), which grows to
 * the largest batch it has run; the next pass allocates it again. The scheduler calls
 * it when no generation runs, so an idle kernel holds the same memory whatever batches
 * ran before. */
void model_scratch_release(void);

/* Name of a weight type ("F32", "F16", "Q8_0", "Q4_0", "Q8"). */
const char *model_wtype_name(uint32_t type);

#endif
