/* zimg_build_alloc.c — the memory of a built image: a big one in its own 2 MiB-aligned mapping that grows by moving pages (mremap), never by copying them. */
#define _GNU_SOURCE          /* mremap */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "zimg_format.h"

/* Why: the precompute pass grows a fresh image by the answer table and the answers
 * (issue 13).  With malloc it took a new block and copied the image into it: every byte
 * of the image was faulted (the kernel zeroing a fresh huge page) and written twice,
 * ~1/3 of a 1M-record secondary's time to serving.  An image of its own mapping grows
 * in place when the addresses after it are free, else moves to a new 2 MiB-aligned place
 * with mremap: the page tables move, huge pages stay whole (source and target at the
 * same 2 MiB offset), no byte is copied, and the room reserved ahead costs no memory
 * until written.  Small images (100,000-zone starts) stay in malloc: a mapping each
 * would cost an mmap and an munmap per zone. */

enum { ZA_HDR = 64 };                        /* keeps the image 64-byte aligned */
#define ZA_HUGE ((size_t)2 << 20)
#define ZA_MAP_MIN ((size_t)4 << 20)         /* smaller images: malloc */

typedef struct za_hdr {
    uint64_t mapped;                         /* length of the mapping, header included; 0: malloc */
    uint64_t len;                            /* the image's bytes asked for */
} za_hdr;

static za_hdr *za_of(const zimg *z) { return (za_hdr *)((uint8_t *)z - ZA_HDR); }
static zimg *za_img(void *h) { return (zimg *)((uint8_t *)h + ZA_HDR); }

/* Whole 4 KiB pages, not 2 MiB: the last partial huge page of the range then faults in
 * small pages instead of a whole zeroed 2 MiB (the secondary's peak has <1 MB margin). */
static size_t za_len(size_t n) { return (n + ZA_HDR + 4095) & ~(size_t)4095; }

/* A fresh mapping of len bytes starting on a 2 MiB boundary, advised huge: a big image
 * is read at random by every query (fewer TLB misses per lookup, fewer faults while it
 * is built; advice only, harmless where THP is off). */
static void *za_map(size_t len)
{
    size_t over = len + ZA_HUGE;
    uint8_t *p = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)p + ZA_HUGE - 1) & ~(uintptr_t)(ZA_HUGE - 1);
    uintptr_t end = (uintptr_t)p + over;
    if (a > (uintptr_t)p) munmap(p, a - (uintptr_t)p);
    if (end > a + len) munmap((void *)(a + len), end - (a + len));
#ifdef MADV_HUGEPAGE
    madvise((void *)a, len, MADV_HUGEPAGE);
#endif
    return (void *)a;
}

zimg *zimg_alloc(size_t n)
{
    za_hdr *h;
    if (zimg_map_size(n)) {
        h = za_map(za_len(n));
        if (!h) return NULL;
        h->mapped = za_len(n);
    } else {
        h = malloc(ZA_HDR + (n ? n : 1));
        if (!h) return NULL;
        h->mapped = 0;
    }
    h->len = n;
    return za_img(h);
}

zimg *zimg_resize(zimg *z, size_t n)
{
    za_hdr *h = za_of(z);
    if (!h->mapped) {
        if (!zimg_map_size(n)) {
            za_hdr *r = realloc(h, ZA_HDR + (n ? n : 1));
            if (!r) return NULL;
            r->len = n;
            return za_img(r);
        }
        zimg *m = zimg_alloc(n);             /* small to big: the one copy, < 4 MiB */
        if (!m) return NULL;
        memcpy(m, z, h->len < n ? h->len : n);
        free(h);
        return m;
    }
    size_t want = za_len(n);
    if (want <= h->mapped) {                 /* shrink: the tail's pages go back */
        if (want < h->mapped) munmap((uint8_t *)h + want, h->mapped - want);
        h->mapped = want;
        h->len = n;
        return z;
    }
    void *r = mremap(h, h->mapped, want, 0);   /* in place when the addresses are free */
    if (r == MAP_FAILED) {
        void *dst = za_map(want);
        if (!dst) return NULL;
        r = mremap(h, h->mapped, want, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
        if (r == MAP_FAILED) {
            munmap(dst, want);
            return NULL;
        }
    }
#ifdef MADV_HUGEPAGE
    madvise(r, want, MADV_HUGEPAGE);
#endif
    ((za_hdr *)r)->mapped = want;
    ((za_hdr *)r)->len = n;
    return za_img(r);
}

int zimg_map_size(size_t n) { return n + ZA_HDR >= ZA_MAP_MIN; }

size_t zimg_room(const zimg *z)
{
    const za_hdr *h = za_of(z);
    return h->mapped ? h->mapped - ZA_HDR : 0;
}

void zimg_free(zimg *z)
{
    if (!z) return;
    za_hdr *h = za_of(z);
    if (h->mapped) munmap(h, h->mapped);
    else free(h);
}
