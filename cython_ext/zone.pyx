# zone.pyx — the zone compiler for Python: records -> immutable zone image (zimg_build),
# images saved to files and mmap()ed back, and kept images read back (robdns.keep).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcmp, memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize
from posix.mman cimport mmap, munmap, PROT_READ, MAP_PRIVATE, MAP_FAILED
from includes.common cimport *
from includes.zimg cimport *
from includes.engine cimport rd_precompute_answers

import os as _os

cdef extern from "sys/mman.h" nogil:
    int MAP_POPULATE

cdef extern from "unistd.h" nogil:
    ssize_t pread(int fd, void *buf, size_t count, long offset)
    ssize_t write(int fd, const void *buf, size_t count)
    int c_close "close"(int fd)

cdef extern from "fcntl.h" nogil:
    int c_open "open"(const char *path, int flags)
    int O_RDONLY, O_CLOEXEC

cdef extern from "sys/stat.h" nogil:
    ctypedef struct struct_stat "struct stat":
        long st_size
    int fstat(int fd, struct_stat *st)


from libc.errno cimport errno


cdef inline uint64_t _mix(uint64_t h, uint64_t w) noexcept nogil:
    h = (h ^ w) * 0xff51afd7ed558ccdULL
    return h ^ (h >> 29)


cdef uint64_t _mix_bytes(uint64_t h, const char *p, size_t n) noexcept nogil:
    cdef uint64_t w
    cdef size_t i = 0
    h = _mix(h, n)
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        h = _mix(h, w)
        i += 8
    if i < n:
        w = 0
        memcpy(&w, p + i, n - i)
        h = _mix(h, w)
    return h


cdef uint64_t _sum4(const uint8_t *p, size_t n) noexcept nogil:
    """The checksum of kept images (robdns.keep): eight bytes per step, each through a
    bijective mix, so any change of one word always changes the sum -- damage that the
    header's checks cannot see (a flipped address in rdata) is still caught before a kept
    image is served.  Four independent lanes: the multiplications of one lane overlap the
    others', so a 180 MB image is summed at memory speed, 100,000 small ones too."""
    cdef uint64_t a = 0x9E3779B97F4A7C15ULL ^ n, b = 0xC2B2AE3D27D4EB4FULL, c = 0x165667B19E3779F9ULL
    cdef uint64_t d = 0x27D4EB2F165667C5ULL, w0, w1, w2, w3
    cdef size_t i = 0
    while i + 32 <= n:
        memcpy(&w0, p + i, 8); memcpy(&w1, p + i + 8, 8)
        memcpy(&w2, p + i + 16, 8); memcpy(&w3, p + i + 24, 8)
        a = _mix(a, w0); b = _mix(b, w1); c = _mix(c, w2); d = _mix(d, w3)
        i += 32
    a = _mix_bytes(a, <const char *>p + i, n - i)
    return _mix(_mix(_mix(a, b), c), d)


cdef extern from "pthread.h" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t *t, const void *attr, void *(*run)(void *) noexcept nogil, void *arg)
    int pthread_join(pthread_t t, void **ret)


cdef void _run_two(void *(*run)(void *) noexcept nogil, void *first, void *second) noexcept nogil:
    """run(first) on this thread and run(second) on a thread of its own, both done on
    return (one after the other when no thread can be made): the two halves of a pass
    over many zones or over a big image, on two cores."""
    cdef pthread_t t
    if pthread_create(&t, NULL, run, second) == 0:
        run(first)
        pthread_join(t, NULL)
    else:
        run(first)
        run(second)


# The checksum of a kept image file (trailer "RDKEEP02"): _sum4 of each _SUM_CHUNK bytes,
# the chunk sums chained through _mix (a bijection of each, so one changed word still
# always changes the sum).  Chunks can be summed on two threads: the checksum is the
# whole of a 1M-record zone's kept read (176 MB, issue 14).  An image of one chunk or
# less sums as _sum4 alone.
cdef enum:
    _SUM_CHUNK = 1 << 20


cdef struct chunk_job:
    const uint8_t *p
    size_t n                   # the image's length
    size_t lo, hi              # the chunks summed
    uint64_t *sums


cdef void *_chunk_run(void *arg) noexcept nogil:
    cdef chunk_job *j = <chunk_job *>arg
    cdef size_t i, off
    for i in range(j.lo, j.hi):
        off = i * _SUM_CHUNK
        j.sums[i] = _sum4(j.p + off, min(<size_t>_SUM_CHUNK, j.n - off))
    return NULL


cdef uint64_t _image_checksum(const uint8_t *p, size_t n, bint two) noexcept nogil:
    """The kept image checksum of p[0..n); two: the second half of the chunks on a thread
    of its own."""
    cdef size_t k = (n + _SUM_CHUNK - 1) // _SUM_CHUNK, i
    if k <= 1:
        return _sum4(p, n)
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL ^ n
    cdef uint64_t *sums = <uint64_t *>malloc(k * sizeof(uint64_t))
    cdef chunk_job a, b
    if sums == NULL:
        for i in range(k):
            h = _mix(h, _sum4(p + i * _SUM_CHUNK, min(<size_t>_SUM_CHUNK, n - i * _SUM_CHUNK)))
        return _mix(h, k)
    a.p, a.n, a.lo, a.hi, a.sums = p, n, 0, k, sums
    if two:
        b = a
        a.hi = b.lo = k // 2
        _run_two(_chunk_run, &a, &b)
    else:
        _chunk_run(&a)
    for i in range(k):
        h = _mix(h, sums[i])
    free(sums)
    return _mix(h, k)


