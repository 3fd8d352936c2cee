"""privileges — who the server runs as: the user and group of the config, the change of
ids after binding, and the capabilities a non-root start was given."""

import grp
import os
import pwd

from robdns.errors import ConfigError
from robdns.log import logger


def account(user, group):
    """(uid, gid) of server.user / server.group (gid defaults to the user's group; each
    defaults to the current one)."""
    uid, gid = os.geteuid(), os.getegid()
    if user is not None:
        try:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except KeyError:
            raise ConfigError(f"server.user: no such user {user!r}") from None
        uid, gid = pw.pw_uid, pw.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
        except KeyError:
            raise ConfigError(f"server.group: no such group {group!r}") from None
    return uid, gid


def socket_owner(user, group):
    """(uid, gid) to hand the control socket to, so that the server still owns it after
    the drop; None when not root (the socket is ours already)."""
    return account(user, group) if os.geteuid() == 0 else None


def drop(user, group):
    """After binding: become server.user / server.group, or, started unprivileged, give
    up the capabilities the start was given."""
    if os.geteuid() != 0:
        # Started unprivileged with capabilities (the systemd unit's ambient set): the
        # sockets are bound and the XDP program attached, and nothing later needs one
        # (a reload never binds; the XDP detach is a close() of its BPF link).
        drop_capabilities()
        if user is not None or group is not None:
            uid, _ = account(user, group)
            if os.geteuid() != uid:
                logger.warning("not started as root: keeping uid %d (server.user is %s)", os.geteuid(), user)
        return
    if user is None and group is None:
        _warn_root()
        return
    uid, gid = account(user, group)
    preload_modules()
    allow_normal_priority()
    # Supplementary groups first, whatever else changes: the ones root started with (often
    # several with file access) would otherwise survive setgid()/setuid().  The order is
    # groups, gid, uid: after setuid() the others can no longer be changed.
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    logger.info("dropped privileges to uid %d gid %d", uid, gid)
    if uid == 0:
        _warn_root()


def allow_normal_priority():
    """Raise RLIMIT_NICE to nice 0 (20) while still root: the huge-page thread
    (lib/rd_huge.c) runs at SCHED_IDLE and is raised back to SCHED_OTHER for the page in
    hand when its images are freed, which an unprivileged process may do only with that
    limit (sched(7)); without it the control plane freeing a snapshot under full load
    waits for one page at idle priority.  The systemd unit sets LimitNICE=+0 itself."""
    import resource
    want = 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NICE)
    inf = resource.RLIM_INFINITY
    new_soft = soft if soft == inf or soft >= want else want
    new_hard = hard if hard == inf or hard >= want else want
    if (new_soft, new_hard) != (soft, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NICE, (new_soft, new_hard))
        except (ValueError, OSError) as e:      # root without CAP_SYS_RESOURCE (containers)
            logger.info("RLIMIT_NICE stays %s/%s (%s): a snapshot freed under full load may "
                        "wait for the idle huge-page thread's page", soft, hard, e)


def _warn_root():
    logger.warning("running as root: set server.user to the account the server should run "
                   "as once its sockets are bound")


def drop_capabilities():
    """Empty this thread's effective, permitted and inheritable capability sets (the
    ambient set follows).  Per thread: call it before other threads exist (the XDP
    workers drop theirs themselves).  setuid() from root does this for the root case."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)       # _LINUX_CAPABILITY_VERSION_3, self
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"dropping capabilities: {os.strerror(err)}")


def preload_modules():
    """Import now what is otherwise imported on first use: after the drop to an
    unprivileged user the installation may no longer be readable (a root-only prefix)."""
    import ctypes  # noqa: F401
    import encodings.idna  # noqa: F401
    import gc  # noqa: F401
    import importlib
    import pkgutil

    import dns.rdtypes
    import uvloop  # noqa: F401
    for mod in pkgutil.walk_packages(dns.rdtypes.__path__, "dns.rdtypes."):
        importlib.import_module(mod.name)
    for name in ("dns.zone", "dns.rdatatype", "dns.rdataclass", "dns.name", "dns.rdata",
                 "dns.tokenizer", "dns.zonefile", "dns.rrset", "dns.message"):
        importlib.import_module(name)
