"""atomicfile — files replaced whole: written under a temporary name beside the target,
synced, then renamed over it, so a crash leaves the old file or the new one, never half."""

import contextlib
import os


@contextlib.contextmanager
def replace(path, mode="wb", sync=True, **kwargs):
    """Open a temporary file beside `path` for writing (open()'s `mode` and keyword
    arguments); when the block ends without an error the file is synced to disk (unless
    sync=False: a file whose loss costs nothing but a redo) and renamed to `path`, else
    it is removed and the error goes on."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
