/* main.c: the bare-metal driver that runs an etch model once.
 *
 * Reads every input from in<i>.bin (raw bytes, exactly the input's size)
 * over semihosting, runs the model between two reads of the SysTick
 * counter, writes every output to out<i>.bin, and prints its measurements
 * to the host console, one `key: value` per line:
 *
 *   ticks: N            SysTick ticks (processor clock) around the inference
 *   instructions: N     ticks converted to instructions (see below)
 *   stack_bytes: N      deepest stack use since reset (painted stack)
 *   static_ram_bytes: N .data + .bss
 *
 * Under QEMU with -icount shift=S every instruction advances virtual time
 * by 2^S ns, and SysTick on the processor clock (ETCH_APP_CLOCK_HZ, 25 MHz
 * on mps2-an386) ticks every 1e9 / ETCH_APP_CLOCK_HZ ns, so one tick is
 * 40 instructions at shift=0: the count is exact to within 40.
 * Exit status 0 on success; any failure prints `etch-app: error: ...`.
 */
#include "etch_app.h"
#include "semihost.h"

#ifndef ETCH_APP_CLOCK_HZ
#define ETCH_APP_CLOCK_HZ 25000000u
#endif
#ifndef ETCH_APP_ICOUNT_SHIFT
#define ETCH_APP_ICOUNT_SHIFT 0
#endif

static void put_u64(const char *key, uint64_t v)
{
    char buf[64], digits[24];
    int n = 0, i = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (*key)
        buf[i++] = *key++;
    buf[i++] = ':';
    buf[i++] = ' ';
    while (n)
        buf[i++] = digits[--n];
    buf[i++] = '\n';
    buf[i] = '\0';
    sh_puts(buf);
}

/* "in" or "out", the index, ".bin". */
static void file_name(char *buf, const char *stem, int index)
{
    int i = 0;
    while (*stem)
        buf[i++] = *stem++;
    if (index >= 10)
        buf[i++] = (char)('0' + index / 10);
    buf[i++] = (char)('0' + index % 10);
    buf[i++] = '.';
    buf[i++] = 'b';
    buf[i++] = 'i';
    buf[i++] = 'n';
    buf[i] = '\0';
}

static int fail(const char *what, const char *file)
{
    sh_puts("etch-app: error: ");
    sh_puts(what);
    if (file) {
        sh_puts(" ");
        sh_puts(file);
    }
    sh_puts("\n");
    return 1;
}

static int load_input(int i)
{
    const EtchAppModel *m = &etch_app_model;
    char name[16];
    file_name(name, "in", i);
    int fd = sh_open(name, SH_MODE_RB);
    if (fd < 0)
        return fail("cannot open", name);
    long len = sh_flen(fd);
    int bad = len != (long)m->input_bytes[i] || sh_read(fd, m->inputs[i], m->input_bytes[i]) != 0;
    sh_close(fd);
    return bad ? fail("wrong size or unreadable:", name) : 0;
}

static int store_output(int i)
{
    const EtchAppModel *m = &etch_app_model;
    char name[16];
    file_name(name, "out", i);
    int fd = sh_open(name, SH_MODE_WB);
    if (fd < 0)
        return fail("cannot create", name);
    int bad = sh_write(fd, m->outputs[i], m->output_bytes[i]) != 0;
    sh_close(fd);
    return bad ? fail("cannot write", name) : 0;
}

int main(void)
{
    const EtchAppModel *m = &etch_app_model;
    if (m->ninputs > 99 || m->noutputs > 99)
        return fail("too many inputs or outputs", 0);
    for (int i = 0; i < m->ninputs; i++)
        if (load_input(i))
            return 1;

    etch_ticks_start();
    uint64_t t0 = etch_ticks_read();
    int st = m->invoke((const void *const *)m->inputs, m->outputs, m->workspace);
    uint64_t t1 = etch_ticks_read();
    etch_ticks_stop();
    if (st != 0)
        return fail("the model returned an error status", 0);

    for (int i = 0; i < m->noutputs; i++)
        if (store_output(i))
            return 1;
    uint64_t ticks = t1 - t0;
    put_u64("ticks", ticks);
    put_u64("instructions",
            ticks * (1000000000u / ETCH_APP_CLOCK_HZ) >> ETCH_APP_ICOUNT_SHIFT);
    put_u64("stack_bytes", etch_stack_peak());
    put_u64("static_ram_bytes", etch_static_ram());
    return 0;
}
