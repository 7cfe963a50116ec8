/*
 * Host test of kernel/lib/printf.c and kernel/lib/string.c, built by
 * tests/test_kernel_host.py with the kernel names renamed (memcpy -> kernel_memcpy,
 * ...) so they run beside the host libc under ASan and UBSan. Prints one line per
 * failure and "kernel_lib: all passed" at the end; exit status 1 on any failure.
 */
#include "kernel.h"

int printf(const char *fmt, ...);

static int failures;

#define EXPECT(cond, what)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s (line %d)\n", what, __LINE__);                                         \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void expect_format(const char *want, int want_len, const char *got, int got_len) {
    if (strcmp(want, got) != 0 || want_len != got_len) {
        printf("FAIL format: want \"%s\" (%d) got \"%s\" (%d)\n", want, want_len, got, got_len);
        failures++;
    }
}

/* snprintf without the compiler's format checking, so malformed formats (which the
 * kernel must still survive) can be tested. */
static int fmt_unchecked(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

#define FMT(want, ...)                                                                             \
    do {                                                                                           \
        char b_[128];                                                                              \
        int n_ = fmt_unchecked(b_, sizeof(b_), __VA_ARGS__);                                       \
        expect_format(want, (int)strlen(want), b_, n_);                                            \
    } while (0)

static void test_printf(void) {
    FMT("-42", "%d", -42);
    FMT("2147483647 -2147483648", "%d %d", 2147483647, (int)-2147483647 - 1);
    FMT("4294967295", "%u", 4294967295u);
    FMT("    7|7    |0007", "%5u|%-5u|%04u", 7u, 7u, 7u);
    FMT("-0042", "%05d", -42);
    FMT("beef BEEF 0000beef", "%x %X %08x", 0xbeefu, 0xbeefu, 0xbeefu);
    FMT("-9223372036854775808", "%lld", (long long)(-9223372036854775807LL - 1));
    FMT("18446744073709551615", "%llu", 18446744073709551615ULL);
    FMT("123456", "%zu", (size_t)123456);
    FMT("0x00001000", "%p", (void *)0x1000);
    FMT("(null)", "%s", (const char *)NULL);
    FMT("  ab|ab  |xy", "%4s|%-4s|%.2s", "ab", "ab", "xyz");
    FMT("[abc]", "[%.*s]", 3, "abcdef");
    FMT("[   x]", "[%*s]", 4, "x");
    FMT("z%", "%c%%", 'z');
    FMT("%q", "%q");
    FMT("end", "end%");

    char small[5];
    int n = snprintf(small, sizeof(small), "abcdefgh");
    EXPECT(n == 8 && strcmp(small, "abcd") == 0,
           "truncation keeps size-1 bytes and the full length");
    char one[1] = {'x'};
    n = snprintf(one, 1, "abc");
    EXPECT(n == 3 && one[0] == '\0', "size 1 gives an empty string");
    n = fmt_unchecked(NULL, 0, "%d", 12345);
    EXPECT(n == 5, "size 0 writes nothing and returns the length");
}

static void test_string(void) {
    char buf[32];
    memset(buf, 'x', sizeof(buf));
    EXPECT(buf[31] == 'x', "memset");
    memcpy(buf, "hello, world", 13);
    EXPECT(strlen(buf) == 12 && strcmp(buf, "hello, world") == 0, "memcpy/strlen");
    memmove(buf + 2, buf, 13);
    EXPECT(strcmp(buf, "hehello, world") == 0, "memmove to a higher overlapping address");
    memmove(buf, buf + 2, 13);
    EXPECT(strcmp(buf, "hello, world") == 0, "memmove to a lower overlapping address");
    EXPECT(memcmp("ab", "ab", 2) == 0 && memcmp("\x01", "\x02", 1) < 0 &&
               memcmp("\xff", "\x01", 1) > 0,
           "memcmp is unsigned");
    EXPECT(strcmp("a", "b") < 0 && strcmp("b", "a") > 0 && strcmp("", "") == 0 &&
               strcmp("\xff", "a") > 0,
           "strcmp");
    EXPECT(strcmp("ab", "abc") < 0 && strncmp("abcd", "abcz", 3) == 0 &&
               strncmp("abcd", "abcz", 4) < 0,
           "strncmp");
    EXPECT(strncmp("ab", "ab", 10) == 0 && strncmp("a", "b", 0) == 0, "strncmp stops at NUL and n");
    EXPECT(strchr(buf, ',') == buf + 5 && strchr(buf, 'q') == NULL && strchr(buf, '\0') == buf + 12,
           "strchr");
    EXPECT(strnlen("abc", 2) == 2 && strnlen("abc", 10) == 3 && strnlen("", 5) == 0, "strnlen");
}

/* Every alignment of source and destination and every short length, against a plain
 * byte loop; overlapping moves in both directions. */
static void test_copy_alignments(void) {
    unsigned char src[96], dst[96], want[96];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 7 + 1);
    for (size_t so = 0; so < 8; so++) {
        for (size_t d_off = 0; d_off < 8; d_off++) {
            for (size_t n = 0; n <= 40; n++) {
                for (size_t i = 0; i < sizeof(dst); i++)
                    dst[i] = want[i] = 0xEE;
                for (size_t i = 0; i < n; i++)
                    want[d_off + i] = src[so + i];
                memcpy(dst + d_off, src + so, n);
                EXPECT(memcmp(dst, want, sizeof(dst)) == 0, "memcpy alignment/length");
                for (size_t i = 0; i < sizeof(dst); i++)
                    dst[i] = want[i] = (unsigned char)i;
                for (size_t i = 0; i < n; i++)
                    want[d_off + 8 + i] = (unsigned char)(so + 16 + i);
                memmove(dst + d_off + 8, dst + so + 16, n); /* source above destination */
                EXPECT(memcmp(dst, want, sizeof(dst)) == 0, "memmove down");
                for (size_t i = 0; i < sizeof(dst); i++)
                    dst[i] = want[i] = (unsigned char)i;
                for (size_t i = 0; i < n; i++)
                    want[d_off + 16 + i] = (unsigned char)(so + 8 + i);
                memmove(dst + d_off + 16, dst + so + 8, n); /* source below destination */
                EXPECT(memcmp(dst, want, sizeof(dst)) == 0, "memmove up");
                for (size_t i = 0; i < sizeof(dst); i++)
                    dst[i] = want[i] = 0x11;
                for (size_t i = 0; i < n; i++)
                    want[d_off + i] = 0xA7;
                memset(dst + d_off, 0x1A7, n); /* only the low byte of c is used */
                EXPECT(memcmp(dst, want, sizeof(dst)) == 0, "memset alignment/length");
            }
        }
    }
}

int main(void) {
    test_copy_alignments();
    test_printf();
    test_string();
    if (failures) {
        printf("kernel_lib: %d failed\n", failures);
        return 1;
    }
    printf("kernel_lib: all passed\n");
    return 0;
}
