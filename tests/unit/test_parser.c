/* test_parser.c: the graph-language frontend (suite `parser`) and the IR
 * printer (suite `print`).
 *
 * Good programs are checked against the graph they must build; every error
 * rule against its diagnostic text and file:line:col; the printer by
 * dump -> parse -> dump being byte-identical and by floats surviving the
 * trip bit for bit (random data from a seeded PRNG; the seed is printed on
 * failure, ETCH_SEED reproduces it). Diagnostics are captured by pointing
 * ctx->err at an open_memstream.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/frontend.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

typedef struct {
    Ctx *c;
    Graph *g;
    char *diag; /* malloc'd diagnostics text */
} Parsed;

static Parsed parse_text(const char *path, const char *src)
{
    Parsed p = {.c = ctx_new()};
    size_t len;
    FILE *err = open_memstream(&p.diag, &len);
    cr_assert_not_null(err);
    p.c->err = err;
    p.g = fe_parse_string(p.c, path, src);
    fclose(err);
    p.c->err = stderr;
    return p;
}

static void parsed_free(Parsed *p)
{
    ctx_free(p->c);
    free(p->diag);
}

static Parsed parse_ok(const char *src)
{
    Parsed p = parse_text("t.etch", src);
    cr_assert_not_null(p.g, "parse failed:\n%s\nsource:\n%s", p.diag, src);
    cr_assert_eq(p.c->nerrors, 0, "%s", p.diag);
    return p;
}

/* Parses a program that must fail with one diagnostic at file:line:col
 * whose text contains `msg`. */
static void expect_error(const char *src, int line, int col, const char *msg)
{
    Parsed p = parse_text("e.etch", src);
    char where[64];
    snprintf(where, sizeof where, "e.etch:%d:%d: error: ", line, col);
    cr_assert_null(p.g, "expected an error for:\n%s", src);
    cr_assert_eq(p.c->nerrors, 1, "want exactly one error, got:\n%s", p.diag);
    cr_assert(strncmp(p.diag, where, strlen(where)) == 0, "want '%s...', got:\n%s", where, p.diag);
    cr_assert_not_null(strstr(p.diag, msg), "want '%s' in:\n%s", msg, p.diag);
    /* The caret line follows the message and the source line. */
    cr_assert_not_null(strstr(p.diag, "^\n"), "no caret in:\n%s", p.diag);
    parsed_free(&p);
}

static char *dump(const Graph *g)
{
    char *s;
    size_t len;
    FILE *f = open_memstream(&s, &len);
    ir_print_graph(f, g);
    fclose(f);
    return s;
}

static char *dump_dot(const Graph *g)
{
    char *s;
    size_t len;
    FILE *f = open_memstream(&s, &len);
    ir_print_dot(f, g);
    fclose(f);
    return s;
}

static int node_by_output(const Graph *g, const char *name)
{
    int v = ir_find_value(g, name);
    cr_assert_geq(v, 0, "no value '%s'", name);
    cr_assert_eq(ir_value(g, v)->kind, VK_NODE);
    return ir_value(g, v)->producer;
}

/* Checks that src parses, dumps, and the dump parses and dumps the same. */
static void expect_round_trip(const char *src)
{
    Parsed a = parse_ok(src);
    char *d1 = dump(a.g);
    Parsed b = parse_text("t.etch", d1);
    cr_assert_not_null(b.g, "dump does not parse back:\n%s\n%s", b.diag, d1);
    char *d2 = dump(b.g);
    cr_assert_str_eq(d1, d2, "dump -> parse -> dump differs");
    free(d1);
    free(d2);
    parsed_free(&a);
    parsed_free(&b);
}

