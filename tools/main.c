/* main.c: the etch command line: argument parsing and dispatch.
 *
 *   etch compile MODEL [-o OUTDIR] [--name PREFIX] [--emit c|llvm|bc|obj|asm] [-O 0|1|2|3]
 *                      [--target host|cortex-m4|cortex-m0|TRIPLE] [--shape NAME=D0,D1,...]
 *                      [--print-after=PASS|all] [--disable-pass=NAME] [--rounding single|tflite]
 *                      [--math exact|fast]
 *   etch run MODEL --input [NAME=]FILE.npy ... [--output-dir DIR]
 *                  [--backend interp|c|llvm] [--repeat N] [--stats] (+ compile's options)
 *   etch dump MODEL [--print-after=PASS|all] [--disable-pass=NAME] [--target T] [--shape ...]
 *   compile, run and dump also take [--quantize int8 --calibrate [NAME=]FILE.npy|DIR
 *                      [--calibrate-percentile P] [--io float|int8]]
 *   etch dot MODEL [-o FILE] [--shape ...]
 *   etch --help | --version | COMMAND --help
 *
 * Options take their value as `--opt=VALUE` or `--opt VALUE`. Exit status:
 * 0 on success, 1 on a user error (after its diagnostic), 2 on bad usage
 * (after a usage message). Only main exits; commands return a status.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { C_COMPILE = 1, C_RUN = 2, C_DUMP = 4, C_DOT = 8, C_ALL = 15 };

typedef struct {
    const char *name;
    unsigned cmd;
    int (*fn)(Ctx *c, const CliOpts *o);
    const char *usage;
} Command;

static const Command commands[] = {
    {"compile", C_COMPILE, cli_compile,
     "etch compile MODEL [-o OUTDIR] [--name PREFIX] [--emit c|llvm|bc|obj|asm] [-O 0|1|2|3] "
     "[--target NAME|TRIPLE] [--print-after=PASS|all] "
     "[--disable-pass=NAME] [--shape NAME=D0,D1,...] [--math exact|fast] [quantize options]"},
    {"run", C_RUN, cli_run,
     "etch run MODEL --input [NAME=]FILE.npy ... [--output-dir DIR] [--backend interp|c|llvm] "
     "[--repeat N] [--stats] [compile options]"},
    {"dump", C_DUMP, cli_dump,
     "etch dump MODEL [--print-after=PASS|all] [--disable-pass=NAME] [--target NAME|TRIPLE] "
     "[--shape NAME=D0,D1,...] [--math exact|fast] [quantize options]"},
    {"dot", C_DOT, cli_dot, "etch dot MODEL [-o FILE] [--shape NAME=D0,D1,...]"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

typedef struct {
    const char *name;
    bool value;         /* takes a value */
    unsigned cmds;      /* commands accepting it */
    const char *help;
} Option;

static const Option options[] = {
    {"-o", true, C_COMPILE | C_RUN | C_DOT,
     "compile/run: directory for PREFIX.c, PREFIX.h, etch_runtime.h (default .); dot: output file"},
    {"--name", true, C_COMPILE | C_RUN, "C prefix of the generated code (default: the graph name)"},
    {"--emit", true, C_COMPILE | C_RUN,
     "what to emit: c (default), or with the LLVM backend llvm (.ll), bc, obj (.o), asm (.s)"},
    {"-O", true, C_COMPILE | C_RUN, "LLVM backend optimization level 0..3 (default 2)"},
    {"--print-after", true, C_COMPILE | C_RUN | C_DUMP,
     "print the IR after PASS (or all; repeat or separate with commas)"},
    {"--disable-pass", true, C_COMPILE | C_RUN | C_DUMP, "skip the optional pass NAME"},
    {"--shape", true, C_ALL,
     "NAME=D0,D1,...: the shape of ONNX input NAME (symbolic dims default to 1)"},
    {"--const", true, C_ALL,
     "NAME=FILE.npy: freeze ONNX input NAME to a constant (e.g. a shape it feeds)"},
    {"--input", true, C_RUN, "an input as [NAME=]FILE.npy (by name, or in graph order)"},
    {"--output-dir", true, C_RUN, "where the output .npy files go (default .)"},
    {"--backend", true, C_RUN,
     "interp (the reference interpreter, default), c (compiled C) or llvm (LLVM object)"},
    {"--repeat", true, C_RUN, "run the inference N times (for timing)"},
    {"--stats", false, C_RUN, "print latency_us, arena_bytes and arena_lower_bound"},
    {"--target", true, C_COMPILE | C_RUN | C_DUMP,
     "host (default), generic, cortex-m4 or cortex-m0; cortex-m runs go through QEMU"},
    {"--rounding", true, C_COMPILE | C_RUN | C_DUMP,
     "requantization of int8 kernels: single (default; one rounding, as ONNX Runtime and "
     "TFLite's single-rounding kernels) or tflite (TFLite Micro's reference rounding)"},
    {"--math", true, C_COMPILE | C_RUN | C_DUMP,
     "exact (default: libm's exp and tanh) or fast (polynomials within 1.5 ulp, "
     "vectorizable; see docs/fast-math.md)"},
    {"--quantize", true, C_COMPILE | C_RUN | C_DUMP,
     "int8: post-training quantization into QDQ form, calibrated on --calibrate"},
    {"--calibrate", true, C_COMPILE | C_RUN | C_DUMP,
     "[NAME=]FILE.npy|DIR: calibration samples, stacked on a first axis or one .npy each "
     "(one per input for several inputs)"},
    {"--calibrate-percentile", true, C_COMPILE | C_RUN | C_DUMP,
     "P in (50, 100]: ranges from the (100-P)-th and P-th percentiles, not min/max"},
    {"--io", true, C_COMPILE | C_RUN | C_DUMP,
     "float (default): quantized graphs keep f32 inputs/outputs; int8: i8 with their scale/zero"},
    {"--help", false, C_ALL, "show this help"},
};
enum { NOPTIONS = sizeof options / sizeof options[0] };

