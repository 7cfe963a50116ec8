/*
 * Host check of the kernel's math (kernel/lib/math.c) against the host libm. The
 * kernel file is included here with its functions renamed (expf -> kmath_expf, ...)
 * so both can be linked; x87 instructions behave the same on x86-64. Prints the
 * worst error per function and exits 1 if one is above its bound. Run by
 * tests/test_llm_math.py.
 */
#define expf kmath_expf
#define logf kmath_logf
#define sqrtf kmath_sqrtf
#define powf kmath_powf
#define sinf kmath_sinf
#define cosf kmath_cosf
#define tanhf kmath_tanhf
#define fabsf kmath_fabsf
#define floorf kmath_floorf
#include "lib/math.c"
#undef expf
#undef logf
#undef sqrtf
#undef powf
#undef sinf
#undef cosf
#undef tanhf
#undef fabsf
#undef floorf
#undef INFINITY
#undef NAN
#undef isnan
#undef isinf

#include <math.h>
#include <stdio.h>

static double rel(double got, double want) {
    if (got == want)
        return 0;
    double d = fabs(got - want), m = fabs(want);
    return m > 1e-30 ? d / m : d;
}

static int check(const char *name, double worst, double bound) {
    printf("%s %.3g\n", name, worst);
    return worst > bound;
}

int main(void) {
    double e_exp = 0, e_log = 0, e_sqrt = 0, e_pow = 0, e_sin = 0, e_tanh = 0, e_floor = 0;
    int bad = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -100.0f + 188.0f * (float)i / 200000.0f; /* exp: [-100, 88] */
        e_exp = fmax(e_exp, rel(kmath_expf(x), expf(x)));
        float p = (float)i / 997.0f + 1e-20f; /* log, sqrt: (0, 200] */
        e_log = fmax(e_log, fabs(kmath_logf(p) - logf(p)) / fmax(1.0, fabs(logf(p))));
        e_sqrt = fmax(e_sqrt, rel(kmath_sqrtf(p), sqrtf(p)));
        float y = -1.0f + 2.0f * (float)(i % 1000) / 1000.0f; /* pow: rope freqs, temperatures */
        e_pow = fmax(e_pow, rel(kmath_powf(10000.0f, y), powf(10000.0f, y)));
        float a = -4096.0f + 8192.0f * (float)i / 200000.0f; /* rope angles up to 4096 */
        e_sin = fmax(e_sin, fabs(kmath_sinf(a) - sinf(a)));
        e_sin = fmax(e_sin, fabs(kmath_cosf(a) - cosf(a)));
        float t = -12.0f + 24.0f * (float)i / 200000.0f;
        e_tanh = fmax(e_tanh, fabs(kmath_tanhf(t) - tanhf(t)));
        e_floor = fmax(e_floor, fabs(kmath_floorf(a * 0.37f) - floorf(a * 0.37f)) +
                                    fabs(kmath_fabsf(a) - fabsf(a)));
    }
    bad |= check("expf", e_exp, 3e-7);
    bad |= check("logf", e_log, 3e-7);
    bad |= check("sqrtf", e_sqrt, 1e-7);
    bad |= check("powf", e_pow, 3e-7);
    bad |= check("sincosf", e_sin, 1e-6);
    bad |= check("tanhf", e_tanh, 3e-7);
    bad |= check("floorf_fabsf", e_floor, 0);
    bad |= kmath_expf(NAN) == kmath_expf(NAN) || kmath_logf(-1.0f) == kmath_logf(-1.0f);
    bad |= kmath_expf(100.0f) != INFINITY || kmath_expf(-200.0f) != 0.0f ||
           kmath_logf(0.0f) != -INFINITY;
    bad |= kmath_powf(0.0f, 2.0f) != 0.0f || kmath_powf(-2.0f, 3.0f) != -8.0f ||
           kmath_powf(5.0f, 0.0f) != 1.0f;
    printf(bad ? "FAIL\n" : "ok\n");
    return bad;
}