static const char *mlp =
    "# a two-layer perceptron\n"
    "graph mlp {\n"
    "  input  x  : f32[1, 4]\n"
    "  const  w1 : f32[4, 3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5]\n"
    "  const  b1 : f32[3]    = [0.125, -0.5, 1e-3]\n"
    "  const  w2 : f32[3, 2] = [1, -1, 0.5, -0.5, 2, -2]\n"
    "  /* nested calls are sugar */\n"
    "  h = relu(gemm(x, w1, b1))\n"
    "  z : f32[1, 2] = gemm(h, w2, _, alpha = 0.5)\n"
    "  y = softmax(z, axis = 1)\n"
    "  output y\n"
    "}\n";

/* ------------------------------------------------------ good programs */

Test(parser, builds_the_graph)
{
    Parsed p = parse_ok(mlp);
    Graph *g = p.g;
    cr_assert_str_eq(g->name, "mlp");
    cr_assert_eq(g->ninputs, 1);
    cr_assert_str_eq(ir_value(g, g->inputs[0])->name, "x");
    int w1 = ir_find_value(g, "w1"), b1 = ir_find_value(g, "b1");
    cr_assert_eq(ir_value(g, w1)->kind, VK_CONST);
    cr_assert_eq(ir_value(g, w1)->type.rank, 2);
    cr_assert_eq(((float *)ir_value(g, w1)->data)[11], 12.5f);
    cr_assert_eq(((float *)ir_value(g, b1)->data)[1], -0.5f);
    cr_assert_eq(((float *)ir_value(g, b1)->data)[2], 1e-3f);
    cr_assert_eq(g->nnodes, 4);
    const int ops[] = {OP_GEMM, OP_RELU, OP_GEMM, OP_SOFTMAX};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ir_node(g, i)->op, ops[i], "node %d", i);
    /* The nested gemm feeds relu through a fresh t<N> value. */
    Node *inner = ir_node(g, 0);
    const char *tname = ir_value(g, inner->out[0])->name;
    cr_assert_eq(tname[0], 't');
    cr_assert_eq(ir_node(g, node_by_output(g, "h"))->in[0], inner->out[0]);
    cr_assert_eq(inner->loc.line, 8);
    cr_assert_eq(inner->loc.col, 12);
    /* `_` is an omitted input; attributes are set explicitly only. */
    Node *z = ir_node(g, node_by_output(g, "z"));
    cr_assert_eq(z->nin, 3);
    cr_assert_eq(z->in[2], -1);
    cr_assert(ir_attr_is_set(z, "alpha"));
    cr_assert_eq(ir_attr_float(z, "alpha"), 0.5);
    cr_assert(!ir_attr_is_set(z, "beta"));
    Node *y = ir_node(g, node_by_output(g, "y"));
    cr_assert_eq(ir_attr_int(y, "axis"), 1);
    cr_assert_eq(ir_value(g, y->out[0])->type.dims[1], 2);
    cr_assert_eq(g->noutputs, 1);
    cr_assert_eq(g->outputs[0], y->out[0]);
    parsed_free(&p);
}

