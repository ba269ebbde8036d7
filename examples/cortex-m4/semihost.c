/* semihost.c: the semihosting calls of semihost.h.
 *
 * One trap, sh_call: `bkpt 0xab` (the Thumb/M-profile semihosting
 * breakpoint) with r0 = operation and r1 = argument block. The "memory"
 * clobber keeps the compiler from caching the argument block or the buffers
 * the host reads and writes across the trap.
 */
#include "semihost.h"

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_FLEN = 0x0c,
    SYS_EXIT = 0x18,
};

/* Reasons for SYS_EXIT; QEMU exits 0 for ApplicationExit, 1 for others. */
enum { ADP_STOPPED_APPLICATION_EXIT = 0x20026, ADP_STOPPED_RUNTIME_ERROR = 0x20023 };

static uintptr_t sh_call(uintptr_t op, const void *arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t sh_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int sh_open(const char *path, int mode)
{
    uintptr_t args[3] = {(uintptr_t)path, (uintptr_t)mode, sh_strlen(path)};
    return (int)sh_call(SYS_OPEN, args);
}

int sh_close(int fd)
{
    uintptr_t args[1] = {(uintptr_t)fd};
    return (int)sh_call(SYS_CLOSE, args);
}

size_t sh_read(int fd, void *buf, size_t n)
{
    uintptr_t args[3] = {(uintptr_t)fd, (uintptr_t)buf, n};
    return sh_call(SYS_READ, args);
}

size_t sh_write(int fd, const void *buf, size_t n)
{
    uintptr_t args[3] = {(uintptr_t)fd, (uintptr_t)buf, n};
    return sh_call(SYS_WRITE, args);
}

long sh_flen(int fd)
{
    uintptr_t args[1] = {(uintptr_t)fd};
    return (long)sh_call(SYS_FLEN, args);
}

void sh_puts(const char *s)
{
    sh_call(SYS_WRITE0, s);
}

void sh_exit(int status)
{
    /* On AArch32 SYS_EXIT takes the reason itself in r1, not a block. */
    sh_call(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                             : ADP_STOPPED_RUNTIME_ERROR));
    for (;;)
        ;
}
