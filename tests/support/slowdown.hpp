#pragma once
// How many times slower than a release build this test build runs, for the few test settings
// that are time windows a healthy rank must meet rather than deadlines for a failure (the
// heartbeat window): ThreadSanitizer 5-15x, AddressSanitizer+UBSan about 2-3x. g++ defines
// __SANITIZE_THREAD__ and __SANITIZE_ADDRESS__ under -fsanitize.

namespace banyan::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr int kBuildSlowdown = 10;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int kBuildSlowdown = 3;
#else
inline constexpr int kBuildSlowdown = 1;
#endif

}  // namespace banyan::test