Test(parser, literals_and_attributes)
{
    Parsed p = parse_ok(
        "graph lits {\n"
        "  input x : f32[2, 3]\n"
        "  const s : f32[] = [-inf]\n"
        "  const k : f32[5] = [inf, -0.0, 1e3, -2, .5]\n"
        "  const n : f32[1] = [nan]\n"
        "  const i : i64[2] = [-9000000000, 7]\n"
        "  const b : bool[2] = [0, 1]\n"
        "  a = clip(x, min = -inf, max = 6)\n"
        "  l = leaky_relu(a, alpha = 1e-3)\n"
        "  e = gelu(l, approximate = \"tanh\")\n"
        "  r = reshape(e, shape = [3, -1])\n"
        "  m = reduce_mean(r, axes = [], keepdims = 0)\n"
        "  q = pad(x, pads = [0, 1, 0, 1], mode = \"edge\")\n"
        "  output m, q\n"
        "}\n");
    Graph *g = p.g;
    cr_assert(isinf(*(float *)ir_value(g, ir_find_value(g, "s"))->data));
    cr_assert_eq(ir_value(g, ir_find_value(g, "s"))->type.rank, 0);
    const float *k = ir_value(g, ir_find_value(g, "k"))->data;
    cr_assert(isinf(k[0]) && k[0] > 0);
    cr_assert(k[1] == 0 && signbit(k[1]));
    cr_assert_eq(k[2], 1000.0f);
    cr_assert_eq(k[3], -2.0f);
    cr_assert_eq(k[4], 0.5f);
    cr_assert(isnan(*(float *)ir_value(g, ir_find_value(g, "n"))->data));
    const int64_t *i = ir_value(g, ir_find_value(g, "i"))->data;
    cr_assert_eq(i[0], -9000000000LL);
    cr_assert_eq(i[1], 7);
    Node *a = ir_node(g, node_by_output(g, "a"));
    cr_assert(isinf(ir_attr_float(a, "min")) && ir_attr_float(a, "min") < 0);
    cr_assert_eq(ir_attr_float(a, "max"), 6.0);
    cr_assert_eq(ir_attr_float(ir_node(g, node_by_output(g, "l")), "alpha"), 1e-3);
    cr_assert_str_eq(ir_attr_str(ir_node(g, node_by_output(g, "e")), "approximate"), "tanh");
    int n;
    const int64_t *shape = ir_attr_ints(ir_node(g, node_by_output(g, "r")), "shape", &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(shape[0], 3);
    cr_assert_eq(shape[1], -1);
    Node *m = ir_node(g, node_by_output(g, "m"));
    ir_attr_ints(m, "axes", &n);
    cr_assert_eq(n, 0);
    cr_assert(ir_attr_is_set(m, "axes"));
    cr_assert_eq(ir_value(g, m->out[0])->type.rank, 0);
    cr_assert_eq(ir_value(g, ir_find_value(g, "q"))->type.dims[1], 5);
    parsed_free(&p);
}

Test(parser, quantized_types)
{
    Parsed p = parse_ok(
        "graph q {\n"
        "  input x : i8[1, 4] {scale = 0.047, zero = -128}\n"
        "  const w : i8[2, 3] {scale = [0.5, 0.25], zero = 0, axis = 0} = [1, -2, 3, 127, -128, 0]\n"
        "  const v : u8[3] {scale = [1, 2, 4], zero = [1, 2, 3], axis = -1} = [0, 128, 255]\n"
        "  y : i8[1, 4] {scale = 0.5, zero = 3} = identity(x)\n"
        "  output y\n"
        "}\n");
    Graph *g = p.g;
    const Quant *qx = ir_value(g, ir_find_value(g, "x"))->type.quant;
    cr_assert_not_null(qx);
    cr_assert_eq(qx->axis, -1);
    cr_assert_eq(qx->n, 1);
    cr_assert_eq(qx->scale[0], 0.047f);
    cr_assert_eq(qx->zero[0], -128);
    const Quant *qw = ir_value(g, ir_find_value(g, "w"))->type.quant;
    cr_assert_eq(qw->axis, 0);
    cr_assert_eq(qw->n, 2);
    cr_assert_eq(qw->scale[1], 0.25f);
    cr_assert_eq(qw->nzero, 1);
    const int8_t *wd = ir_value(g, ir_find_value(g, "w"))->data;
    cr_assert_eq(wd[3], 127);
    cr_assert_eq(wd[4], -128);
    const Quant *qv = ir_value(g, ir_find_value(g, "v"))->type.quant;
    cr_assert_eq(qv->axis, 0);
    cr_assert_eq(qv->nzero, 3);
    cr_assert_eq(qv->zero[2], 3);
    cr_assert_eq(((uint8_t *)ir_value(g, ir_find_value(g, "v"))->data)[2], 255);
    /* The annotation's parameters win over the input's. */
    const Quant *qy = ir_value(g, ir_find_value(g, "y"))->type.quant;
    cr_assert_eq(qy->scale[0], 0.5f);
    cr_assert_eq(qy->zero[0], 3);
    parsed_free(&p);
}

Test(parser, keywords_are_contextual)
{
    Parsed p = parse_ok(
        "graph graph {\n"
        "  input input : f32[2]\n"
        "  const const : f32[2] = [1, 2]\n"
        "  output = add(input, const)\n"
        "  inf = neg(output)\n"
        "  output output, inf\n"
        "}\n");
    cr_assert_eq(p.g->noutputs, 2);
    cr_assert_str_eq(ir_value(p.g, p.g->outputs[1])->name, "inf");
    parsed_free(&p);
}

Test(parser, npy_consts_resolve_next_to_the_file)
{
    char *dir = tu_mkdtemp("parser");
    char *sub = tu_path(dir, "weights");
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *npy = tu_path(sub, "w.npy");
    float w[6] = {0.5f, -1.5f, 2.25f, 3, -4, 1e-7f};
    Type t = type_make(DT_F32, 2, (int64_t[]){2, 3});
    cr_assert(fe_write_npy(npy, &t, w));
    char *etch = tu_path(dir, "m.etch");
    const char *src = "graph m {\n"
                      "  input x : f32[2, 3]\n"
                      "  const w : f32[2, 3] = npy(\"weights/w.npy\")\n"
                      "  y = mul(x, w)\n"
                      "  output y\n"
                      "}\n";
    cr_assert(tu_write_file(etch, src, strlen(src)));
    Ctx *c = ctx_new();
    Graph *g = fe_load_model(c, etch, NULL);
    cr_assert_not_null(g);
    const Value *v = ir_value(g, ir_find_value(g, "w"));
    cr_assert_str_eq(v->npy, "weights/w.npy");
    cr_assert_eq(memcmp(v->data, w, sizeof w), 0);
    char *d = dump(g);
    cr_assert_not_null(strstr(d, "  const w : f32[2, 3] = npy(\"weights/w.npy\")\n"), "%s", d);
    free(d);
    ctx_free(c);
    tu_rmtree(dir);
    free(etch);
    free(npy);
    free(sub);
    free(dir);
}

Test(parser, load_model_by_extension)
{
    Ctx *c = ctx_new();
    FILE *err = tmpfile();
    c->err = err;
    cr_assert_null(fe_load_model(c, "model.tflite", NULL));
    cr_assert_null(fe_load_model(c, "/nonexistent/m.etch", NULL));
    cr_assert_eq(c->nerrors, 2);
    rewind(err);
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, err);
    buf[n] = 0;
    cr_assert_not_null(strstr(buf, "model.tflite: error: unknown model file extension '.tflite'"),
                       "%s", buf);
    cr_assert_not_null(strstr(buf, "/nonexistent/m.etch: error: cannot open: "), "%s", buf);
    fclose(err);
    ctx_free(c);
}

