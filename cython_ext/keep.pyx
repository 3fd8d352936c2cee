# keep.pyx — kept images at scale (robdns.keep): the fingerprint of a zone's sources, and the pack file that holds the small zones' images, written and mapped in one pass each.
#
# Fingerprint: a 64-bit digest of the zone's settings text, its file and, for every file
# the parser read, the path, device, inode, size and modification time (stat, as Knot and
# NSD decide on reload), never the contents.  0 means "unknown": a file could not be
# stat()ed, or was modified too recently for its content to be the compiled one.
#
# Pack (STORAGE/zones.pack): a 16-byte header ("RDPACK01", the byte-order tag, 0), then
# records, each at a multiple of 16 bytes:
#     u8 magic[4] "RDPR", u32 name_len, u32 meta_len, u32 img_len, u64 fingerprint,
#     u64 checksum | name | meta (each source file NUL-terminated) | pad to 16 | image |
#     pad to 16
# The checksum covers the first 24 header bytes and everything after the header, so any
# damage to a record is seen.  Records are only ever appended (a zone's later record
# replaces its earlier one) or the whole file is written anew and renamed: a mapped pack
# never changes under its images.  A record whose header does not parse ends the walk (a
# crash while appending): what follows is not read, and robdns.keep writes the pack anew.

from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, realloc
from libc.string cimport memset, strlen
from cpython.unicode cimport PyUnicode_AsUTF8AndSize

# kstat, kstat_call, kfstat_call, kfstatat_call: zone.pyx (included before this file).

cdef extern from "fcntl.h" nogil:
    int O_PATH, O_DIRECTORY

cdef extern from "strings.h" nogil:
    int strncasecmp(const char *a, const char *b, size_t n)

cdef extern from "sys/mman.h" nogil:
    int madvise(void *addr, size_t length, int advice)
    int MADV_SEQUENTIAL, MADV_NORMAL

PACK_MAGIC = b"RDPACK01"
cdef uint32_t _ENDIAN_TAG = 0x01020304     # ZIMG_ENDIAN_TAG: a pack of another byte order is not read
cdef enum:
    _PACK_HDR = 16
    _REC_HDR = 32
    _NAME_MAX = 1024
    _META_MAX = 1 << 20
# A source file modified this shortly before its compile started may still change within
# the same coarse file-time tick (file times lag the fine clock by up to a few ms).
cdef int64_t _SETTLE_NS = 50000000
# On a filesystem that keeps whole seconds (FAT keeps 2 s, ext3 and many network mounts
# 1 s) a file written after the compile started can carry a time up to a tick before it,
# and a rewrite of the same size would leave the fingerprint unchanged: the kept image of
# the old text would be taken at the next start.  A time without nanoseconds is read as
# such a filesystem's (on a fine one 1 in 10^9), and is held to the coarsest tick.
cdef int64_t _SETTLE_COARSE_NS = 2000000000


# _mix, _mix_bytes, _sum4: zone.pyx (included before this file).


# The directory of the files a fingerprinting thread stat()s, held open: the zone files
# of a server mostly share one, and a stat relative to it walks one path component
# instead of every one (100,000 zones: a reload's stat pass is most of its time).
cdef struct dir_cache:
    int fd                     # -1: none open
    const char *path           # the directory's path: the file path it was opened for ...
    size_t len                 # ... up to its last '/'


cdef int _stat_in(dir_cache *dc, const char *path, size_t n, kstat *st) noexcept nogil:
    """stat(path) through the directory held in dc, opened anew when path is elsewhere."""
    cdef size_t slash = n
    while slash > 0 and path[slash - 1] != b'/':
        slash -= 1
    if slash <= 1 or dc == NULL:
        return kstat_call(path, st)
    cdef char dir[4096]
    if dc.fd < 0 or dc.len != slash or memcmp(dc.path, path, slash) != 0:
        if dc.fd >= 0:
            c_close(dc.fd)
            dc.fd = -1
        if slash >= sizeof(dir):
            return kstat_call(path, st)
        memcpy(dir, path, slash)
        dir[slash] = 0
        dc.fd = c_open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)
        if dc.fd < 0:
            return kstat_call(path, st)
        dc.path, dc.len = path, slash
    return kfstatat_call(dc.fd, path + slash, st, 0)


