// send / recv / recvAnysource over banyan's tag-matched point-to-point messages. A message's
// length must equal the receiving tensor's (banyan reports a mismatch on the receiver).

#include "checks.hpp"
#include "elements.hpp"
#include "process_group.hpp"

namespace banyan::torch_backend {

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::send(std::vector<at::Tensor>& tensors, int dstRank, int tag) {
  const char* op = "send";
  at::Tensor& t = single(tensors, op, "tensors");
  checkPeer(dstRank, op);
  if (tag < 0) throwError("{}: tag {} is negative; tags are >= 0", op, tag);
  const Elements e = elementsOf(t, op);
  Staging staging;
  at::Tensor buffer = staging.input(t);
  auto work = comm_.sendAsync(buffer.data_ptr(), countOf(buffer, e), e.type, dstRank, tag);
  return launch(c10d::OpType::SEND, op, work, std::move(staging), tensors, c10d::kUnsetTimeout, {}, false);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) {
  const char* op = "recv";
  at::Tensor& t = single(tensors, op, "tensors");
  checkPeer(srcRank, op);
  if (tag < 0) throwError("{}: tag {} is negative; tags are >= 0", op, tag);
  const Elements e = elementsOf(t, op);
  Staging staging;
  at::Tensor buffer = staging.output(t);
  auto work = comm_.recvAsync(buffer.data_ptr(), countOf(buffer, e), e.type, srcRank, tag);
  return launch(
      c10d::OpType::RECV, op, work, std::move(staging), tensors, c10d::kUnsetTimeout, [work] { return work.source(); },
      false);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::recvAnysource(std::vector<at::Tensor>& tensors, int tag) {
  const char* op = "recv_anysource";
  at::Tensor& t = single(tensors, op, "tensors");
  if (tag < 0) throwError("{}: tag {} is negative; tags are >= 0", op, tag);
  const Elements e = elementsOf(t, op);
  Staging staging;
  at::Tensor buffer = staging.output(t);
  auto work = comm_.recvAsync(buffer.data_ptr(), countOf(buffer, e), e.type, Communicator::kAnySource, tag);
  return launch(
      c10d::OpType::RECVANYSOURCE, op, work, std::move(staging), tensors, c10d::kUnsetTimeout,
      [work] { return work.source(); }, false);
}

}  // namespace banyan::torch_backend
