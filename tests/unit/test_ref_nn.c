/* test_ref_nn.c: inference and reference implementations of the NN ops.
 *
 * Each test builds one node with the builder API over graph inputs filled
 * from a seeded xorshift PRNG (values k/256, k in [-1000, 1000], exact in
 * float), runs inference and then the op table's reference, and compares
 * against expectations computed by PyTorch 1.13 (torch.nn.functional, in
 * float64) on the very same PRNG stream: the generator replays xorshift32
 * with the same seeds in the same input order (x, w, b, ...). Small
 * hand-computed cases and inference errors (one diagnostic naming both
 * shapes) complete the picture.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/ir.h"

/* ------------------------------------------------ expected outputs (PyTorch) */
static const float exp_conv2d[32] = {
    21.2546692f, 7.29612732f, -30.421875f, 35.3000336f, 25.3703613f, 11.0526886f,
    36.4191437f, 19.6697998f, 22.4650726f, 6.7668457f, -27.0336914f, 5.52929688f,
    5.59320068f, 16.241745f, -1.49150085f, 18.9430695f, -6.27177429f, -27.4811401f,
    13.8171997f, 41.7823334f, 6.50817871f, 17.3143311f, 17.6654968f, -48.125412f,
    6.74008179f, 16.7904816f, -39.4801483f, -9.02967834f, 33.2468567f, -15.8275604f,
    -23.5196686f, 6.50114441f,
};
static const float exp_conv_group[300] = {
    -2.3959198f, -9.43208313f, 14.6035614f, 15.5289307f, -13.9385223f, -2.18362427f,
    8.85571289f, 13.3003235f, -9.25839233f, 10.9252472f, 26.1758881f, 4.11209106f,
    11.5362396f, -32.7106934f, 11.1552887f, 5.64962769f, -36.4333649f, -2.69070435f,
    -4.59436035f, -51.6791687f, 11.3284912f, 14.3554993f, -8.11976624f, -34.1229095f,
    -8.21113586f, -15.1186981f, -13.7291107f, 3.54568481f, -28.9256592f, -7.50180054f,
    -7.36775208f, -60.9950104f, -10.3983002f, -1.70587158f, 21.2546387f, -4.23358154f,
    5.45083618f, 15.101181f, 8.16159058f, 13.2627106f, -31.120575f, -19.3304138f,
    -16.6680908f, 18.4575806f, -5.64257812f, -2.27931213f, 5.82839966f, -33.7865906f,
    -4.58494568f, 15.1391602f, -17.6730042f, 29.0727386f, 18.0636902f, -37.7847748f,
    11.3540039f, -8.62454224f, -21.8457642f, -8.15815735f, -6.0116272f, -5.14537048f,
    -3.28504944f, -17.2701874f, -8.99365234f, 17.0540924f, -28.2861176f, 1.15106201f,
    -20.9794922f, 10.4021454f, 21.4858093f, 10.1231689f, -8.81010437f, -15.1365967f,
    -22.0506287f, 13.5568695f, 31.6273804f, 7.39509583f, 11.3161621f, -12.2146454f,
    -3.21504211f, 13.2261963f, -9.86737061f, -1.9175415f, -21.0907593f, 12.045166f,
    -12.5470428f, -17.1968079f, 5.91294861f, 6.64268494f, 0.630126953f, -5.95057678f,
    -4.02334595f, 23.6856384f, -2.12202454f, 4.02850342f, 2.25653076f, 10.5267334f,
    4.4546051f, -18.2068481f, -4.81552124f, 8.03126526f, 20.2908173f, -0.103927612f,
    -0.876800537f, -14.4794464f, 19.7628021f, 7.78814697f, 1.07208252f, -30.1955414f,
    2.45399475f, -15.724762f, -2.16693115f, 12.6884766f, -12.4536743f, -32.8970795f,
    33.0209198f, 13.8454132f, -11.0311737f, -17.39534f, 27.5857697f, 3.23947144f,
    -1.05581665f, 1.96713257f, -14.2103577f, 5.00286865f, 16.4361267f, -2.80863953f,
    10.7122498f, 11.3750153f, 3.88217163f, -3.92964172f, 31.7635193f, 22.9570923f,
    7.59616089f, 14.1905212f, 11.6727295f, 10.6519012f, 0.453369141f, -35.1528473f,
    -40.9072113f, -11.3474121f, 1.66300964f, 9.49279785f, 17.9685974f, -27.7866364f,
    -35.4719849f, -2.43963623f, 6.90556335f, 5.42341614f, 3.97575378f, 25.2816162f,
    0.681793213f, -0.242614746f, 25.8315735f, 28.1619568f, -8.21656799f, 16.0586243f,
    21.3144379f, 16.2728882f, 9.06474304f, -12.410675f, -12.6434174f, 18.9130554f,
    0.714614868f, -5.28555298f, -7.52723694f, -17.2971954f, -5.59855652f, 8.74533081f,
    -10.1769562f, -0.348144531f, -1.14674377f, 30.695816f, 22.8669434f, -16.5356598f,
    -10.74086f, -10.2214508f, -6.4883728f, -22.3273315f, -13.5788879f, -4.18025208f,
    -7.35783386f, -13.4867401f, -17.7801208f, 14.6456146f, 20.2751312f, 12.2868652f,
    -1.69258118f, 7.01585388f, 7.36410522f, 10.9890289f, 13.6723328f, -23.4433594f,
    -26.9035187f, -17.8286591f, 19.0826569f, -8.82139587f, -19.2089386f, -15.297348f,
    -23.1249237f, -2.73683167f, -2.42411804f, 24.2119598f, -18.5089417f, -44.4081116f,
    -0.193222046f, 6.09170532f, -0.233016968f, -31.2789154f, -20.3150024f, 13.0894165f,
    8.70697021f, 4.34129333f, 6.24845886f, -0.772476196f, 8.14726257f, 20.3428497f,
    37.5858002f, -18.303772f, 2.03721619f, 12.0881348f, 26.4422913f, 3.01078796f,
    -40.1456146f, -23.4959869f, 4.67416382f, 25.9581604f, -16.0562897f, -27.8154755f,
    5.36456299f, -5.57748413f, 19.0260468f, -12.5343628f, 21.0554504f, -17.526947f,
    8.80863953f, 15.1233978f, 9.38009644f, 22.6433411f, -15.0715027f, 5.45271301f,
    3.33050537f, 16.7247009f, 23.5969238f, -18.2367249f, -7.78749084f, 10.1951294f,
    4.93690491f, -2.70684814f, -10.7007446f, -5.19515991f, -0.627075195f, 20.6978302f,
    -2.85374451f, -23.1562042f, -15.0296021f, -11.6794739f, 12.1455383f, 15.6439209f,
    5.25157166f, -11.5727692f, 8.8195343f, 5.99497986f, -8.49143982f, -14.4025574f,
    -9.53543091f, 19.3869629f, -2.97467041f, -21.5003204f, 3.60905457f, -11.1379089f,
    -2.11883545f, 14.7339783f, -11.3874969f, -9.15759277f, 1.36904907f, 15.874588f,
    14.3649292f, 14.5341187f, 3.28051758f, -1.96490479f, -23.6403351f, -16.786087f,
    -8.28768921f, 8.75965881f, 7.18768311f, 21.9572296f, 5.20071411f, -10.8879395f,
    -8.66134644f, 19.3253174f, 7.87501526f, 15.2904663f, 4.39779663f, 19.9996338f,
    0.478851318f, 3.80815125f, 41.1792145f, 10.4303131f, -22.7004547f, -18.8515167f,
};
static const float exp_conv_dw[12] = {
    -8.03842163f, -3.15942383f, -18.782959f, -15.9004974f, 13.2092743f, -16.6110992f,
    22.3949738f, -9.00602722f, -8.00523376f, -16.7433624f, 14.7018585f, -8.62014771f,
};
static const float exp_conv1d[15] = {
    -6.75482178f, 8.06809998f, -0.222732544f, 9.96936035f, 9.06698608f, -0.563995361f,
    0.383956909f, -5.45265198f, 8.78523254f, 13.7736969f, 0.102767944f, -5.05395508f,
    -1.02972412f, -19.5443726f, -11.3623657f,
};
static const float exp_conv_same[18] = {
    -10.3470612f, 45.4047852f, -11.4391327f, -11.3122406f, 0.415115356f, -0.237014771f,
    -12.9285278f, -12.3603668f, -0.561859131f, -22.3385162f, 3.89500427f, -5.13127136f,
    4.67854309f, -3.35084534f, -15.6399994f, 1.05895996f, 35.9454803f, -10.658371f,
};
static const float exp_conv3d[60] = {
    -8.9883728f, -22.7926788f, 6.82933044f, -5.06829834f, 34.4501495f, -11.3853607f,
    28.8870239f, -26.7745056f, 2.68171692f, 0.171508789f, 8.3768158f, 1.45167542f,
    -12.161911f, -16.3174591f, -2.21739197f, -7.80955505f, 1.28404236f, -8.88336182f,
    -11.2388153f, -1.06689453f, 27.3381042f, 0.0744018555f, 24.0135498f, -12.548645f,
    6.8427124f, -33.3170013f, -6.63516235f, 4.52845764f, 3.22434998f, -0.785888672f,
    -15.2575531f, -24.0284882f, 0.904678345f, -4.22143555f, -9.34072876f, 10.9261627f,
    21.1916046f, -1.55024719f, -12.4231415f, 27.4613342f, -6.8188324f, -19.8505249f,
    7.24035645f, 7.63136292f, -16.5847321f, 1.34182739f, -3.88919067f, -0.200561523f,
    -7.4835968f, -7.91374207f, 4.2096405f, -4.48257446f, 14.6351776f, -10.4810333f,
    -5.68927002f, 0.684005737f, -5.20941162f, -5.07363892f, -2.17781067f, -8.71228027f,
};
static const float exp_maxpool_ceil[18] = {
    0.203125f, 3.09375f, 1.2890625f, 2.7734375f, 0.6328125f, 3.84765625f,
    1.82421875f, 2.95703125f, -0.5625f, 3.59765625f, 3.0625f, 0.203125f,
    0.8828125f, 3.4765625f, 1.75f, 3.484375f, 1.34375f, 2.76953125f,
};
static const float exp_maxpool_dil[36] = {
    1.71875f, 1.140625f, 1.90625f, 0.9921875f, 1.90625f, -0.13671875f,
    2.44140625f, 0.69921875f, 3.62890625f, 0.76171875f, 3.62890625f, 0.76171875f,
    1.71875f, 1.140625f, 1.90625f, 0.9921875f, 1.90625f, -0.13671875f,
    2.44140625f, -1.15234375f, 2.44140625f, 2.76171875f, 1.4453125f, 2.76171875f,
    -0.9609375f, 2.46875f, 2.13671875f, 2.46875f, 2.6328125f, 1.61328125f,
    -2.859375f, -1.8125f, 1.4453125f, 2.76171875f, 1.4453125f, 2.76171875f,
};
static const float exp_avg_incl[32] = {
    0.129340276f, 0.158854172f, 0.603298604f, 0.0416666679f, -0.399305552f, -1.09548616f,
    -0.463107646f, -0.192057297f, 0.322048604f, 0.405815959f, 0.315972209f, -0.458333343f,
    0.462890625f, 1.12890625f, 0.78125f, -0.623046875f, -0.197916672f, 0.371961802f,
    0.258680552f, 0.288411468f, 0.654513896f, -0.0950520858f, 0.364149302f, 0.138020828f,
    0.481336802f, -0.554253459f, 0.415364593f, 0.0846354142f, 0.253255218f, -0.0325520821f,
    1.11979163f, 0.62109375f,
};
static const float exp_avg_excl[32] = {
    0.291015625f, 0.23828125f, 0.904947937f, 0.125f, -0.598958313f, -1.09548616f,
    -0.463107646f, -0.384114593f, 0.483072907f, 0.405815959f, 0.315972209f, -0.916666687f,
    1.38867188f, 2.2578125f, 1.5625f, -2.4921875f, -0.4453125f, 0.557942688f,
    0.388020843f, 0.865234375f, 0.981770813f, -0.0950520858f, 0.364149302f, 0.276041657f,
    0.722005188f, -0.554253459f, 0.415364593f, 0.169270828f, 0.759765625f, -0.0651041642f,
    2.23958325f, 2.484375f,
};
static const float exp_maxpool1d[3] = {
    2.52734375f, 0.15625f, 1.88671875f,
};
static const float exp_gemm0[15] = {
    3.98760986f, -6.89892578f, -2.20458221f, -0.0805282593f, -1.61566925f, 10.3857346f,
    -4.698349f, 8.93519592f, 6.03515625f, 4.32250977f, 0.445777893f, 4.28299713f,
    9.02222443f, 5.41921234f, 6.3837738f,
};
static const float exp_gemm1[15] = {
    -0.726699829f, -6.94607544f, -6.12687683f, -2.12814331f, -5.4651947f, 0.333282471f,
    1.05890656f, -8.82584381f, -14.3898392f, -7.50920868f, 2.09758759f, 2.03304291f,
    -3.94030762f, -7.08689117f, -3.82728577f,
};
static const float exp_gemm2[15] = {
    10.8853989f, 1.78694153f, -4.12299347f, -2.50024414f, -7.3336792f, 2.6580658f,
    -6.00970459f, -12.4211731f, 4.91040039f, 0.646064758f, -1.43463135f, -9.9217453f,
    -14.0396118f, 6.96858978f, 1.33636475f,
};
static const float exp_gemm3[15] = {
    -0.0784835815f, 1.1215744f, 7.47676086f, 1.14662933f, 6.96374512f, 8.6519928f,
    6.63389587f, -1.83088684f, 4.41413879f, -3.43861389f, 8.80323792f, 7.35827637f,
    -1.13906097f, 6.39581299f, -4.15742493f,
};
static const float exp_gemm4[15] = {
    1.32519531f, -5.40939331f, -4.04709625f, 0.189544678f, -4.63645935f, 1.00753784f,
    1.55599976f, -3.49112701f, 5.59410095f, 4.56996155f, 2.78147125f, -6.89933777f,
    -8.47647095f, 8.32036591f, -2.92391205f,
};
static const float exp_gemm5[15] = {
    -6.18199158f, 0.625671387f, -7.84455109f, 15.7932129f, -5.55796051f, 1.5623703f,
    -2.94820404f, -4.17799377f, -2.31354523f, -4.86962891f, -5.79275513f, -0.624938965f,
    3.18202209f, 2.28533936f, -1.95524597f,
};
static const float exp_mm_batch[36] = {
    -13.2410736f, 0.974121094f, 13.3799591f, -11.0772705f, 14.4767761f, -22.8892517f,
    14.0262756f, 21.2177124f, -0.830993652f, -6.93362427f, 3.77877808f, 15.8274536f,
    -19.228714f, -4.72441101f, 8.9196167f, -3.46739197f, -0.212936401f, 8.06738281f,
    4.57754517f, -2.88388062f, -12.969696f, 24.0886383f, 16.5345001f, -13.593338f,
    -0.804733276f, -7.6285553f, -4.81907654f, -13.0184631f, -2.3732605f, 3.89250183f,
    5.03431702f, -6.17477417f, 0.440170288f, -0.171127319f, 7.42106628f, 12.9712524f,
};
static const float exp_mm_vec_a[6] = {
    5.44625854f, -2.96798706f, 14.8396759f, 14.2466736f, 3.30885315f, 5.96282959f,
};
static const float exp_mm_vec_b[6] = {
    8.72351074f, 4.33786011f, -12.2249756f, 17.2745667f, 7.41073608f, 1.50558472f,
};
static const float exp_mm_dot[1] = {
    -6.73796082f,
};
static const float exp_bn[24] = {
    4.02954817f, -4.9152751f, -6.00404024f, 0.385119319f, 9.08863449f, 11.2043428f,
    5.21106529f, -0.782212079f, -4.85107327f, -2.16524959f, -1.29519415f, -1.22332001f,
    -4.76532555f, -0.175562039f, -3.9438622f, 0.958839774f, 2.54984379f, -1.73317492f,
    2.40977955f, -2.70625305f, 1.40197778f, 0.728630543f, 1.03125846f, 2.1434164f,
};
static const float exp_ln1[24] = {
    7.47171354f, 0.107249647f, 0.255256385f, -1.01974499f, 0.820356846f, 0.293975502f,
    0.125532568f, -0.110760286f, 5.12098122f, -2.39979291f, -0.562100351f, -1.0995698f,
    5.69466257f, 0.0994734839f, 1.81850505f, -1.91860926f, 1.56025505f, 0.132570863f,
    -0.285542786f, -1.31003213f, 2.953794f, 2.36561036f, -1.17747509f, -0.472047895f,
};
static const float exp_ln_last[15] = {
    -3.98948812f, 0.375186414f, -1.49946904f, 1.79303312f, -3.02871943f, -1.27129376f,
    -0.877344131f, 1.30863464f, 4.10720396f, -1.10136127f, -4.29920816f, -1.08043158f,
    0.205927163f, 4.11563349f, -2.12389302f,
};
static const float exp_softmax_ax0[24] = {
    6.32215877e-11f, 0.0792103037f, 0.268941402f, 0.083888635f, 2.43741e-11f, 1.35743306e-07f,
    4.0765441e-10f, 0.00123665016f, 2.65772485e-07f, 0.92078948f, 6.92781157e-08f, 0.916090429f,
    0.99999994f, 0.999999821f, 0.712232172f, 0.00658162264f, 0.999999762f, 2.12616911e-07f,
    0.731058538f, 2.09129885e-05f, 3.59684016e-08f, 6.51303509e-08f, 0.287767828f, 0.992181718f,
};
static const float exp_softmax_ax1[24] = {
    1.16282331e-10f, 0.421480566f, 1.0f, 0.558371007f, 8.24565208e-11f, 0.0197129082f,
    3.09415804e-09f, 0.00043551487f, 5.561904e-08f, 3.37358069e-05f, 2.93091738e-08f, 4.19848911e-05f,
    0.384912103f, 0.999924242f, 0.615087807f, 1.59596727e-08f, 0.272819012f, 3.15120747e-06f,
    0.403200358f, 0.00038772088f, 1.80486186e-08f, 0.0263450518f, 0.3239806f, 0.973264098f,
};
static const float exp_softmax_ax9[24] = {
    6.17939293e-07f, 0.999999404f, 0.999750793f, 0.000249232515f, 9.36871766e-06f, 0.999990642f,
    0.015663648f, 0.984336376f, 0.000223416355f, 0.999776602f, 9.46126238e-05f, 0.999905407f,
    0.049589023f, 0.950410962f, 0.999999821f, 1.9142874e-07f, 1.0f, 2.74622131e-10f,
    1.0f, 2.28629062e-08f, 0.0280075204f, 0.971992493f, 0.999928594f, 7.14190173e-05f,
};