cdef uint64_t _fp_file(uint64_t h, const char *path, size_t n, int64_t since_ns,
                       dir_cache *dc=NULL) noexcept nogil:
    """h with file `path` (NUL-terminated, n bytes) mixed in; 0 when it cannot be stat()ed
    or changed at or after since_ns - settle (since_ns 0: no such check).  dc: the
    directory the calling thread holds open (_stat_in), or NULL."""
    cdef kstat st
    if _stat_in(dc, path, n, &st) != 0:
        return 0
    return _fp_stat(h, path, n, since_ns, &st)


cdef uint64_t _fp_stat(uint64_t h, const char *path, size_t n, int64_t since_ns,
                       const kstat *st) noexcept nogil:
    """_fp_file of a file whose status the caller has (the parser's fstat, compile_zones)."""
    cdef int64_t mtime = <int64_t>st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec
    cdef int64_t settle = _SETTLE_NS if st.st_mtim.tv_nsec != 0 else _SETTLE_COARSE_NS
    if since_ns != 0 and mtime >= since_ns - settle:
        return 0
    h = _mix_bytes(h, path, n)
    h = _mix(h, st.st_dev)
    h = _mix(h, st.st_ino)
    h = _mix(h, <uint64_t>st.st_size)
    return _mix(h, <uint64_t>mtime)


cdef inline uint64_t _fp_begin(const char *settings, size_t slen, const char *zfile,
                               size_t zlen) noexcept nogil:
    """A zone's fingerprint before its source files: its settings text, then its
    configured file (every way of fingerprinting a zone starts here, or two would differ)."""
    return _mix_bytes(_mix_bytes(0x9E3779B97F4A7C15ULL, settings, slen), zfile, zlen)


cdef uint64_t _fp_read(const char *settings, size_t slen, const char *path, size_t plen,
                       int64_t since_ns, const kstat *st) noexcept nogil:
    """The fingerprint of a zone whose one source is its configured file `path`, from the
    status the parser read it with (source_fingerprints' hash, without a stat call)."""
    cdef uint64_t h = _fp_begin(settings, slen, path, plen)
    h = _fp_stat(h, path, plen, since_ns, st)
    return _fp_final(h) if h != 0 else 0


cdef inline uint64_t _fp_final(uint64_t h) noexcept nogil:
    h ^= h >> 32
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 29
    return h if h != 0 else 1


cdef uint64_t _fp_meta(const char *settings, size_t slen, const char *zfile, size_t zlen,
                       const char *meta, size_t mlen, dir_cache *dc=NULL) noexcept nogil:
    """The fingerprint of a zone whose source files are the NUL-terminated paths of meta;
    dc: the directory the calling thread holds open (_stat_in), or NULL."""
    cdef uint64_t h = _fp_begin(settings, slen, zfile, zlen)
    cdef size_t i = 0, k
    while i < mlen:
        k = strlen(meta + i)
        if i + k >= mlen:
            return 0
        h = _fp_file(h, meta + i, k, 0, dc)
        if h == 0:
            return 0
        i += k + 1
    return _fp_final(h)


cdef const char *_utf8(object s, Py_ssize_t *n, list keep) except NULL:
    """The UTF-8 bytes of str s (the str's own cache, no copy), or of os.fsencode(s) for a
    path that is not valid UTF-8 (kept alive in `keep`)."""
    try:
        return PyUnicode_AsUTF8AndSize(s, n)
    except UnicodeEncodeError:
        b = _os.fsencode(s)
        keep.append(b)
        n[0] = len(b)
        return <const char *>(<bytes>b)


# pthread_create, pthread_join and _run_two: zone.pyx (included before this file).


# The fingerprints of zones [lo, hi) of one source_fingerprints call.
cdef struct fp_job:
    const char **sp            # per zone: settings, file, then its source files
    size_t *sl
    Py_ssize_t *first          # zone i's strings are sp[first[i] .. first[i + 1])
    uint64_t *out
    int64_t since_ns
    Py_ssize_t lo, hi


cdef void *_fp_range(void *arg) noexcept nogil:
    cdef fp_job *j = <fp_job *>arg
    cdef Py_ssize_t i, k, f
    cdef uint64_t h
    cdef dir_cache dc
    dc.fd = -1
    for i in range(j.lo, j.hi):
        k = j.first[i]
        h = _fp_begin(j.sp[k], j.sl[k], j.sp[k + 1], j.sl[k + 1])
        f = k + 2
        while f < j.first[i + 1] and h != 0:
            h = _fp_file(h, j.sp[f], j.sl[f], j.since_ns, &dc)
            f += 1
        j.out[i] = _fp_final(h) if h != 0 else 0
    if dc.fd >= 0:
        c_close(dc.fd)
    return NULL


