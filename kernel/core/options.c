/*
 * The registry of kernel command-line options (cmdline.h): every cllm.<key> the
 * kernel knows, its kind, its limits and one line of description. kernel/core/cmdline.c
 * checks what the boot loader passed against this table. A subsystem that reads a new
 * option adds one row here.
 */
#include "cmdline.h"
#include "smp.h"

const struct cmdline_option cmdline_options[] = {
    /* Generation defaults (kernel/llm/gen_param.c, whose table owns the ranges: values
     * the kinds here cannot bound are STRING and checked there): console mode, and API
     * requests that give no value. tests/test_gen_param.py keeps the two in step. */
    {"max_tokens", CMDLINE_KIND_STRING, 0, 0, NULL, "tokens to generate, -1..2^30; default 256"},
    {"n", CMDLINE_KIND_STRING, 0, 0, NULL, "same as cllm.max_tokens (console default 128)"},
    {"temperature", CMDLINE_KIND_DECIMAL, 0, 100, NULL, "sampling temperature; 0 = greedy"},
    {"temp", CMDLINE_KIND_DECIMAL, 0, 100, NULL, "same as cllm.temperature"},
    {"top_p", CMDLINE_KIND_DECIMAL, 0, 1, NULL, "nucleus sampling mass in [0, 1]"},
    {"min_p", CMDLINE_KIND_DECIMAL, 0, 1, NULL, "drop tokens below min_p x the top probability"},
    {"top_k", CMDLINE_KIND_U32, 0, 1u << 30, NULL, "sample from the k most likely tokens; 0 = all"},
    {"repeat_penalty", CMDLINE_KIND_DECIMAL, 0, 100, NULL, "penalty on recent tokens; 1 = off"},
    {"repeat_last_n", CMDLINE_KIND_STRING, 0, 0, NULL,
     "how many recent tokens are penalized, -1..2^30; -1 = all"},
    {"presence_penalty", CMDLINE_KIND_STRING, 0, 0, NULL,
     "subtracted once from seen tokens, -2..2"},
    {"frequency_penalty", CMDLINE_KIND_STRING, 0, 0, NULL,
     "subtracted per occurrence of a token, -2..2"},
    {"seed", CMDLINE_KIND_STRING, 0, 0, NULL, "sampler random seed, -1..2^53; -1 = from the clock"},
    /* The KV pool (kernel/llm/llm_boot.c, kv.h). */
    {"kv_type", CMDLINE_KIND_CHOICE, 0, 0, "f16|f32",
     "element type of the KV cache; f16 when absent"},
    {"kv_kib", CMDLINE_KIND_U32, 1, 1u << 22, NULL,
     "KiB of the KV pool; default: the memory left after the model and a reserve"},
    {"prefix_cache", CMDLINE_KIND_CHOICE, 0, 0, "on|off",
     "reuse the KV blocks of prompts seen before; on when absent"},
    {"ctx", CMDLINE_KIND_U32, 1, 1u << 20, NULL,
     "positions one generation may reach; default: the model's, bounded by the KV pool"},
    {"llm_check", CMDLINE_KIND_U32, 0, 1024, NULL,
     "print the first logits and this many greedy tokens at boot (tests)"},
    /* Substrate (kernel/core). */
    {"selftest", CMDLINE_KIND_LIST, 0, 0, NULL, "run in-image self-tests (all, or names) and exit"},
    {"smp", CMDLINE_KIND_U32, 1, SMP_MAX_CPUS, NULL, "use at most this many CPUs"},
    {"log", CMDLINE_KIND_CHOICE, 0, 0, "quiet|info|debug", "how much the serial log says"},
    /* Network (kernel/net, kernel/http). */
    {"ip", CMDLINE_KIND_IPV4, 0, 0, NULL, "static IPv4 address; DHCP when absent"},
    {"gw", CMDLINE_KIND_IPV4, 0, 0, NULL, "default gateway with cllm.ip"},
    {"netmask", CMDLINE_KIND_IPV4, 0, 0, NULL, "network mask with cllm.ip"},
    {"port", CMDLINE_KIND_U32, 1, 65535, NULL, "TCP port of the HTTP API"},
    {"api_key", CMDLINE_KIND_STRING, 0, 0, NULL, "bearer token the API requires; none when absent"},
    {"request_timeout_ms", CMDLINE_KIND_U32, 100, 3600000, NULL,
     "time a client has to send a whole HTTP request (408 after); 15000 when absent"},
    {"nic", CMDLINE_KIND_STRING, 0, 0, NULL,
     "network card driver: auto, none, or a name from the table in kernel/dev/nic.c"},
};

const size_t cmdline_option_count = sizeof(cmdline_options) / sizeof(cmdline_options[0]);
