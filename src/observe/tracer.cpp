#include "observe/tracer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/status.hpp"
#include "observe/json.hpp"

namespace banyan::observe {
namespace {

// Tracks (Chrome "threads") within a rank's process: operations, local steps, then one per
// peer. Each communicator gets its own block, so several communicators of a rank stay apart.
constexpr int kOperationsTrack = 0;
constexpr int kLocalTrack = 1;
constexpr int kPeerTrackBase = 10;
constexpr int kTracksPerCommunicator = 100000;

}  // namespace

Tracer::Tracer(const std::string& path, int rank, std::uint64_t communicator)
    : rank_(rank), communicator_(communicator) {
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) {
    fail(ErrorCode::InvalidUsage, "BANYAN_TRACE: cannot write '{}' on rank {}: {}", path, rank, std::strerror(errno));
  }
  std::fputs("[\n", file_);
  std::fputs(fmt::format("{{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": {}, \"tid\": 0, \"args\": {{\"name\": "
                         "\"rank {}\"}}}}",
                         rank_, rank_)
                 .c_str(),
             file_);
  std::fputs(fmt::format(",\n{{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": {}, \"tid\": 0, \"args\": "
                         "{{\"sort_index\": {}}}}}",
                         rank_, rank_)
                 .c_str(),
             file_);
  nameTrack(kOperationsTrack, fmt::format("communicator {}: operations", communicator_));
  nameTrack(kLocalTrack, fmt::format("communicator {}: reduce/copy", communicator_));
}

Tracer::~Tracer() {
  if (file_ == nullptr) return;
  std::fputs("\n]\n", file_);
  std::fclose(file_);
}

double Tracer::now() {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return static_cast<double>(ns) / 1000.0;
}

void Tracer::nameTrack(int track, const std::string& name) {
  std::string line = fmt::format(
      ",\n{{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": {}, \"tid\": {}, \"args\": "
      "{{\"name\": ",
      rank_, static_cast<std::uint64_t>(track) + communicator_ * kTracksPerCommunicator);
  appendJsonString(line, name);
  line += "}}";
  std::fputs(line.c_str(), file_);
}

void Tracer::event(std::string_view name, std::string_view category, int track, double start, double end,
                   const std::string& args) {
  std::string line = ",\n{\"name\": ";
  appendJsonString(line, name);
  line += fmt::format(
      ", \"cat\": \"{}\", \"ph\": \"X\", \"ts\": {:.3f}, \"dur\": {:.3f}, \"pid\": {}, \"tid\": {}, "
      "\"args\": {{{}}}}}",
      category, start, end > start ? end - start : 0.0, rank_,
      static_cast<std::uint64_t>(track) + communicator_ * kTracksPerCommunicator, args);
  std::fputs(line.c_str(), file_);
}

void Tracer::beginOperation(std::string_view algorithm) {
  operationStart_ = now();
  algorithm_ = algorithm;
}

void Tracer::endOperation(std::uint64_t sequence, std::string_view kind, std::size_t bytes, bool ok) {
  event(fmt::format("{} #{}", kind, sequence), "operation", kOperationsTrack, operationStart_, now(),
        fmt::format("\"sequence\": {}, \"bytes\": {}, \"algorithm\": \"{}\", \"ok\": {}", sequence, bytes, algorithm_,
                    ok ? "true" : "false"));
}

void Tracer::transfer(bool isSend, int peer, std::size_t bytes, std::uint64_t sequence, double start, double end) {
  // Sends and receives with one peer get a track each: they overlap each other all the time.
  const std::size_t slot = 2 * static_cast<std::size_t>(peer) + (isSend ? 0 : 1);
  const int track = kPeerTrackBase + static_cast<int>(slot);
  if (slot >= trackEnd_.size()) trackEnd_.resize(slot + 1, 0.0);
  if (trackEnd_[slot] == 0.0) {
    nameTrack(track,
              fmt::format("communicator {}: {} rank {}", communicator_, isSend ? "sends to" : "receives from", peer));
  }
  start = std::max(start, trackEnd_[slot]);
  end = std::max(end, start);
  trackEnd_[slot] = end;
  event(fmt::format("{} {}", isSend ? "send to" : "recv from", peer), isSend ? "send" : "recv", track, start, end,
        fmt::format("\"peer\": {}, \"bytes\": {}, \"sequence\": {}", peer, bytes, sequence));
}

void Tracer::local(std::string_view what, std::size_t bytes, std::uint64_t sequence, double start, double end) {
  event(what, what, kLocalTrack, start, end, fmt::format("\"bytes\": {}, \"sequence\": {}", bytes, sequence));
}

}  // namespace banyan::observe
