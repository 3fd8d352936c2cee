"""log — operator-readable logging of the daemon to stderr (the journal under systemd)."""

import logging
import os
import sys

logger = logging.getLogger("robdns")


def setup(level="info"):
    """Log to stderr; under systemd (JOURNAL_STREAM set) the journal adds time and pid."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s: %(message)s"
    else:
        fmt = "%(asctime)s robdns[%(process)d] %(levelname)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    logger.handlers[:] = [handler]
    logger.propagate = False
    set_level(level)
    return logger


def set_level(level):
    logger.setLevel(getattr(logging, str(level).upper(), logging.INFO))
