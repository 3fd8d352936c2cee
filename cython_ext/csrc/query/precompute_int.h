/* precompute_int.h — what the precompute pass's files share: the section buffer and the piece recorder of precompute.c, the wildcard pass of precompute_wild.c. */
#ifndef RD_PRECOMPUTE_INT_H
#define RD_PRECOMPUTE_INT_H

#include "engine_int.h"

/* A section being built: offsets are from its start until it is placed in the image. */
typedef struct nbuf {
    uint8_t *p;
    size_t len, cap;
    int ok;
} nbuf;

/* n zeroed bytes at the next multiple of align; their offset (b->ok 0: no memory). */
size_t nb_alloc(nbuf *b, size_t n, size_t align);

/* The records written at c->r[from, c->len) as a piece (zneg_piece, zimg_format.h) of
 * proof node `node` in b, their compression pointers recorded: into the piece itself, or
 * into the response before fixed_end (the question, the prefix) as distances from the
 * question name's end qname_end; its offset in b, or RD_NONE when it cannot be served as
 * a piece. */
uint32_t neg_piece(nbuf *b, const rd_ctx *c, size_t from, size_t fixed_end, size_t qname_end,
                   uint32_t node);

/* precompute_wild.c: the wildcard answers (zwild) appended to an image whose precomputed
 * answers and NXDOMAIN proofs are in place (the last step of rd_precompute_answers);
 * returns the image (moved, *size grown), or as it was when there is nothing to add or
 * no memory. */
zimg *rd_wild_attach(zimg *z, size_t *size);

#endif
