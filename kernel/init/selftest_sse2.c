/*
 * The SSE2 part of the sse self-test (kernel/init/selftest.c): a dot product written
 * with 4-wide float vectors, which the compiler turns into packed SSE instructions
 * because this file is built for pentium4. It proves CR4.OSFXSR is set and that
 * *_sse2.c code lands in .text.simd. Only called when cpu_has_sse2() is true.
 */
#include "kernel.h"
#include "selftest.h"

typedef float v4f __attribute__((vector_size(16)));

float selftest_sse2_dot(const float *a, const float *b, size_t n) {
    v4f acc = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f x, y;
        memcpy(&x, a + i, sizeof(x));
        memcpy(&y, b + i, sizeof(y));
        acc += x * y;
    }
    float sum = acc[0] + acc[1] + acc[2] + acc[3];
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}
