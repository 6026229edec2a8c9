"""``validate``: prove the installed rules capture traffic, as istio-iptables'
``--run-validation`` does: listen on 127.0.0.1 at the outbound and inbound capture ports, and
from the proxy's uid connect to 127.0.0.6:<probe port>; capture works when one of the
listeners accepts that connection with the probe port as its original destination."""

from __future__ import annotations

import os
import selectors
import socket
import struct
import time

from lateen.capture._apply import CaptureError
from lateen.capture._config import CaptureConfig

__all__ = ["PROBE_PORT", "validate"]

PROBE_PORT = 15002  # Istio's iptables probe port
_SO_ORIGINAL_DST = 80


def _original_port(conn: socket.socket) -> int | None:
    try:
        raw = conn.getsockopt(socket.SOL_IP, _SO_ORIGINAL_DST, 16)
    except OSError:
        return None
    port: int = struct.unpack_from("!2xH", raw)[0]
    return port


def _dial_as(uid: int, gid: int, port: int) -> None:
    """Connect from a child process running as ``uid``/``gid`` (the proxy), then exit."""
    # load the codec socket addresses go through now: once the child is the proxy's uid it may
    # not be allowed to read Python's library
    "127.0.0.6".encode("idna")
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            with socket.create_connection(("127.0.0.6", port), timeout=1.0):
                code = 0
        except BaseException:
            pass
        os._exit(code)
    os.waitpid(pid, 0)


def validate(cfg: CaptureConfig, timeout: float = 5.0, probe_port: int = PROBE_PORT) -> None:
    """Raise ``CaptureError`` unless a probe connection from the proxy's uid is captured within
    ``timeout`` seconds. Needs root (to act as the proxy's uid) in the pod's namespace."""
    uid, gid = int(cfg.uids[0]), int(cfg.gids[0])
    listeners: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        for port in (cfg.proxy_port, cfg.inbound_capture_port):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            s.listen(8)
            listeners.append(s)
            sel.register(s, selectors.EVENT_READ)
        if not listeners:
            raise CaptureError(f"validation: cannot listen on 127.0.0.1:{cfg.proxy_port} or "
                               f":{cfg.inbound_capture_port}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _dial_as(uid, gid, probe_port)
            for key, _ in sel.select(timeout=min(1.0, max(0.0, deadline - time.monotonic()))):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                conn, _ = sock.accept()
                with conn:
                    if _original_port(conn) == probe_port:
                        return
        raise CaptureError(
            f"validation failed: a connection from uid {uid} to 127.0.0.6:{probe_port} was not "
            "captured; the rules are not in place"
        )
    finally:
        sel.close()
        for s in listeners:
            s.close()