/* ------------------------------------------------------- error rules */

Test(parser, error_undefined_name)
{
    expect_error("graph g {\n  input x : f32[2]\n  y = relu(xx)\n  output y\n}\n", 3, 12,
                 "'xx' is not defined");
    expect_error("graph g {\n  input x : f32[2]\n  output z\n}\n", 3, 10, "'z' is not defined");
}

Test(parser, error_unknown_op)
{
    expect_error("graph g {\n  input x : f32[2]\n  y = rleu(x)\n  output y\n}\n", 3, 7,
                 "unknown op 'rleu'; did you mean 'relu'?");
    expect_error("graph g {\n  input x : f32[2]\n  y = frobnicate(x)\n  output y\n}\n", 3, 7,
                 "unknown op 'frobnicate' (known ops: conv, gemm, matmul");
}

Test(parser, error_wrong_arity)
{
    expect_error("graph g {\n  input x : f32[2]\n  y = add(x)\n  output y\n}\n", 3, 7,
                 "add takes 2 inputs, got 1");
    expect_error("graph g {\n  input x : f32[2]\n  a, b = relu(x)\n  output a\n}\n", 3, 10,
                 "relu has 1 output, but 2 are named");
}

Test(parser, error_shape_mismatch)
{
    expect_error("graph g {\n  input a : f32[2, 3]\n  input b : f32[4]\n  y = add(a, b)\n"
                 "  output y\n}\n",
                 4, 7, "node 'y' (add)");
}

