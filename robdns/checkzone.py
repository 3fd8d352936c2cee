"""checkzone — `robdns check-zone ORIGIN FILE`: parse, check and compile one zone file,
reporting like named-checkzone/kzonecheck (every problem as FILE:LINE, then a summary)."""

import sys
import time

import dns.name

from robdns.errors import ZoneError


def _zone_label(origin):
    try:
        return dns.name.from_text(origin).to_text()
    except Exception:
        return origin


def run(args, out=None):
    """Exit status: 0 when the zone compiles (warnings allowed), 1 on any error."""
    from robdns.zone import compile_zone

    out = out or sys.stdout
    label = f"zone {_zone_label(args.origin)}/IN"
    t0 = time.monotonic()
    try:
        img = compile_zone(args.origin, args.file,
                           nsec3_max_iterations=getattr(args, "nsec3_max_iterations", None))
    except ZoneError as exc:
        for m in exc.messages:
            print(m, file=out)
        n = exc.errors
        print(f"{label}: not loaded due to {n} error{'s' if n != 1 else ''}", file=out)
        return 1
    for m in img.warnings:
        print(m, file=out)
    if args.output:
        try:
            img.save(args.output)
        except OSError as exc:
            print(f"{args.output}: error: {exc.strerror}", file=out)
            return 1
    if not args.quiet:
        took = time.monotonic() - t0
        print(f"{label}: loaded serial {img.serial}, {img.record_count} records "
              f"({img.node_count} names, image {img.size} bytes, {took:.3f} s)", file=out)
        if args.output:
            print(f"{label}: image written to {args.output}", file=out)
    return 0
