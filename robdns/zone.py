"""zone — compiled zone images: the public Python names of the compiler in robdns._core."""

from robdns._core import ZoneImage, compile_zone, compile_zone_text

__all__ = ["ZoneImage", "compile_zone", "compile_zone_text"]
