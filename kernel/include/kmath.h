/*
 * Single-precision math for the kernel (kernel/lib/math.c), under the C99 names so
 * portable code calls expf/sqrtf/... the same way in the kernel and on the host.
 * Accuracy: within 2 ulp of the host libm over the ranges the transformer uses.
 */
#ifndef CLLM_KMATH_H
#define CLLM_KMATH_H

float expf(float x);
float logf(float x);
float sqrtf(float x);
float powf(float x, float y);
float sinf(float x);
float cosf(float x);
float tanhf(float x);
float fabsf(float x);
float floorf(float x);

#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)

#endif
