#include "staging.hpp"

namespace banyan::torch_backend {

at::Tensor Staging::inOut(const at::Tensor& tensor) {
  at::Tensor buffer = tensor.contiguous();
  keep_.push_back(buffer);
  if (!buffer.is_same(tensor)) copies_.emplace_back(tensor, buffer);
  return buffer;
}

at::Tensor Staging::input(const at::Tensor& tensor) {
  at::Tensor buffer = tensor.contiguous();
  keep_.push_back(buffer);
  return buffer;
}

at::Tensor Staging::output(const at::Tensor& tensor) {
  if (tensor.is_contiguous()) {
    keep_.push_back(tensor);
    return tensor;
  }
  at::Tensor buffer = at::empty(tensor.sizes(), tensor.options().memory_format(at::MemoryFormat::Contiguous));
  keep_.push_back(buffer);
  copies_.emplace_back(tensor, buffer);
  return buffer;
}

at::Tensor Staging::packed(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(t.reshape({-1}));
  at::Tensor buffer = flat.empty() ? at::Tensor() : at::cat(flat);
  keep_.push_back(buffer);
  return buffer;
}

at::Tensor Staging::unpacked(const std::vector<at::Tensor>& targets, const at::Tensor& like, std::int64_t numel) {
  at::Tensor buffer = at::empty({numel}, like.options().memory_format(at::MemoryFormat::Contiguous));
  keep_.push_back(buffer);
  unpackInto(targets, buffer);
  return buffer;
}

void Staging::unpackInto(const std::vector<at::Tensor>& targets, const at::Tensor& flat, std::int64_t offset) {
  for (const auto& target : targets) {
    copies_.emplace_back(target, flat.narrow(0, offset, target.numel()).view(target.sizes()));
    offset += target.numel();
  }
}

void Staging::finish() {
  for (auto& [destination, source] : copies_) destination.copy_(source);
  copies_.clear();
  auto steps = std::move(steps_);
  steps_.clear();
  for (auto& step : steps) step();
}

void Staging::release() {
  copies_.clear();
  steps_.clear();
  keep_.clear();
}

}  // namespace banyan::torch_backend
