# zonelist.pyx — a config's long `zones:` list of one-line entries (robdns.zonelist) read in one pass over the text, and the ZoneConfigs made for them without a Python call per field.
#
# The grammar is robdns.zonelist's regular expressions, byte for byte, for an ASCII text
# (a text with any other character is left to them): a line is blank, a comment, or
#     SPACES "- {" WS* "name:" WS+ SCALAR WS* "," WS* "file:" WS+ SCALAR WS* "}" WS* ("#" ...)?
# with WS a space or tab (a blank or comment line: spaces only before the '#'; YAML
# refuses a tab where a line starts), SCALAR "..." (no backslash, no control character), '...' (no
# control character) or a plain scalar.  Each alternative is decided by its first byte
# and every class ends where the next token must start, so one left-to-right pass gives
# what the backtracking expressions match.

from cpython.object cimport PyObject_GenericSetAttr
from libc.errno cimport errno
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)


cdef inline bint _ws(unsigned char c) noexcept nogil:
    return c == b' ' or c == b'\t'


cdef inline bint _space(unsigned char c) noexcept nogil:
    # str.isspace() / the expressions' \s, for ASCII
    return c == b' ' or (9 <= c <= 13) or (0x1c <= c <= 0x1f)


cdef inline bint _plain_first(unsigned char c) noexcept nogil:
    return not (_space(c) or c in b',[]{}#"\'&*!|>%@`:')


cdef inline bint _plain_next(unsigned char c) noexcept nogil:
    return not (_space(c) or c in b',[]{}:')


cdef inline bint _implicit_first(unsigned char c) noexcept nogil:
    # robdns.zonelist._IMPLICIT_FIRST: a plain scalar YAML may read as other than a string
    return c in b'-+.0123456789yYnNtTfFoO~<='


cdef Py_ssize_t _scalar(const unsigned char *p, Py_ssize_t i, Py_ssize_t e,
                        Py_ssize_t *s0, Py_ssize_t *s1, int *plain) noexcept nogil:
    """The scalar at p[i] (line ends at e): its text p[s0..s1), plain 1 (2 when its first
    byte may make it other than a string), and the index after it; -1 when none."""
    cdef unsigned char q = p[i] if i < e else 0
    plain[0] = 0
    if q == b'"' or q == b"'":
        i += 1
        s0[0] = i
        while i < e and p[i] != q:
            if p[i] < 0x20 or (q == b'"' and p[i] == b'\\'):
                return -1
            i += 1
        if i >= e:
            return -1
        s1[0] = i
        return i + 1
    if i >= e or not _plain_first(q):
        return -1
    plain[0] = 2 if _implicit_first(q) else 1
    s0[0] = i
    i += 1
    while i < e and _plain_next(p[i]):
        i += 1
    s1[0] = i
    return i


cdef inline Py_ssize_t _skip_ws(const unsigned char *p, Py_ssize_t i, Py_ssize_t e) noexcept nogil:
    while i < e and _ws(p[i]):
        i += 1
    return i


cdef inline Py_ssize_t _word(const unsigned char *p, Py_ssize_t i, Py_ssize_t e, const char *w,
                             Py_ssize_t n) noexcept nogil:
    """The index after `w` (n bytes) at p[i] past spaces and tabs; -1 when not there (or
    i is -1: the step before failed)."""
    if i < 0:
        return -1
    i = _skip_ws(p, i, e)
    if e - i < n or memcmp(p + i, w, n) != 0:
        return -1
    return i + n


cdef Py_ssize_t _field(const unsigned char *p, Py_ssize_t i, Py_ssize_t e, const char *key,
                       Py_ssize_t *s0, Py_ssize_t *s1, int *plain) noexcept nogil:
    """`KEY:` (key with its colon), at least one space or tab, and a scalar (_scalar) at
    p[i] past spaces and tabs: the index after it, or -1."""
    i = _word(p, i, e, key, strlen(key))
    if i < 0 or i >= e or not _ws(p[i]):
        return -1
    return _scalar(p, _skip_ws(p, i, e), e, s0, s1, plain)


