// banyan-store-server: serves one banyan TCP store until SIGINT or SIGTERM; for a store root
// no rank serves (docs/launchers.md, "Several store roots": a root whose BANYAN_STORE_ROOTS
// entry names a host none of the ranks' leaders runs on), or a job's store a launcher keeps.
//
//   banyan-store-server --port PORT [--host HOST]
//
// HOST defaults to 0.0.0.0 (every IPv4 interface). Prints "listening on HOST:PORT" once it
// listens (PORT 0 picks a free one), then nothing until it stops.

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include <fmt/format.h>
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <string>

namespace {

int usage(const std::string& why) {
  fmt::print(stderr, "banyan-store-server: {}\nusage: banyan-store-server --port PORT [--host HOST]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "0.0.0.0";
  long port = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", flag));
    const std::string value = argv[++i];
    if (flag == "--host") {
      host = value;
    } else if (flag == "--port") {
      const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), port);
      if (err != std::errc() || end != value.data() + value.size() || port < 0 || port > 65535) {
        return usage(fmt::format("--port {}: not a port (0 to 65535)", value));
      }
    } else {
      return usage(fmt::format("unknown flag {}", flag));
    }
  }
  if (port < 0) return usage("--port is required");
  // The signals are taken synchronously: block them before the server's thread starts.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  try {
    banyan::TcpStoreServer server(host, static_cast<std::uint16_t>(port));
    fmt::print("listening on {}:{}\n", host, server.port());
    std::fflush(stdout);
    int signal = 0;
    sigwait(&stop, &signal);
  } catch (const banyan::Error& e) {
    fmt::print(stderr, "banyan-store-server: {}\n", e.what());
    return 1;
  }
  return 0;
}
