/* quant.c: int8 requantization, the one definition shared by the integer
 * reference (ref_q.c) and the lowering of the int8 kernels (lower_q.c).
 *
 * A real multiplier M > 0 (e.g. sx * sw / sy) is held as a Q31 fixed-point
 * mantissa and a power of two, M = mult * 2^(shift - 31) with mult in
 * [2^30, 2^31), as TensorFlow Lite does. An int32 accumulator is scaled by
 * it with one of two roundings:
 *   single: one rounding, half up: (acc * mult + 2^(s-1)) >> s, s = 31 - shift,
 *           in 64 bits (TFLite's and CMSIS-NN's single-rounding builds; ONNX
 *           Runtime rounds once too, in float, half to even).
 *   tflite: TFLite's reference kernels: a saturating rounding doubling high
 *           multiply (round half away from zero) then a rounding right shift
 *           by -shift (half away from zero): two roundings, bit-exact with
 *           TensorFlow Lite Micro's reference and CMSIS-NN's default kernels.
 * Neither uses floating point.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

static const char *const rounding_names[] = {"single", "tflite"};

const char *quant_rounding_name(Rounding r)
{
    return rounding_names[r];
}

int quant_rounding_by_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof rounding_names / sizeof rounding_names[0]); i++)
        if (strcmp(rounding_names[i], name) == 0)
            return i;
    return -1;
}

bool quant_multiplier(double real, QMult *q)
{
    q->mult = 0;
    q->shift = 0;
    if (!(real > 0) || !isfinite(real))
        return false;
    int e;
    double frac = frexp(real, &e); /* real = frac * 2^e, frac in [0.5, 1) */
    int64_t m = (int64_t)llround(frac * 2147483648.0);
    if (m == (int64_t)1 << 31) {
        m /= 2;
        e++;
    }
    if (e > 30)
        return false; /* M >= 2^30: the 64-bit product could overflow */
    if (e < -31) {
        /* Below 2^-32 every int32 accumulator scales to 0 or -0: keep the
         * smallest representable multiplier, which rounds them the same. */
        m = 0;
        e = 0;
    }
    q->mult = (int32_t)m;
    q->shift = e;
    return true;
}

/* TFLite's SaturatingRoundingDoublingHighMul: (a * b * 2) / 2^32 rounded
 * half away from zero (C's division truncates, the nudge rounds). */
static int32_t srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t ab = (int64_t)a * b;
    int64_t nudge = ab >= 0 ? (1 << 30) : 1 - (1 << 30);
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* TFLite's RoundingDivideByPOT: x / 2^e rounded half away from zero. */
static int32_t rdbpot(int32_t x, int e)
{
    if (e == 0)
        return x;
    int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    int32_t rem = x & mask, thr = (mask >> 1) + (x < 0);
    return (x >> e) + (rem > thr);
}

static int32_t sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

int32_t quant_scale(int32_t acc, QMult q, Rounding r)
{
    if (q.mult == 0)
        return 0;
    if (r == ROUND_SINGLE) {
        int s = 31 - q.shift; /* in [1, 62] */
        int64_t v = (int64_t)acc * q.mult + ((int64_t)1 << (s - 1));
        return sat32(v >> s);
    }
    int left = q.shift > 0 ? q.shift : 0, right = q.shift > 0 ? 0 : -q.shift;
    return rdbpot(srdhm(sat32((int64_t)acc * ((int64_t)1 << left)), q.mult), right);
}

