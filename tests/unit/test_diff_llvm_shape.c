/* test_diff_llvm_shape.c: test_diff_shape.c's differential cases with the LLVM
 * backend's host object in place of the emitted C (tu_diff_graph_llvm), as
 * test_diff_llvm.c does for test_diff.c: the cases are compiled a second
 * time with the suite renamed, so an op added there is covered here with
 * no second list to keep in sync. Replay a failure with
 * ETCH_SEED=N etch_tests --filter 'diff_shape_llvm/CASE'.
 */
#define tu_diff_graph tu_diff_graph_llvm
#define diff_shape diff_shape_llvm
#include "test_diff_shape.c"
