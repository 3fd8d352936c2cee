# testhooks.py — the in-process benchmarks call entry points of robdns._core that only a
# build with ROBDNS_TEST_HOOKS=1 has; without them they stop at once and say how to build.
import sys


def require(*names):
    """Exit with a clear message unless robdns._core has every one of `names`."""
    from robdns import _core
    missing = [n for n in names if not hasattr(_core, n)]
    if missing:
        sys.exit(f"{sys.argv[0]}: {_core.__file__} has no {', '.join(missing)}: this benchmark "
                 "needs the test hooks, which the product build leaves out; rebuild with "
                 "ROBDNS_TEST_HOOKS=1 python3 setup.py build_ext --inplace")
