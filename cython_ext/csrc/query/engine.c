/* engine.c — rd_answer: one query in, one response out; dispatch by opcode, class and type, and the counters. */
#include "engine_int.h"
#include "xfr.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

/* One count per query: its own number below 63, else one of the named larger types,
 * else "other" (qtype[RD_STAT_QTYPES - 1]). */
static void count_qtype(rd_stats *s, uint16_t qtype)
{
    if (qtype < RD_STAT_QTYPES - 1) {
        s->qtype[qtype]++;
        return;
    }
    switch (qtype) {
    case RD_T_AXFR: s->qtype_named[RD_QT_AXFR]++; break;
    case RD_T_IXFR: s->qtype_named[RD_QT_IXFR]++; break;
    case RD_T_ANY: s->qtype_named[RD_QT_ANY]++; break;
    case RD_T_CAA: s->qtype_named[RD_QT_CAA]++; break;
    case RD_T_SVCB: s->qtype_named[RD_QT_SVCB]++; break;
    case RD_T_HTTPS: s->qtype_named[RD_QT_HTTPS]++; break;
    default: s->qtype[RD_STAT_QTYPES - 1]++; break;
    }
}

/* Size the response may take: RFC 1035 4.2.1 512 octets over UDP without EDNS; with EDNS
 * the client's payload clamped to our ceiling and never below 512 (RFC 6891 6.2.3, 6.2.5);
 * over TCP 65535 (RFC 1035 4.2.2). */
static size_t size_limit(const rd_ctx *c)
{
    size_t lim;
    if (c->t && c->t->tcp) {
        lim = 65535;
    } else if (c->has_edns) {
        size_t ours = c->db ? c->db->opt.max_udp_payload : 1232;
        lim = c->udp_payload < ours ? c->udp_payload : ours;
        if (lim < 512) lim = 512;
    } else {
        lim = 512;
    }
    return lim < c->cap ? lim : c->cap;
}

void rd_ctx_start(rd_ctx *c, const rd_db *db, const uint8_t *q, size_t qlen, uint8_t *resp,
                  size_t respcap, const rd_transport *t, rd_stats *stats)
{
    /* Only the fields read before being written are set (the big arrays are not); the
     * zeros in one sweep. */
    memset(c, 0, offsetof(rd_ctx, rcode));
    _Static_assert(offsetof(rd_ctx, rcode) <= 80, "the zeroed block of rd_ctx outgrew 80 bytes");
    c->db = db; c->t = t; c->stats = stats;
    c->q = q; c->qlen = qlen;
    c->r = resp;
    c->cap = respcap > 65535 ? 65535 : respcap;
    c->zone_index = RD_NONE;
    c->udp_payload = 512;
    c->ede = -1;
    c->size_limit = 512;
    c->rcode = 0;
    c->ncomp = c->ncomp_question = c->naddl_seen = 0;
    c->tsig_key = NULL;
    c->client = t ? t->client : NULL; c->client_len = t && t->client ? t->client_len : 0;
    c->cookie_k = NULL;          /* a batch's (pf_start); rd_answer takes the transport's */

    if (stats) {
        stats->queries++;
        if (t && t->tcp) stats->tcp++; else stats->udp++;
    }
    int rc = rd_parse_query(c);
    if (rc < 0 || c->cap < 12 + RD_NAME_MAX + 4 + 11) {
        if (stats) stats->dropped++;
        c->prc = -1;
        return;
    }
    if (stats) {
        if (c->question_ok) count_qtype(stats, c->qtype);
        stats->opcode[c->opcode & 15]++;
        if (c->has_edns) stats->edns++;
        if (c->do_bit) stats->do_bit++;
    }
    c->prc = rc;
}

static void count_response(rd_ctx *c)
{
    rd_stats *stats = c->stats;
    if (!stats) return;
    stats->responses++;
    /* The full extended rcode (RFC 6891 6.1.3): BADVERS is 16, not its low 4 bits. */
    stats->rcode[c->rcode < RD_STAT_RCODES - 1 ? c->rcode : RD_STAT_RCODES - 1]++;
    if (c->rcode == RD_RCODE_FORMERR) stats->malformed++;
    if (c->tc) stats->truncated++;
    /* The zone the query name falls in (found once: the batch pipeline and the fast path
     * have usually found it already). */
    const rd_db *db = c->db;
    if (db && db->zone_slot && c->question_ok) {
        rd_ctx_zone(c);
        if (c->zone) {
            unsigned slot = db->zone_slot[c->zone_index] % RD_STAT_ZONES;
            stats->zone_queries[slot]++;
            stats->zone_rcode[slot][rd_stats_zone_rcode_col(c->rcode)]++;
        }
    }
}

/* The answer to a query whose TSIG did not verify (RFC 8945 5.2, 5.3.2): the question
 * only, NOTAUTH with the TSIG error (unsigned for BADKEY and BADSIG, signed for BADTIME
 * and BADTRUNC), or FORMERR when the record or its MAC length is malformed. */
size_t rd_tsig_error_answer(rd_ctx *c, const rd_tsig_rr *rr, rd_tsig_ctx *tsig, int err,
                            uint64_t now)
{
    rd_write_header(c);
    if (c->question_ok) rd_write_question(c);
    c->limit = c->cap;
    c->has_edns = 0;
    c->aa = 0;
    c->rcode = err < 0 ? RD_RCODE_FORMERR : RD_RCODE_NOTAUTH;
    size_t n = rd_finish(c);
    if (err == RD_TSIG_BADTIME || err == RD_TSIG_BADTRUNC)
        n = rd_tsig_sign(tsig, c->r, n, c->cap, (uint16_t)err, now);
    else if (err > 0)
        n = rd_tsig_append_unsigned(c->r, n, c->cap, rr, (uint16_t)err, now);
    count_response(c);
    return n;
}

