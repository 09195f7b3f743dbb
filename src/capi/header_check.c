/* Compiled by the build with -std=c99 -Wall -Wextra -Werror -pedantic (src/capi/meson.build):
 * fails the build if include/banyan/banyan.h is not clean C99. The function uses a few
 * declarations so that the compiler checks them, not only parses them. */
#include <banyan/banyan.h>

size_t banyan_header_check_c(void);

size_t banyan_header_check_c(void) {
  banyan_status (*allreduce)(banyan_comm*, const void*, void*, size_t, banyan_dtype, banyan_op) = banyan_allreduce;
  (void)allreduce;
  return sizeof(BANYAN_VERSION) + (size_t)BANYAN_ERR_UNAUTHENTICATED;
}