cdef void _fp_run(fp_job *job, Py_ssize_t n) noexcept nogil:
    """Fingerprint zones [0, n): the first half on a second thread when there are many (a
    reload of 100,000 zones is 100,000 stat calls, each a path walk in the kernel)."""
    cdef fp_job other = job[0]
    job.lo, job.hi = 0, n
    if n < 4096:
        _fp_range(job)
        return
    other.lo, other.hi = 0, n // 2
    job.lo = n // 2
    _run_two(_fp_range, job, &other)


def source_fingerprints(list settings, list zfiles, list files, int64_t since_ns=0):
    """The fingerprint of each zone: settings[i] (text of its settings and the compiler),
    zfiles[i] (its configured file) and files[i] (the files its image was compiled from),
    stat()ed without the GIL; 0 where a file cannot be stat()ed or was modified at or after
    since_ns (ns since the epoch; 0: no such check) less a settle margin."""
    cdef Py_ssize_t n = len(settings), i, j, nf = 0, k, ln
    if len(zfiles) != n or len(files) != n:
        raise ValueError("source_fingerprints: one settings, file and file list per zone")
    files = [f if type(f) is tuple else tuple(f) for f in files]
    for i in range(n):
        nf += len(<tuple>files[i])
    cdef list keep = []
    cdef const char **sp = <const char **>malloc((2 * n + nf + 1) * sizeof(char *))
    cdef size_t *sl = <size_t *>malloc((2 * n + nf + 1) * sizeof(size_t))
    cdef Py_ssize_t *first = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
    cdef uint64_t *out = <uint64_t *>malloc((n + 1) * sizeof(uint64_t))
    cdef fp_job job
    if sp == NULL or sl == NULL or first == NULL or out == NULL:
        free(sp); free(sl); free(first); free(out)
        raise MemoryError()
    try:
        k = 0
        for i in range(n):
            first[i] = k
            sp[k] = _utf8(settings[i], &ln, keep); sl[k] = ln; k += 1
            sp[k] = _utf8(zfiles[i], &ln, keep); sl[k] = ln; k += 1
            for f in <tuple>files[i]:
                sp[k] = _utf8(f, &ln, keep); sl[k] = ln; k += 1
        first[n] = k
        job.sp, job.sl, job.first, job.out, job.since_ns = sp, sl, first, out, since_ns
        with nogil:
            _fp_run(&job, n)
        return [out[i] for i in range(n)]
    finally:
        free(sp); free(sl); free(first); free(out)


