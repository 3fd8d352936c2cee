"""robdns — a high-speed authoritative DNS server.

The data plane (zone images, the answer engine, the per-core UDP loops) is the compiled
module ``robdns._core``; everything here is the Python control plane around it.
"""

__version__ = "0.1.0"