cdef struct sum_job:
    const uint8_t *p
    size_t n
    uint64_t sum


cdef void *_sum_run(void *arg) noexcept nogil:
    cdef sum_job *j = <sum_job *>arg
    j.sum = _image_checksum(j.p, j.n, False)
    return NULL


# Kept images at least this big are mapped from their file; smaller ones are read into
# memory, because each mapping is one kernel map area and a process has at most
# vm.max_map_count (65530 by default) of them: 100,000 small zones could not be mapped.
cdef enum:
    _KEPT_MAP_MIN = 1 << 20


# One kept file read by _read_kept (robdns.keep's layout: image | meta | trailer).
cdef struct kept_file:
    void *buf              # the whole file (malloc()ed or mapped)
    size_t len
    bint mapped
    size_t img_len, meta_len
    const zimg *z          # NULL: refused, `why` says why
    int why                # 0 ok, 1 missing, 2 unreadable, 3 bad trailer, 4 checksum, 5 image
    char err[160]


cdef void _read_kept(const char *path, kept_file *k, bint own) noexcept nogil:
    k.buf = NULL
    k.z = NULL
    k.mapped = False
    k.err[0] = 0
    cdef int fd = c_open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0:
        k.why = 1 if errno == 2 else 2
        return
    cdef struct_stat st
    cdef ssize_t r
    cdef size_t got = 0
    if fstat(fd, &st) != 0 or st.st_size < 24:
        c_close(fd)
        k.why = 3
        return
    k.len = <size_t>st.st_size
    if k.len >= _KEPT_MAP_MIN:
        k.buf = mmap(NULL, k.len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)
        if k.buf == MAP_FAILED:
            k.buf = NULL
        k.mapped = k.buf != NULL
    else:
        k.buf = malloc(k.len)
        while k.buf != NULL and got < k.len:
            r = pread(fd, <uint8_t *>k.buf + got, k.len - got, got)
            if r <= 0:
                break
            got += r
        if k.buf != NULL and got < k.len:
            free(k.buf)
            k.buf = NULL
    c_close(fd)
    if k.buf == NULL:
        k.why = 2
        return
    cdef const uint8_t *t = <const uint8_t *>k.buf + k.len - 24
    cdef uint32_t il, ml
    cdef uint64_t sum
    cdef sum_job sj
    cdef pthread_t summer
    cdef bint threaded
    memcpy(&il, t + 8, 4)          # little endian, as robdns.keep packs it ("<8sIIQ")
    memcpy(&ml, t + 12, 4)
    memcpy(&sum, t + 16, 8)
    if memcmp(t, b"RDKEEP02", 8) != 0 or <size_t>il + ml + 24 != k.len or il == 0:
        k.why = 3
        return
    k.img_len, k.meta_len = il, ml
    if own:
        # An image this compiler wrote (the caller checks the meta's fingerprint, which
        # names the compiler, before any use): the checksum over every byte says these
        # are the bytes the builder made, so the header's checks suffice -- the walk of
        # every node (0.2 s of a 1M-record zone's start, issue 14) is not repeated.  The
        # image is returned only once the checksum holds: a damaged one is never served.
        if _image_checksum(<const uint8_t *>k.buf, il, True) != sum:
            k.why = 4
            return
        k.z = zimg_from_kept(k.buf, il, k.err, sizeof(k.err))
        k.why = 0 if k.z != NULL else 5
        return
    # A big image (a zone of a million records: 180 MB) is checksummed on a thread of its
    # own while zimg_from_buffer checks its offsets here: the two passes read the same
    # mapping and neither needs the other's answer until both are done.
    sj.p, sj.n = <const uint8_t *>k.buf, il
    threaded = il >= _KEPT_MAP_MIN and pthread_create(&summer, NULL, _sum_run, &sj) == 0
    if not threaded:
        _sum_run(&sj)
    k.z = zimg_from_buffer(k.buf, il, k.err, sizeof(k.err))
    if threaded:
        pthread_join(summer, NULL)
    if sj.sum != sum:
        k.z = NULL                 # nothing was allocated for it: the view of k.buf
        k.why = 4
        return
    k.why = 0 if k.z != NULL else 5



def read_kept_many(list paths, bint own=False):
    """Read and check the kept files at `paths` (robdns.keep) in one pass without the GIL:
    per path (image, zone, key) -- the image with its source_files, the zone and key its
    meta names -- when the trailer, the checksum and every offset of the image check out,
    else (None, reason, None), reason "missing" for no file.  own: the caller uses an
    image only when its key is the fingerprint of its sources made now, which names this
    compiler: then the header is checked (zimg_from_kept), not every node."""
    cdef Py_ssize_t n = len(paths), i
    cdef list enc = [_os.fsencode(p) for p in paths]
    cdef kept_file *ks = <kept_file *>malloc((n + 1) * sizeof(kept_file))
    cdef const char **cp = <const char **>malloc((n + 1) * sizeof(char *))
    if ks == NULL or cp == NULL:
        free(ks); free(cp)
        raise MemoryError()
    for i in range(n):
        cp[i] = <const char *>(<bytes>enc[i])
    with nogil:
        for i in range(n):
            _read_kept(cp[i], &ks[i], own)
    out = []
    cdef ZoneImage img
    cdef kept_file *k
    for i in range(n):
        k = &ks[i]
        if k.z != NULL:
            img = ZoneImage.__new__(ZoneImage)
            if k.mapped:
                img._map = k.buf
                img._map_len = k.len
            else:
                img._copy = k.buf
            img.img = k.z
            meta = PyBytes_FromStringAndSize(<const char *>k.buf + k.img_len, k.meta_len)
            parts = meta.decode("utf-8", "surrogateescape").split("\0")
            if len(parts) >= 3:
                img.source_files = tuple(parts[2:])
                out.append((img, parts[0], parts[1]))
                continue
            out.append((None, "no meta", None))
            continue
        if k.buf != NULL:
            if k.mapped:
                munmap(k.buf, k.len)
            else:
                free(k.buf)
        reason = ("ok", "missing", "unreadable", "not a kept image, or truncated",
                  "checksum mismatch", k.err.decode("utf-8", "replace"))[k.why]
        out.append((None, reason, None))
    free(ks)
    free(cp)
    return out


