/*
 * Version and build id of the image, printed by kernel_main in the first serial line.
 *
 * Compiled by cllm_build/steps/compile.py like any kernel unit, with CLLM_VERSION and
 * CLLM_BUILD_ID given as -D flags by cllm_build/build.py (the id hashes every source,
 * so this unit is rebuilt exactly when the tree changes). Declared in kernel.h.
 */
#ifndef CLLM_VERSION
#error "CLLM_VERSION must be defined by the build"
#endif
#ifndef CLLM_BUILD_ID
#error "CLLM_BUILD_ID must be defined by the build"
#endif

const char cllm_version[] = CLLM_VERSION;
const char cllm_build_id[] = CLLM_BUILD_ID;