Test(parser, error_bad_literals)
{
    expect_error("graph g {\n  const c : f32[2] = [1.5, 1.2.3]\n  output c\n}\n", 2, 28,
                 "invalid number literal '1.2.3'");
    expect_error("graph g {\n  const c : f32[12abc] = [1]\n  output c\n}\n", 2, 17,
                 "invalid number literal '12abc'");
    expect_error("graph g {\n  const c : i32[1] = [99999999999999999999]\n  output c\n}\n", 2,
                 23, "integer literal '99999999999999999999' is out of range");
    expect_error("graph g {\n  input x : f32[2]\n  y = relu(@x)\n  output y\n}\n", 3, 12,
                 "unexpected character '@'");
    expect_error("graph g {\n  input x : f32[2]\n  y = clip(x, min = foo)\n  output y\n}\n", 3,
                 21, "expected a number, got 'foo'");
}

Test(parser, error_unterminated_comment_and_string)
{
    expect_error("graph g {\n  input x : f32[2]\n\t/* open\n  comment\n  output x\n}\n", 3, 2,
                 "unterminated block comment");
    expect_error("graph g {\n  const c : f32[1] = npy(\"c.npy)\n  output c\n}\n", 2, 26,
                 "unterminated string");
    expect_error("graph g {\n  input x : f32[2]\n  y = gelu(x, approximate = \"a\\q\")\n"
                 "  output y\n}\n",
                 3, 29, "invalid escape '\\q' in string");
}

Test(parser, error_types)
{
    expect_error("graph g {\n  input x : f16[2]\n  output x\n}\n", 2, 13,
                 "unknown dtype 'f16' (known: f32, i8");
    expect_error("graph g {\n  input x : f32[1, 2, 3, 4, 5, 6, 7, 8, 9]\n  output x\n}\n", 2, 41,
                 "the maximum rank is 8");
    expect_error("graph g {\n  input x : i8[4] {scale = [0.5, 1]}\n  output x\n}\n", 2, 20,
                 "a list of scales needs an int `axis`");
    expect_error("graph g {\n  input x : i8[4] {scale = [0.5, 1], axis = 0}\n  output x\n}\n", 2,
                 20, "2 scales for axis 0 of i8[4], which has 4 entries");
    expect_error("graph g {\n  input x : f32[4] {scale = 0.5}\n  output x\n}\n", 2, 20,
                 "quantization parameters on float type f32[4]");
    expect_error("graph g {\n  input x : i8[4] {scale = 0.5, bits = 8}\n  output x\n}\n", 2, 33,
                 "unknown quantization parameter 'bits'");
}

Test(parser, error_const_data)
{
    expect_error("graph g {\n  const b : f32[4] = [0.5, 1, 2]\n  output b\n}\n", 2, 22,
                 "const 'b' has 3 values, but f32[4] has 4 elements");
    expect_error("graph g {\n  const k : i8[3] = [1, 2.5, 3]\n  output k\n}\n", 2, 25,
                 "const 'k' is i8, but 2.5 is not an integer");
    expect_error("graph g {\n  const k : i8[2] = [1, 300]\n  output k\n}\n", 2, 25,
                 "value 300 is out of range for i8");
    expect_error("graph g {\n  const k : f32[2]\n  output k\n}\n", 2, 9, "const 'k' needs data");
    expect_error("graph g {\n  input k : f32[1] = [1]\n  output k\n}\n", 2, 22,
                 "input 'k' cannot have data");
    expect_error("graph g {\n  inptu k : f32[1]\n  output k\n}\n", 2, 3,
                 "expected 'input' or 'const', got 'inptu'");
    expect_error("graph g {\n  const k : f32[1] = nyp(\"k.npy\")\n  output k\n}\n", 2, 22,
                 "expected 'npy', got 'nyp'");
}

