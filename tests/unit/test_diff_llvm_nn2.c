/* test_diff_llvm_nn2.c: test_diff_nn2.c's differential cases with the LLVM
 * backend's host object in place of the emitted C (tu_diff_graph_llvm), as
 * test_diff_llvm.c does for test_diff.c: the cases are compiled a second
 * time with the suite renamed, so an op added there is covered here with
 * no second list to keep in sync. Replay a failure with
 * ETCH_SEED=N etch_tests --filter 'diff_nn2_llvm/CASE'.
 */
#define tu_diff_graph tu_diff_graph_llvm
#define diff_nn2 diff_nn2_llvm
#include "test_diff_nn2.c"
