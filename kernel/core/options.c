/*
 * The registry of kernel command-line options (cmdline.h): every cllm.<key> the
 * kernel knows, its kind, its limits and one line of description. kernel/core/cmdline.c
 * checks what the boot loader passed against this table. A subsystem that reads a new
 * option adds one row here.
 */
#include "cmdline.h"
#include "smp.h"

const struct cmdline_option cmdline_options[] = {
    /* The generation parameters (cllm.max_tokens, cllm.temperature, ...) are the rows of
     * kernel/llm/gen_param.c's table, which main.c hands to the checker. */
    /* The KV pool (kernel/llm/llm_boot.c, kv.h). */
    {"kv_type", CMDLINE_KIND_CHOICE, 0, 0, "f16|f32",
     "element type of the KV cache; f16 when absent"},
    {"kv_kib", CMDLINE_KIND_U32, 1, 1u << 22, NULL,
     "KiB of the KV pool; default: the memory left after the model and a reserve"},
    {"prefix_cache", CMDLINE_KIND_CHOICE, 0, 0, "on|off",
     "reuse the KV blocks of prompts seen before; on when absent"},
    {"ctx", CMDLINE_KIND_U32, 1, 1u << 20, NULL,
     "positions one generation may reach; default: the model's, bounded by the KV pool"},
    {"prefill_chunk", CMDLINE_KIND_U32, 0, 1u << 20, NULL,
     "prompt tokens one generation runs per scheduler turn, with the others' decode steps; "
     "0: the whole prompt at once; 32 when absent"},
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
