/* rd_huge.h — read-only data moved into 2 MiB pages behind the readers' backs, on an idle-priority thread, so lookups spread over it miss the TLB less. */
#ifndef RD_HUGE_H
#define RD_HUGE_H

#include <stddef.h>

#define RD_HUGE_PAGE ((size_t)2 << 20)

/* mmap(2) of len bytes at a 2 MiB-aligned address (so that every whole 2 MiB of it can
 * become one huge page): anonymous when fd < 0, else the file from offset 0.  Returns
 * MAP_FAILED on error, as mmap does; munmap(p, len) frees it. */
void *rd_huge_map(size_t len, int prot, int flags, int fd);

/* How the background thread makes the range huge:
 * RD_HUGE_COLLAPSE: anonymous memory, collapsed in place (MADV_COLLAPSE, Linux 6.1);
 * RD_HUGE_COPY: a private read-only file mapping, whose page cache pages cannot be
 *   collapsed without CONFIG_READ_ONLY_THP_FOR_FS: each whole 2 MiB is copied into an
 *   anonymous huge page and moved over the same addresses (mremap MREMAP_FIXED, which
 *   holds the address space's lock throughout: a reader sees the old or the new page,
 *   same bytes).  mremap unmaps the target before it moves the copy: if the move then
 *   fails (ENOMEM), the file's page is mapped there again from the fd given, so a reader
 *   never meets a hole. */
enum { RD_HUGE_COLLAPSE = 0, RD_HUGE_COPY = 1 };

typedef struct rd_huge rd_huge;

/* Start making the whole 2 MiB pages of [p, p+len) huge on a thread of its own at
 * SCHED_IDLE (it runs when the CPU has nothing else), once no hold is on
 * (rd_huge_hold), one page at a time.  The bytes never change; a reader sees them
 * throughout, though one touching the page in hand may wait for its collapse.  NULL:
 * nothing to do (no whole huge page) or no thread; the range stays as it was.
 * RD_HUGE_COPY: fd is the file mapped at p from offset 0 (duplicated here, the caller
 * keeps its own); without a usable fd nothing is copied.  RD_HUGE_COLLAPSE: fd -1. */
rd_huge *rd_huge_start(void *p, size_t len, int mode, int fd);

/* Stop (after the page in hand) and wait for the thread; then the range may be unmapped
 * or freed.  NULL is a no-op.  The thread is raised to SCHED_OTHER for the page in hand
 * when RLIMIT_NICE allows it (the systemd unit sets LimitNICE=+0; a root start raises the
 * limit before dropping privileges); else the wait is for one page at idle priority. */
void rd_huge_stop(rd_huge *h);

/* Hold (1) or release (0) every thread started so far or later before its first page:
 * a start holds them until its workers have answered the first burst of queries, because
 * a collapse holds the address space's locks while it copies and a worker that touches
 * the range waits for it, whatever the thread's priority (the 100,000-zone start's sweep
 * took ~0.25 s longer on a pinned CPU, issue 14).  Released by default; rd_huge_stop
 * ends a held thread at once. */
void rd_huge_hold(int held);

/* Whole huge pages done so far (tests, benchmarks). */
size_t rd_huge_done(const rd_huge *h);

/* Wait until the thread has finished the range (tests): 1 when it got to the end. */
int rd_huge_wait(rd_huge *h);

#endif
