/* xfr.c — zone transfers out: for now streams nothing (rd_xfr_start is always 0), so AXFR and IXFR keep the engine's one-message answers (NOTAUTH, as Knot without ACLs). */
#include "xfr.h"

#include <string.h>

int rd_xfr_start(rd_xfr *x, const rd_db *db, const uint8_t *q, size_t qlen,
                 const struct sockaddr *peer)
{
    (void)db; (void)q; (void)qlen; (void)peer;
    memset(x->state, 0, sizeof(x->state));
    return 0;
}

size_t rd_xfr_next(rd_xfr *x, uint8_t *out, size_t cap)
{
    (void)x; (void)out; (void)cap;
    return 0;
}

void rd_xfr_end(rd_xfr *x)
{
    (void)x;
}