/* ---------------------------------------------------------------- harness */

typedef struct {
    Ctx *c;
    Graph *g;
    FILE *err;
    uint32_t seed, rng;
    int ids[5];
    Tensor in[5];
    int nin;
    int node;
    Tensor out;
} Case;

static const Loc test_loc = {"nn.etch", 3, 5};

static float rnd(Case *t)
{
    uint32_t s = t->rng;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    t->rng = s;
    return (float)((int)(s % 2001u) - 1000) / 256.0f;
}

static void case_init(Case *t, uint32_t seed)
{
    memset(t, 0, sizeof *t);
    t->c = ctx_new();
    t->err = tmpfile();
    cr_assert_not_null(t->err);
    t->c->err = t->err;
    t->g = ir_new_graph(t->c->arena, "nn");
    t->seed = t->rng = seed;
}

static void case_fini(Case *t)
{
    fclose(t->err);
    ctx_free(t->c);
}

/* Adds a graph input of the given shape filled from the PRNG. */
static float *add_in(Case *t, int rank, const int64_t *dims)
{
    Type ty = type_make(DT_F32, rank, dims);
    char name[8];
    snprintf(name, sizeof name, "i%d", t->nin);
    int id = ir_add_input(t->c, t->g, name, ty, test_loc);
    cr_assert_geq(id, 0);
    float *data = arena_alloc(t->c->arena, (size_t)(type_numel(&ty) ? type_numel(&ty) : 1) * 4);
    for (int64_t i = 0; i < type_numel(&ty); i++)
        data[i] = rnd(t);
    t->ids[t->nin] = id;
    t->in[t->nin++] = (Tensor){ty, data};
    return data;
}
#define IN(t, ...) \
    add_in((t), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define IN_SCALAR(t) add_in((t), 0, NULL)

static void add_omitted(Case *t)
{
    t->ids[t->nin] = -1;
    t->in[t->nin++] = (Tensor){{0}, NULL};
}

/* Changes the dtype of input i (for dtype errors). */
static void retype_in(Case *t, int i, DType dt)
{
    ir_value(t->g, t->ids[i])->type.dtype = dt;
}

static void mk(Case *t, int op)
{
    t->node = ir_new_node(t->c, t->g, op, t->ids, t->nin, 1, test_loc);
    /* Names the output so messages can be checked for the node's name. */
    cr_assert(ir_rename_value(t->c, t->g, ir_node(t->g, t->node)->out[0], "y", test_loc));
}

static void set_attr(Case *t, const char *name, Attr a)
{
    cr_assert(ir_set_attr(t->c, t->g, t->node, name, &a, test_loc), "setting %s", name);
}
static void set_int(Case *t, const char *name, int64_t v)
{
    set_attr(t, name, (Attr){.type = AT_INT, .i = v});
}
static void set_float(Case *t, const char *name, double v)
{
    set_attr(t, name, (Attr){.type = AT_FLOAT, .f = v});
}
static void set_str(Case *t, const char *name, const char *s)
{
    set_attr(t, name, (Attr){.type = AT_STR, .s = s});
}
static void set_ints(Case *t, const char *name, int n, const int64_t *v)
{
    set_attr(t, name, (Attr){.type = AT_INTS, .n = n,
                             .ints = arena_memdup(t->c->arena, v, (size_t)n * sizeof *v)});
}
#define SET_INTS(t, name, ...)                                                             \
    set_ints((t), (name), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),      \
             (int64_t[]){__VA_ARGS__})

