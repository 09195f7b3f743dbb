/* The smallest complete banyan program in C: every rank contributes its rank number, and every
 * rank ends with the sum. Run it with any launcher banyan understands, for example
 *   torchrun-style: RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 ./allreduce_c_example &
 *                   RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 ./allreduce_c_example
 *   or banyan's local launcher: python3 -m banyan.run -n 4 ./allreduce_c_example
 * Build outside the tree with:  cc -std=c99 allreduce.c $(pkg-config --cflags --libs banyan)
 * Exit status: 0 when the sum is right, 1 when it is wrong, 2 when a banyan call failed. */
#include <banyan/banyan.h>

#include <stdio.h>

#define COUNT 1024

/* Prints the failed call's message (banyan_last_error() is this thread's latest failure). */
static int failed(const char* what, banyan_status status) {
  fprintf(stderr, "%s failed (%s): %s\n", what, banyan_status_name(status), banyan_last_error());
  return 2;
}

int main(void) {
  static float values[COUNT];
  banyan_comm* comm = NULL;
  banyan_status status = banyan_comm_from_env(&comm);
  int rank = 0;
  int size = 0;
  int i = 0;
  int wrong = 0;
  float expected = 0;
  if (status != BANYAN_OK) return failed("banyan_comm_from_env", status);
  banyan_comm_rank(comm, &rank);
  banyan_comm_size(comm, &size);
  for (i = 0; i < COUNT; ++i) values[i] = (float)rank;

  /* In place: the same buffer as input and output. */
  status = banyan_allreduce(comm, values, values, COUNT, BANYAN_F32, BANYAN_SUM);
  if (status != BANYAN_OK) {
    banyan_comm_destroy(comm);
    return failed("banyan_allreduce", status);
  }
  expected = (float)(size * (size - 1) / 2);
  for (i = 0; i < COUNT; ++i) wrong += values[i] != expected;
  printf("rank %d of %d: sum %.0f (expected %.0f)\n", rank, size, values[0], expected);

  status = banyan_comm_destroy(comm);
  if (status != BANYAN_OK) return failed("banyan_comm_destroy", status);
  return wrong == 0 ? 0 : 1;
}
