/*
 * Host harness for the parameter table (kernel/llm/gen_param.c) and the option
 * registry (kernel/core/options.c), for tests/test_gen_param.py:
 *
 *   gen_param_test list              one line per row:
 *       row NAME KIND LO HI DEFAULT json=A,B option=C,D
 *   gen_param_test registry          one line per command-line spelling of a row:
 *       option KEY KIND WHERE         (KIND as the checker sees it, or "missing"; WHERE:
 *                                     "table-only", or "also-in-registry" if options.c
 *                                     lists the key as well)
 *   gen_param_test cmdline LINE      the defaults, then LINE as gen_params_from_cmdline
 *   gen_param_test configure LINE    the server defaults after gen_params_configure
 *
 * cmdline and configure print "error MESSAGE" if there is one, then one line
 * "params NAME=VALUE ..." with every row's value read back through the table.
 */
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "llm/gen_param.h"

static const char *const kind_names[] = {
    [GEN_PARAM_INT] = "int",   [GEN_PARAM_FLOAT] = "float", [GEN_PARAM_SEED] = "seed",
    [GEN_PARAM_BOOL] = "bool", [GEN_PARAM_STOP] = "stop",
};

static const char *const registry_kinds[] = {
    [CMDLINE_KIND_STRING] = "string",   [CMDLINE_KIND_U32] = "u32",
    [CMDLINE_KIND_DECIMAL] = "decimal", [CMDLINE_KIND_IPV4] = "ipv4",
    [CMDLINE_KIND_CHOICE] = "choice",   [CMDLINE_KIND_LIST] = "list",
};

static void print_names(const char *label, const char *const *names) {
    printf(" %s=", label);
    for (int k = 0; k < GEN_PARAM_SPELLINGS && names[k]; k++)
        printf(k ? ",%s" : "%s", names[k]);
}

static void print_params(const struct gen_params *p) {
    printf("params");
    for (size_t i = 0; i < gen_param_count; i++) {
        const struct gen_param *row = &gen_param_table[i];
        const void *field = (const char *)p + row->off;
        printf(" %s=", row->name);
        switch (row->kind) {
        case GEN_PARAM_INT:
            printf("%d", *(const int *)field);
            break;
        case GEN_PARAM_FLOAT:
            printf("%.9g", *(const float *)field);
            break;
        case GEN_PARAM_SEED:
            printf("%llu", (unsigned long long)*(const uint64_t *)field);
            break;
        case GEN_PARAM_BOOL:
            printf("%s", *(const bool *)field ? "true" : "false");
            break;
        case GEN_PARAM_STOP:
            for (int s = 0; s < p->n_stop; s++)
                printf(s ? "|%s" : "%s", p->stop[s]);
            break;
        }
    }
    putchar('\n');
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (size_t i = 0; i < gen_param_count; i++) {
            const struct gen_param *r = &gen_param_table[i];
            printf("row %s %s %.17g %.17g %.17g", r->name, kind_names[r->kind], r->lo, r->hi,
                   r->def);
            print_names("json", r->json);
            print_names("option", r->option);
            putchar('\n');
        }
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "registry")) {
        for (size_t i = 0; i < gen_param_count; i++) {
            for (int k = 0; k < GEN_PARAM_SPELLINGS && gen_param_table[i].option[k]; k++) {
                const char *key = gen_param_table[i].option[k];
                /* where the checker finds it: the registry (options.c) must not list it
                 * too, the table's own options (gen_param_options) must */
                const struct cmdline_option *o = NULL;
                bool in_registry = false;
                for (size_t j = 0; j < cmdline_option_count; j++)
                    in_registry |= !strcmp(cmdline_options[j].key, key);
                size_t n;
                const struct cmdline_option *own = gen_param_options(&n);
                for (size_t j = 0; j < n && !o; j++)
                    if (!strcmp(own[j].key, key))
                        o = &own[j];
                printf("option %s %s %s\n", key, o ? registry_kinds[o->kind] : "missing",
                       in_registry ? "also-in-registry" : "table-only");
            }
        }
        return 0;
    }
    if (argc == 3 && (!strcmp(argv[1], "cmdline") || !strcmp(argv[1], "configure"))) {
        struct gen_params p;
        char err[200];
        int rc;
        if (!strcmp(argv[1], "cmdline")) {
            gen_params_default(&p);
            rc = gen_params_from_cmdline(&p, argv[2], err, sizeof err);
        } else {
            rc = gen_params_configure(argv[2], err, sizeof err);
            gen_params_default(&p);
        }
        if (rc != 0)
            printf("error %s\n", err);
        print_params(&p);
        return 0;
    }
    fprintf(stderr, "usage: see the file header\n");
    return 2;
}