static bool finish(Case *t)
{
    return ir_finish_node(t->c, t->g, t->node);
}

/* Finishes the node (inference must pass) and runs the reference. */
static const float *run(Case *t)
{
    cr_assert(finish(t), "inference failed (seed %u)", t->seed);
    cr_assert_eq(t->c->nerrors, 0);
    const Node *n = ir_node(t->g, t->node);
    t->out.type = *ir_out_type(t->g, n, 0);
    cr_assert_eq(t->out.type.dtype, DT_F32);
    cr_assert_null(t->out.type.quant);
    int64_t numel = type_numel(&t->out.type);
    t->out.data = arena_alloc(t->c->arena, (size_t)(numel ? numel : 1) * sizeof(float));
    /* A sentinel, so an element the reference never writes is caught. */
    for (int64_t i = 0; i < numel; i++)
        ((float *)t->out.data)[i] = NAN;
    op_info(n->op)->ref(t->g, n, t->in, &t->out);
    return t->out.data;
}

static void check_shape(const Case *t, int rank, const int64_t *dims)
{
    char got[160], want[160];
    Type w = type_make(DT_F32, rank, dims);
    type_str(&t->out.type, got, sizeof got);
    type_str(&w, want, sizeof want);
    cr_assert_str_eq(got, want, "output type (seed %u)", t->seed);
}
#define SHAPE(t, ...) \
    check_shape((t), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                (int64_t[]){__VA_ARGS__})

