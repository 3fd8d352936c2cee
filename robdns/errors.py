"""errors — the one exception hierarchy of robdns."""


class RobdnsError(Exception):
    """Root of every error robdns raises on purpose."""


class ZoneError(RobdnsError):
    """A zone file failed to parse or compile.

    ``messages`` holds every diagnostic as ``FILE:LINE: error|warning: reason`` (up to a
    limit); no partial zone is ever returned alongside this error.
    """

    def __init__(self, origin, messages, errors=None):
        self.origin = origin
        self.messages = list(messages)
        self.errors = errors if errors is not None else len(self.messages)
        first = self.messages[0] if self.messages else "unknown error"
        more = f" (+{self.errors - 1} more)" if self.errors > 1 else ""
        super().__init__(f"zone {origin}: {first}{more}")


class TransferError(RobdnsError):
    """A zone transfer failed (malformed, refused, cut short, badly signed); ``rcode`` is
    the primary's RCODE when it answered with one, else 0."""

    def __init__(self, message, rcode=0):
        self.rcode = rcode
        super().__init__(message)


class IxfrApplyError(TransferError):
    """An IXFR does not apply to the version held (a deleted record is missing, or it
    starts from another serial): the secondary falls back to AXFR (RFC 1995 4)."""


class ConfigError(RobdnsError):
    """The configuration is invalid; the message names the key's path."""


class ControlError(RobdnsError):
    """A control-socket command failed."""
