// all_reduce of a sparse COO tensor (ReduceOp.SUM only), with gloo's observable result: every
// rank ends up with every index any rank contributed, values summed, as a coalesced tensor of
// the input's sizes and dtype, written into the input tensor.
//
// Sparse tensors cannot be summed element-wise on the wire (each rank holds different
// indices), so every rank gathers all the ranks' indices and values and torch sums them
// locally (sparse_coo_tensor + coalesce). It takes two exchanges:
//  1. a fixed-size description of each rank's tensor (nnz, dims, sizes, dtype): an allgather;
//  2. the indices and values, whose lengths are the nnz of step 1: an alltoallv in which every
//     rank sends its one block to all (banyan's allgather with a length per rank), one for
//     the indices and one for the values, issued as one group.
// Step 1 runs on the calling thread, blocking: step 2 must be issued in the caller's program
// order (banyan requires the same order on every rank) and cannot be sized before step 1
// has answered. It moves 256 bytes per rank. Step 2 and the summing are asynchronous, as a
// dense all_reduce is, and the sum is built on the thread that completes the Work.

#include "checks.hpp"
#include "elements.hpp"
#include "process_group.hpp"

#include <ATen/SparseTensorUtils.h>
#include <ATen/core/LegacyTypeDispatch.h>

#include <string>

