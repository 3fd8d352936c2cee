"""test_control_socket — the control socket's setup: it never removes what is not a stale
socket, is never more open than mode 0660, and a second server sharing its path is told
how to get one of its own (server.control)."""

import os
import socket
import stat

import pytest

from robdns import control


def test_a_regular_file_at_the_path_is_left_alone_and_the_start_fails(robdns_server):
    srv = robdns_server(start=False)
    with open(srv.control, "w") as f:
        f.write("precious\n")
    with pytest.raises(RuntimeError, match="not a socket"):
        srv.start()
    with open(srv.control) as f:
        assert f.read() == "precious\n"


def test_a_stale_socket_is_replaced(tmp_path):
    path = str(tmp_path / "control.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()                      # the file stays; nobody listens: a crashed server's
    s = control.open_socket(path)
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
    finally:
        s.close()


def test_a_second_server_on_the_same_control_socket_is_told_about_server_control(robdns_server):
    a = robdns_server()
    b = robdns_server(start=False)    # another config, other ports, the same socket path
    b.config["server"]["control"] = a.control
    b.write_config()
    with pytest.raises(RuntimeError, match="server.control"):
        b.start()
    assert a.ctl("status")["ok"]      # the first one keeps its socket


def test_the_socket_is_never_more_open_than_0660(tmp_path, monkeypatch):
    # Under umask 0 a bind creates the socket 0777; it must be 0660 from its first moment,
    # not after a chmod that leaves a window for anyone to connect.
    modes = []

    class Recording(socket.socket):
        def bind(self, addr):
            super().bind(addr)
            modes.append(stat.S_IMODE(os.stat(addr).st_mode))

    monkeypatch.setattr(control.socket, "socket", Recording)
    old = os.umask(0)
    try:
        s = control.open_socket(str(tmp_path / "control.sock"))
    finally:
        restored = os.umask(old)
    s.close()
    assert restored == 0                       # the process umask is left as it was
    assert modes == [0o660]
    assert stat.S_IMODE(os.stat(tmp_path / "control.sock").st_mode) == 0o660
