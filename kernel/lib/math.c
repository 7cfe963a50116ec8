/*
 * Single-precision math for the kernel (kmath.h): the transformer's expf, logf,
 * sqrtf, powf, sinf, cosf, tanhf, fabsf, floorf. Called by kernel/llm (RMSNorm,
 * softmax, SiLU, RoPE) and the sampler. Built for the base CPU (x87, no SSE): the
 * results come from the x87 transcendental instructions evaluated in extended
 * precision and rounded once to float, so they agree with the host libm to within
 * an ulp or so. Relies on the FPU being on (cpu_init).
 */
#include "kmath.h"
#include "types.h"

/* x87 helpers: each takes and returns a value in st(0). */
static inline long double x87_fsqrt(long double x) {
    __asm__("fsqrt" : "+t"(x));
    return x;
}

static inline long double x87_fsin(long double x) {
    __asm__("fsin" : "+t"(x));
    return x;
}

static inline long double x87_fcos(long double x) {
    __asm__("fcos" : "+t"(x));
    return x;
}

static inline long double x87_frndint(long double x) {
    __asm__("frndint" : "+t"(x));
    return x;
}

/* 2^f - 1 for |f| <= 1 */
static inline long double x87_f2xm1(long double f) {
    __asm__("f2xm1" : "+t"(f));
    return f;
}

/* x * 2^trunc(n) */
static inline long double x87_fscale(long double x, long double n) {
    __asm__("fscale" : "+t"(x) : "u"(n));
    return x;
}

/* y * log2(x); fyl2x pops, so st(1) is consumed */
static inline long double x87_fyl2x(long double x, long double y) {
    long double r;
    __asm__("fyl2x" : "=t"(r) : "0"(x), "u"(y) : "st(1)");
    return r;
}

#define MATH_LN2 0.693147180559945309417232121458176568L
#define MATH_LOG2E 1.44269504088896340735992468100189214L
#define MATH_PI 3.14159265358979323846264338327950288L

static uint32_t math_bits(float x) {
    uint32_t u;
    __builtin_memcpy(&u, &x, 4);
    return u;
}

static float math_from_bits(uint32_t u) {
    float x;
    __builtin_memcpy(&x, &u, 4);
    return x;
}

float fabsf(float x) {
    return math_from_bits(math_bits(x) & 0x7fffffffu);
}

float floorf(float x) {
    if (isnan(x) || isinf(x) || fabsf(x) >= 8388608.0f)
        return x; /* already integral */
    float t = (float)(int32_t)x;
    return t > x ? t - 1.0f : t;
}

float sqrtf(float x) {
    if (x < 0)
        return NAN;
    return (float)x87_fsqrt(x);
}

/* 2^y in extended precision, saturating outside the float range. */
static long double math_exp2l(long double y) {
    if (y > 200)
        return INFINITY;
    if (y < -200)
        return 0;
    long double n = x87_frndint(y);
    long double r = x87_f2xm1(y - n) + 1.0L;
    return x87_fscale(r, n);
}

/* e^x without the x87 transcendental instructions (slow under emulation, and
 * expf runs thousands of times per token in softmax and SiLU): x = n ln2 + r with
 * |r| <= ln2/2, a degree-6 polynomial for e^r in double, times 2^n. */
float expf(float x) {
    if (isnan(x))
        return x;
    if (x > 88.73f)
        return INFINITY;
    if (x < -103.98f)
        return 0.0f;
    double n = (double)(int32_t)(x * 1.4426950408889634 + (x < 0 ? -0.5 : 0.5));
    double r = (double)x - n * 0.6931471805599453;
    double p =
        1.0 +
        r * (1.0 +
             r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 +
                                                            r * (1.0 / 720 + r * (1.0 / 5040)))))));
    int32_t k = (int32_t)n;
    /* 2^k as a double: k is within [-150, 128], inside the double exponent range */
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double scale;
    __builtin_memcpy(&scale, &bits, 8);
    return (float)(p * scale);
}

float logf(float x) {
    if (isnan(x) || x < 0)
        return NAN;
    if (x == 0)
        return -INFINITY;
    if (isinf(x))
        return x;
    return (float)x87_fyl2x(x, MATH_LN2);
}

static bool math_is_int(float y) {
    return floorf(y) == y;
}

float powf(float x, float y) {
    if (y == 0)
        return 1.0f;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0)
        return y > 0 ? 0.0f : INFINITY;
    if (x < 0) {
        if (!math_is_int(y))
            return NAN;
        long double r = math_exp2l(x87_fyl2x(-x, 1.0L) * y);
        bool odd = fabsf(y) < 16777216.0f && ((int32_t)y & 1);
        return (float)(odd ? -r : r);
    }
    return (float)math_exp2l(x87_fyl2x(x, 1.0L) * y);
}

/* fsin/fcos need |x| < 2^63; reduce larger (or any) arguments by 2*pi first. */
static long double math_reduce(long double x) {
    if (x > 1e6L || x < -1e6L) {
        long double k = x87_frndint(x / (2 * MATH_PI));
        x -= k * 2 * MATH_PI;
    }
    return x;
}

float sinf(float x) {
    if (isnan(x) || isinf(x))
        return NAN;
    return (float)x87_fsin(math_reduce(x));
}

float cosf(float x) {
    if (isnan(x) || isinf(x))
        return NAN;
    return (float)x87_fcos(math_reduce(x));
}

float tanhf(float x) {
    if (isnan(x))
        return x;
    if (x > 20)
        return 1.0f;
    if (x < -20)
        return -1.0f;
    long double e = math_exp2l(2.0L * (long double)x * MATH_LOG2E);
    return (float)((e - 1.0L) / (e + 1.0L));
}