int32_t quant_requant(int32_t acc, QMult q, Rounding r, int32_t zero, int32_t lo, int32_t hi)
{
    int64_t v = (int64_t)quant_scale(acc, q, r) + zero;
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

/* ------------------------------------------------ quantized types, nodes */

float quant_scale_at(const Quant *q, int64_t i)
{
    return q->axis < 0 ? q->scale[0] : q->scale[i];
}

int32_t quant_zero_at(const Quant *q, int64_t i)
{
    return q->nzero == 1 ? q->zero[0] : q->zero[i];
}

bool quant_out_mult(const Type *x, const Type *w, int64_t ch, const Type *y, QMult *q)
{
    double real = (double)quant_scale_at(x->quant, 0) * (double)quant_scale_at(w->quant, ch) /
                  (double)quant_scale_at(y->quant, 0);
    return quant_multiplier(real, q);
}

void quant_bounds(const Node *n, DType dt, int32_t *lo, int32_t *hi)
{
    int64_t dlo = dt == DT_U8 ? 0 : -128, dhi = dt == DT_U8 ? 255 : 127;
    int64_t a = ir_attr_int(n, "qmin"), b = ir_attr_int(n, "qmax");
    *lo = (int32_t)(a > dlo ? a : dlo);
    *hi = (int32_t)(b < dhi ? b : dhi);
}

Rounding quant_node_rounding(const Node *n)
{
    int r = quant_rounding_by_name(ir_attr_str(n, "rounding"));
    return r < 0 ? ROUND_SINGLE : (Rounding)r;
}

/* qadd's fixed-point form, as TFLite's: with twice = 2 max(sa, sb), the
 * inputs are scaled by sa / twice and sb / twice after a left shift of
 * QADD_SHIFT bits, and the sum by twice / (2^QADD_SHIFT sy). */
bool quant_add_mults(const Type *a, const Type *b, const Type *y, QMult *ma, QMult *mb, QMult *my)
{
    double sa = quant_scale_at(a->quant, 0), sb = quant_scale_at(b->quant, 0);
    double sy = quant_scale_at(y->quant, 0), twice = 2 * (sa > sb ? sa : sb);
    return quant_multiplier(sa / twice, ma) && quant_multiplier(sb / twice, mb) &&
           quant_multiplier(twice / ((double)(1 << QADD_SHIFT) * sy), my);
}

/* The fast forms (see QFast in ir.h). Their multipliers have fewer bits
 * than quant_multiplier's, but the error they add is bounded far below an
 * LSB: qmul's m0 is M * 2^(32 - shift) rounded, off by at most 1/2, so the
 * scaled product is off by at most |p << shift| / 2^33: under 2^-17 with
 * shift 0 (M < 1/2; |p| <= 255^2 = 65025, under 2^16), and with shift > 0
 * (m0 >= 2^30, so a result within int8 has |p << shift| <= 4 * 255) under
 * 2^-22 wherever it does not saturate;
 * qadd's m0, m1 are sa/sy and sb/sy times 2^shift, shift >= 12, each off by
 * at most 1/2, so a sum of centered codes (|a - za| <= 255) is off by at
 * most 255 / 2^shift <= 1/16 of an LSB. The zero points, the output's and
 * the rounding's 2^(shift-1) fold into c exactly. */
int32_t quant_fast(const QFast *f, int32_t a, int32_t b)
{
    int64_t v;
    if (f->mul) {
        int64_t p = (int64_t)(a - f->z0) * (b - f->z1) * ((int64_t)1 << f->shift);
        v = f->c + ((p * f->m0 + ((int64_t)1 << 31)) >> 32);
    } else {
        v = ((int64_t)a * f->m0 + (int64_t)b * f->m1 + f->c) >> f->shift;
    }
    return v < f->lo ? f->lo : v > f->hi ? f->hi : (int32_t)v;
}

enum { QADD_FAST_MIN_SHIFT = 12, QADD_FAST_MAX_SHIFT = 22, QMUL_FAST_MAX_SHIFT = 15 };

bool quant_fast_init(const Node *n, const Type *a, const Type *b, const Type *y, QFast *f)
{
    memset(f, 0, sizeof *f);
    if (quant_node_rounding(n) != ROUND_SINGLE)
        return false;
    f->mul = n->op == OP_QMUL;
    quant_bounds(n, y->dtype, &f->lo, &f->hi);
    double sa = quant_scale_at(a->quant, 0), sb = quant_scale_at(b->quant, 0);
    double sy = quant_scale_at(y->quant, 0);
    int32_t za = quant_zero_at(a->quant, 0), zb = quant_zero_at(b->quant, 0);
    int32_t zy = quant_zero_at(y->quant, 0);
    if (f->mul) {
        double m = sa * sb / sy; /* as quant_out_mult */
        if (!(m > 0) || !isfinite(m))
            return false;
        int e;
        frexp(m, &e);
        int k = e + 1 > 0 ? e + 1 : 0; /* m * 2^(32 - k) < 2^31 */
        int64_t mult = llround(ldexp(m, 32 - k));
        if (mult >= (int64_t)1 << 31)
            mult = llround(ldexp(m, 32 - ++k));
        if (k > QMUL_FAST_MAX_SHIFT) /* p << k must stay in int32 */
            return false;
        f->m0 = (int32_t)mult;
        f->shift = k;
        f->z0 = za;
        f->z1 = zb;
        f->c = zy;
        return true;
    }
    double ra = sa / sy, rb = sb / sy, rmax = ra > rb ? ra : rb;
    if (!(ra > 0) || !(rb > 0) || !isfinite(rmax))
        return false;
    int s = QADD_FAST_MAX_SHIFT;
    while (s >= QADD_FAST_MIN_SHIFT && llround(ldexp(rmax, s)) > 32767)
        s--;
    if (s < QADD_FAST_MIN_SHIFT)
        return false;
    int64_t m0 = llround(ldexp(ra, s)), m1 = llround(ldexp(rb, s));
    int64_t c = (int64_t)zy * ((int64_t)1 << s) - za * m0 - zb * m1 + ((int64_t)1 << (s - 1));
    /* |a m0 + b m1 + c| with codes of magnitude <= 255 must fit in int32 */
    if (255 * (m0 + m1) + (c < 0 ? -c : c) > INT32_MAX)
        return false;
    f->m0 = (int32_t)m0;
    f->m1 = (int32_t)m1;
    f->c = (int32_t)c;
    f->shift = s;
    return true;
}

void quant_softmax_table(float sx, int32_t table[256])
{
    for (int d = 0; d < 256; d++)
        table[d] = (int32_t)llround(ldexp(exp(-(double)sx * d), QSOFTMAX_BITS));
}

int64_t quant_softmax_r(float sy)
{
    return llround(ldexp(1.0 / (double)sy, QSOFTMAX_RBITS));
}

int32_t quant_softmax_out(int32_t t, int64_t sum, int64_t r, int32_t zero, int32_t lo, int32_t hi)
{
    int64_t num = (int64_t)t * r, den = sum << QSOFTMAX_RBITS;
    int64_t v = (num + den / 2) / den + zero;
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

bool quant_rescale_init(const Type *x, const Type *y, QRescale *r)
{
    float sx = quant_scale_at(x->quant, 0), sy = quant_scale_at(y->quant, 0);
    r->zx = quant_zero_at(x->quant, 0);
    r->zy = quant_zero_at(y->quant, 0);
    r->same = sx == sy;
    r->m = (QMult){0, 0};
    return r->same || quant_multiplier((double)sx / (double)sy, &r->m);
}

int32_t quant_rescale(int32_t v, const QRescale *r, Rounding rd, int32_t lo, int32_t hi)
{
    if (!r->same)
        return quant_requant(v - r->zx, r->m, rd, r->zy, lo, hi);
    int32_t s = v - r->zx + r->zy;
    return s < lo ? lo : s > hi ? hi : s;
}

bool quant_windows_read(const Geom *geo)
{
    for (int d = 0; d < geo->nspatial; d++)
        for (int64_t o = 0; o < geo->out[d]; o++) {
            bool read = false;
            for (int64_t k = 0; k < geo->kernel[d] && !read; k++) {
                int64_t p = o * geo->stride[d] - geo->pad_begin[d] + k * geo->dilation[d];
                read = p >= 0 && p < geo->in[d];
            }
            if (!read)
                return false;
        }
    return true;
}
