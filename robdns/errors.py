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


class ConfigError(RobdnsError):
    """The configuration is invalid; the message names the key's path."""


class ControlError(RobdnsError):
    """A control-socket command failed."""
