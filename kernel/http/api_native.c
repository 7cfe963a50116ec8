/*
 * llama.cpp's native response format of POST /completion: "content", "stop", the
 * slot, the token counts, "stop_type" (limit, word, eos) and "timings", which the
 * OpenAI answers (api_oai.c) carry too. Streamed events carry "content" and
 * "stop":false; the last one "stop":true with the counts. Used by api_task.c through
 * api_format_native (api_task.h).
 */
#include "http/api_task.h"

/* Where the request's time went: "<phase>_ms" for each phase but prompt (prompt_ms
 * above), then "cycles" (each phase in port_cycles) and "cycles_per_second". */
static void api_write_phases(struct json_writer *w, const struct gen_cycles *cyc) {
    uint64_t v[API_N_PHASES], hz = port_cycles_hz();
    char key[32];
    api_phase_values(cyc, v);
    for (int i = 0; i < API_N_PHASES; i++) {
        if (strcmp(api_phase_names[i], "prompt") == 0)
            continue;
        snprintf(key, sizeof(key), "%s_ms", api_phase_names[i]);
        json_write_key(w, key);
        json_write_double(w, (double)(int64_t)v[i] * 1000.0 / (double)(int64_t)hz);
    }
    json_write_key(w, "cycles");
    json_write_object_begin(w);
    for (int i = 0; i < API_N_PHASES; i++) {
        json_write_key(w, api_phase_names[i]);
        json_write_int(w, (int64_t)v[i]);
    }
    json_write_object_end(w);
    json_write_key(w, "cycles_per_second");
    json_write_int(w, (int64_t)hz);
}

void api_write_timings(struct json_writer *w, const struct api_gen_stats *st) {
    double pms = (double)(int64_t)st->t_prompt_us / 1000.0;
    double gms = (double)(int64_t)st->t_gen_us / 1000.0;
    json_write_key(w, "timings");
    json_write_object_begin(w);
    json_write_key(w, "cache_n"); /* prompt tokens the prefix cache held */
    json_write_int(w, st->n_cached);
    json_write_key(w, "prompt_n");
    json_write_int(w, st->n_prompt);
    json_write_key(w, "prompt_ms");
    json_write_double(w, pms);
    json_write_key(w, "prompt_per_second");
    json_write_double(w, pms > 0 ? st->n_prompt * 1000.0 / pms : 0);
    json_write_key(w, "predicted_n");
    json_write_int(w, st->n_gen);
    json_write_key(w, "predicted_ms");
    json_write_double(w, gms);
    json_write_key(w, "predicted_per_second");
    json_write_double(w, gms > 0 ? st->n_gen * 1000.0 / gms : 0);
    /* what a grammar cost: its share of predicted_ms, and the tokens it refused */
    json_write_key(w, "grammar_ms");
    json_write_double(w, (double)(int64_t)st->t_grammar_us / 1000.0);
    json_write_key(w, "grammar_masked_n");
    json_write_int(w, st->n_masked);
    api_write_phases(w, &st->cyc);
    json_write_object_end(w);
}

/* llama.cpp's "completion_probabilities" of probs[from..to): per token id, token,
 * logprob, bytes and its top_logprobs alike. */
static void api_native_probs(struct json_writer *w, const struct api_choice *ch, int from, int to) {
    if (!ch->task->logprobs)
        return;
    json_write_key(w, "completion_probabilities");
    json_write_array_begin(w);
    for (int i = from; i < to; i++)
        api_write_prob(w, &ch->probs[i], true);
    json_write_array_end(w);
}

/* The fields after "content" of the final answer (or last event). */
static void api_native_fields(struct json_writer *w, const struct api_task *t,
                              const struct api_gen_stats *st) {
    json_write_key(w, "id_slot");
    json_write_int(w, 0);
    json_write_key(w, "stop");
    json_write_bool(w, true);
    json_write_key(w, "model");
    json_write_string(w, t->model);
    json_write_key(w, "tokens_predicted");
    json_write_int(w, st->n_gen);
    json_write_key(w, "tokens_evaluated");
    json_write_int(w, st->n_prompt);
    json_write_key(w, "tokens_cached");
    json_write_int(w, st->n_cached);
    json_write_key(w, "stop_type");
    json_write_string(w, st->finish == GEN_FINISH_LENGTH ? "limit"
                         : st->finish == GEN_FINISH_STOP ? "word"
                                                         : "eos");
    json_write_key(w, "truncated");
    json_write_bool(w, false);
    api_write_timings(w, st);
}

static void api_native_piece(struct json_writer *w, struct api_choice *ch, const char *text,
                             size_t len) {
    json_write_key(w, "content");
    json_write_stringn(w, text, len);
    json_write_key(w, "stop");
    json_write_bool(w, false);
    json_write_key(w, "id_slot");
    json_write_int(w, 0);
    api_native_probs(w, ch, ch->probs_sent, ch->n_probs);
    api_task_probs_sent(ch, ch->n_probs);
}

static void api_native_last(struct json_writer *w, const struct api_choice *ch,
                            const struct api_gen_stats *st) {
    json_write_key(w, "content");
    json_write_string(w, "");
    api_native_fields(w, ch->task, st);
}

static void api_native_whole(struct json_writer *w, const struct api_task *t,
                             const struct api_gen_stats *st) {
    json_write_key(w, "content");
    const struct api_choice *ch = &t->choice[0]; /* `n` is an OpenAI field: one choice */
    json_write_stringn(w, ch->text.data ? ch->text.data : "", ch->text.len);
    api_native_probs(w, ch, 0, ch->n_probs);
    api_native_fields(w, t, st);
}

const struct api_format api_format_native = {
    .piece = api_native_piece,
    .last = api_native_last,
    .after_last = NULL,
    .whole = api_native_whole,
};