cdef class SourceSet:
    """The sources of many zones (as source_fingerprints takes them) with the fingerprint
    each zone's image was compiled from, prepared once for C: a reload asks changed(),
    which stat()s every file without the GIL and names only the zones whose fingerprint
    moved, with no Python object per zone.  Immutable: updated() makes the next one."""
    cdef const char **sp           # per zone: settings, file, then its source files
    cdef size_t *sl
    cdef Py_ssize_t *first         # zone i's strings are sp[first[i] .. first[i + 1])
    cdef uint64_t *fps             # the fingerprints compared with
    cdef Py_ssize_t n
    # What the pointers point into: the caller's strings (the zone configs' and images'
    # own, no copy), and the encoded copies of paths that are not UTF-8.
    cdef list settings, zfiles, files, encoded

    def __cinit__(self):
        self.sp = NULL
        self.sl = NULL
        self.first = NULL
        self.fps = NULL
        self.n = 0
        self.encoded = []

    def __dealloc__(self):
        free(self.sp); free(self.sl); free(self.first); free(self.fps)

    def __init__(self, list settings, list zfiles, list files, list sources):
        """Zone i: settings[i], zfiles[i], the tuple files[i] and the fingerprint
        sources[i] (an int, or None: then it always shows as changed)."""
        cdef Py_ssize_t n = len(settings), i, k = 0, nstr = 0
        if len(zfiles) != n or len(files) != n or len(sources) != n:
            raise ValueError("SourceSet: one settings, file, file list and source per zone")
        self.settings, self.zfiles = list(settings), list(zfiles)
        self.files = [_one_or_tuple(f) for f in files]
        for f in self.files:
            nstr += 2 + _nfiles(f)
        self._alloc(n, nstr)
        for i in range(n):
            self.first[i] = k
            k = self._put(i, k, sources[i])
        self.first[n] = k

    cdef _alloc(self, Py_ssize_t n, Py_ssize_t nstr):
        self.sp = <const char **>malloc((nstr + 1) * sizeof(char *))
        self.sl = <size_t *>malloc((nstr + 1) * sizeof(size_t))
        self.first = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
        self.fps = <uint64_t *>malloc((n + 1) * sizeof(uint64_t))
        if self.sp == NULL or self.sl == NULL or self.first == NULL or self.fps == NULL:
            raise MemoryError()
        self.n = n

    cdef Py_ssize_t _put(self, Py_ssize_t i, Py_ssize_t k, source) except -1:
        """Zone i's strings from position k; returns the position after them."""
        cdef Py_ssize_t ln
        self.sp[k] = _utf8(self.settings[i], &ln, self.encoded); self.sl[k] = ln; k += 1
        self.sp[k] = _utf8(self.zfiles[i], &ln, self.encoded); self.sl[k] = ln; k += 1
        fs = self.files[i]
        for f in ((fs,) if type(fs) is str else <tuple>fs):
            self.sp[k] = _utf8(f, &ln, self.encoded); self.sl[k] = ln; k += 1
        self.fps[i] = source if source is not None else 0
        return k

    def __len__(self):
        return self.n

    def changed(self, int64_t since_ns=0):
        """Indices of the zones whose sources' fingerprint is not the one given (a file
        changed, or cannot be stat()ed), in order; every file stat()ed without the GIL."""
        cdef fp_job job
        cdef Py_ssize_t i
        cdef uint64_t *out = <uint64_t *>malloc((self.n + 1) * sizeof(uint64_t))
        if out == NULL:
            raise MemoryError()
        try:
            job.sp, job.sl, job.first, job.out, job.since_ns = self.sp, self.sl, self.first, out, since_ns
            with nogil:
                _fp_run(&job, self.n)
            return [i for i in range(self.n) if out[i] != self.fps[i] or out[i] == 0]
        finally:
            free(out)

    def updated(self, list changed, list settings, list zfiles, list files, list sources):
        """The set with zone changed[j] given settings[j], zfiles[j], files[j] and
        sources[j]; this one is left as it was."""
        cdef SourceSet new = SourceSet.__new__(SourceSet)
        cdef Py_ssize_t j, i, k, nstr = self.first[self.n]
        new.settings, new.zfiles, new.files = list(self.settings), list(self.zfiles), list(self.files)
        new.encoded = list(self.encoded)
        same = True                   # every zone changed keeps its number of files
        for j, i in enumerate(changed):
            f = _one_or_tuple(files[j])
            same = same and _nfiles(f) == _nfiles(new.files[i])
            nstr += _nfiles(f) - _nfiles(new.files[i])
            new.settings[i], new.zfiles[i], new.files[i] = settings[j], zfiles[j], f
        new._alloc(self.n, nstr)
        if same:
            # the arrays copied and the changed zones' entries rewritten in place: a
            # reload that changed a few of 100,000 zones does not encode every path again
            memcpy(new.sp, self.sp, (nstr + 1) * sizeof(char *))
            memcpy(new.sl, self.sl, (nstr + 1) * sizeof(size_t))
            memcpy(new.first, self.first, (self.n + 1) * sizeof(Py_ssize_t))
            memcpy(new.fps, self.fps, (self.n + 1) * sizeof(uint64_t))
            for j, i in enumerate(changed):
                new._put(i, new.first[i], sources[j])
            return new
        k = 0
        pos = {i: j for j, i in enumerate(changed)}
        for i in range(self.n):
            new.first[i] = k
            j = pos.get(i, -1)
            k = new._put(i, k, sources[j] if j >= 0 else self.fps[i] or None)
        new.first[self.n] = k
        return new


cdef object _one_or_tuple(f):
    """A zone's source files as SourceSet keeps them: the one file's own string (no tuple
    per zone of 100,000: ZoneImage.source_files makes a new one at each call), or a tuple."""
    if type(f) is not tuple:
        f = tuple(f)
    return (<tuple>f)[0] if len(<tuple>f) == 1 and type((<tuple>f)[0]) is str else f


cdef inline Py_ssize_t _nfiles(f):
    return 1 if type(f) is str else len(<tuple>f)


cdef uint64_t _record_checksum(const uint8_t *rec, size_t body) noexcept nogil:
    return _mix(_sum4(rec, 24), _sum4(rec + _REC_HDR, body))


# _align16: zone.pyx (included before this file).