# ---------------------------------------------------------------- diagnostics

cdef list _zimg_format_messages(const rd_rrlist *l, const rd_msgs *m):
    """Every stored message as "FILE:LINE: error|warning: reason" ("FILE: ..." when the
    problem has no line, e.g. a missing SOA)."""
    cdef list out = []
    cdef size_t i
    cdef const rd_msg *e
    # in file order, as an operator reads them (checks run in passes, not line order)
    order = sorted(range(m.n), key=lambda k: (m.v[k].file, m.v[k].line))
    for i in order:
        e = &m.v[i]
        if e.file != RD_NONE and e.file < l.nfiles:
            where = l.files[e.file].decode("utf-8", "replace")
        else:
            where = "<zone>"
        if e.line:
            where = f"{where}:{e.line}"
        sev = "error" if e.severity == RD_MSG_ERROR else "warning"
        out.append(f"{where}: {sev}: {(<char *>e.text).decode('utf-8', 'replace')}")
    cdef size_t total = m.errors + m.warnings
    if total > m.n:
        out.append(f"... {total - m.n} more messages not shown")
    return out


cdef object _PLAIN_ORIGIN = None


cdef bytes _origin_wire(origin):
    global _PLAIN_ORIGIN
    if isinstance(origin, bytes):
        return origin
    # A plain absolute name (letters, digits, '-', '_') is encoded here: dnspython's
    # from_text costs more than compiling a small zone (100,000 zones load).
    if _PLAIN_ORIGIN is None:
        import re
        _PLAIN_ORIGIN = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)+")
    if len(origin) <= 254 and _PLAIN_ORIGIN.fullmatch(origin):
        return b"".join(bytes((len(l),)) + l.encode("ascii") for l in origin[:len(origin) - 1].split(".")) + b"\0"
    import dns.name
    return dns.name.from_text(origin).to_wire()


# ---------------------------------------------------------------- the image object

cdef str _wire_to_text(const uint8_t *w):
    cdef char buf[1024]
    rd_name_to_text(w, buf, sizeof(buf))
    s = buf.decode("utf-8", "replace")
    return s if s.endswith(".") else s + "."


# ZoneImages alive in this process (made minus freed): the `stats` command reports it so
# that a leaked image after a reload shows without walking Python objects.
cdef Py_ssize_t _live_zone_images = 0


