/*
 * Strict JSON reader (see json.h for the rules). A recursive-descent parser bounded
 * by JSON_MAX_DEPTH; every node and decoded string goes into one arena allocated for
 * the document, sized so a valid document always fits. Called by the API handlers
 * for request bodies; relies on port.h only (no libc number parsing in the kernel).
 */
#include "http/json.h"

struct json_parser {
    const char *s;
    size_t len;
    size_t pos;
    struct json_doc *doc;
    int depth;
    bool failed;
};

static void json_fail(struct json_parser *p, const char *msg) {
    if (p->failed)
        return;
    p->failed = true;
    p->doc->err_pos = p->pos;
    snprintf(p->doc->err, sizeof(p->doc->err), "at byte %u: %s", (unsigned)p->pos, msg);
}

static void *json_alloc(struct json_parser *p, size_t n) {
    struct json_doc *d = p->doc;
    size_t off = ALIGN_UP(d->used, (size_t)8);
    if (off > d->cap || n > d->cap - off) {
        json_fail(p, "document too complex");
        return NULL;
    }
    d->used = off + n;
    return d->arena + off;
}

static void json_skip_ws(struct json_parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static bool json_is_digit(char c) {
    return c >= '0' && c <= '9';
}

size_t json_utf8_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    return len;
}

static size_t json_put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static bool json_hex4(struct json_parser *p, uint32_t *out) {
    if (p->len - p->pos < 4) {
        json_fail(p, "truncated \\u escape");
        return false;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else {
            p->pos += (size_t)i;
            json_fail(p, "bad hex digit in \\u escape");
            return false;
        }
        v = v * 16 + d;
    }
    p->pos += 4;
    *out = v;
    return true;
}

/* At the opening quote: decode the string into the arena. */
static bool json_parse_string(struct json_parser *p, const char **out, size_t *out_len) {
    p->pos++;
    size_t start = p->pos;
    /* The decoded string is never longer than the raw one. */
    size_t raw = 0;
    while (start + raw < p->len && p->s[start + raw] != '"') {
        if (p->s[start + raw] == '\\')
            raw++;
        raw++;
    }
    char *buf = json_alloc(p, MIN(raw, p->len - start) + 1);
    if (!buf)
        return false;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            json_fail(p, "unterminated string");
            return false;
        }
        uint8_t c = (uint8_t)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            json_fail(p, "control character in string");
            return false;
        }
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) {
                json_fail(p, "unterminated string");
                return false;
            }
            char e = p->s[p->pos++];
            switch (e) {
            case '"':
                buf[n++] = '"';
                break;
            case '\\':
                buf[n++] = '\\';
                break;
            case '/':
                buf[n++] = '/';
                break;
            case 'b':
                buf[n++] = '\b';
                break;
            case 'f':
                buf[n++] = '\f';
                break;
            case 'n':
                buf[n++] = '\n';
                break;
            case 'r':
                buf[n++] = '\r';
                break;
            case 't':
                buf[n++] = '\t';
                break;
            case 'u': {
                uint32_t cp;
                if (!json_hex4(p, &cp))
                    return false;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    json_fail(p, "lone low surrogate in \\u escape");
                    return false;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        json_fail(p, "high surrogate not followed by a low surrogate");
                        return false;
                    }
                    p->pos += 2;
                    if (!json_hex4(p, &lo))
                        return false;
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        json_fail(p, "high surrogate not followed by a low surrogate");
                        return false;
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                n += json_put_utf8(buf + n, cp);
                break;
            }
            default:
                p->pos--;
                json_fail(p, "invalid escape in string");
                return false;
            }
            continue;
        }
        size_t ul = json_utf8_len((const uint8_t *)p->s + p->pos, p->len - p->pos);
        if (ul == 0) {
            json_fail(p, "invalid UTF-8 in string");
            return false;
        }
        memcpy(buf + n, p->s + p->pos, ul);
        n += ul;
        p->pos += ul;
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return true;
}

double json_pow10(int e) {
    double r = 1.0, b = 10.0;
    unsigned u = (unsigned)(e < 0 ? -e : e);
    while (u) {
        if (u & 1)
            r *= b;
        b *= b;
        u >>= 1;
    }
    return e < 0 ? 1.0 / r : r;
}

static bool json_parse_number(struct json_parser *p, struct json_value *v) {
    const char *s = p->s;
    size_t i = p->pos;
    bool neg = false;
    if (i < p->len && s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= p->len || !json_is_digit(s[i])) {
        p->pos = i;
        json_fail(p, "invalid number");
        return false;
    }
    uint64_t mant = 0;
    int exp10 = 0;
    int digits = 0;
    if (s[i] == '0') {
        i++;
        if (i < p->len && json_is_digit(s[i])) {
            p->pos = i;
            json_fail(p, "leading zero in number");
            return false;
        }
    } else {
        while (i < p->len && json_is_digit(s[i])) {
            if (digits < 18) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                digits++;
            } else {
                exp10++;
            }
            i++;
        }
    }
    bool is_int = true;
    if (i < p->len && s[i] == '.') {
        is_int = false;
        i++;
        if (i >= p->len || !json_is_digit(s[i])) {
            p->pos = i;
            json_fail(p, "digit expected after '.'");
            return false;
        }
        while (i < p->len && json_is_digit(s[i])) {
            /* Past 18 significant digits the rest cannot change a double. */
            if (digits < 18) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                if (mant)
                    digits++;
                exp10--;
            }
            i++;
        }
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        bool eneg = false;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= p->len || !json_is_digit(s[i])) {
            p->pos = i;
            json_fail(p, "digit expected in exponent");
            return false;
        }
        int e = 0;
        while (i < p->len && json_is_digit(s[i])) {
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
            i++;
        }
        exp10 += eneg ? -e : e;
    }
    p->pos = i;                       /* errors below name the end of the number */
    double d = (double)(int64_t)mant; /* < 10^18: exact in int64 */
    if (mant != 0) {
        if (exp10 > 308 + 19) {
            json_fail(p, "number out of range");
            return false;
        }
        if (exp10 < -340)
            d = 0.0;
        else if (exp10 < -300)
            d = (d * json_pow10(exp10 + 300)) * json_pow10(-300);
        else
            d *= json_pow10(exp10);
        if (d > 1.7976931348623157e308) {
            json_fail(p, "number out of range");
            return false;
        }
    }
    v->type = JSON_NUMBER;
    v->is_int = is_int;
    v->u.num = neg ? -d : d;
    p->pos = i;
    return true;
}