cdef class _PackMap:
    """One mapping of a pack file; the images read from it hold it, and it is unmapped
    when the last of them goes.  Its whole 2 MiB pages are copied into huge pages by a
    thread of idle priority (rd_huge.h: page cache pages cannot be collapsed here),
    stopped before the unmap."""
    cdef void *base
    cdef size_t length
    cdef rd_huge *huge

    def __cinit__(self):
        self.base = NULL
        self.length = 0
        self.huge = NULL

    def __dealloc__(self):
        rd_huge_stop(self.huge)
        if self.base != NULL:
            munmap(self.base, self.length)


# One wanted zone of read_pack: where its record is and what became of it.
cdef struct pack_want:
    const char *name
    size_t name_len
    const char *settings
    size_t settings_len
    const char *zfile
    size_t zfile_len
    size_t rec                 # offset of its record (SIZE_MAX: none)
    uint64_t fp
    const zimg *z
    int why                    # 0 ok, 1 missing, 2 stale, 3 checksum, 4 image, 5 other zone
    char *err                  # malloc()ed message of an image refused by zimg_from_buffer


cdef inline uint64_t _name_hash(const char *p, size_t n) noexcept nogil:
    return _fp_final(_mix_bytes(0x2545F4914F6CDD1DULL, p, n))


# The wanted zones [lo, hi) of read_pack's third step: one thread's share.
cdef struct pack_job:
    const uint8_t *base
    size_t end                 # the sound part of the pack
    const size_t *table        # record offsets by name hash (SIZE_MAX: empty)
    size_t mask
    bint later                 # some name is recorded twice: no pack-order guess
    pack_want *w
    Py_ssize_t lo, hi


cdef void *_pack_range(void *arg) noexcept nogil:
    """Each wanted zone of the job: its record, fingerprint (its sources stat()ed now),
    checksum, image header.  A pack written anew holds the zones in the order a restart
    asks for them: with no name recorded twice, the record after the last one found is
    tried before the index (no random probe of the table and the pack per zone)."""
    cdef pack_job *jb = <pack_job *>arg
    cdef const uint8_t *base = jb.base
    cdef const uint8_t *r
    cdef pack_want *w = jb.w
    cdef size_t cursor = _PACK_HDR, j, img_off
    cdef uint32_t nl, ml, il
    cdef uint64_t fp, sum
    cdef Py_ssize_t i
    cdef dir_cache dc
    dc.fd = -1
    for i in range(jb.lo, jb.hi):
        if not jb.later and cursor + _REC_HDR <= jb.end:
            r = base + cursor
            memcpy(&nl, r + 4, 4)
            if nl == w[i].name_len and memcmp(r + _REC_HDR, w[i].name, nl) == 0:
                w[i].rec = cursor
        if w[i].rec == <size_t>-1:
            j = _name_hash(w[i].name, w[i].name_len) & jb.mask
        else:
            j = jb.mask + 1
        while j <= jb.mask and jb.table[j] != <size_t>-1:
            memcpy(&nl, base + jb.table[j] + 4, 4)
            if nl == w[i].name_len and memcmp(base + jb.table[j] + _REC_HDR, w[i].name, nl) == 0:
                w[i].rec = jb.table[j]
                break
            j = (j + 1) & jb.mask
        if w[i].rec == <size_t>-1:
            w[i].why = 1
            continue
        r = base + w[i].rec
        memcpy(&nl, r + 4, 4); memcpy(&ml, r + 8, 4); memcpy(&il, r + 12, 4)
        memcpy(&fp, r + 16, 8); memcpy(&sum, r + 24, 8)
        cursor = w[i].rec + _align16(_align16(<size_t>_REC_HDR + nl + ml) + il)
        w[i].fp = fp
        img_off = _align16(<size_t>_REC_HDR + nl + ml)
        if _record_checksum(r, img_off + il - _REC_HDR) != sum:
            w[i].why = 3
            continue
        if _fp_meta(w[i].settings, w[i].settings_len, w[i].zfile, w[i].zfile_len,
                    <const char *>r + _REC_HDR + nl, ml, &dc) != fp:
            w[i].why = 2
            continue
        w[i].err = <char *>malloc(160)
        if w[i].err == NULL:
            w[i].why = 4
            continue
        w[i].err[0] = 0
        # the checksum holds and the fingerprint made now names this compiler:
        # the builder's own bytes, so the header's checks suffice (zimg.h)
        w[i].z = zimg_from_kept(r + img_off, il, w[i].err, 160)
        if w[i].z == NULL:
            w[i].why = 4
            continue
        free(w[i].err)
        w[i].err = NULL
        if not _origin_is(w[i].z, w[i].name, w[i].name_len):
            w[i].z = NULL
            w[i].why = 5
    if dc.fd >= 0:
        c_close(dc.fd)
    return NULL