cdef class ZoneImage:
    """One compiled zone: an immutable buffer that the engine reads without the GIL."""
    cdef const zimg *img
    cdef zimg *_owned            # built here (malloc()ed)
    cdef void *_map              # or mapped from a file
    cdef size_t _map_len
    cdef void *_copy             # or copied from bytes (image_from_bytes, a test hook)
    # Per zone of 100,000 every object counts (issue 14): no warnings is None rather than
    # an empty list each, and the usual one source file is its string rather than a
    # 1-tuple each; the properties below give the list and the tuple.
    cdef list _warnings
    cdef object _sources         # the files compile_zone read ($INCLUDEs too): a tuple, or one str
    cdef object _owner           # or inside a mapping another object holds (keep.pyx's pack)

    def __cinit__(self):
        global _live_zone_images
        self.img = NULL
        self._owned = NULL
        self._map = NULL
        self._copy = NULL
        self._warnings = None
        self._sources = ()
        _live_zone_images += 1

    def __dealloc__(self):
        global _live_zone_images
        _live_zone_images -= 1
        if self._owned != NULL:
            zimg_free(self._owned)
        if self._map != NULL:
            munmap(self._map, self._map_len)
        if self._copy != NULL:
            free(self._copy)

    @property
    def warnings(self):
        """The compiler's warnings, "FILE:LINE: warning: reason" (a new list each time)."""
        return [] if self._warnings is None else list(self._warnings)

    @warnings.setter
    def warnings(self, list msgs):
        self._warnings = msgs or None

    @property
    def source_files(self):
        """The files compile_zone read ($INCLUDEs too), as a tuple."""
        s = self._sources
        return (s,) if type(s) is str else s

    @source_files.setter
    def source_files(self, tuple files):
        self._sources = files[0] if len(files) == 1 and type(files[0]) is str else files

    @property
    def origin(self):
        return _wire_to_text(zimg_origin(self.img))

    @property
    def serial(self):
        return zimg_serial(self.img)

    @property
    def record_count(self):
        return zimg_record_count(self.img)

    @property
    def node_count(self):
        return zimg_node_count(self.img)

    @property
    def size(self):
        return zimg_size(self.img)

    def __repr__(self):
        return (f"<ZoneImage {self.origin} serial {self.serial}, {self.record_count} records, "
                f"{self.size} bytes>")

    def same_content(self, ZoneImage other not None):
        """True when `other` is byte for byte this image: the same records, compiled the
        same way (compiling is deterministic).  Compares in place, without a copy."""
        cdef size_t n = zimg_size(self.img)
        return n == zimg_size(other.img) and memcmp(zimg_base(self.img), zimg_base(other.img), n) == 0

    def rrsets(self, name):
        """The rrsets of a node as dicts (type, covered, ttl, rdatas, rrsig, additional), or
        None without such a node; the secondary reads the SOA timers from it."""
        cdef bytes w = _origin_wire(name).lower()
        cdef znode_id n = zimg_find_node(self.img, <const uint8_t *>w)
        cdef unsigned count, i, k
        cdef const zrrset *r
        cdef const uint8_t *base = zimg_base(self.img)
        cdef const uint8_t *p
        cdef const uint32_t *ids
        cdef uint32_t rdlen
        if n == RD_NONE:
            return None
        r = zimg_node_rrsets(self.img, n, &count)
        first = <size_t>(r - zimg_rrset_at(self.img, 0)) if count else 0
        out = []
        for i in range(count):
            p = base + r[i].rdata_off
            rdatas = []
            for k in range(r[i].count):
                rdlen = p[0] << 8 | p[1]
                rdatas.append(PyBytes_FromStringAndSize(<const char *>p + 2, rdlen))
                p += 2 + rdlen
            addl = []
            if r[i].addl_off != RD_NONE:
                ids = <const uint32_t *>(base + r[i].addl_off)
                addl = [_image_node_text(self, ids[k]) for k in range(r[i].addl_count)]
            out.append({
                "index": first + i,
                "type": r[i].type,
                "covered": r[i].covered,
                "ttl": r[i].ttl,
                "rdatas": rdatas,
                "rrsig": None if r[i].rrsig == RD_NONE else r[i].rrsig,
                "additional": addl,
            })
        return out

    def save(self, path):
        """Write the image to `path` atomically (write a temporary file, then rename)."""
        tmp = f"{path}.tmp{_os.getpid()}"
        # a view of the image itself: no copy of a possibly large buffer
        cdef uint8_t[::1] view = <uint8_t[:zimg_size(self.img)]> <uint8_t *> zimg_base(self.img)
        try:
            with open(tmp, "wb") as f:
                f.write(view)
            _os.replace(tmp, path)
        except BaseException:
            try:
                _os.unlink(tmp)
            except OSError:
                pass
            raise

    def write(self, int fd):
        """Write the image bytes to the open file `fd` (robdns.keep adds its trailer)."""
        cdef const uint8_t *p = zimg_base(self.img)
        cdef size_t n = zimg_size(self.img), done = 0
        cdef ssize_t r
        while done < n:
            with nogil:
                r = write(fd, p + done, n - done)
            if r < 0:
                err = _os.strerror(errno)
                raise OSError(errno, err)
            done += r

    @classmethod
    def load(cls, path):
        """Map a saved image read-only and validate every offset in it."""
        from robdns.errors import ZoneError
        cdef int fd
        cdef size_t n
        cdef void *p
        cdef const zimg *z
        cdef char err[256]
        try:
            fd = _os.open(path, _os.O_RDONLY)
        except OSError as exc:
            raise ZoneError(str(path), [f"{path}: error: {exc.strerror}"]) from None
        try:
            n = _os.fstat(fd).st_size
            if n == 0:
                raise ZoneError(str(path), [f"{path}: error: empty zone image"])
            with nogil:
                p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)
            if p == MAP_FAILED:
                raise ZoneError(str(path), [f"{path}: error: cannot map the zone image"])
        finally:
            _os.close(fd)
        err[0] = 0
        with nogil:
            z = zimg_from_buffer(p, n, err, sizeof(err))
        if z == NULL:
            munmap(p, n)
            raise ZoneError(str(path), [f"{path}: error: {err.decode('utf-8', 'replace')}"])
        cdef ZoneImage img = ZoneImage.__new__(ZoneImage)
        img._map = p
        img._map_len = n
        img.img = z
        return img

    def checksum(self):
        """A 64-bit checksum of the image bytes (kept images carry it: robdns.keep)."""
        cdef uint64_t h
        cdef const uint8_t *p = zimg_base(self.img)
        cdef size_t n = zimg_size(self.img)
        with nogil:
            h = _image_checksum(p, n, True)
        return h


# A node's name as text (rrsets' "additional" list; the test hooks' views too).
cdef object _image_node_text(ZoneImage img, znode_id n):
    if n == RD_NONE:
        return None
    return _wire_to_text(zimg_node_name(img.img, n))



# ---------------------------------------------------------------- compiling