static void check_close(const Case *t, const float *got, const float *want, int64_t n)
{
    cr_assert_eq(type_numel(&t->out.type), n, "element count (seed %u)", t->seed);
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-5 * (fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0);
        cr_assert(fabs((double)got[i] - want[i]) <= tol,
                  "element %lld: got %.9g, want %.9g (seed %u)", (long long)i, got[i], want[i],
                  t->seed);
    }
}
#define CHECK(t, got, arr) check_close((t), (got), (arr), (int64_t)(sizeof(arr) / sizeof(arr)[0]))

static const char *diag_text(Case *t)
{
    static char buf[4096];
    fflush(t->err);
    rewind(t->err);
    size_t len = fread(buf, 1, sizeof buf - 1, t->err);
    buf[len] = '\0';
    return buf;
}

/* Inference must fail with exactly one diagnostic at the node, naming the
 * node and containing every needle (shapes, mostly). */
static void expect_error(Case *t, const char *const *needles, int count)
{
    cr_assert_not(finish(t), "inference accepted a bad node");
    const char *text = diag_text(t);
    cr_assert_eq(t->c->nerrors, 1, "want one diagnostic, got %d:\n%s", t->c->nerrors, text);
    cr_assert(strstr(text, "nn.etch:3:5: error: node 'y' ("), "location/node missing:\n%s", text);
    for (int i = 0; i < count; i++)
        cr_assert(strstr(text, needles[i]), "'%s' missing from:\n%s", needles[i], text);
}
#define EXPECT_ERROR(t, ...)                                                         \
    expect_error((t), (const char *const[]){__VA_ARGS__},                           \
                 (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* -------------------------------------------------------------------- conv */

Test(ref_nn, conv_hand_2x2)
{
    Case t;
    case_init(&t, 1);
    float *x = IN(&t, 1, 1, 3, 3), *w = IN(&t, 1, 1, 2, 2), *b = IN(&t, 1);
    for (int i = 0; i < 9; i++)
        x[i] = (float)(i + 1);
    for (int i = 0; i < 4; i++)
        w[i] = (float)(i + 1);
    b[0] = 0.5f;
    mk(&t, OP_CONV);
    const float *y = run(&t);
    SHAPE(&t, 1, 1, 2, 2);
    static const float want[] = {37.5f, 47.5f, 67.5f, 77.5f};
    CHECK(&t, y, want);
    case_fini(&t);
}

Test(ref_nn, conv2d_stride_pads_dilation)
{
    Case t;
    case_init(&t, 11);
    IN(&t, 1, 3, 6, 5);
    IN(&t, 4, 3, 3, 3);
    IN(&t, 4);
    mk(&t, OP_CONV);
    SET_INTS(&t, "strides", 2, 1);
    SET_INTS(&t, "pads", 1, 0, 2, 1);
    SET_INTS(&t, "dilations", 1, 2);
    SET_INTS(&t, "kernel_shape", 3, 3);
    const float *y = run(&t);
    SHAPE(&t, 1, 4, 4, 2);
    CHECK(&t, y, exp_conv2d);
    case_fini(&t);
}

Test(ref_nn, conv_groups_no_bias)
{
    Case t;
    case_init(&t, 12);
    IN(&t, 2, 4, 5, 5);
    IN(&t, 6, 2, 3, 3);
    add_omitted(&t);
    mk(&t, OP_CONV);
    set_int(&t, "group", 2);
    SET_INTS(&t, "pads", 1, 1, 1, 1);
    const float *y = run(&t);
    SHAPE(&t, 2, 6, 5, 5);
    CHECK(&t, y, exp_conv_group);
    case_fini(&t);
}

Test(ref_nn, conv_depthwise)
{
    Case t;
    case_init(&t, 13);
    IN(&t, 1, 3, 5, 5);
    IN(&t, 3, 1, 3, 3);
    IN(&t, 3);
    mk(&t, OP_CONV);
    set_int(&t, "group", 3);
    SET_INTS(&t, "strides", 2, 2);
    const float *y = run(&t);
    SHAPE(&t, 1, 3, 2, 2);
    CHECK(&t, y, exp_conv_dw);
    case_fini(&t);
}

Test(ref_nn, conv1d_dilation)
{
    Case t;
    case_init(&t, 14);
    IN(&t, 1, 2, 7);
    IN(&t, 3, 2, 3);
    IN(&t, 3);
    mk(&t, OP_CONV);
    SET_INTS(&t, "pads", 1, 1);
    SET_INTS(&t, "dilations", 2);
    const float *y = run(&t);
    SHAPE(&t, 1, 3, 5);
    CHECK(&t, y, exp_conv1d);
    case_fini(&t);
}

Test(ref_nn, conv_same_upper)
{
    Case t;
    case_init(&t, 15);
    IN(&t, 1, 2, 5, 6);
    IN(&t, 2, 2, 4, 3);
    mk(&t, OP_CONV);
    set_str(&t, "auto_pad", "SAME_UPPER");
    SET_INTS(&t, "strides", 2, 2);
    const float *y = run(&t);
    SHAPE(&t, 1, 2, 3, 3);
    CHECK(&t, y, exp_conv_same);
    Geom geo;
    cr_assert(ir_window_geom(NULL, t.g, ir_node(t.g, t.node), &geo));
    cr_assert_eq(geo.pad_begin[0], 1);
    cr_assert_eq(geo.pad_end[0], 2);
    cr_assert_eq(geo.pad_begin[1], 0);
    cr_assert_eq(geo.pad_end[1], 1);
    case_fini(&t);
}

Test(ref_nn, conv3d)
{
    Case t;
    case_init(&t, 16);
    IN(&t, 1, 1, 3, 4, 4);
    IN(&t, 2, 1, 2, 2, 2);
    IN(&t, 2);
    mk(&t, OP_CONV);
    SET_INTS(&t, "pads", 0, 1, 0, 0, 1, 0);
    const float *y = run(&t);
    SHAPE(&t, 1, 2, 2, 5, 3);
    CHECK(&t, y, exp_conv3d);
    case_fini(&t);
}

/* SAME_LOWER puts the odd pad first; VALID pads nothing; the explicit
 * geometry is what infer, ref and lower all read. */
Test(ref_nn, window_geom_auto_pad)
{
    static const char *const modes[] = {"SAME_LOWER", "VALID"};
    static const int64_t pb[] = {2, 0}, pe[] = {1, 0}, out[] = {3, 1};
    for (int m = 0; m < 2; m++) {
        Case t;
        case_init(&t, 17);
        IN(&t, 1, 1, 5);
        IN(&t, 1, 1, 4);
        mk(&t, OP_CONV);
        set_str(&t, "auto_pad", modes[m]);
        SET_INTS(&t, "strides", 2);
        cr_assert(finish(&t));
        Geom geo;
        cr_assert(ir_window_geom(t.c, t.g, ir_node(t.g, t.node), &geo));
        cr_assert_eq(geo.nspatial, 1);
        cr_assert_eq(geo.kernel[0], 4);
        cr_assert_eq(geo.pad_begin[0], pb[m], "%s", modes[m]);
        cr_assert_eq(geo.pad_end[0], pe[m], "%s", modes[m]);
        cr_assert_eq(geo.out[0], out[m], "%s", modes[m]);
        cr_assert_eq(ir_out_type(t.g, ir_node(t.g, t.node), 0)->dims[2], out[m]);
        case_fini(&t);
    }
}

/* ------------------------------------------------------------------- pools */

Test(ref_nn, max_pool_ceil_mode)
{
    Case t;
    case_init(&t, 21);
    IN(&t, 1, 2, 5, 5);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2, 2);
    SET_INTS(&t, "strides", 2, 2);
    set_int(&t, "ceil_mode", 1);
    const float *y = run(&t);
    SHAPE(&t, 1, 2, 3, 3);
    CHECK(&t, y, exp_maxpool_ceil);
    case_fini(&t);
}

Test(ref_nn, max_pool_pads_dilation)
{
    Case t;
    case_init(&t, 22);
    IN(&t, 1, 1, 6, 6);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2, 2);
    SET_INTS(&t, "pads", 1, 1, 1, 1);
    SET_INTS(&t, "dilations", 2, 2);
    const float *y = run(&t);
    SHAPE(&t, 1, 1, 6, 6);
    CHECK(&t, y, exp_maxpool_dil);
    case_fini(&t);
}

