/* engine_fast_selftest.h — whether the precomputed-answer path serves a query (used only by the test suite). */
#ifndef RD_ENGINE_FAST_SELFTEST_H
#define RD_ENGINE_FAST_SELFTEST_H

#include "engine.h"

/* The response rd_fast_answer writes for the query q (over TCP when tcp, else UDP) into
 * resp (cap octets, 65535 at least), its length; 0 when the query takes the general path
 * (the tests show a path is taken, not only that its answers equal the general path's). */
size_t rd_fast_selftest(const rd_db *db, const uint8_t *q, size_t qlen, int tcp, uint8_t *resp,
                        size_t cap);

#endif
