// send / recv / recvAnysource. banyan's point-to-point API (tag-matched send/recv) is being
// added by issue 5; until it is merged these raise a clear NotSupported error rather than
// emulate point-to-point with collectives (which would deadlock when only two ranks call).

#include "checks.hpp"
#include "process_group.hpp"

namespace banyan::torch_backend {

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::send(std::vector<at::Tensor>& tensors, int dstRank, int tag) {
  (void)tensors, (void)dstRank, (void)tag;
  throwError("send is not supported yet: banyan's point-to-point messages (issue 5) are not in this build");
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) {
  (void)tensors, (void)srcRank, (void)tag;
  throwError("recv is not supported yet: banyan's point-to-point messages (issue 5) are not in this build");
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::recvAnysource(std::vector<at::Tensor>& tensors, int tag) {
  (void)tensors, (void)tag;
  throwError("recv from any source is not supported yet: banyan's point-to-point messages (issue 5) are not in "
             "this build");
}

}  // namespace banyan::torch_backend
