// The Python module banyan_torch._C: the function that torch's backend registry calls to make
// a "banyan" process group. The group is returned as torch's own ProcessGroup type (pybind11
// shares torch's type registry because the ABI tags match, see python/meson.build), so every
// torch.distributed call and DistributedDataParallel take it as they take gloo's. Beside it,
// the fault-tolerance calls on such a group's communicator (revoke, agree, shrink, lost_ranks),
// which banyan_torch/__init__.py wraps and documents.

#include "process_group.hpp"

#include <torch/csrc/utils/pybind.h>

#include <pybind11/chrono.h>
#include <pybind11/stl.h>

#include <chrono>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace {

using banyan::torch_backend::ProcessGroupBanyan;

ProcessGroupBanyan& banyanGroup(const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
  auto* banyan = dynamic_cast<ProcessGroupBanyan*>(group.get());
  if (banyan == nullptr) {
    throw std::invalid_argument("banyan_torch: the group's backend is " + group->getBackendName() +
                                ", not banyan; only banyan groups can be revoked, agreed on or shrunk");
  }
  return *banyan;
}

// The survivors' new group and their ranks in `group`, ascending (the new ranks' order).
std::tuple<c10::intrusive_ptr<c10d::ProcessGroup>, std::vector<int>> shrink(
    const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
  auto& old = banyanGroup(group);
  banyan::Communicator next = old.communicator().shrink();
  const int mine = old.getRank();
  std::vector<int> survivors(static_cast<std::size_t>(next.size()));
  next.allgather(&mine, survivors.data(), 1, banyan::DataType::i32);
  return {c10::make_intrusive<ProcessGroupBanyan>(std::move(next), old.timeout()), std::move(survivors)};
}

std::tuple<std::uint64_t, std::vector<int>> agree(const c10::intrusive_ptr<c10d::ProcessGroup>& group,
                                                  std::uint64_t flag) {
  auto agreement = banyanGroup(group).communicator().agree(flag);
  return {agreement.flag, std::move(agreement.failedRanks)};
}

// `family`: the default group when it exists; a banyan one lends the new group its event loop
// and progress thread (a group of another backend lends nothing).
c10::intrusive_ptr<c10d::ProcessGroup> createProcessGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                          int size, const std::chrono::duration<float>& timeout,
                                                          c10d::ProcessGroup* family) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  auto* parent = dynamic_cast<ProcessGroupBanyan*>(family);
  return c10::make_intrusive<ProcessGroupBanyan>(store, rank, size, ms, parent ? &parent->communicator() : nullptr);
}

c10::intrusive_ptr<c10d::Work> compressedAllreduce(const c10::intrusive_ptr<c10d::ProcessGroup>& group,
                                                   at::Tensor& tensor, const std::string& format,
                                                   banyan::ErrorFeedback* residual) {
  const auto parsed = banyan::parseCompressionFormat(format);
  if (!parsed) throw std::invalid_argument("banyan_torch: unknown compression format '" + format + "'");
  return banyanGroup(group).compressedAllreduce(tensor, *parsed, residual);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  // One buffer's residual for error feedback (include/banyan/compression.hpp); Python keeps one
  // per DDP bucket (banyan_torch/compression.py).
  pybind11::class_<banyan::ErrorFeedback>(m, "ErrorFeedback")
      .def(pybind11::init<>())
      .def("reset", &banyan::ErrorFeedback::reset)
      .def("__len__", [](const banyan::ErrorFeedback& f) { return f.residual().size(); });
  m.def("compressed_allreduce", &compressedAllreduce, pybind11::arg("group"), pybind11::arg("tensor"),
        pybind11::arg("format"), pybind11::arg("residual"), pybind11::call_guard<pybind11::gil_scoped_release>(),
        "Sums a float32 tensor in place over a banyan group, compressed on the wire (bf16, fp16, int8); "
        "residual: an ErrorFeedback or None. Returns the Work.");
  m.doc() = "banyan's torch.distributed backend (C++ part); import banyan_torch instead";
  // Bootstrapping connects to the other ranks and may wait for them: release the GIL so other
  // Python threads (and torch's own store threads) keep running.
  m.def("create_process_group", &createProcessGroup, pybind11::arg("store"), pybind11::arg("rank"),
        pybind11::arg("size"), pybind11::arg("timeout"), pybind11::arg("family") = nullptr,
        pybind11::call_guard<pybind11::gil_scoped_release>(),
        "Creates a banyan ProcessGroup; torch calls this as creator(store, rank, size, timeout). family: the "
        "default group, whose event loop a banyan one shares with the new group, or None.");
  // Each may wait for the other ranks (or, for lost_ranks, for the communicator's lock):
  // all release the GIL. banyan::Error is a std::runtime_error: Python sees a RuntimeError
  // with banyan's message; a group of another backend raises ValueError.
  m.def("shrink", &shrink, pybind11::arg("group"), pybind11::call_guard<pybind11::gil_scoped_release>(),
        "Shrinks a banyan group to its survivors: (new group, survivors' ranks in the old group).");
  m.def("agree", &agree, pybind11::arg("group"), pybind11::arg("flag"),
        pybind11::call_guard<pybind11::gil_scoped_release>(),
        "Fault-tolerant agreement: (AND of the survivors' flags, failed ranks).");
  m.def(
      "revoke", [](const c10::intrusive_ptr<c10d::ProcessGroup>& group) { banyanGroup(group).communicator().revoke(); },
      pybind11::arg("group"), pybind11::call_guard<pybind11::gil_scoped_release>(),
      "Ends every pending and later operation of the group, on every rank, with Aborted.");
  m.def(
      "lost_ranks",
      [](const c10::intrusive_ptr<c10d::ProcessGroup>& group) { return banyanGroup(group).communicator().lostRanks(); },
      pybind11::arg("group"), pybind11::call_guard<pybind11::gil_scoped_release>(),
      "The group ranks this rank knows to be lost so far.");
}