cdef ZoneImage _build_image(str origin_text, bytes origin, rd_rrlist *l, rd_msgs *m,
                            object nsec3_max_iterations=None, bint free_records=False,
                            bint consume=False, zimg_index *index=NULL):
    """zimg_build on a filled record list; raises ZoneError with every message on error.
    nsec3_max_iterations: the NSEC3 iteration count above which the zone is refused
    (None: ZIMG_NSEC3_ITERATIONS_DEFAULT, RFC 9276).  free_records: the caller has no use
    for l's records once the image is built (l keeps its file names).  consume: records
    without lines (a transfer's), given back inside the build (zimg_build_consume).
    index: with consume, the owner index a transfer built as it came (zone/xfrin.c)."""
    from robdns.errors import ZoneError
    cdef size_t size = 0
    cdef zimg *z
    cdef const uint8_t *o = origin
    cdef size_t parse_errors = m.errors
    if parse_errors:
        raise ZoneError(origin_text, _zimg_format_messages(l, m), m.errors)
    cdef unsigned nsec3_max = (ZIMG_NSEC3_ITERATIONS_DEFAULT if nsec3_max_iterations is None
                               else nsec3_max_iterations)
    if zimg_check_nsec3_iterations(l, nsec3_max, m):
        raise ZoneError(origin_text, _zimg_format_messages(l, m), m.errors)
    with nogil:
        if consume:
            z = zimg_build_consume_indexed(o, l, m, &size, index)
        else:
            z = zimg_build(o, l, m, &size)
        # The records are in the image now: give their memory back before the precompute
        # pass grows the image, so that the peak holds the image or the records, not both
        # (the file names stay, for messages and source_files).
        if free_records:
            free(l.rr)
            l.rr = NULL
            l.n = l.cap = 0
            free(l.arena)
            l.arena = NULL
            l.alen = l.acap = 0
        # The zone layer builds the image; the query layer's precompute pass adds the
        # answers it can serve without running the engine per query.
        if z != NULL:
            z = rd_precompute_answers(z, &size)
    msgs = _zimg_format_messages(l, m)
    if z == NULL:
        raise ZoneError(origin_text, msgs, m.errors)
    cdef ZoneImage img = ZoneImage.__new__(ZoneImage)
    img._owned = z
    img.img = z
    img.warnings = msgs
    return img


def compile_zone_text(origin, str text, str name="<string>", default_ttl=3600,
                      nsec3_max_iterations=None):
    """Compile master-file text into a ZoneImage; ZoneError lists every problem."""
    cdef rd_rrlist l
    cdef rd_msgs m
    cdef bytes ow = _origin_wire(origin)
    rd_rrlist_init(&l)
    rd_msgs_init(&m, 0)
    try:
        zscan_load_text(name, text.encode("utf-8", "surrogateescape"), ow, default_ttl, &l, &m)
        return _build_image(str(origin), ow, &l, &m, nsec3_max_iterations, True)
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)


def compile_zone(origin, str path, default_ttl=3600, include_policy=None,
                 nsec3_max_iterations=None):
    """Compile a zone file (and its $INCLUDEs) into a ZoneImage; ZoneError lists every
    problem as FILE:LINE, and no partial zone is ever returned.  include_policy
    (robdns.config.IncludePolicy: dir_only, max_files, max_bytes) bounds what $INCLUDE
    may read; None keeps the parser's defaults.  A zone with NSEC3 iterations above
    nsec3_max_iterations (None: 50) is refused (RFC 9276 3.2)."""
    cdef rd_rrlist l
    cdef rd_msgs m
    cdef bytes ow = _origin_wire(origin)
    rd_rrlist_init(&l)
    rd_msgs_init(&m, 0)
    try:
        zscan_load_file(path, ow, default_ttl, &l, &m, include_policy)
        img = _build_image(str(origin), ow, &l, &m, nsec3_max_iterations, True)
        # The parser named every file it read in the record list: what a reload must
        # stat to know whether the zone changed (robdns.daemon).
        img.source_files = tuple(l.files[i].decode("utf-8", "surrogateescape")
                                 for i in range(l.nfiles))
        return img
    finally:
        rd_rrlist_free(&l)
        rd_msgs_free(&m)


def zone_diff(ZoneImage old, ZoneImage new):
    """The IXFR changeset old -> new (zone/zdiff.h format: bytes), computed in C by a merge
    walk over both images, and how many records it deletes plus adds (0: same data)."""
    if old is None or new is None or old.img == NULL or new.img == NULL:
        raise ValueError("zone_diff needs two compiled images")
    cdef uint8_t *out = NULL
    cdef size_t n = 0
    cdef long cnt
    with nogil:
        cnt = zdiff_build(old.img, new.img, &out, &n)
    if cnt < 0:
        raise ValueError(f"cannot diff {old.origin} and {new.origin}: different zones or out of memory")
    try:
        return PyBytes_FromStringAndSize(<char *>out, n), cnt
    finally:
        free(out)


def journal_check(bytes journal):
    """Raise ValueError naming the first problem of a journal buffer (zone/zdiff.h)."""
    cdef char err[256]
    if zdiff_journal_check(<const uint8_t *><const char *>journal, len(journal), err, sizeof(err)) != 0:
        raise ValueError(err.decode(errors="replace"))


# ---------------------------------------------------------------- many zones at once

cdef extern from "time.h" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec *ts)
    int CLOCK_MONOTONIC

# One zone of a compile_zones call.  `z` NULL after the run: compiled one at a time by the
# caller instead (an error to report with ZoneError, a record the C parser left as text
# for dnspython, an origin that is not a plain name).
cdef extern from "sys/stat.h" nogil:
    cdef struct timespec_k "timespec":
        long tv_sec
        long tv_nsec
    ctypedef struct kstat "struct stat":
        unsigned long st_dev
        unsigned long st_ino
        long st_size
        timespec_k st_mtim
    int kstat_call "stat"(const char *path, kstat *st)
    int kfstat_call "fstat"(int fd, kstat *st)
    int kfstatat_call "fstatat"(int dirfd, const char *path, kstat *st, int flags)

cdef extern from "zone/zscan.h" nogil:
    int zs_parse_file_stat(const char *path, const zs_options *opt, rd_rrlist *out,
                           rd_msgs *msgs, kstat *top)


