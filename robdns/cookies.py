"""cookies — the server secrets of DNS Cookies (RFC 7873, server cookies of RFC 9018):
configured ones, or one generated at start and replaced every secret_lifetime, the
previous one staying valid until the next replacement so that no client's cookie fails
at a rotation (RFC 9018 5)."""

import os
import time


class CookieSecrets:
    """The secrets the engine snapshot carries; the daemon asks `due()` and `rotate()`."""

    def __init__(self, cfg=None):
        self.current = self.previous = None
        self.require = False
        self.generated = False
        self.lifetime = 0
        self.rotated_at = 0.0
        if cfg is not None:
            self.configure(cfg)

    def configure(self, cfg):
        """Apply a CookieConfig (at start and at every reload).  A generated secret
        survives reloads: replacing it would invalidate every client's cookie."""
        self.require = cfg.require
        self.lifetime = cfg.secret_lifetime
        if not cfg.enabled:
            self.current = self.previous = None
            self.generated = False
        elif cfg.secret is not None:
            self.current, self.previous = cfg.secret, cfg.previous_secret
            self.generated = False
        elif not self.generated:
            self.current, self.previous = os.urandom(16), None
            self.generated = True
            self.rotated_at = time.monotonic()

    @property
    def enabled(self):
        return self.current is not None

    def due(self, now=None):
        """Seconds until the generated secret is to be replaced (None: never)."""
        if not self.generated:
            return None
        now = time.monotonic() if now is None else now
        return max(0.0, self.rotated_at + self.lifetime - now)

    def rotate(self):
        self.previous, self.current = self.current, os.urandom(16)
        self.rotated_at = time.monotonic()

    def options(self):
        """The Database keyword arguments (robdns._core.Database)."""
        if not self.enabled:
            return {}
        return {"cookie_secret": self.current, "cookie_previous": self.previous or b"",
                "cookie_require": self.require}