namespace banyan::torch_backend {
namespace {

// The slots of one rank's description (int64 each).
constexpr int64_t kNnz = 0, kSparseDim = 1, kDenseDim = 2, kDtype = 3, kDims = 4, kSizes = 5;
// Sizes travel in a fixed number of slots so that the description has the same length on
// every rank whatever its tensor; 5 + 27 = 32 slots. A tensor of more dims is refused after
// the exchange, on every rank alike (refusing before it would leave the others waiting).
constexpr int64_t kMaxDims = 27;
constexpr int64_t kSlots = kSizes + kMaxDims;

std::vector<int64_t> describe(const at::Tensor& t) {
  std::vector<int64_t> d(static_cast<std::size_t>(kSlots), 0);
  d[kNnz] = t._nnz();
  d[kSparseDim] = t.sparse_dim();
  d[kDenseDim] = t.dense_dim();
  d[kDtype] = static_cast<int64_t>(t.scalar_type());
  d[kDims] = t.dim();
  for (int64_t i = 0; i < std::min<int64_t>(t.dim(), kMaxDims); ++i) d[kSizes + i] = t.size(i);
  return d;
}

std::string sizesText(const int64_t* d) {
  std::string s = "[";
  for (int64_t i = 0; i < std::min(d[kDims], kMaxDims); ++i) s += (i ? ", " : "") + std::to_string(d[kSizes + i]);
  return s + "]";
}

std::string dtypeText(int64_t code) { return c10::toString(static_cast<c10::ScalarType>(code)); }

// Every rank's description must match rank 0's but for nnz; the first difference is raised,
// the same message on every rank since every rank checks the same table.
void checkAgreement(const at::Tensor& table, const char* op) {
  const int64_t ranks = table.size(0);
  const int64_t* first = table.data_ptr<int64_t>();
  for (int64_t r = 0; r < ranks; ++r) {
    const int64_t* d = first + r * kSlots;
    if (d[kDims] > kMaxDims) {
      throwError("{}: rank {} passed a tensor of {} dims; sparse all_reduce takes at most {}", op, r, d[kDims],
                 kMaxDims);
    }
  }
  for (int64_t r = 1; r < ranks; ++r) {
    const int64_t* d = first + r * kSlots;
    if (d[kDtype] != first[kDtype]) {
      throwError("{}: rank {} passed a tensor of dtype {} but rank 0 one of dtype {}", op, r, dtypeText(d[kDtype]),
                 dtypeText(first[kDtype]));
    }
    if (d[kDims] != first[kDims] || !std::equal(d + kSizes, d + kSlots, first + kSizes)) {
      throwError("{}: rank {} passed a tensor of sizes {} but rank 0 one of sizes {}", op, r, sizesText(d),
                 sizesText(first));
    }
    if (d[kSparseDim] != first[kSparseDim]) {
      throwError("{}: rank {} passed a tensor with {} sparse dims (and {} dense) but rank 0 one with {} (and {})", op,
                 r, d[kSparseDim], d[kDenseDim], first[kSparseDim], first[kDenseDim]);
    }
  }
}

}  // namespace

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::allreduceSparse(at::Tensor& t, const c10d::AllreduceOptions& opts) {
  const char* op = "allreduce (sparse)";
  if (!t.device().is_cpu()) {
    throwError("{}: the tensor is on {}; the banyan backend takes CPU tensors", op, t.device().str());
  }
  // As gloo: a sum is the one reduction that a union of indices gives a meaning to.
  if (opts.reduceOp != c10d::ReduceOp::SUM) {
    throwError("{}: ReduceOp.{} is not supported on sparse tensors; only ReduceOp.SUM is (as with gloo)", op,
               reduceOpName(opts.reduceOp));
  }
  const Elements e = elementsOf(t, op);
  // Internal tensors only: no autograd history for them (t may be a leaf that requires grad).
  at::AutoDispatchBelowAutograd noAutograd;
  // Coalesced first, as gloo does: fewer bytes on the wire when the input repeats indices,
  // and the same order of additions as gloo's (this rank's duplicates, then across ranks).
  const at::Tensor input = t.coalesce();

  // 1. Every rank's description.
  const std::vector<int64_t> mine = describe(input);
  at::Tensor table = at::empty({size_, kSlots}, at::kLong);
  try {
    comm_.allgather(mine.data(), table.data_ptr(), static_cast<std::size_t>(kSlots), DataType::i64);
  } catch (const std::exception& err) {
    throwError("{}: exchanging the tensors' sizes failed: {}", op, err.what());
  }
  checkAgreement(table, op);

  // 2. Rank r's indices land at rows offset[r] .. of an [all nnz, sparse dims] buffer (the
  // transpose of COO's layout, so that each rank's block is contiguous), its values at the
  // same rows of an [all nnz, dense sizes...] buffer.
  const int64_t sparseDim = input.sparse_dim();
  const std::vector<int64_t> denseSizes(t.sizes().begin() + sparseDim, t.sizes().end());
  int64_t denseNumel = 1;
  for (int64_t s : denseSizes) denseNumel *= s;
  const auto n = static_cast<std::size_t>(size_);
  std::vector<std::size_t> indexCounts(n), indexOffsets(n), valueCounts(n), valueOffsets(n);
  const int64_t* rows = table.data_ptr<int64_t>();
  int64_t total = 0;
  const auto perValue = static_cast<std::size_t>(denseNumel * e.perElement);
  for (std::size_t r = 0; r < n; ++r) {
    const auto nnz = static_cast<std::size_t>(rows[static_cast<int64_t>(r) * kSlots + kNnz]);
    indexOffsets[r] = static_cast<std::size_t>(total * sparseDim);
    valueOffsets[r] = static_cast<std::size_t>(total) * perValue;
    indexCounts[r] = nnz * static_cast<std::size_t>(sparseDim);
    valueCounts[r] = nnz * perValue;
    total += static_cast<int64_t>(nnz);
  }
  const at::Tensor indicesIn = input._indices().t().contiguous();
  const at::Tensor valuesIn = input._values().contiguous();
  at::Tensor indicesAll = at::empty({total, sparseDim}, at::kLong);
  std::vector<int64_t> valueShape{total};
  valueShape.insert(valueShape.end(), denseSizes.begin(), denseSizes.end());
  at::Tensor valuesAll = sparseBuffers_.take(valueShape, valuesIn.options());

  Staging staging;
  for (const auto& buffer : {indicesIn, valuesIn, indicesAll, valuesAll}) staging.keep(buffer);
  banyan::Work work;  // empty (already ended) when no rank has anything to send
  if (total > 0) {
    const std::size_t me = static_cast<std::size_t>(rank_);
    // The same block to every rank: equal counts, offset 0.
    const std::vector<std::size_t> indexSend(n, indexCounts[me]), valueSend(n, valueCounts[me]), atStart(n, 0);
    comm_.groupStart();
    try {
      comm_.alltoallvAsync(indicesIn.data_ptr(), indexSend, atStart, indicesAll.data_ptr(), indexCounts, indexOffsets,
                           DataType::i64);
      comm_.alltoallvAsync(valuesIn.data_ptr(), valueSend, atStart, valuesAll.data_ptr(), valueCounts, valueOffsets,
                           e.type);
    } catch (...) {
      comm_.groupEnd();  // close the group; the error is a local misuse and is raised as is
      throw;
    }
    work = comm_.groupEnd();
  }
  // The sum, when the data has arrived: torch adds up the entries of equal indices (in rank
  // order, as gloo) and the result replaces the tensor's indices and values, coalesced. It is
  // what t.copy_(sum) does (the tensor keeps its sizes, which every rank agreed on) but
  // without copy_'s clone of a result that nothing else holds: at 1% of a 1M x 64 table on 4
  // ranks that is 10 MB less to allocate, fault in and copy per call.
  staging.then([t, indicesAll, valuesAll]() mutable {
    at::AutoDispatchBelowAutograd noAutogradHere;
    const at::Tensor sum = at::sparse_coo_tensor(indicesAll.t(), valuesAll, t.sizes()).coalesce();
    // valuesAll is a pooled buffer that the next call will overwrite: the result must not
    // keep it (coalesce may return its input as it is, when nothing needs merging).
    at::Tensor values = sum._values();
    if (values.storage().is_alias_of(valuesAll.storage())) values = values.clone();
    at::sparse::alias_into_sparse(t, sum._indices(), values);
    at::sparse::get_sparse_impl(t)->set_coalesced(true);
    t.unsafeGetTensorImpl()->bump_version();  // as an in-place copy_ would
  });
  return launch(c10d::OpType::ALLREDUCE, op, work, std::move(staging), {t}, opts.timeout);
}

}  // namespace banyan::torch_backend
