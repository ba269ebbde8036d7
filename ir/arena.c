/* arena.c: one arena per compilation holds the IR, strings and vectors.
 *
 * Allocations are bump-pointer in chunks and never freed one by one;
 * arena_free releases everything at once. Memory is zeroed and 16-byte
 * aligned, so IR structs start out empty and data arrays suit SIMD loads.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} Chunk;

struct Arena {
    Chunk *head;
    size_t total;
};

enum { CHUNK_MIN = 64 * 1024 };

Arena *arena_new(void)
{
    Arena *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "etch: out of memory\n");
        abort();
    }
    return a;
}

void arena_free(Arena *a)
{
    if (!a)
        return;
    for (Chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *arena_alloc(Arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    Chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cs = size > CHUNK_MIN ? size : CHUNK_MIN;
        c = malloc(sizeof *c + cs);
        if (!c) {
            fprintf(stderr, "etch: out of memory (%zu bytes)\n", cs);
            abort();
        }
        c->size = cs;
        c->used = 0;
        /* A big one-off allocation goes behind the current chunk so the
         * current chunk's free space stays usable. */
        if (a->head && cs == size) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(Arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void *arena_memdup(Arena *a, const void *p, size_t size)
{
    void *q = arena_alloc(a, size ? size : 1);
    if (size)
        memcpy(q, p, size);
    return q;
}

size_t arena_used(const Arena *a)
{
    return a->total;
}

void *vec_grow(Arena *a, void *items, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return items;
    int ncap = *cap ? *cap * 2 : 8;
    void *p = arena_alloc(a, (size_t)ncap * elem);
    if (n)
        memcpy(p, items, (size_t)n * elem);
    *cap = ncap;
    return p;
}