/* rd_ctx_answer's body; `single` (a constant): a query of rd_answer, which takes the
 * transport's cookie cache itself, rather than one of a batch, whose cache came ready
 * with its context (cookie_k).  Two copies, so that neither asks which it is. */
static inline __attribute__((always_inline)) size_t ctx_answer(rd_ctx *c, int single)
{
    int rc = c->prc;
    if (rc < 0) return 0;
    const rd_db *db = c->db;
    const rd_transport *t = c->t;
    c->rcode = (uint16_t)rc;
    /* Keep room for the OPT record so that it always fits (RFC 6891 7). */
    size_t lim = size_limit(c);
    c->size_limit = lim;
    /* DNS Cookies (RFC 7873 5.2): the cookie to send back, and whether `require` holds
     * this query to the minimal answer. */
    int cookie_minimal = 0;
    if (db && db->opt.cookies) {
        /* A batch made its cache ready once (rd_answer_batch) and gave it to every query;
         * a single query (rd_answer: tests, the benchmarks, the precompute pass) has the
         * transport's made ready here unless it is already, for this snapshot at the
         * caller's clock of this turn (rd_cookie_turn), so that the clock read and the
         * snapshot check stay off every query without cookies, and a caller that gives
         * its turn's clock pays them once per turn.  A FORMERR query has no cookie
         * (rd_parse_query): it gets none. */
        rd_cookie_cache *k = single ? (t ? t->cookie_cache : NULL) : c->cookie_k;
        if (single && k)
            rd_cookie_turn(k, db, t);
        if (__builtin_expect(!k || !rd_cookie_hit(c, k), 0))
            cookie_minimal = rd_cookie_answer_full(c, k, rc);
    }
    size_t optroom = c->has_edns ? rd_opt_room(c) : 0;
    /* A signed query (RFC 8945 5.2): verified before anything else; answered signed. */
    rd_tsig_ctx tsig;
    uint64_t now = 0;
    int tsig_err = 0;
    tsig.key = NULL;
    if (c->tsig_at) {
        rd_tsig_rr rr;
        now = (uint64_t)time(NULL);
        if (rd_tsig_parse(c->q, c->qlen, c->tsig_at, &rr) < 0) {
            tsig_err = -1;
        } else {
            tsig_err = rd_tsig_verify(&tsig, c->q, c->qlen, &rr, db ? db->keys : NULL,
                                      db ? db->nkeys : 0, now);
        }
        if (tsig_err) return rd_tsig_error_answer(c, &rr, &tsig, tsig_err, now);
        optroom += rd_tsig_room(tsig.key);
        c->tsig_key = tsig.key;
    }
    /* NOTIFY (RFC 1996), once parsed and its TSIG verified: a secondary zone's
     * acknowledgement or refusal (notify.c); for other zones the parser's NOTAUTH. */
    if (c->opcode == RD_OPCODE_NOTIFY && rc == RD_RCODE_NOTAUTH && rd_notify_accept(c)) {
        rd_write_header(c);
        rd_write_question(c);
        c->limit = lim > c->len + optroom ? lim - optroom : c->len;
        goto finish;
    }
    if (cookie_minimal) {                 /* the header, the question, OPT with the cookie */
        rd_write_header(c);
        if (c->question_ok) rd_write_question(c);
        goto finish;
    }
    /* The common case first: an answer precomputed when the zone was built. */
    if (rc == RD_RCODE_NOERROR && db && rd_fast_answer(c, lim > optroom ? lim - optroom : 0))
        goto finish;
    rd_write_header(c);
    if (c->question_ok) rd_write_question(c);
    c->limit = lim > c->len + optroom ? lim - optroom : c->len;

    if (rc == RD_RCODE_NOERROR) {
        if (!db) {
            c->rcode = RD_RCODE_SERVFAIL;
        } else if (c->qclass == RD_C_CH) {
            rd_answer_chaos(c);
        } else if (c->qclass != RD_C_IN && c->qclass != RD_C_ANY) {
            c->rcode = RD_RCODE_REFUSED;      /* no zones of other classes are hosted */
        } else if (c->qtype == 0) {
            c->rcode = RD_RCODE_NOTIMP;       /* type 0 is reserved (RFC 6895 3.1); as Knot */
        } else if (c->qtype == RD_T_AXFR) {
            /* AXFR over UDP is refused with NOTIMP (RFC 5936 4.2; Knot and NSD answer so);
             * over TCP xfr.c streams it, and what it declines is NOTAUTH (as Knot). */
            c->rcode = (t && t->tcp) ? RD_RCODE_NOTAUTH : RD_RCODE_NOTIMP;
        } else if (c->qtype == RD_T_IXFR) {
            /* Over TCP the transfer code (xfr.c) streams IXFR; what reaches the engine
             * there is what it declined: NOTAUTH, as Knot answers. */
            if (t && t->tcp) c->rcode = RD_RCODE_NOTAUTH;
            else rd_xfr_udp_ixfr(c);
        } else {
            rd_answer_in(c);
        }
    }
finish:;
    size_t n = rd_finish(c);
    if (tsig.key) n = rd_tsig_sign(&tsig, c->r, n, c->cap, 0, now);
    count_response(c);
    return n;
}

size_t rd_ctx_answer(rd_ctx *c)
{
    return ctx_answer(c, 0);
}

size_t rd_answer(const rd_db *db, const uint8_t *q, size_t qlen,
                 uint8_t *resp, size_t respcap, const rd_transport *t, rd_stats *stats)
{
    rd_ctx c;
    rd_ctx_start(&c, db, q, qlen, resp, respcap, t, stats);
    return ctx_answer(&c, 1);
}
