/* fuzz_images.h — the zone images a libFuzzer harness answers from: the saved images named
 * in $ROBDNS_FUZZ_ZONES (colon-separated), each read whole into a buffer kept for the run.
 * Included by fuzz_answer.c and fuzz_xfr.c (one translation unit each). */
#ifndef FUZZ_IMAGES_H
#define FUZZ_IMAGES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zone/zimg.h"

static void *fuzz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Load up to `max` images into zones[]; returns how many.  A file that does not load as
 * an image aborts the run (`who` names the harness in the message). */
static uint32_t fuzz_load_images(const zimg **zones, uint32_t max, const char *who)
{
    uint32_t n = 0;
    const char *env = getenv("ROBDNS_FUZZ_ZONES");
    if (!env) return 0;
    char *list = strdup(env), *save = NULL;
    for (char *p = strtok_r(list, ":", &save); p && n < max; p = strtok_r(NULL, ":", &save)) {
        size_t len = 0;
        void *buf = fuzz_read_file(p, &len);
        char err[200];
        const zimg *z = buf ? zimg_from_buffer(buf, len, err, sizeof err) : NULL;
        if (!z) { fprintf(stderr, "%s: cannot load %s\n", who, p); abort(); }
        zones[n++] = z;                  /* buffers live for the whole run */
    }
    free(list);
    return n;
}

#endif