Test(parser, error_npy_files)
{
    expect_error("graph g {\n  const w : f32[3] = npy(\"/nonexistent/w.npy\")\n  output w\n}\n",
                 2, 26, "cannot open '/nonexistent/w.npy': No such file or directory");
    char *dir = tu_mkdtemp("parser");
    char *npy = tu_path(dir, "w.npy");
    int32_t w[3] = {1, -2, 3};
    Type t = type_make(DT_I32, 1, (int64_t[]){3});
    cr_assert(fe_write_npy(npy, &t, w));
    char src[512];
    snprintf(src, sizeof src, "graph g {\n  const w : f32[3] = npy(\"%s\")\n  output w\n}\n", npy);
    char msg[512];
    snprintf(msg, sizeof msg, "'%s' holds i32[3], but const 'w' is declared f32[3]", npy);
    expect_error(src, 2, 26, msg);
    snprintf(src, sizeof src, "graph g {\n  const w : i32[1, 3] = npy(\"%s\")\n  output w\n}\n", npy);
    expect_error(src, 2, 29, "holds i32[3], but const 'w' is declared i32[1, 3]");
    tu_rmtree(dir);
    free(npy);
    free(dir);
}

Test(parser, error_duplicate_names)
{
    expect_error("graph g {\n  input x : f32[2]\n  input x : f32[3]\n  output x\n}\n", 3, 9,
                 "'x' is already defined");
    expect_error("graph g {\n  input x : f32[2]\n  y = relu(x)\n  y = neg(x)\n  output y\n}\n", 4,
                 3, "'y' is already defined");
    expect_error("graph g {\n  input x : f32[2]\n  const x : f32[1] = [1]\n  output x\n}\n", 3, 9,
                 "'x' is already defined");
    expect_error("graph g {\n  input x : f32[2]\n  y = clip(x, min = 0, min = 1)\n  output y\n}\n",
                 3, 24, "attribute 'min' is given twice");
    expect_error("graph g {\n  input x : f32[2]\n  output x, x\n}\n", 3, 13,
                 "'x' is already an output");
}

Test(parser, error_annotation_mismatch)
{
    expect_error("graph g {\n  input x : f32[1, 4]\n  const w : f32[4, 2] = [1, 2, 3, 4, 5, 6, 7, 8]\n"
                 "  y : f32[1, 3] = matmul(x, w)\n  output y\n}\n",
                 4, 7, "node 'y' (matmul): 'y' is annotated f32[1, 3], but its inferred type is f32[1, 2]");
}

Test(parser, error_attributes)
{
    expect_error("graph g {\n  input x : f32[2, 3]\n  y = softmax(x, axes = 1)\n  output y\n}\n", 3,
                 18, "softmax has no attribute 'axes' (it has: axis)");
    expect_error("graph g {\n  input x : f32[2, 3]\n  y = softmax(x, axis = 1.5)\n  output y\n}\n",
                 3, 18, "attribute 'axis' of softmax must be an int, not a float");
    expect_error("graph g {\n  input x : f32[2, 3]\n  y = reshape(x, shape = [1.5])\n  output y\n}\n",
                 3, 18, "must be a list of ints, not a list of floats");
    expect_error("graph g {\n  input x : f32[2, 3]\n  y = softmax(axis = 1, x)\n  output y\n}\n", 3,
                 25, "input after an attribute");
    expect_error("graph g {\n  input x : f32[2, 3]\n  y = reshape(x)\n  output y\n}\n", 3, 7,
                 "attribute 'shape' is required");
}

