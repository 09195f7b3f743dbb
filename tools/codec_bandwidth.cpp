// codec-bandwidth: how fast the compressed allreduce's codec (src/compress) runs on one core,
// beside memcpy of the same f32 bytes in the same run.
//
//   codec-bandwidth [BYTES] [PASSES]     default 64M of f32 input, 5 passes
//
// Each pass times memcpy, then every (format, path, operation) once (best of 3 calls), so a
// machine whose load changes hits all of them alike; each row prints the median over passes of
// its rate (GB/s of f32 values encoded, decoded or summed: 4 bytes per value) and the median of
// its per-pass ratio to that pass's memcpy rate. Operations:
//   encode   f32 input + residual -> encoded, residual rewritten (what each rank does first)
//   decode   encoded -> f32 (what each rank does last)
//   sum      encoded + encoded -> encoded, decoding both and re-encoding (each ring step)

#include "compress/codec.hpp"
#include "compress/codec_internal.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using banyan::CompressionFormat;
namespace compress = banyan::compress;
using compress::detail::CodecPath;

double secondsOf(const std::function<void()>& run) {
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string name;
  std::function<void()> run;
  std::vector<double> rates, ratios;
};

// "64M", "512K" or a byte count; 0 when it is none of these.
std::size_t parseBytes(const std::string& text) {
  char* end = nullptr;
  std::size_t bytes = std::strtoull(text.c_str(), &end, 10);
  const std::string suffix = end;
  if (suffix == "K" || suffix == "k") return bytes << 10;
  if (suffix == "M" || suffix == "m") return bytes << 20;
  return suffix.empty() ? bytes : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t bytes = argc > 1 ? parseBytes(argv[1]) : std::size_t{64} << 20;
  const int passes = argc > 2 ? std::atoi(argv[2]) : 5;
  if (bytes < 4 || passes < 1) {
    std::fprintf(stderr, "codec-bandwidth: usage: codec-bandwidth [BYTES, e.g. 64M] [PASSES]\n");
    return 2;
  }
  const std::size_t count = bytes / sizeof(float);
  std::vector<float> in(count), residual(count, 0.0f), out(count), copy(count);
  for (std::size_t i = 0; i < count; ++i) in[i] = std::ldexp(static_cast<float>((i * 2654435761u) % 1000) - 500.0f, -9);

  std::vector<Row> rows;
  std::vector<std::vector<std::byte>> encoded;
  for (const CompressionFormat f : {CompressionFormat::bf16, CompressionFormat::fp16, CompressionFormat::int8}) {
    const std::size_t units = compress::unitsFor(f, count);
    encoded.emplace_back(units * compress::unitBytes(f));
    encoded.emplace_back(units * compress::unitBytes(f));
    std::byte* a = encoded[encoded.size() - 2].data();
    std::byte* b = encoded.back().data();
    compress::encode(f, in.data(), nullptr, a, count);
    compress::encode(f, in.data(), nullptr, b, count);
    for (const CodecPath path : {CodecPath::portable, CodecPath::simd}) {
      if (path == CodecPath::simd && !compress::detail::simdAvailable()) continue;
      const std::string label = std::string(f == CompressionFormat::bf16   ? "bf16"
                                            : f == CompressionFormat::fp16 ? "fp16"
                                                                           : "int8") +
                                (path == CodecPath::simd ? " avx2    " : " portable");
      rows.push_back({label + " encode", [=, &in, &residual] {
                        compress::detail::encodePath(path, f, in.data(), residual.data(), b, count);
                      }});
      rows.push_back({label + " decode", [=, &out] { compress::detail::decodePath(path, f, a, out.data(), count); }});
      const compress::UnitKernel sum = compress::detail::sumKernelPath(path, f);
      rows.push_back({label + " sum   ", [=] { sum(b, a, b, units); }});
    }
  }
  std::vector<double> memcpyRates;
  for (int pass = 0; pass < passes; ++pass) {
    const double memcpyRate = bytes / secondsOf([&] { std::memcpy(copy.data(), in.data(), bytes); }) / 1e9;
    memcpyRates.push_back(memcpyRate);
    for (Row& row : rows) {
      const double rate = bytes / secondsOf(row.run) / 1e9;
      row.rates.push_back(rate);
      row.ratios.push_back(rate / memcpyRate);
    }
  }
  std::printf("# %zu bytes of f32, %d passes, medians; memcpy %.2f GB/s\n", bytes, passes, median(memcpyRates));
  std::printf("# %-24s %8s %12s\n", "codec", "GB/s", "x memcpy");
  for (const Row& row : rows)
    std::printf("  %-24s %8.2f %12.2f\n", row.name.c_str(), median(row.rates), median(row.ratios));
  return 0;
}
