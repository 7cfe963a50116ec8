/*
 * json_schema: a JSON Schema (a parsed json_value tree) as a GBNF grammar (grammar.h)
 * whose sentences are exactly the JSON texts the schema accepts, for structured
 * outputs: api_gen.c converts a request's `json_schema` or `response_format` with it
 * and the generation samples under the grammar. Relies on json.h and hbuf.h.
 *
 * The subset (that of llama.cpp's converter): `type` (one or a list) of object
 * (`properties`, `required`, `additionalProperties: false`), array (`items`,
 * `minItems`, `maxItems`), string (`minLength`, `maxLength`, or an anchored `pattern` of
 * the regular-expression subset json_schema.c describes), number, integer, boolean,
 * null; `enum`, `const`, `anyOf`, `oneOf`; annotations (`title`, `description`,
 * `default`, `examples`, `$schema`, `$id`) are ignored. Any other keyword (`$ref`,
 * `minimum`, `format`...), and a pattern outside the subset, is refused by name. Properties come
 * out in the order the schema lists them; whitespace between tokens is at most one space, so a
 * small model cannot pad an answer with blanks.
 */
#ifndef CLLM_HTTP_JSON_SCHEMA_H
#define CLLM_HTTP_JSON_SCHEMA_H

#include "http/hbuf.h"
#include "http/json.h"

/* GBNF for schema (NULL: any JSON object, for response_format json_object) appended to
 * out; 0, or -1 with err naming the keyword and where ("unsupported keyword 'format'
 * at $.properties.name"). */
int json_schema_to_gbnf(const struct json_value *schema, struct hbuf *out, char *err, size_t cap);

#endif