cdef struct zone_job:
    const char *origin         # presentation, absolute
    size_t origin_len
    const char *path
    zs_options opt
    unsigned nsec3_max
    rd_rrlist l
    rd_msgs m
    zimg *z
    bint in_block              # z is inside the call's _ImageBlock, not malloc()ed
    double seconds
    kstat top                  # the zone file's status when the parser read it (st_ino 0: not read)


# The jobs a compile_zones call shares among its threads: each takes the next run of
# RUN zones (one zone at a time would make the counter a hot line between the cores).
cdef struct zone_jobs:
    zone_job *v
    Py_ssize_t n
    Py_ssize_t next            # taken with __atomic_fetch_add


cdef extern from *:
    """
    static inline Py_ssize_t rd_take_run(Py_ssize_t *next, Py_ssize_t run)
    { return __atomic_fetch_add(next, run, __ATOMIC_RELAXED); }
    """
    Py_ssize_t rd_take_run(Py_ssize_t *next, Py_ssize_t run) nogil

cdef enum:
    _RUN = 32


cdef extern from "malloc.h" nogil:
    int mallopt(int param, int value)
    int M_MMAP_THRESHOLD

# The mmap threshold the server pinned (pin_mmap_threshold), 0: glibc's dynamic default.
cdef int _mmap_threshold = 0
# What compile_zones raises it to while it runs: the precompute pass takes a 1 MiB
# scratch area per zone, which above a pinned 128 KiB threshold is an mmap, page faults
# and an munmap for every zone (7 us of system time each, more than the parse).
cdef enum:
    _BATCH_MMAP_THRESHOLD = 4 << 20


def pin_mmap_threshold(int n):
    """Pin glibc's mmap threshold at n bytes (M_MMAP_THRESHOLD; the server's policy, see
    robdns.daemon): blocks from n up are mmap()ed and go back to the kernel when freed.
    compile_zones raises it while it runs and puts it back."""
    global _mmap_threshold
    if mallopt(M_MMAP_THRESHOLD, n) == 1:
        _mmap_threshold = n


cdef bint _plain_origin(const char *s, size_t n, bint dot_added=False) noexcept nogil:
    # What _origin_wire encodes itself (letters, digits, '-', '_', dots between labels of
    # 1..63, a final dot): anything else goes the single-zone way, through dnspython.
    # dot_added: the final dot may be missing (the caller adds it: a config's zone name,
    # robdns.config's _PLAIN_NAME once lower-cased and made absolute).
    cdef size_t i, label = 0
    if n == 0 or n + (s[n - 1] != b'.') > 254 or (s[n - 1] != b'.' and not dot_added):
        return False
    for i in range(n):
        c = s[i]
        if c == b'.':
            if label == 0 or label > 63:
                return False
            label = 0
        elif (b'a' <= c <= b'z') or (b'A' <= c <= b'Z') or (b'0' <= c <= b'9') or c == b'-' or c == b'_':
            label += 1
        else:
            return False
    return label <= 63


cdef void _compile_one(zone_job *j) noexcept nogil:
    cdef uint8_t ow[256]
    cdef size_t size = 0, i
    cdef timespec t0, t1
    clock_gettime(CLOCK_MONOTONIC, &t0)
    j.z = NULL
    if not _plain_origin(j.origin, j.origin_len):
        return
    if zs_name_from_text(j.origin, j.origin_len, <const uint8_t *>b"\x00", ow) < 0:
        return
    j.opt.origin = ow
    if zs_parse_file_stat(j.path, &j.opt, &j.l, &j.m, &j.top) != 0 or j.m.errors:
        return
    for i in range(j.l.n):
        if j.l.rr[i].flags & RD_RR_TEXT_RDATA:
            return
    if zimg_check_nsec3_iterations(&j.l, j.nsec3_max, &j.m) or j.m.errors:
        return
    j.z = zimg_build(ow, &j.l, &j.m, &size)
    # as _build_image: the records go before the precompute pass grows the image
    free(j.l.rr)
    j.l.rr = NULL
    j.l.n = j.l.cap = 0
    free(j.l.arena)
    j.l.arena = NULL
    j.l.alen = j.l.acap = 0
    if j.z != NULL:
        j.z = rd_precompute_answers(j.z, &size)
    clock_gettime(CLOCK_MONOTONIC, &t1)
    j.seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9


cdef void *_compile_runs(void *arg) noexcept nogil:
    cdef zone_jobs *js = <zone_jobs *>arg
    cdef Py_ssize_t lo, i
    while True:
        lo = rd_take_run(&js.next, _RUN)
        if lo >= js.n:
            return NULL
        for i in range(lo, min(lo + _RUN, js.n)):
            _compile_one(&js.v[i])


cdef extern from "sys/mman.h" nogil:
    int PROT_WRITE, MAP_ANONYMOUS
    int mprotect(void *addr, size_t length, int prot)

cdef extern from "malloc.h" nogil:
    int malloc_trim(size_t pad)


cdef extern from "lib/rd_huge.h" nogil:
    ctypedef struct rd_huge:
        pass
    int RD_HUGE_COLLAPSE, RD_HUGE_COPY
    void *rd_huge_map(size_t len, int prot, int flags, int fd)
    rd_huge *rd_huge_start(void *p, size_t len, int mode, int fd)
    void rd_huge_stop(rd_huge *h)
    size_t rd_huge_done(const rd_huge *h)
    int rd_huge_wait(rd_huge *h)
    void rd_huge_hold(int held)


