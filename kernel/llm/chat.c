/*
 * chat.c: chat templates as fixed formats (see chat.h for detection). Each format
 * writes the same text the model's Jinja template produces for plain role/content
 * messages. Called by the HTTP API; relies only on port.h (memcpy, strlen, strcmp).
 *
 *   chatml:  <|im_start|>{role}\n{content}<|im_end|>\n ...  then <|im_start|>assistant\n
 *   llama2:  [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]{assistant}</s><s>[INST] ...
 *            (llama.cpp's "llama2-sys-bos" variant; the first BOS comes from the tokenizer)
 *   zephyr:  <|{role}|>\n{content}</s>\n ...  then <|assistant|>\n
 *            (the end of a turn is the tokenizer's EOS as in HuggingFaceH4/zephyr's
 *            template, "</s>" for the Llama vocabularies this kernel reads)
 *   llama3:  <|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|> ...
 *            then <|start_header_id|>assistant<|end_header_id|>\n\n
 *   gemma:   <start_of_turn>{role, assistant as model}\n{content, trimmed}<end_of_turn>\n ...
 *            then <start_of_turn>model\n; Gemma has no system turn: the system messages
 *            (trimmed) open the next user turn, then a blank line (as llama.cpp does)
 */
#include "llm/chat.h"

#include "llm/tokenizer.h"
#include "port.h"

static const char *const chat_names[] = {
    [CHAT_TEMPLATE_CHATML] = "chatml", [CHAT_TEMPLATE_LLAMA2] = "llama2",
    [CHAT_TEMPLATE_ZEPHYR] = "zephyr", [CHAT_TEMPLATE_LLAMA3] = "llama3",
    [CHAT_TEMPLATE_GEMMA] = "gemma",
};

/* Longest default system message taken from a template (bytes). */
#define CHAT_DEFAULT_SYSTEM_MAX 1024

/* Largest conversation chat_apply_model prepends a default system message to. */
#define CHAT_MODEL_MAX_MESSAGES 64

/* Output cursor with snprintf semantics: counts everything, stores what fits. */
struct chat_out {
    char *buf;
    size_t cap;
    size_t len;
};

static void chat_put(struct chat_out *o, const char *s, size_t n) {
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void chat_puts(struct chat_out *o, const char *s) {
    chat_put(o, s, strlen(s));
}

static bool chat_contains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncmp(p, needle, n) == 0)
            return true;
    return false;
}

enum chat_template chat_detect(const char *tmpl) {
    if (!tmpl)
        return CHAT_TEMPLATE_DEFAULT;
    if (chat_contains(tmpl, "<|im_start|>"))
        return CHAT_TEMPLATE_CHATML;
    if (chat_contains(tmpl, "<|start_header_id|>"))
        return CHAT_TEMPLATE_LLAMA3;
    if (chat_contains(tmpl, "<start_of_turn>"))
        return CHAT_TEMPLATE_GEMMA;
    if (chat_contains(tmpl, "[INST]"))
        return CHAT_TEMPLATE_LLAMA2;
    if (chat_contains(tmpl, "<|user|>"))
        return CHAT_TEMPLATE_ZEPHYR;
    return CHAT_TEMPLATE_DEFAULT;
}