/* The ceil_mode window that would start inside the right padding is
 * dropped (ONNX and PyTorch agree): 3 outputs, not ceil(5/2) + 1 = 4. */
Test(ref_nn, max_pool_ceil_drops_window_in_padding)
{
    Case t;
    case_init(&t, 24);
    IN(&t, 1, 1, 5);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2);
    SET_INTS(&t, "strides", 2);
    SET_INTS(&t, "pads", 1, 1);
    set_int(&t, "ceil_mode", 1);
    const float *y = run(&t);
    SHAPE(&t, 1, 1, 3);
    CHECK(&t, y, exp_maxpool1d);
    case_fini(&t);
}

static void avg_pool_case(bool include_pad, const float *want, int64_t count)
{
    Case t;
    case_init(&t, 23);
    IN(&t, 1, 2, 6, 6);
    mk(&t, OP_AVERAGE_POOL);
    SET_INTS(&t, "kernel_shape", 3, 3);
    SET_INTS(&t, "strides", 2, 2);
    SET_INTS(&t, "pads", 1, 1, 1, 1);
    set_int(&t, "ceil_mode", 1);
    set_int(&t, "count_include_pad", include_pad);
    const float *y = run(&t);
    SHAPE(&t, 1, 2, 4, 4);
    check_close(&t, y, want, count);
    case_fini(&t);
}