def zone_lines(str text, Py_ssize_t start):
    """The one-line entries of the `zones:` block that starts at text[start] (the line
    after the key): (names, files, lowered, resolve, used, end), or None when a line of
    the block is neither such an entry nor blank, the indents differ, there is no entry,
    or the text is not ASCII (robdns.zonelist's expressions decide then).  lowered: the
    names as config keys (lower case, final dot), or None when one is not a plain name;
    resolve: positions (2i name, 2i + 1 file of entry i) of plain scalars whose first
    character may make YAML read them as other than a string; used: the lines of the
    block; end: where the next top-level key starts (len(text): none)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    if start > n or not PyUnicode_IS_ASCII(text):
        return None
    cdef const unsigned char *p = <const unsigned char *>PyUnicode_DATA(text)
    cdef Py_ssize_t i = start, e, j, k, a0, a1, b0, b1, ind0 = -1, ind_len = 0, used = 0
    cdef int pa, pb
    cdef bint plain = True, broke = False, same
    cdef list names = [], files = [], lowered = [], resolve = []
    cdef char low[256]
    while i <= n:
        e = i
        while e < n and p[e] != b'\n':
            e += 1
        if i < n and not _space(p[i]) and p[i] != b'#' and p[i] != b'-':
            broke = True                      # the next top-level key
            break
        used += 1
        j = i
        while j < e and p[j] == b' ':
            j += 1
        if j == e or p[j] == b'#':
            i = e + 1                          # blank or comment
            continue
        # "- {" right after the spaces (a tab there is YAML's error, not ours to read)
        k = j + 3 if e - j >= 3 and memcmp(p + j, b"- {", 3) == 0 else -1
        k = _field(p, k, e, b"name:", &a0, &a1, &pa)
        k = _word(p, k, e, b",", 1)
        k = _field(p, k, e, b"file:", &b0, &b1, &pb)
        k = _word(p, k, e, b"}", 1)
        if k < 0:
            return None
        k = _skip_ws(p, k, e)
        if k < e and p[k] != b'#':
            return None
        if ind0 < 0:
            ind0, ind_len = i, j - i
        elif j - i != ind_len or memcmp(p + i, p + ind0, ind_len) != 0:
            return None
        if pa == 2:
            resolve.append(2 * len(names))
        if pb == 2:
            resolve.append(2 * len(names) + 1)
        name = (<const char *>p)[a0:a1].decode("ascii")
        names.append(name)
        files.append((<const char *>p)[b0:b1].decode("ascii"))
        if plain and _plain_origin(<const char *>p + a0, a1 - a0, True):
            same = True
            for k in range(a1 - a0):
                low[k] = p[a0 + k] | 0x20 if b'A' <= p[a0 + k] <= b'Z' else p[a0 + k]
                same = same and low[k] == p[a0 + k]
            k = a1 - a0
            if low[k - 1] != b'.':
                low[k] = b'.'
                k += 1
                same = False
            # a name written as its key already (the common case) is that key: the config
            # keeps one string, not a second whose twin is freed after the read and leaves
            # a hole per zone in the allocator's pools
            lowered.append(name if same else low[:k].decode("ascii"))
        else:
            plain = False
        i = e + 1
    if not names:
        return None
    # used: as str.split("\n") of the block counts them (no next key: the piece after
    # the last newline is a line too)
    return names, files, lowered if plain else None, resolve, used, i if broke else n


def slotted(cls, str f0, list col0, str f1, list col1, tuple fixed, tuple values):
    """One instance of the slots class `cls` per row: field f0 from col0[i], f1 from
    col1[i], and fields `fixed` the `values` alike, set through the slots directly (a
    frozen dataclass's __init__ is a Python call and an object.__setattr__ per field:
    twice the cost, for 100,000 zones of a config)."""
    cdef Py_ssize_t n = len(col0), i, k, nf = len(fixed)
    if len(col1) != n or len(values) != nf:
        raise ValueError("slotted: one value per row and per fixed field")
    new = object.__new__
    out = [None] * n
    for i in range(n):
        o = new(cls)
        PyObject_GenericSetAttr(o, f0, col0[i])
        PyObject_GenericSetAttr(o, f1, col1[i])
        for k in range(nf):
            PyObject_GenericSetAttr(o, fixed[k], values[k])
        out[i] = o
    return out


# ---- the symbolic links among the zone files (robdns.zonewatch: a change to a link's
# target raises no event in the link's directory, so such zones are checked every reload)

cdef extern from "<dirent.h>" nogil:
    ctypedef struct DIR:
        pass
    cdef struct dirent:
        unsigned char d_type
        char d_name[256]
    DIR *opendir(const char *name)
    dirent *readdir(DIR *d)
    int closedir(DIR *d)
    enum:
        DT_LNK
        DT_UNKNOWN

cdef extern from "Python.h":
    object PyUnicode_DecodeFSDefault(const char *s)

cdef extern from *:
    """
    #include <errno.h>
    static inline void rd_errno_clear(void) { errno = 0; }
    """
    void rd_errno_clear() nogil


def dir_symlinks(path):
    """The names in directory `path` that are symbolic links, told by readdir(3)'s d_type
    with no Python object per entry (os.scandir made one for each of 100,000 zone files:
    a fifth of a second at every start); a name whose type readdir does not give
    (DT_UNKNOWN, on some filesystems) is lstat()ed.  OSError when it cannot be read."""
    import os as _os
    cdef bytes p = _os.fsencode(path)
    cdef const char *cp = p
    cdef DIR *d
    cdef dirent *e
    with nogil:
        d = opendir(cp)
    if d == NULL:
        raise OSError(errno, _os.strerror(errno), path)
    links, unknown = [], []
    try:
        while True:
            rd_errno_clear()          # readdir's end and its error both return NULL
            e = readdir(d)
            if e == NULL:
                if errno != 0:
                    raise OSError(errno, _os.strerror(errno), path)
                break
            if e.d_type == DT_LNK:
                links.append(PyUnicode_DecodeFSDefault(e.d_name))
            elif e.d_type == DT_UNKNOWN:
                unknown.append(PyUnicode_DecodeFSDefault(e.d_name))
    finally:
        closedir(d)
    for name in unknown:
        if _os.path.islink(_os.path.join(path, name)):
            links.append(name)
    return links