def read_pack(str path, list names, list settings, list zfiles):
    """The images of zones `names` from the pack at `path`, each checked against its
    fingerprint (its sources stat()ed now with settings[i] and zfiles[i]), its checksum and
    header (zimg_from_kept), in one pass without the GIL over one mapping.

    Returns (results, fingerprints, info): results[i] a ZoneImage or the reason it is not
    ("missing", "stale", "checksum mismatch", "written for another zone", or the image's
    fault); fingerprints[i] the record's; info {"size", "valid_end", "records", "used"
    (bytes of the records given out), "sizes" {name: record bytes} of the images given
    out}.  A missing file is every zone "missing"; an unreadable one raises OSError."""
    cdef Py_ssize_t n = len(names), i, ln
    if len(settings) != n or len(zfiles) != n:
        raise ValueError("read_pack: one settings and file per zone")
    cdef int fd
    try:
        fd = _os.open(path, _os.O_RDONLY | _os.O_CLOEXEC)
    except FileNotFoundError:
        return ["missing"] * n, [0] * n, {"size": 0, "valid_end": 0, "records": 0, "used": 0,
                                          "sizes": {}}
    cdef kstat st
    cdef _PackMap pm = _PackMap.__new__(_PackMap)
    try:
        if kfstat_call(fd, &st) != 0:
            raise OSError(errno, _os.strerror(errno), path)
        if st.st_size >= _PACK_HDR:
            # 2 MiB-aligned, for the huge pages it is copied into once served (below)
            pm.base = rd_huge_map(<size_t>st.st_size, PROT_READ, MAP_PRIVATE, fd)
            if pm.base == MAP_FAILED:
                pm.base = NULL
                raise OSError(errno, _os.strerror(errno), path)
            pm.length = <size_t>st.st_size
    except BaseException:
        _os.close(fd)
        raise
    # fd stays open until the huge-page thread has its own duplicate (rd_huge_start):
    # the file's page goes back in if a copied page's move fails
    cdef const uint8_t *base = <const uint8_t *>pm.base
    cdef size_t size = pm.length, off, end, nrec = 0, slots = 16, mask, used = 0
    cdef uint32_t tag = _ENDIAN_TAG
    if size < _PACK_HDR or memcmp(base, <const char *>PACK_MAGIC, 8) != 0 or memcmp(base + 8, &tag, 4) != 0:
        _os.close(fd)
        return (["missing"] * n, [0] * n,
                {"size": size, "valid_end": 0, "records": 0, "used": 0, "sizes": {}})
    cdef list keep = []
    cdef pack_want *w = <pack_want *>calloc(n + 1, sizeof(pack_want))
    cdef size_t *table = NULL
    if w == NULL:
        _os.close(fd)
        raise MemoryError()
    cdef uint32_t nl, ml, il
    cdef size_t j, later = 0
    cdef const uint8_t *r
    cdef pack_job job, other
    try:
        for i in range(n):
            w[i].name = _utf8(names[i], &ln, keep); w[i].name_len = ln
            w[i].settings = _utf8(settings[i], &ln, keep); w[i].settings_len = ln
            w[i].zfile = _utf8(zfiles[i], &ln, keep); w[i].zfile_len = ln
            w[i].rec = <size_t>-1
        with nogil:
            madvise(pm.base, size, MADV_SEQUENTIAL)
            # 1. walk the records' headers: how many, and where the sound part ends
            off = _PACK_HDR
            while off + _REC_HDR <= size:
                r = base + off
                memcpy(&nl, r + 4, 4); memcpy(&ml, r + 8, 4); memcpy(&il, r + 12, 4)
                if memcmp(r, b"RDPR", 4) != 0 or nl == 0 or nl > _NAME_MAX or ml > _META_MAX or il == 0:
                    break
                end = off + _align16(_align16(<size_t>_REC_HDR + nl + ml) + il)
                if end > size:
                    break
                nrec += 1
                off = end
            end = off                      # valid_end
            while slots < 2 * nrec:
                slots *= 2
            mask = slots - 1
            table = <size_t *>malloc(slots * sizeof(size_t))
            if table != NULL:
                memset(table, 0xff, slots * sizeof(size_t))
                # 2. index the records by name; a later record of a name replaces an earlier
                off = _PACK_HDR
                while off < end:
                    r = base + off
                    memcpy(&nl, r + 4, 4); memcpy(&ml, r + 8, 4); memcpy(&il, r + 12, 4)
                    j = _name_hash(<const char *>r + _REC_HDR, nl) & mask
                    while table[j] != <size_t>-1:
                        memcpy(&ml, base + table[j] + 4, 4)
                        if ml == nl and memcmp(base + table[j] + _REC_HDR, r + _REC_HDR, nl) == 0:
                            later += 1
                            break
                        j = (j + 1) & mask
                    table[j] = off
                    memcpy(&ml, r + 8, 4)
                    off += _align16(_align16(<size_t>_REC_HDR + nl + ml) + il)
                madvise(pm.base, size, MADV_NORMAL)
                # 3. each wanted zone: its record, fingerprint, checksum, image -- the
                # second half on a thread of its own when there are many: a restart of
                # 100,000 zones is 100,000 stat calls (each a path walk in the kernel) and
                # checksums, as a reload's fingerprints are (_fp_run)
                job.base, job.end, job.table, job.mask = base, end, table, mask
                job.later, job.w, job.lo, job.hi = later != 0, w, 0, n
                if n >= 4096:
                    other = job
                    job.hi = other.lo = n // 2
                    _run_two(_pack_range, &job, &other)
                else:
                    _pack_range(&job)
        if table == NULL:
            raise MemoryError()
        results, fps, sizes, shared = [], [], {}, {}
        for i in range(n):
            fps.append(w[i].fp)
            if w[i].why == 0:
                r = base + w[i].rec
                memcpy(&nl, r + 4, 4); memcpy(&ml, r + 8, 4); memcpy(&il, r + 12, 4)
                img = ZoneImage.__new__(ZoneImage)
                (<ZoneImage>img).img = w[i].z
                (<ZoneImage>img)._owner = pm
                if ml == w[i].zfile_len + 1 and memcmp(r + _REC_HDR + nl, w[i].zfile, ml - 1) == 0:
                    # the zone file alone (no $INCLUDE): the config's own string, not a
                    # copy per zone
                    (<ZoneImage>img).source_files = (zfiles[i],)
                elif ml:
                    (<ZoneImage>img).source_files = tuple(
                        PyBytes_FromStringAndSize(<const char *>r + _REC_HDR + nl, ml - 1)
                        .decode("utf-8", "surrogateescape").split("\0"))
                j = _align16(_align16(<size_t>_REC_HDR + nl + ml) + il)
                used += j
                # one int object per distinct record size (a few hundred for 100,000
                # small zones): the Keep holds this dict as long as the server runs
                size_obj = shared.get(j)
                if size_obj is None:
                    size_obj = shared[j] = j
                sizes[names[i]] = size_obj
                results.append(img)
            elif w[i].why == 4:
                results.append(w[i].err.decode("utf-8", "replace") if w[i].err != NULL else "out of memory")
            else:
                results.append(("ok", "missing", "stale", "checksum mismatch", "ok",
                                "written for another zone")[w[i].why])
        if used:
            # a query spread over many small zones otherwise pays a TLB miss (a 4 KiB page
            # walk) for nearly every image line it reads (issue 14)
            pm.huge = rd_huge_start(pm.base, pm.length, RD_HUGE_COPY, fd)
        return results, fps, {"size": size, "valid_end": end, "records": nrec, "used": used,
                              "sizes": sizes}
    finally:
        for i in range(n):
            free(w[i].err)
        free(w)
        free(table)
        _os.close(fd)


