/* engine_chaos.c — class CH identity queries: version.bind, version.server, id.server, hostname.bind (TXT, off when unset, like Knot). */
#include "engine_int.h"

static const uint8_t N_VERSION_BIND[] = "\7version\4bind";
static const uint8_t N_VERSION_SERVER[] = "\7version\6server";
static const uint8_t N_ID_SERVER[] = "\2id\6server";
static const uint8_t N_HOSTNAME_BIND[] = "\10hostname\4bind";

void rd_answer_chaos(rd_ctx *c)
{
    const char *text = NULL;
    const rd_options *o = &c->db->opt;
    if (rd_name_eq(c->lname, N_VERSION_BIND) || rd_name_eq(c->lname, N_VERSION_SERVER))
        text = o->version;
    else if (rd_name_eq(c->lname, N_ID_SERVER) || rd_name_eq(c->lname, N_HOSTNAME_BIND))
        text = o->identity;
    size_t tlen = text ? strnlen(text, sizeof o->version) : 0;
    if (c->qtype != RD_T_TXT || tlen == 0) {
        c->rcode = RD_RCODE_REFUSED;
        return;
    }
    /* TXT rdata: character-strings of at most 255 octets each (RFC 1035 3.3.14). */
    uint8_t rdata[sizeof o->version + 2];
    size_t n = 0;
    for (size_t i = 0; i < tlen; ) {
        size_t chunk = tlen - i > 255 ? 255 : tlen - i;
        rdata[n++] = (uint8_t)chunk;
        memcpy(rdata + n, text + i, chunk);
        n += chunk;
        i += chunk;
    }
    /* Owner: the echoed question, so it compresses to a pointer and keeps the client's case. */
    if (rd_put_rr(c, RD_SEC_AN, c->r + 12, RD_T_TXT, RD_C_CH, 0, rdata, (uint16_t)n) < 0)
        rd_truncate(c);
}