def huge_hold(bint held):
    """Hold (True) or release (False) the moves into huge pages (image blocks, kept packs,
    zone tables: lib/rd_huge.h) of the whole process, started or to come: a start holds
    them until its workers have had a quiet moment (Daemon), for a collapse makes a worker
    that touches the page in hand wait.  Released by default."""
    with nogil:
        rd_huge_hold(held)


# The images of one compile_zones call, copied side by side into one mapping: ZoneImages
# in it hold this object, which unmaps it when the last of them goes.  Its whole 2 MiB
# pages are collapsed into huge pages by a thread of idle priority (rd_huge.h): stopped
# before the unmap.
cdef class _ImageBlock:
    cdef void *p
    cdef size_t n
    cdef rd_huge *huge

    def __dealloc__(self):
        rd_huge_stop(self.huge)
        if self.p != NULL:
            munmap(self.p, self.n)


def image_huge_pages(ZoneImage img, bint wait=False):
    """(huge pages made, whole 2 MiB pages, address, length) of the mapping holding img's
    bytes (the image block of a compile_zones call, or a kept pack); (0, 0, 0, 0) when it
    is neither or has no whole huge page.  wait: first until the background thread is
    done (tests, benchmarks)."""
    cdef rd_huge *h = NULL
    cdef uint8_t *p
    cdef size_t n
    o = img._owner
    if isinstance(o, _ImageBlock):
        h, p, n = (<_ImageBlock>o).huge, <uint8_t *>(<_ImageBlock>o).p, (<_ImageBlock>o).n
    elif isinstance(o, _PackMap):
        h, p, n = (<_PackMap>o).huge, <uint8_t *>(<_PackMap>o).base, (<_PackMap>o).length
    else:
        return (0, 0, 0, 0)
    if h == NULL:
        return (0, 0, 0, 0)
    if wait:
        with nogil:
            rd_huge_wait(h)
    lo = (<size_t>p + 0x1fffff) >> 21
    hi = (<size_t>p + n) >> 21
    return (rd_huge_done(h), hi - lo, <size_t>p, n)


cdef enum:
    _BLOCK_MIN = 1 << 20           # fewer image bytes than this stay where they were built
    _TRIM_EVERY = 32 << 20


cdef inline size_t _align16(size_t n) noexcept nogil:
    return (n + 15) & ~(<size_t>15)


cdef void *_gather(zone_job *v, Py_ssize_t n, size_t *len_out) noexcept nogil:
    """Copy the images of jobs v[0..n) into one new mapping (collapsed into huge pages
    later by an rd_huge thread), free each copy as it is made and give the freed heap back to the system;
    the jobs then point into the mapping.  Returns it (read-only, *len_out bytes), or NULL
    (too few bytes, or no memory: the images stay as built).  Many small images built
    among the parser's and the precompute pass's scratch leave the heap fragmented (100,000
    zones: 35 MB of holes kept after the load) and spread over as many 4 KiB pages as
    bytes, which a query spread over the zones pays in TLB misses."""
    cdef size_t total = 0, half = 0
    cdef Py_ssize_t i, mid = n // 2
    cdef gather_part parts[2]
    cdef pthread_t t
    for i in range(n):
        if v[i].z != NULL:
            total += _align16(zimg_size(v[i].z))
            if i < mid:
                half += _align16(zimg_size(v[i].z))
    if total < _BLOCK_MIN:
        return NULL
    # 2 MiB-aligned: every whole 2 MiB of it can become one huge page
    cdef uint8_t *b = <uint8_t *>rd_huge_map(total, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1)
    if <void *>b == MAP_FAILED:
        return NULL
    # two halves copied at once (the copy and its page faults are most of the cost),
    # the first one giving the heap back as it goes
    parts[0].v, parts[0].lo, parts[0].hi, parts[0].at, parts[0].trim = v, 0, mid, b, True
    parts[1].v, parts[1].lo, parts[1].hi, parts[1].at, parts[1].trim = v, mid, n, b + half, False
    cdef bint threaded = pthread_create(&t, NULL, _gather_part, &parts[1]) == 0
    _gather_part(&parts[0])
    if threaded:
        pthread_join(t, NULL)
    else:
        _gather_part(&parts[1])
    mprotect(b, total, PROT_READ)      # immutable from here on, as every published image
    # No MADV_HUGEPAGE here: the caller's rd_huge thread asks for huge pages and collapses
    # the block itself, later.  Asked for before the copy, they made the copy fault in
    # fresh 2 MiB pages, which on a VM whose host backs guest memory lazily cost 0.09-1.6 s
    # per 256 MiB, 2.3-3.4 s on a busier host (4 KiB pages: 0.24 s, 0.7-0.8 s): the
    # variance of the pinned 100,000-zone start (issue 14).
    malloc_trim(0)
    len_out[0] = total
    return b


cdef struct gather_part:
    zone_job *v
    Py_ssize_t lo, hi
    uint8_t *at                # where image lo goes
    bint trim


cdef void *_gather_part(void *arg) noexcept nogil:
    cdef gather_part *g = <gather_part *>arg
    cdef size_t off = 0, sz, trimmed = 0
    cdef Py_ssize_t i
    for i in range(g.lo, g.hi):
        if g.v[i].z != NULL:
            sz = zimg_size(g.v[i].z)
            memcpy(g.at + off, g.v[i].z, sz)
            zimg_free(g.v[i].z)
            g.v[i].z = <zimg *>(g.at + off)
            g.v[i].in_block = True
            off += _align16(sz)
            if g.trim and off - trimmed >= _TRIM_EVERY:
                # the copies freed so far go back now: the peak stays near one copy of
                # the images, not two
                malloc_trim(0)
                trimmed = off
    return NULL


