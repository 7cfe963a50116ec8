/*
 * llm_init: find the model (a Multiboot module named "model", or one embedded in
 * the ELF) and bind it. Placeholder until the model loader lands.
 */
#include "subsys.h"

void llm_init(const struct bootinfo *bi) {
    UNUSED(bi);
}

void llm_poll(void) {
}