Test(parser, error_structure)
{
    expect_error("graph g {\n  input x : f32[2]\n  y = relu(x)\n}\n", 4, 1,
                 "graph 'g' has no output");
    expect_error("graph g {\n  input x : f32[2]\n  y = relu(x\n  output y\n}\n", 4, 3,
                 "syntax error, unexpected identifier, expecting ',' or ')'");
    expect_error("", 1, 1, "syntax error, unexpected end of file");
    expect_error("graph g {\n  input x : f32[2]\n  output x\n}\n}\n", 5, 1,
                 "syntax error, unexpected '}', expecting end of file");
    expect_error("network g {\n  input x : f32[2]\n  output x\n}\n", 1, 1,
                 "expected 'graph', got 'network'");
}

/* ---------------------------------------------------------- printing */

Test(print, dump_format)
{
    Parsed p = parse_ok(mlp);
    char *d = dump(p.g);
    const char *want =
        "graph mlp {\n"
        "  input x : f32[1, 4]\n"
        "  const w1 : f32[4, 3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5]\n"
        "  const b1 : f32[3] = [0.125, -0.5, 0.001]\n"
        "  const w2 : f32[3, 2] = [1, -1, 0.5, -0.5, 2, -2]\n"
        "  t4 : f32[1, 3] = gemm(x, w1, b1)\n"
        "  h : f32[1, 3] = relu(t4)\n"
        "  z : f32[1, 2] = gemm(h, w2, _, alpha = 0.5)\n"
        "  y : f32[1, 2] = softmax(z, axis = 1)\n"
        "  output y\n"
        "}\n";
    cr_assert_str_eq(d, want);
    free(d);
    parsed_free(&p);
}

Test(print, round_trips)
{
    expect_round_trip(mlp);
    expect_round_trip(
        "graph q {\n"
        "  input x : i8[1, 4] {scale = 0.047, zero = -128}\n"
        "  const w : i8[2, 3] {scale = [0.5, 0.25], zero = 0, axis = 0} = [1, -2, 3, 127, -128, 0]\n"
        "  const v : u8[3] {scale = [1, 2, 4], zero = [1, 2, 3], axis = 0} = [0, 128, 255]\n"
        "  const i : i64[2] = [-9000000000, 7]\n"
        "  const s : i16[] = [-300]\n"
        "  const b : bool[2] = [1, 0]\n"
        "  y : i8[1, 4] {scale = 0.5, zero = 3} = identity(relu(x))\n"
        "  output y, w, v, i, s, b\n"
        "}\n");
    expect_round_trip(
        "graph attrs {\n"
        "  input x : f32[1, 2, 6, 6]\n"
        "  const w : f32[2, 1, 1, 1] = [0.5, -0.25]\n"
        "  a = clip(x, min = -inf, max = 6)\n"
        "  b = leaky_relu(a, alpha = 0.1)\n"
        "  c = gelu(b, approximate = \"tanh\")\n"
        "  d = conv(c, w, _, group = 2, strides = [2, 2], pads = [0, 0, 1, 1], auto_pad = \"NOTSET\")\n"
        "  e = max_pool(d, kernel_shape = [2, 2], ceil_mode = 1)\n"
        "  f = reduce_sum(e, axes = [], keepdims = 0, noop_with_empty_axes = 0)\n"
        "  g = pad(x, pads = [0, 0, 1, 1, 0, 0, 1, 1], mode = \"reflect\", value = 0.3333333333333333)\n"
        "  output f, g\n"
        "}\n");
}

Test(print, round_trip_after_sugar)
{
    /* Deeply nested calls and consts declared after inputs in any order. */
    expect_round_trip(
        "graph nest {\n"
        "  const k : f32[3] = [1, 2, 3]\n"
        "  input x : f32[2, 3]\n"
        "  y = neg(abs(sub(mul(add(x, k), k), exp(log(sqrt(abs(x)))))))\n"
        "  output y\n"
        "}\n");
}