static bool json_match(struct json_parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        json_fail(p, "invalid literal");
        return false;
    }
    p->pos += n;
    return true;
}

static struct json_value *json_parse_value(struct json_parser *p);

static bool json_parse_container(struct json_parser *p, struct json_value *v, bool object) {
    if (++p->depth > JSON_MAX_DEPTH) {
        json_fail(p, "nesting too deep");
        return false;
    }
    v->type = object ? JSON_OBJECT : JSON_ARRAY;
    p->pos++;
    struct json_value **tail = &v->u.list.first;
    json_skip_ws(p);
    char close = object ? '}' : ']';
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return true;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen = 0;
        if (object) {
            json_skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                json_fail(p, "object key (a string) expected");
                return false;
            }
            if (!json_parse_string(p, &key, &klen))
                return false;
            json_skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                json_fail(p, "':' expected after object key");
                return false;
            }
            p->pos++;
        }
        struct json_value *item = json_parse_value(p);
        if (!item)
            return false;
        item->key = key;
        item->key_len = klen;
        *tail = item;
        tail = &item->next;
        v->u.list.n++;
        json_skip_ws(p);
        if (p->pos >= p->len) {
            json_fail(p, object ? "unterminated object" : "unterminated array");
            return false;
        }
        char c = p->s[p->pos];
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == close) {
            p->pos++;
            break;
        }
        json_fail(p, object ? "',' or '}' expected" : "',' or ']' expected");
        return false;
    }
    p->depth--;
    return true;
}

static struct json_value *json_parse_value(struct json_parser *p) {
    json_skip_ws(p);
    if (p->pos >= p->len) {
        json_fail(p, "value expected");
        return NULL;
    }
    struct json_value *v = json_alloc(p, sizeof(*v));
    if (!v)
        return NULL;
    memset(v, 0, sizeof(*v));
    char c = p->s[p->pos];
    bool ok;
    switch (c) {
    case '{':
        ok = json_parse_container(p, v, true);
        break;
    case '[':
        ok = json_parse_container(p, v, false);
        break;
    case '"':
        v->type = JSON_STRING;
        ok = json_parse_string(p, &v->u.str.s, &v->u.str.len);
        break;
    case 't':
        v->type = JSON_BOOL;
        v->boolean = true;
        ok = json_match(p, "true");
        break;
    case 'f':
        v->type = JSON_BOOL;
        ok = json_match(p, "false");
        break;
    case 'n':
        v->type = JSON_NULL;
        ok = json_match(p, "null");
        break;
    default:
        if (c == '-' || json_is_digit(c)) {
            ok = json_parse_number(p, v);
        } else {
            json_fail(p, "unexpected character");
            ok = false;
        }
        break;
    }
    return ok ? v : NULL;
}

int json_parse(struct json_doc *doc, const char *text, size_t len) {
    memset(doc, 0, sizeof(*doc));
    /* Each node needs at least two input bytes except the last, and decoded
     * strings are no longer than their raw text, so this always suffices. */
    size_t cap = (len / 2 + 2) * (sizeof(struct json_value) + 8) + len + JSON_ARENA_BASE;
    doc->arena = port_alloc(cap);
    if (!doc->arena) {
        snprintf(doc->err, sizeof(doc->err), "out of memory for a %u-byte document", (unsigned)len);
        return -1;
    }
    doc->cap = cap;
    struct json_parser p = {.s = text, .len = len, .doc = doc};
    struct json_value *root = json_parse_value(&p);
    if (root) {
        json_skip_ws(&p);
        if (p.pos != len) {
            json_fail(&p, "unexpected data after the value");
            root = NULL;
        }
    }
    if (!root || p.failed)
        return -1;
    doc->root = root;
    return 0;
}

void json_doc_free(struct json_doc *doc) {
    port_free(doc->arena);
    doc->arena = NULL;
    doc->root = NULL;
}

const struct json_value *json_get(const struct json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    const struct json_value *found = NULL;
    size_t klen = strlen(key);
    for (const struct json_value *m = obj->u.list.first; m; m = m->next) {
        if (m->key_len == klen && memcmp(m->key, key, klen) == 0)
            found = m;
    }
    return found;
}

const char *json_type_name(int type) {
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return type >= 0 && type < (int)ARRAY_SIZE(names) ? names[type] : "?";
}
