/* test_arena.c: the compilation arena (ir/arena.c).
 *
 * Checks the promises ir.h makes: every allocation is zeroed and 16-byte
 * aligned, allocations never overlap (also across chunk boundaries and for
 * one-off blocks bigger than a chunk), strings are copied, arena_printf
 * formats, and VEC_PUSH growth keeps earlier contents.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Writes a pattern over a block so overlaps with later blocks show up. */
static void stamp(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31u + i * 7u + 1u);
}

static bool stamped(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31u + i * 7u + 1u))
            return false;
    return true;
}

Test(arena, aligned_zeroed_and_disjoint)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    /* Dirty some heap the arena's first chunk is likely to reuse, so the
     * zeroing check has something to catch. */
    unsigned char *dirty = malloc(80 * 1024);
    cr_assert_not_null(dirty);
    memset(dirty, 0xab, 80 * 1024);
    free(dirty);
    Arena *a = arena_new();
    enum { N = 600 };
    unsigned char *blocks[N];
    size_t sizes[N];
    for (unsigned i = 0; i < N; i++) {
        /* Mostly small sizes, odd ones included, some near a chunk. */
        sizes[i] = i % 97 == 0 ? (size_t)tu_rng_int(&r, 30000, 70000) : (size_t)tu_rng_int(&r, 1, 300);
        blocks[i] = arena_alloc(a, sizes[i]);
        cr_assert_not_null(blocks[i]);
        cr_assert_eq((uintptr_t)blocks[i] % 16, 0, "block %u (%zu bytes) misaligned (seed %llu)",
                     i, sizes[i], (unsigned long long)tu_seed());
        size_t nz = 0;
        for (size_t k = 0; k < sizes[i]; k++)
            nz += blocks[i][k] != 0;
        cr_assert_eq(nz, 0, "block %u: %zu of %zu bytes not zeroed", i, nz, sizes[i]);
        stamp(blocks[i], sizes[i], i);
    }
    for (unsigned i = 0; i < N; i++)
        cr_assert(stamped(blocks[i], sizes[i], i), "block %u was overwritten (seed %llu)", i,
                  (unsigned long long)tu_seed());
    cr_assert_geq(arena_used(a), sizes[0]);
    arena_free(a);
}

Test(arena, big_allocations)
{
    Arena *a = arena_new();
    unsigned char *small = arena_alloc(a, 100);
    stamp(small, 100, 1);
    /* Bigger than any chunk: must not disturb the current chunk's blocks, and
     * the current chunk's free space must still be usable afterwards. */
    size_t big = (size_t)5 << 20;
    unsigned char *b = arena_alloc(a, big);
    cr_assert_eq((uintptr_t)b % 16, 0);
    cr_assert_eq(b[0], 0);
    cr_assert_eq(b[big - 1], 0);
    cr_assert_eq(b[big / 2], 0);
    stamp(b, big, 2);
    unsigned char *after = arena_alloc(a, 64);
    stamp(after, 64, 3);
    cr_assert(stamped(small, 100, 1));
    cr_assert(stamped(b, big, 2));
    cr_assert(stamped(after, 64, 3));
    cr_assert_geq(arena_used(a), big + 164);
    /* Zero bytes still gives a distinct, aligned pointer. */
    void *z1 = arena_alloc(a, 0), *z2 = arena_memdup(a, "x", 0);
    cr_assert_eq((uintptr_t)z1 % 16, 0);
    cr_assert_not_null(z2);
    arena_free(a);
}

Test(arena, strings)
{
    Arena *a = arena_new();
    char src[] = "conv_block";
    char *s = arena_strdup(a, src);
    cr_assert_str_eq(s, "conv_block");
    cr_assert_neq(s, src);
    src[0] = 'X';
    cr_assert_str_eq(s, "conv_block", "strdup must copy");
    char *n = arena_strndup(a, "relu6(x)", 5);
    cr_assert_str_eq(n, "relu6");
    char *e = arena_strdup(a, "");
    cr_assert_str_eq(e, "");
    char *p = arena_printf(a, "k%d_%s %.2f %lld", 12, "gemm", 2.5, (long long)-9000000000LL);
    cr_assert_str_eq(p, "k12_gemm 2.50 -9000000000");
    /* Longer than any internal buffer a formatter might use. */
    char longs[3001];
    memset(longs, 'a', 3000);
    longs[3000] = 0;
    char *l = arena_printf(a, "<%s>", longs);
    cr_assert_eq(strlen(l), 3002);
    cr_assert_eq(l[0], '<');
    cr_assert_eq(l[3001], '>');
    int data[5] = {3, -1, 4, -1, 5};
    int *d = arena_memdup(a, data, sizeof data);
    cr_assert_arr_eq(d, data, sizeof data);
    cr_assert_eq((uintptr_t)d % 16, 0);
    arena_free(a);
}

typedef struct {
    int64_t id;
    double v;
    char tag[5];
} Item;

Test(arena, vec_push_growth_keeps_contents)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Arena *a = arena_new();
    Item *items = NULL;
    int n = 0, cap = 0;
    int count = 5000 + tu_rng_int(&r, 0, 1000);
    double *expect = malloc((size_t)count * sizeof *expect);
    for (int i = 0; i < count; i++) {
        expect[i] = tu_rng_float(&r, -100, 100);
        Item *it = &VEC_PUSH(a, items, n, cap);
        it->id = i * 3 + 1;
        it->v = expect[i];
        snprintf(it->tag, sizeof it->tag, "%d", i % 1000);
        cr_assert_eq(n, i + 1);
        cr_assert_geq(cap, n);
    }
    for (int i = 0; i < count; i++) {
        char tag[5];
        snprintf(tag, sizeof tag, "%d", i % 1000);
        cr_assert_eq(items[i].id, i * 3 + 1, "item %d lost its id after growth", i);
        cr_assert_eq(items[i].v, expect[i], "item %d lost its value (seed %llu)", i,
                     (unsigned long long)tu_seed());
        cr_assert_str_eq(items[i].tag, tag);
    }
    /* Ints through the same macro, as the IR's id vectors use it. */
    int *ids = NULL, ni = 0, ci = 0;
    for (int i = 0; i < 100; i++)
        VEC_PUSH(a, ids, ni, ci) = 1000 - i;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(ids[i], 1000 - i);
    free(expect);
    arena_free(a);
}
