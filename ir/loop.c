/* loop.c: Loop IR construction and its printer.
 *
 * A Program is a list of buffers and a list of kernels run in order. A
 * kernel is a block of statements: static for-loops, ifs, stores to
 * buffers and assignments to kernel-local scalars. Expressions are trees,
 * immutable once built and freely shared. Index expressions are integer
 * (DT_INDEX) and affine in the loop variables for everything lowering makes;
 * ex_bin folds integer constants so indices stay small and readable.
 */
#include "ir.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static const char *unop_names[] = {
#define X(id, s) s,
    ETCH_UNOPS(X)
#undef X
};
static const char *binop_names[] = {
#define X(id, s) s,
    ETCH_BINOPS(X)
#undef X
};

const char *unop_name(UnOp op) { return unop_names[op]; }
const char *binop_name(BinOp op) { return binop_names[op]; }

Program *loop_new_program(Arena *a, const char *name)
{
    Program *p = arena_alloc(a, sizeof *p);
    p->arena = a;
    p->name = arena_strdup(a, name);
    return p;
}

int loop_add_buffer(Program *p, const char *name, BufKind kind, DType dt, int64_t numel)
{
    int id = p->nbufs;
    Buffer *b = &VEC_PUSH(p->arena, p->bufs, p->nbufs, p->capbufs);
    memset(b, 0, sizeof *b);
    b->name = arena_strdup(p->arena, name);
    b->kind = kind;
    b->dtype = dt;
    b->numel = numel;
    b->value = -1;
    b->index = -1;
    return id;
}

Kernel *loop_new_kernel(Program *p, const char *name, const char *comment, int node)
{
    Kernel *k = &VEC_PUSH(p->arena, p->kernels, p->nkernels, p->capkernels);
    memset(k, 0, sizeof *k);
    k->name = arena_strdup(p->arena, name);
    k->comment = comment ? arena_strdup(p->arena, comment) : NULL;
    k->node = node;
    k->body = st_block(p);
    k->inplace_in = k->inplace_out = -1;
    return k;
}

int loop_new_var(Kernel *k)
{
    return k->nvars++;
}

int loop_new_local(Program *p, Kernel *k, DType dt, const char *name)
{
    int id = k->nlocals;
    Local *l = &VEC_PUSH(p->arena, k->locals, k->nlocals, k->caplocals);
    l->dtype = dt;
    l->name = arena_strdup(p->arena, name);
    l->lanes = 1;
    return id;
}

static bool valid_lanes(int lanes)
{
    return lanes >= 1 && lanes <= ETCH_MAX_LANES && (lanes & (lanes - 1)) == 0;
}

int loop_new_vlocal(Program *p, Kernel *k, const char *name, int lanes)
{
    if (!valid_lanes(lanes))
        unreachable("a vector local of a bad width");
    int id = loop_new_local(p, k, DT_F32, name);
    k->locals[id].lanes = lanes;
    return id;
}

/* ------------------------------------------------------------ expressions */

static Expr *new_expr(Program *p, ExprKind kind, DType dt)
{
    Expr *e = arena_alloc(p->arena, sizeof *e);
    e->kind = kind;
    e->dtype = dt;
    e->lanes = 1;
    return e;
}

Expr *ex_int_t(Program *p, DType dt, int64_t v)
{
    Expr *e = new_expr(p, EX_INT, dt);
    e->i = v;
    return e;
}

Expr *ex_int(Program *p, int64_t v) { return ex_int_t(p, DT_INDEX, v); }

Expr *ex_flt(Program *p, double v)
{
    Expr *e = new_expr(p, EX_FLT, DT_F32);
    e->f = v;
    return e;
}

Expr *ex_var(Program *p, int var)
{
    Expr *e = new_expr(p, EX_VAR, DT_INDEX);
    e->var = var;
    return e;
}

Expr *ex_local(Program *p, const Kernel *k, int local)
{
    Expr *e = new_expr(p, EX_LOCAL, k->locals[local].dtype);
    e->local = local;
    e->lanes = k->locals[local].lanes;
    return e;
}

Expr *ex_load(Program *p, int buf, Expr *idx)
{
    Expr *e = new_expr(p, EX_LOAD, p->bufs[buf].dtype);
    e->buf = buf;
    e->a = idx;
    return e;
}

