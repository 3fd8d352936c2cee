"""cli — the ``robdns`` command: argument parsing and dispatch to the subcommands."""

import argparse
import os
import sys

from robdns import __version__

DEFAULT_CONFIG_HELP = "YAML configuration file (default: the bundled example zone on 127.0.0.1@5353)"


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, given the terminal's width by _columns(): argparse makes
    one for every argument added, and one without a width imports shutil to ask it, which
    loads bz2, lzma and zlib -- ~0.7 MB of every server's memory and ~3 ms of its start
    (issue 13: a secondary's peak memory and its first transfer request)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


def _columns():
    """The terminal's width as shutil.get_terminal_size() tells it: COLUMNS, else the
    terminal of stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def build_parser():
    p = argparse.ArgumentParser(
        prog="robdns",
        description="High-speed authoritative DNS server.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"robdns {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("serve", help="run the server (foreground; systemd Type=notify aware)",
                       formatter_class=_HelpFormatter)
    s.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    z = sub.add_parser("check-zone", help="parse and check a zone file, like named-checkzone/kzonecheck",
                       formatter_class=_HelpFormatter)
    z.add_argument("origin", help="zone apex, e.g. example.com.")
    z.add_argument("file", help="zone file in RFC 1035 master format")
    z.add_argument("-o", "--output", help="also write the compiled image to this file")
    z.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    z.add_argument("--nsec3-max-iterations", type=int, default=50, metavar="N",
                   help="refuse NSEC3 iterations above N (default 50, RFC 9276 3.2)")

    c = sub.add_parser("check-config", help="validate a configuration file and its zones",
                       formatter_class=_HelpFormatter)
    c.add_argument("-c", "--config", required=True, help="YAML configuration file")
    c.add_argument("--no-zones", action="store_true", help="check the YAML only, not the zone files")

    k = sub.add_parser("ctl", help="talk to a running server over its control socket",
                       formatter_class=_HelpFormatter,
                       epilog="Exit status 1 when the command fails; for status and zone-status "
                              "also while the configuration or a zone is FAILED (the previous "
                              "version still serving).")
    k.add_argument("-s", "--socket", help="control socket path (default from the config or /run/robdns/control.sock)")
    k.add_argument("-c", "--config", help="take the control socket path from this config")
    k.add_argument("action", choices=["reload", "zone-reload", "zone-add", "zone-remove",
                                      "status", "stats", "zone-status",
                                      "zone-refresh", "zone-retransfer", "zone-notify", "stop"])
    k.add_argument("zone", nargs="?", help="zone name for zone-status, zone-reload, zone-refresh "
                                           "(a secondary asks its primaries now), "
                                           "zone-retransfer (a full AXFR) and zone-notify "
                                           "(NOTIFY the zone's secondaries now), zone-add "
                                           "and zone-remove")
    k.add_argument("file", nargs="?", help="zone-add: the zone file (relative paths are "
                                           "taken from the current directory)")
    k.add_argument("--json", action="store_true", help="print the server's raw JSON answer")
    k.add_argument("--prometheus", action="store_true", help="stats in the Prometheus text format")
    k.add_argument("-t", "--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command is None:
        # A bare `robdns` is the README's first command: serve the bundled example zone.
        args = build_parser().parse_args(["serve"] + list(argv or sys.argv[1:]))
    if args.command == "serve":
        from robdns import daemon
        return daemon.run(args)
    try:
        rc = _run_tool(args)
        sys.stdout.flush()      # a reader that went away shows here, not at interpreter exit
    except BrokenPipeError:
        _die_of_sigpipe()
    return rc


def _die_of_sigpipe():
    """End as other command-line tools do when their reader goes away (`robdns ctl status |
    head -1`): killed by SIGPIPE, silently.  Python ignores SIGPIPE and raises
    BrokenPipeError instead, which would otherwise end in a traceback."""
    import os
    import signal
    # Nothing more can reach the reader: let the final flush at exit write nowhere.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    sys.exit(128 + signal.SIGPIPE)      # not reached: the shell's status for the same end


def _run_tool(args):
    if args.command == "check-zone":
        from robdns import checkzone
        return checkzone.run(args)
    if args.command == "check-config":
        from robdns import config
        return config.check_command(args)
    if args.command == "ctl":
        from robdns import ctl
        return ctl.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
