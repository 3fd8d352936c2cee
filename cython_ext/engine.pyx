# engine.pyx — database snapshots (zones + engine options: the one pointer the daemon
# publishes by RCU).  The engine itself is called from C (UDP, XDP) and from server.pyx (TCP).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from includes.engine cimport *
from includes.zimg cimport zimg, zimg_origin
from includes.common cimport RD_NONE

cdef uint64_t _rd_generation = 0
# Databases alive in this process (made minus freed), reported by live_objects().
cdef Py_ssize_t _live_databases = 0


cdef void _db_free(rd_db *db) noexcept:
    if db != NULL:
        rd_zonetab_free(<rd_zonetab *>db.ztab)
        free(db.zones)
        free(db)


cdef class Database:
    """One immutable snapshot of the hosted zones and the engine options.

    ``Database(zones, identity="", version="", nsid=b"", max_udp_payload=1232,
    minimal_any=True)``.  ``identity`` answers CHAOS TXT id.server/hostname.bind and
    ``version`` version.bind/version.server (empty: REFUSED); ``nsid`` is the RFC 5001
    payload (empty: off).  The ZoneImages are kept alive as long as the Database.

    The zones keep the order given: a zone's position is its index in the C snapshot
    (db->zones).  Their zone table (query/zonetab.c) is built here in C: a few ms for
    100,000 zones, so a reload that changes one zone rebuilds it instead of editing it.
    """
    cdef rd_db *db
    cdef readonly tuple zones
    cdef readonly uint64_t generation

    def __cinit__(self):
        global _live_databases
        self.db = NULL
        _live_databases += 1

    def __init__(self, zones=(), identity="", version="", nsid=b"", max_udp_payload=1232,
                 minimal_any=True):
        global _rd_generation
        cdef ZoneImage z
        cdef tuple zl = tuple(zones)
        cdef Py_ssize_t i, nz = len(zl)
        for item in zl:
            if type(item) is not ZoneImage and not isinstance(item, ZoneImage):
                raise TypeError(f"Database zones must be ZoneImage, not {type(item).__name__}")
        ident = identity.encode() if isinstance(identity, str) else bytes(identity)
        vers = version.encode() if isinstance(version, str) else bytes(version)
        nsid_b = bytes(nsid)
        if len(ident) > 255 or b"\0" in ident:
            raise ValueError("identity: at most 255 bytes, no NUL")
        if len(vers) > 255 or b"\0" in vers:
            raise ValueError("version: at most 255 bytes, no NUL")
        if len(nsid_b) > 128:
            raise ValueError("nsid: at most 128 bytes")
        if not 512 <= max_udp_payload <= 65535:
            raise ValueError("max_udp_payload must be within 512..65535 (RFC 6891 6.2.5)")

        cdef rd_db *db = <rd_db *>calloc(1, sizeof(rd_db))
        if db == NULL:
            raise MemoryError()
        db.zones = <const zimg **>calloc(nz + 1, sizeof(zimg *))
        if db.zones == NULL:
            free(db)
            raise MemoryError()
        for i in range(nz):
            z = <ZoneImage>zl[i]
            db.zones[i] = z.img
        db.nzones = <uint32_t>nz
        cdef uint32_t dup = RD_NONE
        with nogil:
            db.ztab = rd_zonetab_build(db.zones, db.nzones, &dup)
        if db.ztab == NULL:
            _db_free(db)
            if dup != RD_NONE:
                raise ValueError(f"zone {zl[dup].origin} given twice")
            raise MemoryError()
        memcpy(db.opt.identity, <const char *>ident, len(ident))
        memcpy(db.opt.version, <const char *>vers, len(vers))
        if nsid_b:
            memcpy(db.opt.nsid, <const char *>nsid_b, len(nsid_b))
        db.opt.nsid_len = len(nsid_b)
        db.opt.max_udp_payload = max_udp_payload
        db.opt.minimal_any = 1 if minimal_any else 0
        _rd_generation += 1
        db.generation = _rd_generation
        if self.db != NULL:              # __init__ called twice: replace
            _db_free(self.db)
        self.db = db
        self.zones = zl
        self.generation = db.generation

    def __dealloc__(self):
        global _live_databases
        _live_databases -= 1
        _db_free(self.db)
        self.db = NULL

    def __repr__(self):
        return f"<Database generation={self.generation} zones={len(self.zones)}>"


def live_objects():
    """How many Databases and ZoneImages are alive in this process (counted as they are
    made and freed): {"databases": n, "zone_images": n}."""
    return {"databases": _live_databases, "zone_images": _live_zone_images}
