/* test_diff_scalar.c: test_diff.c's differential cases (every op, random
 * shapes, attributes and data) lowered for the `generic` target, which has
 * no vector unit: the layout pass transposes constant gemm weights and
 * gemm and conv take their register-blocked dot forms (the forms Cortex-M
 * builds get). Interpreter vs loop_eval vs the emitted C, as in test_diff.c;
 * the cases are compiled a second time with the suite renamed. Replay a
 * failure with ETCH_SEED=N etch_tests --filter 'diff_scalar/OP'.
 */
#define tu_diff_graph tu_diff_graph_scalar
#define diff diff_scalar
#include "test_diff.c"
