# _core.pyx — the one extension module: each part lives in its own .pyx, joined here
# (uvloop style) so that calls between parts stay at C level.
# cython: language_level=3

include "zscan.pyx"     # master-file parsing (zone text -> wire records)
include "zone.pyx"      # zone compiler and images (records -> immutable image)
include "keep.pyx"      # kept images at scale: source fingerprints, the pack of small images
include "zonelist.pyx"  # a config's long zones: list of one-line entries, read in one pass
include "xfrin.pyx"     # received zone transfers (AXFR/IXFR messages -> the next image)
include "engine.pyx"    # database snapshots: the zones and options the engine answers from
include "server.pyx"    # per-core UDP workers without the GIL, RCU publication
include "xdp.pyx"       # AF_XDP data path: XDP program, per-queue XSK workers
# The test and benchmark entry points (testhooks.pyx) when built with ROBDNS_TEST_HOOKS=1:
# setup.py writes this file, which includes them or is empty.
include "_testhooks.pxi"