int chat_template_from_name(const char *name) {
    for (size_t i = 0; i < ARRAY_SIZE(chat_names); i++)
        if (strcmp(name, chat_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *chat_template_name(enum chat_template t) {
    return (size_t)t < ARRAY_SIZE(chat_names) ? chat_names[t] : "unknown";
}

static bool chat_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void chat_put_trimmed(struct chat_out *o, const char *s, size_t n) {
    while (n > 0 && chat_is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && chat_is_space(s[n - 1]))
        n--;
    chat_put(o, s, n);
}

static void chat_gemma(struct chat_out *o, const struct chat_message *msgs, size_t n,
                       bool add_assistant) {
    size_t sys_from = n; /* the first system message not written yet; n: none */
    for (size_t i = 0; i < n; i++) {
        const struct chat_message *m = &msgs[i];
        if (strcmp(m->role, "system") == 0) {
            if (sys_from == n)
                sys_from = i;
            continue;
        }
        bool model = strcmp(m->role, "assistant") == 0 || strcmp(m->role, "model") == 0;
        chat_puts(o, "<start_of_turn>");
        chat_puts(o, model ? "model" : m->role);
        chat_puts(o, "\n");
        if (!model && sys_from < n) {
            size_t before = o->len;
            for (size_t j = sys_from; j < i; j++) {
                if (strcmp(msgs[j].role, "system") == 0)
                    chat_put_trimmed(o, msgs[j].content, msgs[j].content_len);
            }
            if (o->len > before)
                chat_puts(o, "\n\n");
            sys_from = n;
        }
        chat_put_trimmed(o, m->content, m->content_len);
        chat_puts(o, "<end_of_turn>\n");
    }
    if (add_assistant)
        chat_puts(o, "<start_of_turn>model\n");
}

static void chat_llama2(struct chat_out *o, const struct chat_message *msgs, size_t n) {
    bool in_turn = true; /* the first [INST] follows the tokenizer's BOS */
    chat_puts(o, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        const struct chat_message *m = &msgs[i];
        if (!in_turn) {
            chat_puts(o, "<s>[INST] ");
            in_turn = true;
        }
        if (strcmp(m->role, "system") == 0) {
            chat_puts(o, "<<SYS>>\n");
            chat_put(o, m->content, m->content_len);
            chat_puts(o, "\n<</SYS>>\n\n");
        } else if (strcmp(m->role, "user") == 0) {
            chat_put(o, m->content, m->content_len);
            chat_puts(o, " [/INST]");
        } else {
            chat_put(o, m->content, m->content_len);
            chat_puts(o, "</s>");
            in_turn = false;
        }
    }
}

size_t chat_apply(enum chat_template t, const struct chat_message *msgs, size_t n,
                  bool add_assistant, char *out, size_t cap) {
    struct chat_out o = {out, cap ? cap - 1 : 0, 0};
    switch (t) {
    case CHAT_TEMPLATE_LLAMA2:
        chat_llama2(&o, msgs, n); /* "[/INST]" already opens the assistant's turn */
        break;
    case CHAT_TEMPLATE_ZEPHYR:
        for (size_t i = 0; i < n; i++) {
            chat_puts(&o, "<|");
            chat_puts(&o, msgs[i].role);
            chat_puts(&o, "|>\n");
            chat_put(&o, msgs[i].content, msgs[i].content_len);
            chat_puts(&o, "</s>\n");
        }
        if (add_assistant)
            chat_puts(&o, "<|assistant|>\n");
        break;
    case CHAT_TEMPLATE_GEMMA:
        chat_gemma(&o, msgs, n, add_assistant);
        break;
    case CHAT_TEMPLATE_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            chat_puts(&o, "<|start_header_id|>");
            chat_puts(&o, msgs[i].role);
            chat_puts(&o, "<|end_header_id|>\n\n");
            chat_put_trimmed(&o, msgs[i].content, msgs[i].content_len);
            chat_puts(&o, "<|eot_id|>");
        }
        if (add_assistant)
            chat_puts(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case CHAT_TEMPLATE_CHATML:
    default:
        for (size_t i = 0; i < n; i++) {
            chat_puts(&o, "<|im_start|>");
            chat_puts(&o, msgs[i].role);
            chat_puts(&o, "\n");
            chat_put(&o, msgs[i].content, msgs[i].content_len);
            chat_puts(&o, "<|im_end|>\n");
        }
        if (add_assistant)
            chat_puts(&o, "<|im_start|>assistant\n");
        break;
    }
    if (cap > 0)
        out[o.len < cap - 1 ? o.len : cap - 1] = '\0';
    return o.len;
}

enum chat_template chat_detect_model(const char *tmpl, const struct tokenizer *t) {
    enum chat_template k = chat_detect(tmpl);
    if (k != CHAT_TEMPLATE_DEFAULT || (tmpl && chat_contains(tmpl, "<|im_start|>")) || !t)
        return k;
    if (tokenizer_find(t, "<start_of_turn>", 15) >= 0)
        return CHAT_TEMPLATE_GEMMA;
    if (tokenizer_find(t, "<|start_header_id|>", 19) >= 0)
        return CHAT_TEMPLATE_LLAMA3;
    return CHAT_TEMPLATE_DEFAULT;
}

/* The default system message of a chatml template that writes one when the first
 * message is not a system message: its text between "<|im_start|>system\n" and
 * "<|im_end|>" after that condition. Length, or 0 if there is none. */
static size_t chat_default_system(const char *tmpl, const char **text) {
    static const char cond[] = "messages[0]['role'] != 'system'";
    static const char open[] = "<|im_start|>system\n";
    const char *p = tmpl;
    while (*p && strncmp(p, cond, sizeof cond - 1) != 0)
        p++;
    while (*p && strncmp(p, open, sizeof open - 1) != 0)
        p++;
    if (!*p)
        return 0;
    p += sizeof open - 1;
    for (size_t n = 0; p[n] && n <= CHAT_DEFAULT_SYSTEM_MAX; n++) {
        if (strncmp(p + n, "<|im_end|>", 10) == 0) {
            *text = p;
            return n;
        }
    }
    return 0;
}

size_t chat_apply_model(const char *tmpl, const struct tokenizer *t,
                        const struct chat_message *msgs, size_t n, bool add_assistant, char *out,
                        size_t cap) {
    enum chat_template k = chat_detect_model(tmpl, t);
    const char *sys;
    size_t sys_len;
    if (k != CHAT_TEMPLATE_CHATML || !tmpl || n == 0 || n >= CHAT_MODEL_MAX_MESSAGES ||
        strcmp(msgs[0].role, "system") == 0 || (sys_len = chat_default_system(tmpl, &sys)) == 0)
        return chat_apply(k, msgs, n, add_assistant, out, cap);
    struct chat_message all[CHAT_MODEL_MAX_MESSAGES];
    all[0] = (struct chat_message){"system", sys, sys_len};
    memcpy(all + 1, msgs, n * sizeof *msgs);
    return chat_apply(k, all, n + 1, add_assistant, out, cap);
}