cdef bint _origin_is(const zimg *z, const char *name, size_t n) noexcept nogil:
    """Is the apex of z the absolute name `name` (presentation form, n bytes)?"""
    cdef char buf[1024]
    rd_name_to_text(zimg_origin(z), buf, sizeof(buf))
    cdef size_t k = strlen(buf)
    if k == 0 or buf[k - 1] != b'.':
        if k + 1 >= sizeof(buf):
            return False
        buf[k] = b'.'
        k += 1
        buf[k] = 0
    return k == n and strncasecmp(buf, name, n) == 0


def pack_header():
    """The 16 bytes a pack file starts with."""
    cdef uint32_t tag = _ENDIAN_TAG
    return PACK_MAGIC + PyBytes_FromStringAndSize(<const char *>&tag, 4) + b"\0" * 4


def write_pack_records(int fd, list names, list images, list fingerprints):
    """Append one record per zone (names[i], images[i] compiled from sources with
    fingerprint fingerprints[i]) to the open file fd, in one pass without the GIL
    (buffered into large writes).  Returns {name: record bytes}; OSError on a failed write."""
    cdef Py_ssize_t n = len(names), i, ln
    if len(images) != n or len(fingerprints) != n:
        raise ValueError("write_pack_records: one image and fingerprint per zone")
    cdef list keep = []
    cdef list metas = []
    cdef const char **np = <const char **>malloc((n + 1) * sizeof(char *))
    cdef size_t *nls = <size_t *>malloc((n + 1) * sizeof(size_t))
    cdef const char **mp = <const char **>malloc((n + 1) * sizeof(char *))
    cdef size_t *mls = <size_t *>malloc((n + 1) * sizeof(size_t))
    cdef const zimg **zs = <const zimg **>malloc((n + 1) * sizeof(zimg *))
    cdef uint64_t *fps = <uint64_t *>malloc((n + 1) * sizeof(uint64_t))
    cdef size_t cap = 1 << 20, used = 0, need, img_off, total, il
    cdef uint8_t *buf = <uint8_t *>malloc(cap)
    cdef uint8_t *nb
    cdef uint8_t *rec
    cdef uint32_t v32
    cdef uint64_t fp
    cdef int err = 0
    cdef size_t *sizes = <size_t *>calloc(n + 1, sizeof(size_t))
    try:
        if np == NULL or nls == NULL or mp == NULL or mls == NULL or zs == NULL or fps == NULL or buf == NULL or sizes == NULL:
            raise MemoryError()
        for i in range(n):
            np[i] = _utf8(names[i], &ln, keep); nls[i] = ln
            if ln == 0 or ln > _NAME_MAX:
                raise ValueError(f"bad zone name {names[i]!r}")
            meta = b"".join(_os.fsencode(f) + b"\0" for f in (<ZoneImage>images[i]).source_files)
            if len(meta) > _META_MAX:
                raise ValueError(f"zone {names[i]}: too many source files to keep")
            metas.append(meta)
            mp[i] = <const char *>(<bytes>meta); mls[i] = len(meta)
            zs[i] = (<ZoneImage>images[i]).img
            fps[i] = fingerprints[i]
        with nogil:
            for i in range(n):
                il = zimg_size(zs[i])
                img_off = _align16(<size_t>_REC_HDR + nls[i] + mls[i])
                total = _align16(img_off + il)
                sizes[i] = total
                if used + total > cap:
                    err = _write_all(fd, buf, used)
                    used = 0
                    if err:
                        break
                    if total > cap:
                        nb = <uint8_t *>realloc(buf, total)
                        if nb == NULL:
                            err = 12        # ENOMEM
                            break
                        buf, cap = nb, total
                rec = buf + used
                memset(rec, 0, total)
                memcpy(rec, b"RDPR", 4)
                v32 = <uint32_t>nls[i]; memcpy(rec + 4, &v32, 4)
                v32 = <uint32_t>mls[i]; memcpy(rec + 8, &v32, 4)
                v32 = <uint32_t>il; memcpy(rec + 12, &v32, 4)
                memcpy(rec + 16, &fps[i], 8)
                memcpy(rec + _REC_HDR, np[i], nls[i])
                memcpy(rec + _REC_HDR + nls[i], mp[i], mls[i])
                memcpy(rec + img_off, zimg_base(zs[i]), il)
                fp = _record_checksum(rec, img_off + il - _REC_HDR)
                memcpy(rec + 24, &fp, 8)
                used += total
            if not err and used:
                err = _write_all(fd, buf, used)
        if err:
            raise OSError(err, _os.strerror(err))
        return {names[i]: sizes[i] for i in range(n)}
    finally:
        free(np); free(nls); free(mp); free(mls); free(zs); free(fps); free(buf); free(sizes)
        if n >= 1024:
            # the keeper thread's arena would keep these arrays and the buffer resident
            # (100,000 zones: 18 MB of the server's memory, issue 14)
            malloc_trim(0)


cdef int _write_all(int fd, const uint8_t *p, size_t n) noexcept nogil:
    cdef ssize_t r
    while n:
        r = write(fd, p, n)
        if r < 0:
            if errno == 4:          # EINTR
                continue
            return errno
        p += r
        n -= r
    return 0