Test(print, floats_round_trip_bit_exact)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    enum { N = 64 };
    float v[N];
    for (int i = 0; i < N; i++) {
        /* Spread over many magnitudes, with a few specials. */
        float m = tu_rng_float(&r, -1, 1);
        v[i] = m * powf(10.0f, (float)tu_rng_int(&r, -40, 38));
    }
    v[0] = 0.1f;
    v[1] = -0.0f;
    v[2] = 1.0f / 3.0f;
    v[3] = 16777217.0f;
    v[4] = 1e-45f; /* the smallest subnormal */
    v[5] = 3.4028235e38f;
    TuStr src = {0};
    tu_str_printf(&src, "graph f {\n  const c : f32[%d] = [", N);
    for (int i = 0; i < N; i++)
        tu_str_printf(&src, "%s%.9g", i ? ", " : "", (double)v[i]);
    tu_str_printf(&src, "]\n  input x : f32[1]\n  y = clip(x, min = %.17g, max = %.17g)\n"
                        "  output y, c\n}\n", 1.0 / 3.0, 1 + tu_rng_float(&r, 0, 1));
    Parsed a = parse_ok(src.s);
    char *d1 = dump(a.g);
    Parsed b = parse_text("t.etch", d1);
    cr_assert_not_null(b.g, "seed %llu: %s\n%s", (unsigned long long)seed, b.diag, d1);
    const float *got = ir_value(b.g, ir_find_value(b.g, "c"))->data;
    for (int i = 0; i < N; i++)
        cr_assert_eq(memcmp(&got[i], &v[i], 4), 0, "seed %llu: element %d: %.9g became %.9g",
                     (unsigned long long)seed, i, (double)v[i], (double)got[i]);
    const Node *ya = ir_node(a.g, node_by_output(a.g, "y"));
    const Node *yb = ir_node(b.g, node_by_output(b.g, "y"));
    cr_assert_eq(ir_attr_float(ya, "min"), ir_attr_float(yb, "min"));
    cr_assert_eq(ir_attr_float(ya, "max"), ir_attr_float(yb, "max"), "seed %llu",
                 (unsigned long long)seed);
    /* Shortest form: 0.1f prints as 0.1, not 0.100000001. */
    cr_assert_not_null(strstr(d1, "= [0.1, -0, 0.33333334, 16777216, 1.4013e-45, 3.4028235e+38"),
                       "%s", d1);
    char *d2 = dump(b.g);
    cr_assert_str_eq(d1, d2);
    free(d1);
    free(d2);
    free(src.s);
    parsed_free(&a);
    parsed_free(&b);
}

Test(print, dot_output)
{
    Parsed p = parse_ok(mlp);
    char *d = dump_dot(p.g);
    cr_assert(strncmp(d, "digraph \"mlp\" {\n", 16) == 0, "%s", d);
    cr_assert_not_null(strstr(d, "  v0 [shape=invhouse, label=\"x\\ninput f32[1, 4]\"];\n"), "%s", d);
    cr_assert_not_null(strstr(d, "  v1 [shape=cylinder, label=\"w1\\nconst f32[4, 3]\"];\n"), "%s", d);
    cr_assert_not_null(strstr(d, "  n0 [shape=box, style=rounded, label=\"gemm\\nt4\"];\n"), "%s", d);
    cr_assert_not_null(strstr(d, "  v0 -> n0 [label=\"f32[1, 4]\"];\n"), "%s", d);
    cr_assert_not_null(strstr(d, "  n0 -> n1 [label=\"f32[1, 3]\"];\n"), "%s", d);
    cr_assert_not_null(strstr(d, "  o0 [shape=house, label=\"output y\"];\n  n3 -> o0 [label=\"f32[1, 2]\"];\n"),
                       "%s", d);
    /* The omitted bias of z has no edge. */
    cr_assert_null(strstr(d, "-> n2 [label=\"f32[3]\"]"), "%s", d);
    cr_assert(strcmp(d + strlen(d) - 2, "}\n") == 0);
    free(d);
    parsed_free(&p);
}