Test(ref_nn, average_pool_ceil_count_include_pad)
{
    avg_pool_case(true, exp_avg_incl, 32);
}

Test(ref_nn, average_pool_ceil_exclude_pad)
{
    avg_pool_case(false, exp_avg_excl, 32);
}

Test(ref_nn, average_pool_hand_padding)
{
    for (int incl = 0; incl < 2; incl++) {
        Case t;
        case_init(&t, 2);
        float *x = IN(&t, 1, 1, 2, 2);
        for (int i = 0; i < 4; i++)
            x[i] = (float)(i + 1);
        mk(&t, OP_AVERAGE_POOL);
        SET_INTS(&t, "kernel_shape", 2, 2);
        SET_INTS(&t, "strides", 2, 2);
        SET_INTS(&t, "pads", 1, 1, 1, 1);
        set_int(&t, "count_include_pad", incl);
        const float *y = run(&t);
        SHAPE(&t, 1, 1, 2, 2);
        /* Each 2x2 window holds one input element and three pads. */
        static const float excl[] = {1, 2, 3, 4}, with[] = {0.25f, 0.5f, 0.75f, 1.0f};
        check_close(&t, y, incl ? with : excl, 4);
        case_fini(&t);
    }
}

Test(ref_nn, global_pools)
{
    for (int op = 0; op < 2; op++) {
        Case t;
        case_init(&t, 25);
        const float *x = IN(&t, 2, 3, 4, 5);
        mk(&t, op ? OP_GLOBAL_MAX_POOL : OP_GLOBAL_AVERAGE_POOL);
        const float *y = run(&t);
        SHAPE(&t, 2, 3, 1, 1);
        float want[6];
        for (int p = 0; p < 6; p++) {
            double sum = 0, mx = x[p * 20];
            for (int i = 0; i < 20; i++) {
                sum += x[p * 20 + i];
                mx = x[p * 20 + i] > mx ? x[p * 20 + i] : mx;
            }
            want[p] = (float)(op ? mx : sum / 20);
        }
        CHECK(&t, y, want);
        case_fini(&t);
    }
}

/* ------------------------------------------------------------ gemm, matmul */

Test(ref_nn, gemm_hand)
{
    Case t;
    case_init(&t, 3);
    float *a = IN(&t, 2, 2), *b = IN(&t, 2, 2), *c = IN(&t, 2);
    static const float av[] = {1, 2, 3, 4}, bv[] = {5, 6, 7, 8};
    memcpy(a, av, sizeof av);
    memcpy(b, bv, sizeof bv);
    c[0] = 1;
    c[1] = -1;
    mk(&t, OP_GEMM);
    set_int(&t, "trans_b", 1);
    set_float(&t, "alpha", 2);
    const float *y = run(&t);
    SHAPE(&t, 2, 2);
    static const float want[] = {35, 45, 79, 105};
    CHECK(&t, y, want);
    case_fini(&t);
}

/* Every transpose combination, alpha/beta, and c as [N], [M, 1], [M, N],
 * a scalar, absent, and [1, N]. */
Test(ref_nn, gemm_transposes_and_c_broadcast)
{
    static const struct { int ta, tb, crank; int64_t cdims[2]; const float *want; } cases[] = {
        {0, 0, 1, {5}, exp_gemm0},     {1, 0, 2, {3, 1}, exp_gemm1},
        {0, 1, 2, {3, 5}, exp_gemm2},  {1, 1, 0, {0}, exp_gemm3},
        {0, 0, -1, {0}, exp_gemm4},    {1, 1, 2, {1, 5}, exp_gemm5},
    };
    for (int i = 0; i < 6; i++) {
        Case t;
        case_init(&t, 30u + (uint32_t)i);
        if (cases[i].ta)
            IN(&t, 4, 3);
        else
            IN(&t, 3, 4);
        if (cases[i].tb)
            IN(&t, 5, 4);
        else
            IN(&t, 4, 5);
        if (cases[i].crank >= 0)
            add_in(&t, cases[i].crank, cases[i].cdims);
        mk(&t, OP_GEMM);
        set_int(&t, "trans_a", cases[i].ta);
        set_int(&t, "trans_b", cases[i].tb);
        set_float(&t, "alpha", 0.5);
        set_float(&t, "beta", 2.0);
        const float *y = run(&t);
        SHAPE(&t, 3, 5);
        check_close(&t, y, cases[i].want, 15);
        case_fini(&t);
    }
}

