#include "observe/flight_recorder.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/log.hpp"
#include "observe/dump_signal.hpp"
#include "observe/json.hpp"

namespace banyan::observe {
namespace {

std::int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An operation that has run this long gets its "waiting for" text recorded.
constexpr std::int64_t kLongRunningUs = 200'000;

const char* stateName(OperationState state) {
  switch (state) {
    case OperationState::Queued:
      return "queued";
    case OperationState::Running:
      return "running";
    case OperationState::Done:
      return "done";
    case OperationState::Failed:
      return "failed";
  }
  return "unknown";
}

std::string detailsText(const CallDetails& d) {
  std::string text;
  const auto add = [&text](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (d.fusedCalls > 0) add(fmt::format("{} calls fused", d.fusedCalls));
  if (d.premulFactor) {
    add(fmt::format("premul_sum({})", *d.premulFactor));
  } else if (!d.op.empty()) {
    add(std::string(d.op));
  }
  if (d.root >= 0) add(fmt::format("root={}", d.root));
  return text;
}

}  // namespace

std::string FlightRecorder::expandPath(const std::string& pattern, const RecorderIdentity& identity, long pid,
                                       const std::string& host) {
  std::string path;
  bool hasRank = false, hasCommunicator = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      path += pattern[i];
      continue;
    }
    switch (pattern[++i]) {
      case 'r':
        path += std::to_string(identity.rank);
        hasRank = true;
        break;
      case 'c':
        path += std::to_string(identity.id);
        hasCommunicator = true;
        break;
      case 'p':
        path += std::to_string(pid);
        break;
      case 'h':
        path += host;
        break;
      case '%':
        path += '%';
        break;
      default:
        path += '%';
        path += pattern[i];
        break;  // not ours: kept as written
    }
  }
  if (!hasRank) path += fmt::format(".r{}", identity.rank);
  if (!hasCommunicator && identity.id > 0) path += fmt::format(".c{}", identity.id);
  return path;
}

FlightRecorder::FlightRecorder(RecorderIdentity identity, std::size_t capacity, std::string pathPattern)
    : identity_(std::move(identity)),
      path_(expandPath(pathPattern, identity_, static_cast<long>(getpid()), log::hostName())),
      ring_(std::max<std::size_t>(1, capacity)),
      transfers_(std::max<std::size_t>(1, capacity)) {
  registerForSignal(this);
}

FlightRecorder::~FlightRecorder() { unregisterForSignal(this); }

OperationRecord* FlightRecorder::find(std::uint64_t sequence) {
  OperationRecord& slot = ring_[sequence % ring_.size()];
  return slot.sequence == sequence ? &slot : nullptr;
}

void FlightRecorder::queued(std::uint64_t sequence, const char* kind, std::size_t count, std::size_t bytes,
                            DataType type, const CallDetails& details) {
  const std::int64_t now = nowUs();
  std::lock_guard lock(mutex_);
  OperationRecord& slot = ring_[sequence % ring_.size()];
  slot.sequence = sequence;
  slot.kind = kind;
  slot.count = count;
  slot.bytes = bytes;
  slot.type = type;
  slot.details = details;
  slot.algorithm.clear();
  slot.state = OperationState::Queued;
  slot.queuedUs = now;
  slot.startedUs = slot.finishedUs = 0;
  slot.waitingFor.clear();
  slot.error.clear();
  lastQueued_ = std::max(lastQueued_, sequence);
}

void FlightRecorder::started(std::uint64_t sequence, std::string_view algorithm) {
  const std::int64_t now = nowUs();
  std::lock_guard lock(mutex_);
  lastStarted_ = std::max(lastStarted_, sequence);
  if (OperationRecord* record = find(sequence)) {
    record->state = OperationState::Running;
    record->algorithm = algorithm;
    record->startedUs = now;
  }
}

void FlightRecorder::stillRunning(std::uint64_t sequence, const std::function<std::string()>& describe) {
  const std::int64_t now = nowUs();
  {
    std::lock_guard lock(mutex_);
    const OperationRecord* record = find(sequence);
    if (record == nullptr || record->state != OperationState::Running || now - record->startedUs < kLongRunningUs) {
      return;
    }
  }
  std::string text = describe();  // outside the lock: it formats, and the lock guards only the ring
  std::lock_guard lock(mutex_);
  if (OperationRecord* record = find(sequence)) record->waitingFor = std::move(text);
}

void FlightRecorder::finished(std::uint64_t sequence, const Status& status) {
  const std::int64_t now = nowUs();
  std::lock_guard lock(mutex_);
  lastFinished_ = std::max(lastFinished_, sequence);
  if (OperationRecord* record = find(sequence)) {
    record->state = status.isOk() ? OperationState::Done : OperationState::Failed;
    record->finishedUs = now;
    if (!status.isOk()) record->error = fmt::format("{}: {}", toString(status.code()), status.message());
  }
}

void FlightRecorder::transferStarted(std::uint64_t number, bool isSend, int peer, int tag, std::size_t bytes,
                                     DataType type) {
  const std::int64_t now = nowUs();
  std::lock_guard lock(mutex_);
  TransferRecord& slot = transfers_[number % transfers_.size()];
  slot = TransferRecord{number, isSend, peer, tag, bytes, type, OperationState::Running, now, 0, {}};
  lastTransfer_ = std::max(lastTransfer_, number);
}