static void print_help(FILE *f)
{
    fprintf(f, "etch %s: an ahead-of-time tensor compiler\n\nusage:\n", ETCH_VERSION);
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "  etch --help | --version | COMMAND --help\n\noptions:\n");
    for (int i = 0; i < NOPTIONS; i++)
        fprintf(f, "  %-16s %s\n", options[i].name, options[i].help);
    fprintf(f, "\nquantize options (compile, run, dump): --quantize int8 --calibrate "
               "[NAME=]FILE.npy|DIR [--calibrate-percentile P] [--io float|int8]\n");
    int n;
    const PassInfo *passes = pipeline_passes(&n);
    fprintf(f, "\npasses:");
    for (int i = 0; i < n; i++)
        fprintf(f, " %s", passes[i].name);
    fprintf(f, "\n\nexit status: 0 success, 1 error in the model or its data, 2 bad usage\n");
}

static void print_command_help(FILE *f, const Command *cmd)
{
    fprintf(f, "usage: %s\n\noptions:\n", cmd->usage);
    for (int i = 0; i < NOPTIONS; i++)
        if (options[i].cmds & cmd->cmd)
            fprintf(f, "  %-16s %s\n", options[i].name, options[i].help);
}

/* A usage error: the message, then the usage line; exit status 2. */
static int usage_error(const Command *cmd, const char *fmt, ...) IR_PRINTF(2, 3);

static int usage_error(const Command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "etch: error: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\nrun 'etch %s%s--help' for more\n",
            cmd ? cmd->usage : "etch COMMAND MODEL [options]", cmd ? cmd->name : "",
            cmd ? " " : "");
    return CLI_USAGE;
}

static const char *pass_list(Arena *a)
{
    int n;
    const PassInfo *passes = pipeline_passes(&n);
    const char *s = "";
    for (int i = 0; i < n; i++)
        s = arena_printf(a, "%s%s, ", s, passes[i].name);
    return arena_printf(a, "%sall", s);
}

/* Splits a comma-separated pass list into `list`, checking every name. */
static int add_passes(Arena *a, const Command *cmd, const char *value, bool allow_all,
                      const char ***list, int *n, int *cap)
{
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *name = comma ? arena_strndup(a, p, (size_t)(comma - p)) : arena_strdup(a, p);
        if (!pipeline_has_pass(name) && !(allow_all && strcmp(name, "all") == 0)) {
            const char *msg = arena_printf(a, "unknown pass '%s' (passes: %s)", name, pass_list(a));
            return usage_error(cmd, "%s", msg);
        }
        VEC_PUSH(a, *list, *n, *cap) = name;
        if (!comma)
            return CLI_OK;
        p = comma + 1;
    }
}

