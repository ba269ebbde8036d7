/* semihost.h: ARM semihosting calls for the bare-metal etch app.
 *
 * Semihosting lets a program under a debugger or QEMU
 * (-semihosting-config enable=on,target=native) use the host's files and
 * console: the program executes `bkpt 0xab` with an operation number in r0
 * and a pointer to its argument block in r1, and the host answers in r0.
 * Only the calls the app needs are wrapped; each returns what the ARM
 * semihosting specification says (-1 on failure for the file calls).
 * File names are resolved in QEMU's working directory.
 */
#ifndef ETCH_SEMIHOST_H
#define ETCH_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* SYS_OPEN modes (ISO C fopen modes, numbered by the specification). */
enum { SH_MODE_RB = 1, SH_MODE_WB = 5 };

int sh_open(const char *path, int mode);
int sh_close(int fd);
/* Bytes NOT read/written: 0 means all of them. */
size_t sh_read(int fd, void *buf, size_t n);
size_t sh_write(int fd, const void *buf, size_t n);
long sh_flen(int fd);
/* Writes a NUL-terminated string to the host console. */
void sh_puts(const char *s);
/* Ends the QEMU process: status 0 on success, 1 otherwise. */
void sh_exit(int status) __attribute__((noreturn));

#endif /* ETCH_SEMIHOST_H */
