/*
 * EXPECT for host unit tests: print the failed condition's line and message, count the
 * failure, carry on. The test's main prints "<name>: all passed" when `failures` is 0.
 */
#ifndef HOST_EXPECT_H
#define HOST_EXPECT_H

#include <stdio.h>

static int failures;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL line %d: ", __LINE__);                                                    \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
