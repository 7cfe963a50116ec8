/*
 * tokenizer: SentencePiece-style BPE with byte fallback (Llama 1/2 family vocabularies),
 * read either from a GGUF's tokenizer.ggml.* metadata (tokenizer.ggml.model = "llama")
 * or from a llama2.c tokenizer.bin, and byte-level BPE (tokenizer.ggml.model = "gpt2",
 * in tokenizer_bpe.c). llm_boot.c builds one per loaded model; the
 * generation loop, console mode and the HTTP API (/tokenize, prompts) encode and decode
 * through it. Relies only on port.h (port_alloc for the tables, the vocabulary text stays
 * in the model or tokenizer image, which must outlive the tokenizer).
 *
 * Encoding follows llama.cpp's SPM tokenizer for GGUF vocabularies (spaces escaped to
 * U+2581, optional space prefix, merge the best-scoring adjacent pair, leftmost on ties,
 * characters left unmerged and absent from the vocabulary become <0xXX> byte tokens) and
 * llama2.c's run.c for tokenizer.bin (ASCII spaces, a " " dummy prefix on non-empty text,
 * code points absent from the vocabulary become byte tokens before merging).
 */
#ifndef CLLM_LLM_TOKENIZER_H
#define CLLM_LLM_TOKENIZER_H

#include "types.h"

struct gguf_file;
struct tokenizer_bpe;

/* Longest piece accepted at load (bytes, as stored): longer tokens are refused with an
 * error naming the token. Also the size that always suffices for tokenizer_decode. */
#define TOKENIZER_PIECE_MAX 256

/* Largest vocabulary accepted (tokens). */
#define TOKENIZER_VOCAB_MAX 262144

/* Most end-of-generation tokens recorded beside EOS (see tokenizer_is_eog). */
#define TOKENIZER_EOG_MAX 8

/* Error returns of tokenizer_encode / tokenizer_decode (negative). */
#define TOKENIZER_ERR_NOMEM (-1) /* scratch allocation failed */
#define TOKENIZER_ERR_SPACE (-2) /* out / max_out too small */
#define TOKENIZER_ERR_TOKEN (-3) /* token id out of range */

enum tokenizer_kind {
    TOKENIZER_KIND_SPM,     /* GGUF tokenizer.ggml.model = llama: pieces use U+2581 for space */
    TOKENIZER_KIND_LLAMA2C, /* llama2.c tokenizer.bin: pieces use ASCII space */
    TOKENIZER_KIND_BPE,     /* GGUF tokenizer.ggml.model = gpt2: byte-level BPE */
};

/* Token types as stored in GGUF tokenizer.ggml.token_type. */
enum tokenizer_type {
    TOKENIZER_TYPE_NORMAL = 1,
    TOKENIZER_TYPE_UNKNOWN = 2,
    TOKENIZER_TYPE_CONTROL = 3,
    TOKENIZER_TYPE_USER_DEFINED = 4,
    TOKENIZER_TYPE_UNUSED = 5,
    TOKENIZER_TYPE_BYTE = 6,
};

struct tokenizer_token {
    const char *text; /* points into the model/tokenizer image; not NUL-terminated */
    uint32_t len;     /* bytes of text */
    float score;      /* merge priority: higher merges first */
    uint8_t type;     /* enum tokenizer_type */
};

/* Owner: whoever called tokenizer_load_*; release with tokenizer_free. */
struct tokenizer {
    enum tokenizer_kind kind;
    int n_vocab;
    struct tokenizer_token *tokens; /* (n_vocab) */
    int32_t *hash;                  /* (hash_cap) token id or -1, open addressing on text */
    uint32_t hash_cap;              /* power of two, >= 2 * n_vocab */
    int byte_token[256];            /* id of "<0xXX>" for each byte, -1 if absent */
    int bos_id;                     /* -1 if none */
    int eos_id;                     /* -1 if none */
    int eot_id;                     /* end-of-turn (e.g. <|im_end|>, <|eot_id|>), -1 if none */
    int unk_id;                     /* -1 if none */
    bool add_bos;                   /* tokenizer.ggml.add_bos_token (true for llama2.c) */
    bool add_space_prefix;          /* tokenizer.ggml.add_space_prefix (default true) */
    int max_piece_len;              /* longest token text, bytes */
    int32_t *special; /* (n_special) CONTROL/USER_DEFINED/UNKNOWN ids, longest first */
    int n_special;
    struct tokenizer_bpe *bpe;  /* merges and pre-tokenizer (KIND_BPE only), owned */
    int eog[TOKENIZER_EOG_MAX]; /* end-of-generation tokens found by name (GGUF) */
    int n_eog;
};

/* Build from the GGUF metadata (tokenizer.ggml.model "llama" or "gpt2"). The GGUF image
 * must stay mapped while the tokenizer is used. 0 on success, else -1 and a message
 * naming the key and value in err. */
int tokenizer_load_gguf(struct tokenizer *t, const struct gguf_file *g, char *err, size_t errlen);

/* Build from a llama2.c tokenizer.bin image of n_vocab records (n_vocab from the model
 * header). The image must stay mapped while the tokenizer is used. */
int tokenizer_load_llama2c(struct tokenizer *t, const uint8_t *data, size_t len, int n_vocab,
                           char *err, size_t errlen);

void tokenizer_free(struct tokenizer *t);

/* Encode len bytes of UTF-8 text (invalid sequences are encoded byte by byte). Writes at
 * most max_out ids to out; returns the count, or TOKENIZER_ERR_*. add_bos prepends
 * bos_id (if the vocabulary has one). Control-token text such as "<s>" is ordinary text;
 * the text of USER_DEFINED tokens (GGUF) is always that token, as in llama.cpp. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                     int *out, int max_out);

/* As tokenizer_encode, but the text of CONTROL/USER_DEFINED tokens (e.g. "<|im_start|>",
 * "</s>") is matched first and emitted as that token, as llama.cpp does for chat
 * prompts with parse_special. */
int tokenizer_encode_special(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                             int *out, int max_out);

/* The bytes `token` stands for when it follows prev_token (-1 at the start of the text):
 * byte tokens give their byte, U+2581 becomes a space, the leading space of the first
 * piece of the text (prev_token -1 or BOS) is dropped, CONTROL tokens give nothing (GGUF) or their
 * stored text (llama2.c, as run.c prints it); byte-level BPE tokens give the bytes their characters
 * stand for. The bytes of a multi-byte character may be split across tokens. Returns the byte count
 * written to out (cap >= TOKENIZER_PIECE_MAX always suffices), or TOKENIZER_ERR_*. */
int tokenizer_decode(const struct tokenizer *t, int prev_token, int token, char *out, size_t cap);

/* True if generation ends at `token`: EOS, EOT or a token named like one of llama.cpp's
 * end-of-generation tokens ("<|im_end|>", "<end_of_turn>", "</s>", ...; GGUF, which
 * also makes those CONTROL tokens, as llama.cpp does), BOS (id 1) for llama2.c. */
bool tokenizer_is_eog(const struct tokenizer *t, int token);

/* The id whose text is exactly text[0..len), or -1. */
int tokenizer_find(const struct tokenizer *t, const char *text, size_t len);

#endif
