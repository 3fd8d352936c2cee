/* precompute.h — the precompute pass of the query layer over a built zone image. */
#ifndef RD_PRECOMPUTE_H
#define RD_PRECOMPUTE_H

#include "zone/zimg.h"

/* Append the precomputed-answer section to an image fresh from zimg_build (it runs the
 * general engine on the image, so it lives above the zone layer, which never calls the
 * engine).  Returns the grown image (*size updated); without memory the image is
 * returned as it was, without precomputed answers (every query then takes the general
 * path).  The image must not be published before this returns. */
zimg *rd_precompute_answers(zimg *z, size_t *size);

/* Threads of the pass: 0 (the default) = two for a big zone on two cores or more, the
 * halves of the canonical order one per core; 1 or 2 to force it (tests compare them). */
extern int rd_precompute_threads;

/* The first half's room reserved in a big image, in bytes: -1 (the default) = an
 * estimate; tests set a room too small, which must give the same image. */
extern long rd_precompute_room;

#endif