Test(ref_nn, matmul_batch_broadcast)
{
    Case t;
    case_init(&t, 40);
    IN(&t, 2, 1, 3, 4);
    IN(&t, 3, 4, 2);
    mk(&t, OP_MATMUL);
    const float *y = run(&t);
    SHAPE(&t, 2, 3, 3, 2);
    CHECK(&t, y, exp_mm_batch);
    case_fini(&t);
}

/* A fused c ([N], broadcast over batch and rows) added to the product,
 * then the clamp: [2, 1, 2] x [2, 2] + [1, -1], clamped to [0, 20]. */
Test(ref_nn, matmul_c_and_clamp)
{
    Case t;
    case_init(&t, 3);
    float *a = IN(&t, 2, 1, 2), *b = IN(&t, 2, 2), *c = IN(&t, 2);
    static const float av[] = {1, 2, -3, 4}, bv[] = {5, 6, 7, 8};
    memcpy(a, av, sizeof av);
    memcpy(b, bv, sizeof bv);
    c[0] = 1;
    c[1] = -1;
    mk(&t, OP_MATMUL);
    set_float(&t, "act_min", 0);
    set_float(&t, "act_max", 20);
    const float *y = run(&t);
    SHAPE(&t, 2, 1, 2);
    /* [19 + 1, 22 - 1] and [13 + 1, 14 - 1], clamped */
    static const float want[] = {20, 20, 14, 13};
    CHECK(&t, y, want);
    case_fini(&t);
}

Test(ref_nn, matmul_1d_promotion)
{
    Case t;
    case_init(&t, 41);
    IN(&t, 4);
    IN(&t, 2, 4, 3);
    mk(&t, OP_MATMUL);
    const float *y = run(&t);
    SHAPE(&t, 2, 3);
    CHECK(&t, y, exp_mm_vec_a);
    case_fini(&t);

    case_init(&t, 42);
    IN(&t, 2, 3, 4);
    IN(&t, 4);
    mk(&t, OP_MATMUL);
    y = run(&t);
    SHAPE(&t, 2, 3);
    CHECK(&t, y, exp_mm_vec_b);
    case_fini(&t);

    case_init(&t, 43);
    IN(&t, 5);
    IN(&t, 5);
    mk(&t, OP_MATMUL);
    y = run(&t);
    cr_assert_eq(t.out.type.rank, 0);
    CHECK(&t, y, exp_mm_dot);
    case_fini(&t);
}

/* ------------------------------------------------------------ normalization */

Test(ref_nn, batch_norm)
{
    Case t;
    case_init(&t, 50);
    IN(&t, 2, 3, 2, 2);
    IN(&t, 3);
    IN(&t, 3);
    IN(&t, 3);
    float *var = IN(&t, 3);
    for (int i = 0; i < 3; i++)
        var[i] = fabsf(var[i]) + 0.5f;
    mk(&t, OP_BATCH_NORM);
    set_float(&t, "epsilon", 1e-3);
    const float *y = run(&t);
    SHAPE(&t, 2, 3, 2, 2);
    CHECK(&t, y, exp_bn);
    case_fini(&t);
}

Test(ref_nn, layer_norm_axis1_broadcast_bias)
{
    Case t;
    case_init(&t, 60);
    IN(&t, 2, 3, 4);
    IN(&t, 3, 4);
    IN(&t, 4);
    mk(&t, OP_LAYER_NORM);
    set_int(&t, "axis", 1);
    const float *y = run(&t);
    SHAPE(&t, 2, 3, 4);
    CHECK(&t, y, exp_ln1);
    case_fini(&t);
}

Test(ref_nn, layer_norm_last_axis_no_bias)
{
    Case t;
    case_init(&t, 61);
    IN(&t, 3, 5);
    IN(&t, 5);
    mk(&t, OP_LAYER_NORM);
    const float *y = run(&t);
    SHAPE(&t, 3, 5);
    CHECK(&t, y, exp_ln_last);
    case_fini(&t);
}

Test(ref_nn, softmax_axes)
{
    static const struct { int axis; const float *want; } cases[] = {
        {0, exp_softmax_ax0}, {1, exp_softmax_ax1}, {-1, exp_softmax_ax9}};
    for (int i = 0; i < 3; i++) {
        Case t;
        case_init(&t, 70);
        float *x = IN(&t, 3, 4, 2);
        for (int j = 0; j < 24; j++)
            x[j] *= 4;
        mk(&t, OP_SOFTMAX);
        set_int(&t, "axis", cases[i].axis);
        const float *y = run(&t);
        SHAPE(&t, 3, 4, 2);
        check_close(&t, y, cases[i].want, 24);
        case_fini(&t);
    }
}

/* Subtracting the max keeps huge logits finite: softmax(1000 + [0, ln 3]). */
Test(ref_nn, softmax_stable_hand)
{
    Case t;
    case_init(&t, 4);
    float *x = IN(&t, 2, 2);
    x[0] = 0;
    x[1] = logf(3);
    x[2] = 1000;
    x[3] = 1000 + logf(3);
    mk(&t, OP_SOFTMAX);
    const float *y = run(&t);
    static const float want[] = {0.25f, 0.75f, 0.25f, 0.75f};
    CHECK(&t, y, want);
    case_fini(&t);
}

/* ------------------------------------------------------------ inference errors */

Test(ref_nn, error_conv_channels)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 3, 8, 8);
    IN(&t, 4, 2, 3, 3);
    mk(&t, OP_CONV);
    EXPECT_ERROR(&t, "(conv)", "f32[1, 3, 8, 8]", "f32[4, 2, 3, 3]");
    case_fini(&t);
}