Expr *ex_dot4(Program *p, Expr *a, Expr *b, Expr *acc)
{
    assert(a->kind == EX_LOAD && b->kind == EX_LOAD && a->dtype == DT_I8 && b->dtype == DT_I8);
    assert(acc->dtype == DT_I32);
    Expr *e = new_expr(p, EX_DOT4, DT_I32);
    e->a = a;
    e->b = b;
    e->c = acc;
    return e;
}

Expr *ex_qfast4(Program *p, const QFast *q, Expr *a, Expr *b)
{
    assert(a->kind == EX_LOAD && b->kind == EX_LOAD && a->dtype == DT_I8 && b->dtype == DT_I8);
    Expr *e = new_expr(p, EX_QFAST4, DT_I8);
    QFast *copy = arena_alloc(p->arena, sizeof *copy);
    *copy = *q;
    e->lanes = 4;
    e->q = copy;
    e->a = a;
    e->b = b;
    return e;
}

Expr *ex_qfast4_one(Program *p, const QFast *q, Expr *a, Expr *b, Expr *c, int k)
{
    assert(b->lanes == 1 && b->dtype == DT_I32 && k >= 1 && k <= 4);
    assert(k == 4 ? !c : c->lanes == 1 && c->dtype == DT_I32);
    Expr *e = ex_qfast4(p, q, a, a);
    e->i = k;
    e->b = b;
    e->c = c;
    return e;
}

Expr *ex_un(Program *p, UnOp op, Expr *a)
{
    if (a->lanes > 1)
        unreachable("a unary op on a vector");
    Expr *e = new_expr(p, EX_UN, op == UN_NOT || op == UN_ISNAN ? DT_BOOL : a->dtype);
    e->op = op;
    e->a = a;
    return e;
}

static bool is_int_const(const Expr *e, int64_t v)
{
    return e->kind == EX_INT && e->i == v;
}

Expr *ex_bin(Program *p, BinOp op, Expr *a, Expr *b)
{
    bool integral = !dtype_is_float(a->dtype);
    if (integral && a->kind == EX_INT && b->kind == EX_INT) {
        switch (op) {
        case BIN_ADD: return ex_int_t(p, a->dtype, a->i + b->i);
        case BIN_SUB: return ex_int_t(p, a->dtype, a->i - b->i);
        case BIN_MUL: return ex_int_t(p, a->dtype, a->i * b->i);
        case BIN_MIN: return ex_int_t(p, a->dtype, a->i < b->i ? a->i : b->i);
        case BIN_MAX: return ex_int_t(p, a->dtype, a->i > b->i ? a->i : b->i);
        default: break;
        }
    }
    if (integral) {
        if (op == BIN_ADD && is_int_const(a, 0)) return b;
        if ((op == BIN_ADD || op == BIN_SUB) && is_int_const(b, 0)) return a;
        if (op == BIN_MUL && (is_int_const(a, 0) || is_int_const(b, 1))) return a;
        if (op == BIN_MUL && (is_int_const(b, 0) || is_int_const(a, 1))) return b;
        if (op == BIN_DIV && is_int_const(b, 1)) return a;
    }
    bool cmp = op >= BIN_LT && op <= BIN_OR;
    if (a->lanes != b->lanes || (a->lanes > 1 && (cmp || op == BIN_MOD || op == BIN_POW ||
                                                   op == BIN_SHL || op == BIN_SHR)))
        unreachable("a vector binary op that is not lane by lane");
    Expr *e = new_expr(p, EX_BIN, cmp ? DT_BOOL : a->dtype);
    e->op = op;
    e->a = a;
    e->b = b;
    e->lanes = a->lanes;
    return e;
}

Expr *ex_select(Program *p, Expr *cond, Expr *a, Expr *b)
{
    if (cond->lanes > 1 || a->lanes > 1 || b->lanes > 1)
        unreachable("a select on vectors");
    Expr *e = new_expr(p, EX_SELECT, a->dtype);
    e->c = cond;
    e->a = a;
    e->b = b;
    return e;
}

