# zscan.pyx — master-file parsing (being written)
from includes.common cimport *

def _name_cmp(bytes a, bytes b):
    """Canonical order (RFC 4034 6.1) of two wire names; for tests of rd_common."""
    return rd_name_cmp(<const uint8_t *>a, <const uint8_t *>b)
