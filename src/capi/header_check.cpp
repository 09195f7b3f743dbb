// Compiled by the build as C++ with -Werror -pedantic (src/capi/meson.build): include/banyan/banyan.h
// must be usable from C++, its declarations inside extern "C" (so the names are not mangled:
// checked by taking a function's address as a C-linkage function pointer type).
#include <banyan/banyan.h>

extern "C" {
using AllreduceFunction = banyan_status (*)(banyan_comm*, const void*, void*, size_t, banyan_dtype, banyan_op);
}

size_t banyanHeaderCheckCpp();

size_t banyanHeaderCheckCpp() {
  const AllreduceFunction allreduce = banyan_allreduce;
  (void)allreduce;
  return sizeof(BANYAN_VERSION);
}
