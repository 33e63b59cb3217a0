/* harness.c: the C test programs' shared harness (harness.h). */
#include "harness.h"

#include <string.h>

unsigned long n_pass, n_fail;

uint32_t bits32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
float f32_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
uint64_t bits64(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
double f64_of(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

void harness_seed(uint64_t seed) { rng_state = seed != 0 ? seed : 0x9e3779b97f4a7c15u; }

uint64_t harness_rng_state(void) { return rng_state; }

uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

double rng_sym(void) { return (double)(rng() >> 11) * 0x1p-52 - 1.0; }

void harness_start(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

int harness_finish(void)
{
    printf("%lu passed, %lu failed\n", n_pass, n_fail);
    return n_fail == 0 ? 0 : 1;
}
