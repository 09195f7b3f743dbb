// The Python module banyan_torch._C: one function that torch's backend registry calls to make
// a "banyan" process group. The group is returned as torch's own ProcessGroup type (pybind11
// shares torch's type registry because the ABI tags match, see python/meson.build), so every
// torch.distributed call and DistributedDataParallel take it as they take gloo's.

#include "process_group.hpp"

#include <torch/csrc/utils/pybind.h>

#include <pybind11/chrono.h>

#include <chrono>

namespace {

c10::intrusive_ptr<c10d::ProcessGroup> createProcessGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                          int size, const std::chrono::duration<float>& timeout) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  return c10::make_intrusive<banyan::torch_backend::ProcessGroupBanyan>(store, rank, size, ms);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "banyan's torch.distributed backend (C++ part); import banyan_torch instead";
  // Bootstrapping connects to the other ranks and may wait for them: release the GIL so other
  // Python threads (and torch's own store threads) keep running.
  m.def("create_process_group", &createProcessGroup, pybind11::arg("store"), pybind11::arg("rank"),
        pybind11::arg("size"), pybind11::arg("timeout"), pybind11::call_guard<pybind11::gil_scoped_release>(),
        "Creates a banyan ProcessGroup; torch calls this as creator(store, rank, size, timeout).");
}
