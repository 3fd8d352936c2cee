"""log — logging of the daemon to stderr (the journal under systemd): lines for an
operator to read, or with ``log.format: json`` one JSON object per line for a log
pipeline.

Control-plane events carry structured fields through ``extra``: ``event`` (start, stop,
reload, zone_loaded, zone_failed, transfer, notify ...) and what it concerns (``zone``,
``serial``, ``records``, ``ms`` ...).  In text they read as the message; in JSON they
become keys of the object beside ``time``, ``level`` and ``message``.
"""

import datetime
import json
import logging
import os
import sys

logger = logging.getLogger("robdns")

# The keys an event may add (logging's own record attributes are never copied).
EVENT_FIELDS = ("event", "zone", "serial", "records", "ms", "errors", "primary", "kind",
                "summary", "pid", "version", "config", "ok", "remote")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, UTC), level, message, the event
    fields, and the traceback of an exception."""

    def format(self, record):
        out = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
                    .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        for key in EVENT_FIELDS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def setup(level="info", fmt="text"):
    """Log to stderr; under systemd (JOURNAL_STREAM set) the journal adds time and pid."""
    handler = logging.StreamHandler(sys.stderr)
    logger.handlers[:] = [handler]
    logger.propagate = False
    set_format(fmt)
    set_level(level)
    return logger


def set_format(fmt):
    """"text" (the default) or "json"."""
    if fmt == "json":
        formatter = JsonFormatter()
    elif os.environ.get("JOURNAL_STREAM"):
        formatter = logging.Formatter("%(levelname)s: %(message)s")
    else:
        formatter = logging.Formatter("%(asctime)s robdns[%(process)d] %(levelname)s: %(message)s")
    for h in logger.handlers:
        h.setFormatter(formatter)


def set_level(level):
    logger.setLevel(getattr(logging, str(level).upper(), logging.INFO))
