// memcpy-bandwidth: the single-thread memcpy rate of one buffer size, the ceiling that
// bench/shm.sh compares shared-memory collectives against.
//
//   memcpy-bandwidth [BYTES]     default 64M; K/M/G suffixes
//
// Both buffers are touched before timing (first touch costs a page fault per 4 KiB), and the
// best of 20 copies is reported, in GB/s of bytes copied.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::size_t bytes = std::size_t{64} << 20;
  if (argc > 1) {
    char* end = nullptr;
    bytes = std::strtoull(argv[1], &end, 10);
    const std::string suffix = end;
    if (suffix == "K" || suffix == "k")
      bytes <<= 10;
    else if (suffix == "M" || suffix == "m")
      bytes <<= 20;
    else if (suffix == "G" || suffix == "g")
      bytes <<= 30;
    else if (!suffix.empty() || bytes == 0) {
      std::fprintf(stderr, "memcpy-bandwidth: '%s' is not a size (e.g. 64M)\n", argv[1]);
      return 2;
    }
  }
  std::vector<char> from(bytes, 1), to(bytes, 2);
  double best = 1e30;
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(to.data(), from.data(), bytes);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = seconds < best ? seconds : best;
    from[i % bytes] = static_cast<char>(to[(i * 4099) % bytes] + 1);  // keep the copies observable
  }
  std::printf("memcpy %zu bytes: %.2f GB/s\n", bytes, static_cast<double>(bytes) / best / 1e9);
  return 0;
}
