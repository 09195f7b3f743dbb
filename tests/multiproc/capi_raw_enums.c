/* Calls of the C interface with values outside its enums, made from C as a C program would make
   them: in C an enum object holds any value of its integer type (C99 6.7.2.2), while C++ code that
   made such a value would itself be undefined (and UBSan says so). test_capi.cpp's bad-argument
   cases go through these. */
#include <banyan/banyan.h>

banyan_status capi_test_allreduce_with_dtype(banyan_comm* comm, float* data, size_t count, int dtype) {
  return banyan_allreduce(comm, data, data, count, (banyan_dtype)dtype, BANYAN_SUM);
}

banyan_status capi_test_reduce_scatter_with_op(banyan_comm* comm, float* data, size_t recv_count, int op) {
  return banyan_reduce_scatter(comm, data, data, recv_count, BANYAN_F32, (banyan_op)op);
}

const char* capi_test_status_name(int status) { return banyan_status_name((banyan_status)status); }

size_t capi_test_dtype_size(int dtype) { return banyan_dtype_size((banyan_dtype)dtype); }