static bool is_identifier(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* --shape NAME=D0,D1,...: positive dims, at most IR_MAX_RANK of them;
 * `NAME=` alone is a scalar. */
static int add_shape(Arena *a, const Command *cmd, CliOpts *o, const char *v)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v)
        return usage_error(cmd, "--shape wants NAME=D0,D1,..., not '%s'", v);
    FeShape sh = {.name = arena_strndup(a, v, (size_t)(eq - v))};
    for (int i = 0; i < o->nshapes; i++)
        if (strcmp(o->shapes[i].name, sh.name) == 0)
            return usage_error(cmd, "--shape %s is given twice", sh.name);
    for (const char *p = eq + 1; *p;) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 1 || d > (1LL << 31) || (*end != ',' && *end != '\0') ||
            (*end == ',' && end[1] == '\0'))
            return usage_error(cmd, "--shape %s: '%s' is not a list of positive dimensions",
                               sh.name, eq + 1);
        if (sh.rank == IR_MAX_RANK)
            return usage_error(cmd, "--shape %s: more than %d dimensions", sh.name, IR_MAX_RANK);
        sh.dims[sh.rank++] = d;
        p = *end ? end + 1 : end;
    }
    VEC_PUSH(a, o->shapes, o->nshapes, o->capshapes) = sh;
    return CLI_OK;
}

static int set_option(Arena *a, const Command *cmd, CliOpts *o, const Option *opt, const char *v)
{
    const char *n = opt->name;
    if (strcmp(n, "-o") == 0) {
        o->out = v;
    } else if (strcmp(n, "--name") == 0) {
        if (!is_identifier(v))
            return usage_error(cmd, "--name '%s' is not a C identifier", v);
        o->name = v;
    } else if (strcmp(n, "--emit") == 0) {
        static const char *const kinds[] = {"c", "llvm", "bc", "obj", "asm"};
        bool known = false;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            known |= strcmp(v, kinds[i]) == 0;
        if (!known)
            return usage_error(cmd, "cannot emit '%s' (supported: c, llvm, bc, obj, asm)", v);
        o->emit = v;
    } else if (strcmp(n, "--print-after") == 0) {
        return add_passes(a, cmd, v, true, &o->print_after, &o->nprint_after, &o->capprint_after);
    } else if (strcmp(n, "--disable-pass") == 0) {
        return add_passes(a, cmd, v, false, &o->disabled, &o->ndisabled, &o->capdisabled);
    } else if (strcmp(n, "--shape") == 0) {
        return add_shape(a, cmd, o, v);
    } else if (strcmp(n, "--const") == 0) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1])
            return usage_error(cmd, "--const wants NAME=FILE.npy, not '%s'", v);
        VEC_PUSH(a, o->consts, o->nconsts, o->capconsts) = v;
    } else if (strcmp(n, "--input") == 0) {
        VEC_PUSH(a, o->inputs, o->ninputs, o->capinputs) = v;
    } else if (strcmp(n, "--output-dir") == 0) {
        o->output_dir = v;
    } else if (strcmp(n, "--backend") == 0) {
        if (strcmp(v, "interp") != 0 && strcmp(v, "c") != 0 && strcmp(v, "llvm") != 0)
            return usage_error(cmd, "unknown backend '%s' (backends: interp, c, llvm)", v);
        o->backend = v;
    } else if (strcmp(n, "--repeat") == 0) {
        char *end;
        long r = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || r < 1 || r > 1000000000L)
            return usage_error(cmd, "--repeat wants a positive integer, not '%s'", v);
        o->repeat = (int)r;
    } else if (strcmp(n, "--stats") == 0) {
        o->stats = true;
    } else if (strcmp(n, "-O") == 0) {
        if (strlen(v) != 1 || v[0] < '0' || v[0] > '3')
            return usage_error(cmd, "-O wants 0, 1, 2 or 3, not '%s'", v);
        o->opt_level = v[0] - '0';
    } else if (strcmp(n, "--rounding") == 0) {
        int r = quant_rounding_by_name(v);
        if (r < 0)
            return usage_error(cmd, "unknown rounding '%s' (roundings: single, tflite)", v);
        o->rounding = (Rounding)r;
    } else if (strcmp(n, "--math") == 0) {
        int mm = math_mode_by_name(v);
        if (mm < 0)
            return usage_error(cmd, "unknown math mode '%s' (modes: exact, fast)", v);
        o->math = (MathMode)mm;
    } else if (strcmp(n, "--target") == 0) {
        /* An LLVM triple (arch-vendor-os...) is checked by LLVM when used. */
        if (!target_find(v) && !strchr(v, '-'))
            return usage_error(cmd, "unknown target '%s' (targets: %s, or an LLVM triple)", v,
                               target_names());
        o->target = v;
    } else if (strcmp(n, "--quantize") == 0) {
        if (strcmp(v, "int8") != 0)
            return usage_error(cmd, "cannot quantize to '%s' (supported: int8)", v);
        o->quantize = v;
    } else if (strcmp(n, "--calibrate") == 0) {
        VEC_PUSH(a, o->calibrate, o->ncalibrate, o->capcalibrate) = v;
    } else if (strcmp(n, "--calibrate-percentile") == 0) {
        char *end;
        double p = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || !(p > 50.0 && p <= 100.0))
            return usage_error(cmd, "--calibrate-percentile wants a number in (50, 100], not '%s'",
                               v);
        o->percentile = p;
    } else if (strcmp(n, "--io") == 0) {
        if (strcmp(v, "float") != 0 && strcmp(v, "int8") != 0)
            return usage_error(cmd, "--io wants float or int8, not '%s'", v);
        o->io = v;
    }
    return CLI_OK;
}

