// The data-moving collectives of ProcessGroupBanyan. Each one checks its arguments, stages
// contiguous buffers, starts exactly one banyan operation and hands it to launch(). Lists of
// tensors (allreduce_coalesced, allgather, alltoall, ...) are packed into one buffer so that
// they cost one collective, as gloo does.

#include "checks.hpp"
#include "elements.hpp"
#include "process_group.hpp"

#include <numeric>

namespace banyan::torch_backend {
namespace {

std::size_t asCount(int64_t n) { return static_cast<std::size_t>(n); }

// Element counts of an alltoall_base split along dim 0: `splits` (rows per rank) or, when
// empty, equal shares of the rows; scaled to banyan elements.
std::vector<std::size_t> splitCounts(const at::Tensor& t, const std::vector<int64_t>& splits, int size,
                                     const Elements& e, const char* op, const char* what) {
  const int64_t rows = t.dim() == 0 ? 1 : t.size(0);
  const int64_t rowElems = rows == 0 ? 0 : t.numel() / rows;
  std::vector<std::size_t> counts(static_cast<std::size_t>(size));
  if (splits.empty()) {
    if (rows % size != 0) throwError("{}: {} has {} rows, which {} ranks cannot share equally", op, what, rows, size);
    for (auto& c : counts) c = asCount(rows / size * rowElems) * static_cast<std::size_t>(e.perElement);
    return counts;
  }
  if (splits.size() != static_cast<std::size_t>(size)) {
    throwError("{}: {} split sizes has {} entries, expected one per rank ({})", op, what, splits.size(), size);
  }
  int64_t total = 0;
  for (std::size_t p = 0; p < splits.size(); ++p) {
    if (splits[p] < 0) throwError("{}: {} split size [{}] is negative ({})", op, what, p, splits[p]);
    total += splits[p];
    counts[p] = asCount(splits[p] * rowElems) * static_cast<std::size_t>(e.perElement);
  }
  if (total != rows) throwError("{}: {} split sizes add up to {} rows but the tensor has {}", op, what, total, rows);
  return counts;
}

std::vector<std::size_t> offsetsOf(const std::vector<std::size_t>& counts) {
  std::vector<std::size_t> offsets(counts.size());
  std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), std::size_t{0});
  return offsets;
}

}  // namespace

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::broadcast(std::vector<at::Tensor>& tensors,
                                                             const c10d::BroadcastOptions& opts) {
  const char* op = "broadcast";
  at::Tensor& t = single(tensors, op, "tensors");
  checkRoot(opts.rootRank, op);
  if (opts.rootTensor != 0)
    throwError("{}: rootTensor {} given, but there is one tensor per process", op, opts.rootTensor);
  const Elements e = elementsOf(t, op);
  Staging staging;
  at::Tensor buffer = staging.inOut(t);
  auto work = comm_.broadcastAsync(buffer.data_ptr(), countOf(buffer, e), e.type, static_cast<int>(opts.rootRank));
  return launch(c10d::OpType::BROADCAST, op, work, std::move(staging), tensors, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::allreduce(std::vector<at::Tensor>& tensors,
                                                             const c10d::AllreduceOptions& opts) {
  const char* op = "allreduce";
  if (tensors.size() == 1 && tensors[0].defined() && tensors[0].is_sparse()) return allreduceSparse(tensors[0], opts);
  at::Tensor& t = single(tensors, op, "tensors");
  const Elements e = elementsOf(t, op);
  const Reduction r = reductionOf(opts.reduceOp, e, t, op);
  Staging staging;
  at::Tensor buffer = staging.inOut(t);
  auto work = comm_.allreduceAsync(buffer.data_ptr(), buffer.data_ptr(), countOf(buffer, e), e.type, r);
  return launch(c10d::OpType::ALLREDUCE, op, work, std::move(staging), tensors, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::compressedAllreduce(at::Tensor& tensor, CompressionFormat format,
                                                                       ErrorFeedback* residual) {
  const char* op = "compressed allreduce";
  checkDense(tensor, op, "tensor");
  const Elements e = elementsOf(tensor, op);
  Staging staging;
  at::Tensor buffer = staging.inOut(tensor);
  // banyan refuses anything but an f32 sum, naming the call.
  auto work = comm_.allreduceAsync(buffer.data_ptr(), buffer.data_ptr(), countOf(buffer, e), e.type, ReduceOp::sum,
                                   Compression{format, residual});
  return launch(c10d::OpType::ALLREDUCE, op, work, std::move(staging), {tensor}, c10d::kUnsetTimeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                                       const c10d::AllreduceCoalescedOptions& opts) {
  const char* op = "allreduce_coalesced";
  if (tensors.empty()) throwError("{}: the tensor list is empty", op);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string name = "tensors[" + std::to_string(i) + "]";
    checkDense(tensors[i], op, name.c_str());
    checkSameType(tensors[i], tensors[0], op, name.c_str());
  }
  const Elements e = elementsOf(tensors[0], op);
  const Reduction r = reductionOf(opts.reduceOp, e, tensors[0], op);
  Staging staging;
  at::Tensor flat = staging.packed(tensors);
  staging.unpackInto(tensors, flat);
  auto work = comm_.allreduceAsync(flat.data_ptr(), flat.data_ptr(), countOf(flat, e), e.type, r);
  return launch(c10d::OpType::ALLREDUCE_COALESCED, op, work, std::move(staging), tensors, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::reduce(std::vector<at::Tensor>& tensors,
                                                          const c10d::ReduceOptions& opts) {
  const char* op = "reduce";
  at::Tensor& t = single(tensors, op, "tensors");
  checkRoot(opts.rootRank, op);
  if (opts.rootTensor != 0)
    throwError("{}: rootTensor {} given, but there is one tensor per process", op, opts.rootTensor);
  const Elements e = elementsOf(t, op);
  const Reduction r = reductionOf(opts.reduceOp, e, t, op);
  const int root = static_cast<int>(opts.rootRank);
  Staging staging;
  // Off the root the tensor is only read; on the root it receives the result.
  at::Tensor buffer = rank_ == root ? staging.inOut(t) : staging.input(t);
  void* recv = rank_ == root ? buffer.data_ptr() : nullptr;
  auto work = comm_.reduceAsync(buffer.data_ptr(), recv, countOf(buffer, e), e.type, r, root);
  return launch(c10d::OpType::REDUCE, op, work, std::move(staging), tensors, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                             std::vector<at::Tensor>& inputs,
                                                             const c10d::AllgatherOptions& opts) {
  const char* op = "allgather";
  at::Tensor& in = single(inputs, op, "input_tensors");
  if (outputs.size() != 1) throwError("{}: output_tensors must hold one list per process, got {}", op, outputs.size());
  checkList(outputs[0], static_cast<std::size_t>(size_), in, in.numel(), op, "output_tensors[0]");
  const Elements e = elementsOf(in, op);
  Staging staging;
  at::Tensor send = staging.input(in);
  at::Tensor all = staging.unpacked(outputs[0], in, in.numel() * size_);
  auto work = comm_.allgatherAsync(send.data_ptr(), all.data_ptr(), countOf(send, e), e.type);
  return launch(c10d::OpType::ALLGATHER, op, work, std::move(staging), outputs[0], opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                                   const c10d::AllgatherOptions& opts) {
  const char* op = "_allgather_base";
  checkDense(input, op, "input");
  checkDense(output, op, "output");
  checkSameType(output, input, op, "output");
  checkNumel(output, input.numel() * size_, op, "output (world size x input)");
  const Elements e = elementsOf(input, op);
  Staging staging;
  at::Tensor send = staging.input(input);
  at::Tensor recv = staging.output(output);
  auto work = comm_.allgatherAsync(send.data_ptr(), recv.data_ptr(), countOf(send, e), e.type);
  return launch(c10d::OpType::_ALLGATHER_BASE, op, work, std::move(staging), {output}, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::allgather_coalesced(
    std::vector<std::vector<at::Tensor>>& outputLists, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& opts) {
  const char* op = "allgather_coalesced";
  if (inputs.empty()) throwError("{}: input_tensor_list is empty", op);
  int64_t total = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "input_tensor_list[" + std::to_string(i) + "]";
    checkDense(inputs[i], op, name.c_str());
    checkSameType(inputs[i], inputs[0], op, name.c_str());
    total += inputs[i].numel();
  }
  if (outputLists.size() != static_cast<std::size_t>(size_)) {
    throwError("{}: output_tensor_lists must hold one list per rank ({}), got {}", op, size_, outputLists.size());
  }
  std::vector<at::Tensor> targets;
  for (std::size_t r = 0; r < outputLists.size(); ++r) {
    if (outputLists[r].size() != inputs.size()) {
      throwError("{}: output_tensor_lists[{}] holds {} tensors, expected {} (one per input)", op, r,
                 outputLists[r].size(), inputs.size());
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::string name = "output_tensor_lists[" + std::to_string(r) + "][" + std::to_string(i) + "]";
      checkDense(outputLists[r][i], op, name.c_str());
      checkSameType(outputLists[r][i], inputs[0], op, name.c_str());
      checkNumel(outputLists[r][i], inputs[i].numel(), op, name.c_str());
      targets.push_back(outputLists[r][i]);
    }
  }
  const Elements e = elementsOf(inputs[0], op);
  Staging staging;
  at::Tensor send = staging.packed(inputs);
  at::Tensor all = staging.unpacked(targets, inputs[0], total * size_);
  auto work = comm_.allgatherAsync(send.data_ptr(), all.data_ptr(), countOf(send, e), e.type);
  return launch(c10d::OpType::ALLGATHER_COALESCED, op, work, std::move(staging), targets, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::gather(std::vector<std::vector<at::Tensor>>& outputs,
                                                          std::vector<at::Tensor>& inputs,
                                                          const c10d::GatherOptions& opts) {
  const char* op = "gather";
  at::Tensor& in = single(inputs, op, "input_tensors");
  checkRoot(opts.rootRank, op);
  const int root = static_cast<int>(opts.rootRank);
  const Elements e = elementsOf(in, op);
  Staging staging;
  at::Tensor send = staging.input(in);
  void* recv = nullptr;
  std::vector<at::Tensor> results;
  if (rank_ == root) {
    if (outputs.size() != 1)
      throwError("{}: on the root, output_tensors must hold one list, got {}", op, outputs.size());
    checkList(outputs[0], static_cast<std::size_t>(size_), in, in.numel(), op, "gather_list");
    recv = staging.unpacked(outputs[0], in, in.numel() * size_).data_ptr();
    results = outputs[0];
  } else if (!outputs.empty() && !outputs[0].empty()) {
    throwError("{}: rank {} is not the root ({}) and must pass no gather_list", op, rank_, root);
  }
  auto work = comm_.gatherAsync(send.data_ptr(), recv, countOf(send, e), e.type, root);
  return launch(c10d::OpType::GATHER, op, work, std::move(staging), results, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::scatter(std::vector<at::Tensor>& outputs,
                                                           std::vector<std::vector<at::Tensor>>& inputs,
                                                           const c10d::ScatterOptions& opts) {
  const char* op = "scatter";
  at::Tensor& out = single(outputs, op, "output_tensors");
  checkRoot(opts.rootRank, op);
  const int root = static_cast<int>(opts.rootRank);
  const Elements e = elementsOf(out, op);
  Staging staging;
  const void* send = nullptr;
  if (rank_ == root) {
    if (inputs.size() != 1) throwError("{}: on the root, input_tensors must hold one list, got {}", op, inputs.size());
    checkList(inputs[0], static_cast<std::size_t>(size_), out, out.numel(), op, "scatter_list");
    send = staging.packed(inputs[0]).data_ptr();
  } else if (!inputs.empty() && !inputs[0].empty()) {
    throwError("{}: rank {} is not the root ({}) and must pass no scatter_list", op, rank_, root);
  }
  at::Tensor recv = staging.output(out);
  auto work = comm_.scatterAsync(send, recv.data_ptr(), countOf(recv, e), e.type, root);
  return launch(c10d::OpType::SCATTER, op, work, std::move(staging), outputs, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::reduce_scatter(std::vector<at::Tensor>& outputs,
                                                                  std::vector<std::vector<at::Tensor>>& inputs,
                                                                  const c10d::ReduceScatterOptions& opts) {
  const char* op = "reduce_scatter";
  at::Tensor& out = single(outputs, op, "output");
  if (inputs.size() != 1) throwError("{}: input_list must hold one list per process, got {}", op, inputs.size());
  checkList(inputs[0], static_cast<std::size_t>(size_), out, out.numel(), op, "input_list");
  const Elements e = elementsOf(out, op);
  const Reduction r = reductionOf(opts.reduceOp, e, out, op);
  Staging staging;
  at::Tensor send = staging.packed(inputs[0]);
  at::Tensor recv = staging.output(out);
  auto work = comm_.reduceScatterAsync(send.data_ptr(), recv.data_ptr(), countOf(recv, e), e.type, r);
  return launch(c10d::OpType::REDUCE_SCATTER, op, work, std::move(staging), outputs, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                                        const c10d::ReduceScatterOptions& opts) {
  const char* op = "_reduce_scatter_base";
  checkDense(input, op, "input");
  checkDense(output, op, "output");
  checkSameType(output, input, op, "output");
  checkNumel(input, output.numel() * size_, op, "input (world size x output)");
  const Elements e = elementsOf(input, op);
  const Reduction r = reductionOf(opts.reduceOp, e, input, op);
  Staging staging;
  at::Tensor send = staging.input(input);
  at::Tensor recv = staging.output(output);
  auto work = comm_.reduceScatterAsync(send.data_ptr(), recv.data_ptr(), countOf(recv, e), e.type, r);
  return launch(c10d::OpType::_REDUCE_SCATTER_BASE, op, work, std::move(staging), {output}, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::alltoall_base(at::Tensor& output, at::Tensor& input,
                                                                 std::vector<int64_t>& outputSplits,
                                                                 std::vector<int64_t>& inputSplits,
                                                                 const c10d::AllToAllOptions& opts) {
  const char* op = "alltoall_base";
  checkDense(input, op, "input");
  checkDense(output, op, "output");
  checkSameType(output, input, op, "output");
  const Elements e = elementsOf(input, op);
  Staging staging;
  at::Tensor send = staging.input(input);
  at::Tensor recv = staging.output(output);
  // banyan's alltoall is out of place only; torch allows the same tensor on both sides.
  if (send.numel() > 0 && recv.numel() > 0 && send.storage().is_alias_of(recv.storage())) {
    send = send.clone();
    staging.keep(send);
  }
  if (outputSplits.empty() && inputSplits.empty()) {
    checkNumel(output, input.numel(), op, "output (same as input without split sizes)");
    if (input.numel() % size_ != 0) {
      throwError("{}: input has {} elements, which {} ranks cannot share equally", op, input.numel(), size_);
    }
    auto work = comm_.alltoallAsync(send.data_ptr(), recv.data_ptr(), countOf(send, e) / asCount(size_), e.type);
    return launch(c10d::OpType::ALLTOALL_BASE, op, work, std::move(staging), {output}, opts.timeout);
  }
  const auto sendCounts = splitCounts(input, inputSplits, size_, e, op, "input");
  const auto recvCounts = splitCounts(output, outputSplits, size_, e, op, "output");
  const auto sendOffsets = offsetsOf(sendCounts);
  const auto recvOffsets = offsetsOf(recvCounts);
  auto work =
      comm_.alltoallvAsync(send.data_ptr(), sendCounts, sendOffsets, recv.data_ptr(), recvCounts, recvOffsets, e.type);
  return launch(c10d::OpType::ALLTOALL_BASE, op, work, std::move(staging), {output}, opts.timeout);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::alltoall(std::vector<at::Tensor>& outputs,
                                                            std::vector<at::Tensor>& inputs,
                                                            const c10d::AllToAllOptions& opts) {
  const char* op = "alltoall";
  const auto n = static_cast<std::size_t>(size_);
  if (inputs.size() != n)
    throwError("{}: input_tensor_list must hold {} tensors (one per rank), got {}", op, n, inputs.size());
  if (outputs.size() != n)
    throwError("{}: output_tensor_list must hold {} tensors (one per rank), got {}", op, n, outputs.size());
  for (std::size_t p = 0; p < n; ++p) {
    const std::string inName = "input_tensor_list[" + std::to_string(p) + "]";
    const std::string outName = "output_tensor_list[" + std::to_string(p) + "]";
    checkDense(inputs[p], op, inName.c_str());
    checkDense(outputs[p], op, outName.c_str());
    checkSameType(inputs[p], inputs[0], op, inName.c_str());
    checkSameType(outputs[p], inputs[0], op, outName.c_str());
  }
  const Elements e = elementsOf(inputs[0], op);
  std::vector<std::size_t> sendCounts(n), recvCounts(n);
  int64_t recvTotal = 0;
  for (std::size_t p = 0; p < n; ++p) {
    sendCounts[p] = countOf(inputs[p], e);
    recvCounts[p] = countOf(outputs[p], e);
    recvTotal += outputs[p].numel();
  }
  Staging staging;
  at::Tensor send = staging.packed(inputs);
  at::Tensor recv = staging.unpacked(outputs, inputs[0], recvTotal);
  auto work = comm_.alltoallvAsync(send.data_ptr(), sendCounts, offsetsOf(sendCounts), recv.data_ptr(), recvCounts,
                                   offsetsOf(recvCounts), e.type);
  return launch(c10d::OpType::ALLTOALL, op, work, std::move(staging), outputs, opts.timeout);
}

}  // namespace banyan::torch_backend
