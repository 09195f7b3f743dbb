// The C point-to-point calls and groups (banyan.h, "Point-to-point", "Groups").

#include "capi/capi_call.hpp"

using banyan::capi::communicatorOf;
using banyan::capi::dataTypeOf;
using banyan::capi::guarded;
using banyan::capi::requireArgument;
using banyan::capi::startWork;

extern "C" {

banyan_status banyan_send(banyan_comm* comm, const void* data, size_t count, banyan_dtype dtype, int peer, int tag) {
  constexpr const char* f = "banyan_send";
  return guarded(f, [&] { communicatorOf(comm, f).send(data, count, dataTypeOf(dtype, f), peer, tag); });
}

banyan_status banyan_send_async(banyan_comm* comm, const void* data, size_t count, banyan_dtype dtype, int peer,
                                int tag, banyan_work** work) {
  constexpr const char* f = "banyan_send_async";
  return guarded(f, [&] {
    banyan::Communicator& c = communicatorOf(comm, f);
    requireArgument(work, f, "work");
    startWork(work, [&] { return c.sendAsync(data, count, dataTypeOf(dtype, f), peer, tag); });
  });
}

banyan_status banyan_recv(banyan_comm* comm, void* data, size_t count, banyan_dtype dtype, int peer, int tag,
                          int* source) {
  constexpr const char* f = "banyan_recv";
  return guarded(f, [&] {
    const int from = communicatorOf(comm, f).recv(data, count, dataTypeOf(dtype, f), peer, tag);
    if (source != nullptr) *source = from;
  });
}

banyan_status banyan_recv_async(banyan_comm* comm, void* data, size_t count, banyan_dtype dtype, int peer, int tag,
                                banyan_work** work) {
  constexpr const char* f = "banyan_recv_async";
  return guarded(f, [&] {
    banyan::Communicator& c = communicatorOf(comm, f);
    requireArgument(work, f, "work");
    startWork(work, [&] { return c.recvAsync(data, count, dataTypeOf(dtype, f), peer, tag); });
  });
}

banyan_status banyan_group_start(banyan_comm* comm) {
  return guarded("banyan_group_start", [&] { communicatorOf(comm, "banyan_group_start").groupStart(); });
}

banyan_status banyan_group_end(banyan_comm* comm, banyan_work** work) {
  constexpr const char* f = "banyan_group_end";
  return guarded(f, [&] {
    banyan::Communicator& c = communicatorOf(comm, f);
    requireArgument(work, f, "work");
    startWork(work, [&] { return c.groupEnd(); });
  });
}

}  // extern "C"