/* The quantization options only mean something together. */
static int check_quantize(const Command *cmd, const CliOpts *o)
{
    const char *stray = o->ncalibrate ? "--calibrate"
                        : o->percentile > 0 ? "--calibrate-percentile"
                        : o->io ? "--io" : NULL;
    if (!o->quantize && stray)
        return usage_error(cmd, "%s needs --quantize int8", stray);
    if (o->quantize && !o->ncalibrate)
        return usage_error(cmd, "--quantize needs calibration samples: --calibrate FILE.npy|DIR");
    return CLI_OK;
}

static const Option *find_option(const char *name, size_t len)
{
    for (int i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* Parses argv[2..] of command `cmd`; sets *help for --help. */
static int parse_args(Arena *a, const Command *cmd, int argc, char **argv, CliOpts *o, bool *help)
{
    bool only_positional = false;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            if (o->model)
                return usage_error(cmd, "unexpected argument '%s' (one MODEL only)", arg);
            o->model = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        /* -O2 is -O with its value attached, as in cc. */
        const char *attached = NULL;
        if (strncmp(arg, "-O", 2) == 0 && arg[2] != '\0') {
            len = 2;
            attached = arg + 2;
        }
        const Option *opt = find_option(arg, len);
        if (opt && strcmp(opt->name, "--help") != 0 && !(opt->cmds & cmd->cmd))
            opt = NULL;
        if (!opt)
            return usage_error(cmd, "unknown option '%s'", arena_strndup(a, arg, len));
        if (strcmp(opt->name, "--help") == 0) {
            *help = true;
            return CLI_OK;
        }
        const char *value = NULL;
        if (opt->value) {
            if (eq)
                value = eq + 1;
            else if (attached)
                value = attached;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return usage_error(cmd, "option '%s' needs a value", opt->name);
        } else if (eq) {
            return usage_error(cmd, "option '%s' takes no value", opt->name);
        }
        int st = set_option(a, cmd, o, opt, value);
        if (st != CLI_OK)
            return st;
    }
    if (!o->model)
        return usage_error(cmd, "%s: no MODEL given", cmd->name);
    return check_quantize(cmd, o);
}

#ifdef __SANITIZE_ADDRESS__
/* ASan builds (scripts/test.sh): LeakSanitizer can take a dynamic TLS block
 * of a dlopen'ed module (libetch_llvm.so's libLLVM, the compiled model) for
 * an old glibc's layout when the block happens to sit at one page offset
 * (google/sanitizers#1322), and its exit-time scan then crashes ("Tracer
 * caught signal 11"), by heap layout alone. Not intercepting __tls_get_addr
 * avoids it; the leak check itself stays on. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "intercept_tls_get_addr=0";
}
#endif

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(NULL, "no command given");
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("etch %s\n", ETCH_VERSION);
        return CLI_OK;
    }
    const Command *cmd = NULL;
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (!cmd)
        return usage_error(NULL, "unknown command '%s' (commands: compile, run, dump, dot)", name);

    Ctx *c = ctx_new();
    CliOpts o = {.command = cmd->name, .backend = "interp", .repeat = 1, .emit = "c",
               .opt_level = 2};
    bool help = false;
    int st = parse_args(c->arena, cmd, argc, argv, &o, &help);
    if (st == CLI_OK && help)
        print_command_help(stdout, cmd);
    else if (st == CLI_OK)
        st = cmd->fn(c, &o);
    if (st == CLI_OK && c->nerrors)
        st = CLI_ERROR;
    fflush(stdout);
    ctx_free(c);
    return st;
}