void FlightRecorder::transferFinished(std::uint64_t number, const Status& status) {
  const std::int64_t now = nowUs();
  std::lock_guard lock(mutex_);
  TransferRecord& slot = transfers_[number % transfers_.size()];
  if (slot.number != number) return;
  slot.state = status.isOk() ? OperationState::Done : OperationState::Failed;
  slot.finishedUs = now;
  if (!status.isOk()) slot.error = fmt::format("{}: {}", toString(status.code()), status.message());
}

std::string FlightRecorder::toJson(const std::string& reason) const {
  std::string out;
  out.reserve(256 + ring_.size() * 64);
  out += "{\n  \"format\": \"banyan-flight-recorder\",\n  \"version\": 1,\n  \"communicator\": ";
  appendJsonString(out, identity_.communicator);
  out += fmt::format(",\n  \"communicator_id\": {},\n  \"rank\": {},\n  \"size\": {},\n  \"host\": ", identity_.id,
                     identity_.rank, identity_.size);
  appendJsonString(out, log::hostName());
  out += fmt::format(",\n  \"pid\": {},\n  \"time_us\": {},\n  \"reason\": ", static_cast<long>(getpid()), nowUs());
  appendJsonString(out, reason);
  std::lock_guard lock(mutex_);
  out +=
      fmt::format(",\n  \"capacity\": {},\n  \"last_queued\": {},\n  \"last_started\": {},\n  \"last_finished\": {},\n",
                  ring_.size(), lastQueued_, lastStarted_, lastFinished_);
  out += "  \"operations\": [";
  // Oldest first: the ring's slots in sequence order, starting after the newest.
  bool first = true;
  const std::uint64_t oldest = lastQueued_ >= ring_.size() ? lastQueued_ - ring_.size() + 1 : 1;
  for (std::uint64_t sequence = oldest; sequence <= lastQueued_; ++sequence) {
    const OperationRecord& r = ring_[sequence % ring_.size()];
    if (r.sequence != sequence) continue;
    out += first ? "\n    " : ",\n    ";
    first = false;
    out += fmt::format(
        "{{\"sequence\": {}, \"kind\": \"{}\", \"count\": {}, \"bytes\": {}, \"dtype\": \"{}\", \"details\": ",
        r.sequence, r.kind, r.count, r.bytes, toString(r.type));
    appendJsonString(out, detailsText(r.details));
    out += ", \"algorithm\": ";
    appendJsonString(out, r.algorithm);
    out += fmt::format(", \"state\": \"{}\", \"queued_us\": {}, \"started_us\": {}, \"finished_us\": {}",
                       stateName(r.state), r.queuedUs, r.startedUs, r.finishedUs);
    out += ", \"waiting_for\": ";
    appendJsonString(out, r.waitingFor);
    out += ", \"error\": ";
    appendJsonString(out, r.error);
    out += "}";
  }
  out += first ? "],\n" : "\n  ],\n";
  // Sends and receives, oldest first, likewise.
  out += "  \"point_to_point\": [";
  first = true;
  const std::uint64_t oldestTransfer = lastTransfer_ >= transfers_.size() ? lastTransfer_ - transfers_.size() + 1 : 1;
  for (std::uint64_t number = oldestTransfer; number <= lastTransfer_; ++number) {
    const TransferRecord& t = transfers_[number % transfers_.size()];
    if (t.number != number) continue;
    out += first ? "\n    " : ",\n    ";
    first = false;
    out += fmt::format(
        "{{\"number\": {}, \"op\": \"{}\", \"peer\": {}, \"tag\": {}, \"bytes\": {}, \"dtype\": \"{}\", "
        "\"state\": \"{}\", \"started_us\": {}, \"finished_us\": {}, \"error\": ",
        t.number, t.isSend ? "send" : "recv", t.peer, t.tag, t.bytes, toString(t.type), stateName(t.state), t.startedUs,
        t.finishedUs);
    appendJsonString(out, t.error);
    out += "}";
  }
  out += first ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

std::string FlightRecorder::dump(const std::string& reason) {
  std::lock_guard serial(dumpMutex_);  // they share the temporary file
  const std::string text = toJson(reason);
  const std::string temporary = fmt::format("{}.tmp{}", path_, static_cast<long>(getpid()));
  std::FILE* file = std::fopen(temporary.c_str(), "w");
  bool ok = file != nullptr;
  if (ok) {
    ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
    ok = (std::fclose(file) == 0) && ok;
  }
  if (ok) ok = std::rename(temporary.c_str(), path_.c_str()) == 0;
  if (!ok) {
    log::warn(log::Where{log::Subsystem::Observe, identity_.rank, static_cast<std::int64_t>(identity_.id)},
              "{}: cannot write the flight recorder dump to '{}' (BANYAN_FLIGHT_RECORDER): {}", identity_.communicator,
              path_, std::strerror(errno));
    std::remove(temporary.c_str());
    return {};
  }
  log::warn(log::Where{log::Subsystem::Observe, identity_.rank, static_cast<std::int64_t>(identity_.id)},
            "{}: flight recorder written to {} ({})", identity_.communicator, path_, reason);
  return path_;
}

}  // namespace banyan::observe
