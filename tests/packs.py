"""packs — a kept pack of compiled zones written as the keeper writes it, for the tests
that read packs back (test_keep, test_huge_images)."""

from robdns import _core, keep as keep_mod
from robdns.config import ZoneConfig


def write_pack(names, files, path):
    """Every zone compiled and written to a pack file at `path` as the keeper writes it:
    (configs, images, fingerprints, path)."""
    cfgs = [ZoneConfig(n, f) for n, f in zip(names, files)]
    imgs = [_core.compile_zone(n, f) for n, f in zip(names, files)]
    fps = keep_mod.fingerprints(cfgs, [(f,) for f in files])
    with open(path, "wb") as f:
        f.write(_core.pack_header())
        f.flush()
        _core.write_pack_records(f.fileno(), names, imgs, fps)
    return cfgs, imgs, fps, path
