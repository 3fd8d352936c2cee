/* engine_fast_selftest.c — the precomputed-answer path alone, for the tests (compiled in with the test hooks). */
#include "engine_int.h"
#include "engine_fast_selftest.h"

size_t rd_fast_selftest(const rd_db *db, const uint8_t *q, size_t qlen, int tcp, uint8_t *resp,
                        size_t cap)
{
    rd_transport t;
    memset(&t, 0, sizeof t);
    t.tcp = tcp;
    t.family = 4;
    rd_ctx c;
    rd_ctx_start(&c, db, q, qlen, resp, cap, &t, NULL);
    if (c.prc != RD_RCODE_NOERROR || !db) return 0;
    /* the limit ctx_answer gives (engine.c): TCP 65535, UDP the EDNS payload or 512 */
    size_t lim = tcp ? 65535 : c.has_edns ? (c.udp_payload < db->opt.max_udp_payload
                                                 ? c.udp_payload : db->opt.max_udp_payload) : 512;
    if (lim < 512) lim = 512;
    if (lim > c.cap) lim = c.cap;
    c.size_limit = lim;
    size_t room = rd_opt_room(&c);
    if (!rd_fast_answer(&c, lim > room ? lim - room : 0)) return 0;
    return rd_finish(&c);
}