Expr *ex_cast(Program *p, DType dt, Expr *a)
{
    if (a->lanes > 1 && a->dtype != dt)
        unreachable("a cast of a vector");
    if (a->dtype == dt)
        return a;
    if (a->kind == EX_INT && !dtype_is_float(dt))
        return ex_int_t(p, dt, a->i);
    Expr *e = new_expr(p, EX_CAST, dt);
    e->a = a;
    return e;
}

Expr *ex_bitcast(Program *p, DType dt, Expr *a)
{
    if (a->lanes > 1 || !((a->dtype == DT_F32 && dt == DT_I32) ||
                          (a->dtype == DT_I32 && dt == DT_F32)))
        unreachable("a bitcast other than scalar f32 <-> i32");
    Expr *e = new_expr(p, EX_BITCAST, dt);
    e->a = a;
    return e;
}

Expr *ex_vload(Program *p, int buf, Expr *idx, int lanes)
{
    if (!valid_lanes(lanes) || p->bufs[buf].dtype != DT_F32)
        unreachable("a vector load of a bad width or dtype");
    Expr *e = ex_load(p, buf, idx);
    e->lanes = lanes;
    return e;
}

Expr *ex_bcast(Program *p, Expr *a, int lanes)
{
    if (lanes == 1)
        return a;
    if (!valid_lanes(lanes) || a->lanes != 1 || a->dtype != DT_F32)
        unreachable("a broadcast of a bad width or operand");
    Expr *e = new_expr(p, EX_BCAST, DT_F32);
    e->a = a;
    e->lanes = lanes;
    return e;
}

Expr *ex_lane(Program *p, Expr *v, int i)
{
    if (v->lanes == 1 && i == 0)
        return v;
    if (i < 0 || i >= v->lanes)
        unreachable("a lane outside its vector");
    Expr *e = new_expr(p, EX_LANE, DT_F32);
    e->a = v;
    e->i = i;
    return e;
}

Expr *ex_muladd(Program *p, Expr *a, Expr *b, Expr *c)
{
    if (a->lanes != b->lanes || a->lanes != c->lanes || a->dtype != DT_F32 ||
        b->dtype != DT_F32 || c->dtype != DT_F32)
        unreachable("a multiply-add of mixed widths or dtypes");
    Expr *e = new_expr(p, EX_MULADD, DT_F32);
    e->a = a;
    e->b = b;
    e->c = c;
    e->lanes = a->lanes;
    return e;
}

Expr *ex_vshift(Program *p, Expr *a, int n)
{
    if (n == 0)
        return a;
    if (a->lanes < 2 || n <= -a->lanes || n >= a->lanes)
        unreachable("a lane shift of a scalar or by a whole vector");
    Expr *e = new_expr(p, EX_SHIFT, DT_F32);
    e->a = a;
    e->i = n;
    e->lanes = a->lanes;
    return e;
}

Expr *ex_vunzip(Program *p, Expr *a, Expr *b, int phase)
{
    if (a->lanes < 2 || a->lanes != b->lanes || a->dtype != DT_F32 || b->dtype != DT_F32 ||
        (phase != 0 && phase != 1))
        unreachable("an unzip of scalars, of mixed widths or of a bad phase");
    Expr *e = new_expr(p, EX_UNZIP, DT_F32);
    e->a = a;
    e->b = b;
    e->i = phase;
    e->lanes = a->lanes;
    return e;
}

Expr *ex_add(Program *p, Expr *a, Expr *b) { return ex_bin(p, BIN_ADD, a, b); }
Expr *ex_mul(Program *p, Expr *a, Expr *b) { return ex_bin(p, BIN_MUL, a, b); }
Expr *ex_muli(Program *p, Expr *a, int64_t k) { return ex_bin(p, BIN_MUL, a, ex_int(p, k)); }

/* ------------------------------------------------------------- statements */

static Stmt *new_stmt(Program *p, StmtKind kind)
{
    Stmt *s = arena_alloc(p->arena, sizeof *s);
    s->kind = kind;
    return s;
}

Stmt *st_block(Program *p) { return new_stmt(p, ST_BLOCK); }

void st_append(Program *p, Stmt *block, Stmt *s)
{
    if (block->kind != ST_BLOCK)
        unreachable("st_append to a non-block");
    VEC_PUSH(p->arena, block->items, block->n, block->cap) = s;
}

