"""Test helper: TCP listeners that answer each connection with one line, ``NAME ORIGINAL_DST``
(the address the client dialed, from SO_ORIGINAL_DST when the connection was redirected).
Usage: python _listener.py NAME=HOST:PORT...; prints "ready" once every port listens."""

from __future__ import annotations

import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80


def original_dst(conn: socket.socket) -> str:
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, addr = struct.unpack_from("!2xH4s", raw)
        return f"{socket.inet_ntoa(addr)}:{port}"
    except OSError:  # no conntrack entry: not redirected
        host, port = conn.getsockname()[:2]
        return f"{host}:{port}"


def serve(name: str, sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.sendall(f"{name} {original_dst(conn)}\n".encode())


def main() -> None:
    threads = []
    for spec in sys.argv[1:]:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(16)
        threads.append(threading.Thread(target=serve, args=(name, sock), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
