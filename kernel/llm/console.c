/*
 * Console mode: generate from the "prompt" module and exit. Placeholder until the
 * tokenizer and generation loop land.
 */
#include "subsys.h"

bool llm_console_requested(const struct bootinfo *bi) {
    UNUSED(bi);
    return false;
}

int llm_console_run(const struct bootinfo *bi) {
    UNUSED(bi);
    return 1;
}