def compile_zones(list origins, list paths, list ttls, list policies, list nsec3_max, int threads=1,
                  list settings=None, long long since_ns=0):
    """compile_zone() of many zones in one call: zone i is origins[i] from paths[i] with
    ttls[i], policies[i] and nsec3_max[i] (compile_zone's arguments), parsed, built and
    precomputed without the GIL on `threads` threads.  Returns (images, seconds): per zone
    its ZoneImage (warnings and source_files as compile_zone sets them) and its compile
    time, or None where compile_zone must be called for that zone alone (an error, which
    it reports as a ZoneError, or what needs Python: rdata left to dnspython, an origin
    that is not a plain name).  settings (per zone, as source_fingerprints takes them):
    returns (images, seconds, fingerprints), each zone's source_fingerprints(settings,
    paths, source_files, since_ns) made from the status the parser read its file with
    (no second stat of 100,000 files, and the status of what was read, not of what is
    there later); None where the zone read more than its file, or has no image."""
    cdef Py_ssize_t n = len(origins), i, k
    if len(paths) != n or len(ttls) != n or len(policies) != n or len(nsec3_max) != n:
        raise ValueError("compile_zones: one origin, path, ttl, policy and limit per zone")
    if settings is not None and len(settings) != n:
        raise ValueError("compile_zones: one settings text per zone")
    cdef list fps = None if settings is None else [None] * n
    cdef list held = []
    cdef const char *sp
    cdef Py_ssize_t sl
    cdef uint64_t fp
    cdef list enc = []
    cdef zone_jobs js
    cdef zone_job *j
    cdef bytes b
    cdef pthread_t *tids = NULL
    cdef Py_ssize_t started = 0
    cdef void *bp = NULL
    cdef size_t blen = 0
    block = None
    js.v = <zone_job *>calloc(n + 1, sizeof(zone_job))
    js.n, js.next = n, 0
    if js.v == NULL:
        raise MemoryError()
    images, seconds = [None] * n, [0.0] * n
    try:
        for i in range(n):
            j = &js.v[i]
            o = origins[i]
            b = o.encode("utf-8", "surrogateescape") if type(o) is str else b"\xff"
            enc.append(b)
            j.origin, j.origin_len = <const char *>b, len(b)
            b = _os.fsencode(paths[i])
            enc.append(b)
            j.path = <const char *>b
            _zscan_options(&j.opt, NULL, ttls[i])
            _zscan_include_policy(&j.opt, policies[i])
            j.nsec3_max = (ZIMG_NSEC3_ITERATIONS_DEFAULT if nsec3_max[i] is None else nsec3_max[i])
            rd_rrlist_init(&j.l)
            rd_msgs_init(&j.m, 0)
        threads = max(1, min(threads, (n + _RUN - 1) // _RUN))
        tids = <pthread_t *>malloc(threads * sizeof(pthread_t))
        if tids == NULL:
            raise MemoryError()
        with nogil:
            if _mmap_threshold:
                mallopt(M_MMAP_THRESHOLD, _BATCH_MMAP_THRESHOLD)
            for k in range(1, threads):
                if pthread_create(&tids[started], NULL, _compile_runs, &js) == 0:
                    started += 1
            _compile_runs(&js)
            for k in range(started):
                pthread_join(tids[k], NULL)
            if _mmap_threshold:
                mallopt(M_MMAP_THRESHOLD, _mmap_threshold)
            bp = _gather(js.v, n, &blen)
        if bp != NULL:
            block = _ImageBlock.__new__(_ImageBlock)
            (<_ImageBlock>block).p, (<_ImageBlock>block).n = bp, blen
            (<_ImageBlock>block).huge = rd_huge_start(bp, blen, RD_HUGE_COLLAPSE, -1)
        for i in range(n):
            j = &js.v[i]
            if j.z == NULL:
                continue
            img = ZoneImage.__new__(ZoneImage)
            if j.in_block:
                (<ZoneImage>img)._owner = block
            else:
                (<ZoneImage>img)._owned = j.z
            (<ZoneImage>img).img = j.z
            j.z = NULL
            if j.m.n:
                (<ZoneImage>img).warnings = _zimg_format_messages(&j.l, &j.m)
            # the configured path itself when the zone read only it (no second string)
            if j.l.nfiles == 1 and j.l.files[0] == enc[2 * i + 1]:
                (<ZoneImage>img).source_files = (paths[i],)
                if fps is not None and j.top.st_ino != 0:
                    sp = _utf8(settings[i], &sl, held)
                    b = enc[2 * i + 1]
                    fp = _fp_read(sp, sl, <const char *>b, len(b), since_ns, &j.top)
                    fps[i] = fp if fp != 0 else None
            else:
                (<ZoneImage>img).source_files = tuple(j.l.files[k].decode("utf-8", "surrogateescape")
                                                      for k in range(j.l.nfiles))
            images[i] = img
            seconds[i] = j.seconds
        return (images, seconds) if fps is None else (images, seconds, fps)
    finally:
        for i in range(n):
            j = &js.v[i]
            if j.z != NULL and not j.in_block:
                zimg_free(j.z)
            rd_rrlist_free(&j.l)
            rd_msgs_free(&j.m)
        free(js.v)
        free(tids)
        if bp != NULL:
            malloc_trim(0)             # the jobs' file names and messages too