Stmt *st_for(Program *p, int var, Expr *lo, Expr *hi, int64_t step, unsigned flags)
{
    Stmt *s = new_stmt(p, ST_FOR);
    s->var = var;
    s->lo = lo;
    s->hi = hi;
    s->step = step;
    s->flags = flags;
    s->body = st_block(p);
    return s;
}

Stmt *st_for_n(Program *p, int var, int64_t n, unsigned flags)
{
    return st_for(p, var, ex_int(p, 0), ex_int(p, n), 1, flags);
}

Stmt *st_if(Program *p, Expr *cond, Stmt *then, Stmt *els)
{
    Stmt *s = new_stmt(p, ST_IF);
    s->cond = cond;
    s->then = then;
    s->els = els;
    return s;
}

Stmt *st_store(Program *p, int buf, Expr *idx, Expr *val)
{
    Stmt *s = new_stmt(p, ST_STORE);
    s->buf = buf;
    s->idx = idx;
    s->val = val;
    return s;
}

Stmt *st_set(Program *p, int local, Expr *val)
{
    Stmt *s = new_stmt(p, ST_SET);
    s->local = local;
    s->val = val;
    return s;
}

/* ---------------------------------------------------------------- printer */

static int binop_prec(int op)
{
    switch (op) {
    case BIN_OR: return 1;
    case BIN_AND: return 2;
    case BIN_EQ: case BIN_NE: return 3;
    case BIN_LT: case BIN_LE: case BIN_GT: case BIN_GE: return 4;
    case BIN_SHL: case BIN_SHR: return 5;
    case BIN_ADD: case BIN_SUB: return 6;
    case BIN_MUL: case BIN_DIV: case BIN_MOD: return 7;
    default: return 10; /* min, max, pow print as calls */
    }
}

static void print_expr(FILE *f, const Program *p, const Kernel *k, const Expr *e, int prec);

static void print_operand(FILE *f, const Program *p, const Kernel *k, const Expr *e, int prec)
{
    bool paren = e->kind == EX_BIN && binop_prec(e->op) < prec;
    if (e->kind == EX_SELECT && prec > 0)
        paren = true;
    if (paren)
        fputc('(', f);
    print_expr(f, p, k, e, paren ? 0 : prec);
    if (paren)
        fputc(')', f);
}

/* "name(a, b, ..." for e's first n operands, without the closing paren. */
static void print_call(FILE *f, const Program *p, const Kernel *k, const char *name, const Expr *e, int n)
{
    const Expr *args[3] = {e->a, e->b, e->c};
    fprintf(f, "%s(", name);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        print_expr(f, p, k, args[i], 0);
    }
}