Test(ref_nn, error_conv_group_channels)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 4, 8, 8);
    IN(&t, 6, 4, 3, 3);
    mk(&t, OP_CONV);
    set_int(&t, "group", 2);
    EXPECT_ERROR(&t, "f32[1, 4, 8, 8]", "f32[6, 4, 3, 3]", "group = 2");
    case_fini(&t);
}

Test(ref_nn, error_conv_kernel_shape_mismatch)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 3, 8, 8);
    IN(&t, 4, 3, 3, 3);
    mk(&t, OP_CONV);
    SET_INTS(&t, "kernel_shape", 5, 5);
    EXPECT_ERROR(&t, "kernel_shape [5, 5]", "f32[4, 3, 3, 3]", "f32[1, 3, 8, 8]");
    case_fini(&t);
}

Test(ref_nn, error_conv_bias_and_rank)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 3, 8, 8);
    IN(&t, 4, 3, 3, 3);
    IN(&t, 3);
    mk(&t, OP_CONV);
    EXPECT_ERROR(&t, "f32[4, 3, 3, 3]", "b is f32[3]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 1, 3, 8, 8);
    IN(&t, 4, 3, 3);
    mk(&t, OP_CONV);
    EXPECT_ERROR(&t, "f32[1, 3, 8, 8]", "f32[4, 3, 3]");
    case_fini(&t);
}

Test(ref_nn, error_pool_kernel_too_big)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 2, 3, 3);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2, 4);
    EXPECT_ERROR(&t, "(max_pool)", "window [2, 4]", "f32[1, 2, 3, 3]");
    case_fini(&t);
}

Test(ref_nn, error_pool_bad_lists)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 2, 6, 6);
    mk(&t, OP_AVERAGE_POOL);
    SET_INTS(&t, "kernel_shape", 2);
    EXPECT_ERROR(&t, "kernel_shape [2]", "f32[1, 2, 6, 6]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 1, 2, 6, 6);
    mk(&t, OP_AVERAGE_POOL);
    SET_INTS(&t, "kernel_shape", 2, 2);
    SET_INTS(&t, "strides", 0, 1);
    EXPECT_ERROR(&t, "strides [0, 1]", "f32[1, 2, 6, 6]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 1, 2, 6, 6);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2, 2);
    SET_INTS(&t, "pads", 1, 1);
    EXPECT_ERROR(&t, "pads [1, 1]", "f32[1, 2, 6, 6]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 1, 2, 6, 6);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2, 2);
    set_str(&t, "auto_pad", "SAME");
    EXPECT_ERROR(&t, "auto_pad \"SAME\"");
    case_fini(&t);
}

Test(ref_nn, error_pool_wrong_rank)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 4, 6);
    mk(&t, OP_GLOBAL_AVERAGE_POOL);
    EXPECT_ERROR(&t, "(global_average_pool)", "f32[4, 6]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 4, 6);
    mk(&t, OP_MAX_POOL);
    SET_INTS(&t, "kernel_shape", 2);
    EXPECT_ERROR(&t, "(max_pool)", "f32[4, 6]");
    case_fini(&t);
}

Test(ref_nn, error_gemm_inner)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 64);
    IN(&t, 32, 10);
    mk(&t, OP_GEMM);
    EXPECT_ERROR(&t, "node 'y' (gemm): inner dimensions differ: a is f32[1, 64], b is f32[32, 10]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 3, 4);
    IN(&t, 4, 5);
    IN(&t, 3, 2);
    mk(&t, OP_GEMM);
    EXPECT_ERROR(&t, "c is f32[3, 2]", "f32[3, 5]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 2, 3, 4);
    IN(&t, 4, 5);
    mk(&t, OP_GEMM);
    EXPECT_ERROR(&t, "f32[2, 3, 4]", "f32[4, 5]");
    case_fini(&t);
}

Test(ref_nn, error_matmul)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 2, 3, 4);
    IN(&t, 3, 4, 5);
    mk(&t, OP_MATMUL);
    EXPECT_ERROR(&t, "batch", "f32[2, 3, 4]", "f32[3, 4, 5]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 4);
    IN(&t, 3, 2);
    mk(&t, OP_MATMUL);
    EXPECT_ERROR(&t, "inner", "f32[4]", "f32[3, 2]");
    case_fini(&t);

    case_init(&t, 5);
    IN_SCALAR(&t);
    IN(&t, 3, 2);
    mk(&t, OP_MATMUL);
    EXPECT_ERROR(&t, "f32[]", "f32[3, 2]");
    case_fini(&t);

    /* c may broadcast to the product but not widen it */
    case_init(&t, 5);
    IN(&t, 3, 4);
    IN(&t, 4, 5);
    IN(&t, 2, 1, 5);
    mk(&t, OP_MATMUL);
    EXPECT_ERROR(&t, "node 'y' (matmul): c is f32[2, 1, 5], which does not broadcast to the output f32[3, 5]");
    case_fini(&t);
}

Test(ref_nn, error_norms_and_softmax)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 3, 4, 4);
    IN(&t, 3);
    IN(&t, 3);
    IN(&t, 4);
    IN(&t, 3);
    mk(&t, OP_BATCH_NORM);
    EXPECT_ERROR(&t, "(batch_norm)", "mean is f32[4]", "f32[1, 3, 4, 4]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 2, 3, 4);
    IN(&t, 4, 4);
    mk(&t, OP_LAYER_NORM);
    set_int(&t, "axis", 1);
    EXPECT_ERROR(&t, "(layer_norm)", "scale is f32[4, 4]", "[3, 4]", "f32[2, 3, 4]");
    case_fini(&t);

    case_init(&t, 5);
    IN(&t, 2, 3);
    mk(&t, OP_SOFTMAX);
    set_int(&t, "axis", 2);
    EXPECT_ERROR(&t, "(softmax)", "axis 2", "f32[2, 3]");
    case_fini(&t);
}

Test(ref_nn, error_non_f32)
{
    Case t;
    case_init(&t, 5);
    IN(&t, 1, 3, 8, 8);
    IN(&t, 4, 3, 3, 3);
    retype_in(&t, 0, DT_I8);
    mk(&t, OP_CONV);
    EXPECT_ERROR(&t, "only f32", "i8[1, 3, 8, 8]", "dtype i8");
    case_fini(&t);
}
