#pragma once
// Which congestion control banyan's TCP data connections use (BANYAN_TCP_CONGESTION,
// docs/configuration.md). Only banyan's own data sockets are touched, one setsockopt each when
// the connection is adopted; the system's default and every other socket stay as they are.
//
// Why an option: bbr paces a connection at the delivery rate it measured, and a collective's
// connection is idle between bursts. Measured here (bench/RESULTS.md, 2026-12-06): a 64 KiB
// recursive-doubling allreduce between 4 network-namespace hosts at 1 Gbit/s took 1.3-5.4 ms
// over bbr against 1.1 ms over cubic or reno (the links' own time), 1.3x as long at 20 Gbit/s;
// but the default algorithms' sweep from 8 B to 16 MiB showed no consistent difference (cubic
// 10% slower at 32 KiB on 4 hosts, 5% faster at 16 MiB on 2 x 2), so the default leaves the
// system's choice ("system").

#include <string>

namespace banyan::transport::tcp {

struct CongestionPolicy {
  enum class Mode {
    Leave,       // "system", or "auto" where cubic is not available: never set
    ReplaceBbr,  // "auto": a connection the system gave bbr gets `name` (cubic)
    Force,       // a name: every connection gets `name`
  };
  Mode mode = Mode::Leave;
  std::string name;

  // For the transport's summary line: "cubic (forced)", "system's (bbr becomes cubic)", ...
  std::string describe() const;
};

// The policy of a BANYAN_TCP_CONGESTION setting on this host's kernel: "auto", "system" or a
// name, which must be in /proc/sys/net/ipv4/tcp_available_congestion_control (else InvalidUsage,
// naming the setting and what is available).
CongestionPolicy resolveCongestion(const std::string& setting);

// Applies `policy` to a connected socket. Returns "" when done (or nothing was to be done),
// else why not (for one WARN line; the connection works on with the system's choice).
std::string applyCongestion(int fd, const CongestionPolicy& policy);

}  // namespace banyan::transport::tcp