static void print_expr(FILE *f, const Program *p, const Kernel *k, const Expr *e, int prec)
{
    (void)prec;
    switch (e->kind) {
    case EX_INT: fprintf(f, "%lld", (long long)e->i); return;
    case EX_FLT:
        if (isinf(e->f))
            fprintf(f, "%sinf", e->f < 0 ? "-" : "");
        else
            fprintf(f, "%.9g", e->f);
        return;
    case EX_VAR: fprintf(f, "i%d", e->var); return;
    case EX_LOCAL: fprintf(f, "%s%d", k->locals[e->local].name, e->local); return;
    case EX_LOAD:
        fprintf(f, "%s[", p->bufs[e->buf].name);
        print_expr(f, p, k, e->a, 0);
        if (e->lanes > 1)
            fprintf(f, " +: %d", e->lanes);
        fputc(']', f);
        return;
    case EX_BCAST:
        fprintf(f, "bcast%d(", e->lanes);
        print_expr(f, p, k, e->a, 0);
        fputc(')', f);
        return;
    case EX_LANE:
    case EX_SHIFT:
    case EX_UNZIP:
        print_call(f, p, k, e->kind == EX_LANE ? "lane" : e->kind == EX_SHIFT ? "shift" : "unzip", e,
                   e->kind == EX_UNZIP ? 2 : 1);
        fprintf(f, ", %lld)", (long long)e->i);
        return;
    case EX_MULADD:
    case EX_DOT4:
        print_call(f, p, k, e->kind == EX_MULADD ? "muladd" : "dot4", e, 3);
        fputc(')', f);
        return;
    case EX_UN:
        if (e->op == UN_NEG || e->op == UN_NOT) {
            fputs(e->op == UN_NEG ? "-" : "!", f);
            print_operand(f, p, k, e->a, 11);
        } else {
            fprintf(f, "%s(", unop_name(e->op));
            print_expr(f, p, k, e->a, 0);
            fputc(')', f);
        }
        return;
    case EX_BIN: {
        int bp = binop_prec(e->op);
        if (bp == 10) {
            fprintf(f, "%s(", binop_name(e->op));
            print_expr(f, p, k, e->a, 0);
            fputs(", ", f);
            print_expr(f, p, k, e->b, 0);
            fputc(')', f);
            return;
        }
        print_operand(f, p, k, e->a, bp);
        fprintf(f, " %s ", binop_name(e->op));
        print_operand(f, p, k, e->b, bp + 1);
        return;
    }
    case EX_SELECT:
        print_operand(f, p, k, e->c, 1);
        fputs(" ? ", f);
        print_operand(f, p, k, e->a, 1);
        fputs(" : ", f);
        print_operand(f, p, k, e->b, 1);
        return;
    case EX_CAST:
        fprintf(f, "%s(", dtype_name(e->dtype));
        print_expr(f, p, k, e->a, 0);
        fputc(')', f);
        return;
    case EX_QFAST4: {
        const QFast *q = e->q;
        fputs(q->mul ? "qmul4(" : "qadd4(", f);
        print_expr(f, p, k, e->a, 0);
        fputs(e->i ? ", one " : ", ", f);
        print_expr(f, p, k, e->b, 0);
        if (e->c) { /* lanes from e->i take c */
            fputs(", then ", f);
            print_expr(f, p, k, e->c, 0);
            fprintf(f, " from lane %d", (int)e->i);
        }
        if (q->mul)
            fprintf(f, ", zero = [%d, %d], mult = %d, shift = %d", q->z0, q->z1, q->m0, q->shift);
        else
            fprintf(f, ", mult = [%d, %d], shift = %d", q->m0, q->m1, q->shift);
        fprintf(f, ", c = %d, clamp = [%d, %d])", q->c, q->lo, q->hi);
        return;
    }
    case EX_BITCAST:
        fprintf(f, "bits_%s(", dtype_name(e->dtype));
        print_expr(f, p, k, e->a, 0);
        fputc(')', f);
        return;
    }
    unreachable("bad expression kind");
}

static void indent(FILE *f, int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", f);
}

static void print_stmt(FILE *f, const Program *p, const Kernel *k, const Stmt *s, int depth)
{
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            print_stmt(f, p, k, s->items[i], depth);
        return;
    case ST_FOR:
        indent(f, depth);
        fprintf(f, "for i%d in ", s->var);
        print_expr(f, p, k, s->lo, 0);
        fputs("..", f);
        print_expr(f, p, k, s->hi, 0);
        if (s->step != 1)
            fprintf(f, " step %lld", (long long)s->step);
        if (s->flags & LOOP_PARALLEL) fputs(" parallel", f);
        if (s->flags & LOOP_REDUCTION) fputs(" reduce", f);
        if (s->flags & LOOP_UNROLL) fputs(" unroll", f);
        if (s->flags & LOOP_VECTOR) fputs(" vector", f);
        if (s->flags & LOOP_SLP) fputs(" slp", f);
        fputs(" {\n", f);
        print_stmt(f, p, k, s->body, depth + 1);
        indent(f, depth);
        fputs("}\n", f);
        return;
    case ST_IF:
        indent(f, depth);
        fputs("if ", f);
        print_expr(f, p, k, s->cond, 0);
        fputs(" {\n", f);
        print_stmt(f, p, k, s->then, depth + 1);
        if (s->els) {
            indent(f, depth);
            fputs("} else {\n", f);
            print_stmt(f, p, k, s->els, depth + 1);
        }
        indent(f, depth);
        fputs("}\n", f);
        return;
    case ST_STORE:
        indent(f, depth);
        fprintf(f, "%s[", p->bufs[s->buf].name);
        print_expr(f, p, k, s->idx, 0);
        if (s->val->lanes > 1)
            fprintf(f, " +: %d", s->val->lanes);
        fputs("] = ", f);
        print_expr(f, p, k, s->val, 0);
        fputc('\n', f);
        return;
    case ST_SET:
        indent(f, depth);
        fprintf(f, "%s%d = ", k->locals[s->local].name, s->local);
        print_expr(f, p, k, s->val, 0);
        fputc('\n', f);
        return;
    }
    unreachable("bad statement kind");
}

