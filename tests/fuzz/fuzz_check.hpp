#pragma once
// What the fuzz targets share: a check that stops the run with a message when a property
// (a round trip, a bound) does not hold. libFuzzer turns the abort into a crash report and
// saves the input that caused it, so a broken property is kept like any other crash.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                    \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)
