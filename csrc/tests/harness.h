/* harness.h: what the C test programs share (csrc/tests/harness.c): pass/fail counting, bit
 * patterns, a deterministic random source, and the summary line.
 *
 * Each program prints one line per failure (the first HARNESS_MAX_PRINTED), then
 * "N passed, M failed", and exits nonzero on any failure (return harness_finish()). */
#ifndef RELUKIT_TEST_HARNESS_H
#define RELUKIT_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#define HARNESS_MAX_PRINTED 60

extern unsigned long n_pass, n_fail;

/* CHECK(cond, fmt, ...): count cond; on failure print the file, line and message. */
#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (cond) {                                                                              \
            n_pass++;                                                                            \
        } else {                                                                                 \
            n_fail++;                                                                            \
            if (n_fail <= HARNESS_MAX_PRINTED) {                                                 \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                                      \
                printf(__VA_ARGS__);                                                             \
                putchar('\n');                                                                   \
            }                                                                                    \
        }                                                                                        \
    } while (0)

uint32_t bits32(float x);
float f32_of(uint32_t u);
uint64_t bits64(double x);
double f64_of(uint64_t u);

/* xorshift64*: deterministic pseudo-random bits; harness_seed restarts the sequence. */
void harness_seed(uint64_t seed);
/* The generator's state now (harness_seed(state) replays from here). */
uint64_t harness_rng_state(void);
uint64_t rng(void);
/* uniform in [-1, 1) */
double rng_sym(void);

/* Line-buffer stdout (call first in main). */
void harness_start(void);
/* Print the summary; the exit status for main. */
int harness_finish(void);

#endif /* RELUKIT_TEST_HARNESS_H */