void loop_print_kernel(FILE *f, const Program *p, const Kernel *k)
{
    if (k->comment)
        fprintf(f, "# %s\n", k->comment);
    fprintf(f, "kernel %s {\n", k->name);
    for (int i = 0; i < k->nlocals; i++) {
        fprintf(f, "  local %s%d : %s", k->locals[i].name, i, dtype_name(k->locals[i].dtype));
        if (k->locals[i].lanes > 1)
            fprintf(f, "x%d", k->locals[i].lanes);
        fputc('\n', f);
    }
    print_stmt(f, p, k, k->body, 1);
    fputs("}\n", f);
}

static const char *buf_kind_name(BufKind k)
{
    switch (k) {
    case BK_INPUT: return "input";
    case BK_OUTPUT: return "output";
    case BK_CONST: return "const";
    case BK_TEMP: return "temp";
    }
    return "?";
}

void loop_print_program(FILE *f, const Program *p)
{
    fprintf(f, "program %s {\n", p->name);
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        fprintf(f, "  %-6s %s : %s[%lld]", buf_kind_name(b->kind), b->name, dtype_name(b->dtype),
                (long long)b->numel);
        if (b->kind == BK_TEMP || (p->io_in_arena && b->kind != BK_CONST))
            fprintf(f, " @ workspace + %lld", (long long)b->offset);
        fputc('\n', f);
    }
    if (p->workspace_size || p->workspace_lower_bound)
        fprintf(f, "  workspace %lld bytes (lower bound %lld)\n", (long long)p->workspace_size,
                (long long)p->workspace_lower_bound);
    fputs("}\n", f);
    for (int i = 0; i < p->nkernels; i++) {
        fputc('\n', f);
        loop_print_kernel(f, p, &p->kernels[i]);
    }
}

/* ------------------------------------------------------------- use sets */

static void uses_expr(KernelUses *u, const Expr *e)
{
    if (!e)
        return;
    if (e->kind == EX_LOAD)
        u->buf[e->buf] |= USE_READ;
    if (e->kind == EX_LOCAL)
        u->local[e->local] |= USE_READ;
    uses_expr(u, e->a);
    uses_expr(u, e->b);
    uses_expr(u, e->c);
}

static void uses_stmt(KernelUses *u, const Stmt *s)
{
    if (!s)
        return;
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            uses_stmt(u, s->items[i]);
        return;
    case ST_FOR:
        uses_expr(u, s->lo);
        uses_expr(u, s->hi);
        uses_stmt(u, s->body);
        return;
    case ST_IF:
        uses_expr(u, s->cond);
        uses_stmt(u, s->then);
        uses_stmt(u, s->els);
        return;
    case ST_STORE:
        u->buf[s->buf] |= USE_WRITE;
        uses_expr(u, s->idx);
        uses_expr(u, s->val);
        return;
    case ST_SET:
        u->local[s->local] |= USE_WRITE;
        uses_expr(u, s->val);
        return;
    }
}

KernelUses loop_kernel_uses(const Program *p, const Kernel *k)
{
    KernelUses u;
    u.buf = arena_alloc(p->arena, (size_t)p->nbufs + 1);
    u.local = arena_alloc(p->arena, (size_t)k->nlocals + 1);
    uses_stmt(&u, k->body);
    return u;
}

static bool bytes_overlap(const Buffer *a, const Buffer *b)
{
    int64_t ea = a->offset + a->numel * (int64_t)dtype_size(a->dtype);
    int64_t eb = b->offset + b->numel * (int64_t)dtype_size(b->dtype);
    return a->offset < eb && b->offset < ea;
}

bool loop_may_restrict(const Program *p, const KernelUses *u, int b)
{
    if (p->bufs[b].kind != BK_TEMP)
        return true;
    for (int o = 0; o < p->nbufs; o++)
        if (o != b && u->buf[o] && p->bufs[o].kind == BK_TEMP &&
            bytes_overlap(&p->bufs[b], &p->bufs[o]))
            return false;
    return true;
}
