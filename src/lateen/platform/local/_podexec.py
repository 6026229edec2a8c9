"""Enter a pod, then exec its command: the small "container runtime" of transparent mode.

Run as a script with ``python -I -S _podexec.py`` (standard library only, so it starts in
milliseconds), as root, by the kubelet and by ``lateen exec``::

    _podexec.py [--netns NAME] [--resolv FILE] [--uid UID --gid GID] [--read-caps]
                [--pdeathsig SIG] -- COMMAND [ARG...]

1. ``--netns``: join the network namespace ``/run/netns/NAME`` (``setns``).
2. ``--resolv``: a private mount namespace in which FILE is bind-mounted over
   ``/etc/resolv.conf`` (the pod's nameserver and search path, as ``ip netns exec`` does
   with ``/etc/netns/NAME/resolv.conf``).
3. ``--uid``/``--gid``: exec ``setpriv`` to drop to that user with no supplementary groups,
   re-arming the parent-death signal (a credential change clears it). ``--read-caps`` keeps
   ``CAP_DAC_READ_SEARCH`` as an ambient capability, for installs the user could not
   otherwise read (e.g. Python under a root-only home directory).
"""

from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
SETPRIV = "setpriv"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_netns(libc: ctypes.CDLL, name: str) -> None:
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(libc.setns(fd, CLONE_NEWNET), f"setns {name}")
    finally:
        os.close(fd)


def bind_resolv_conf(libc: ctypes.CDLL, path: str) -> None:
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _check(libc.mount(path.encode(), b"/etc/resolv.conf", None, MS_BIND, None), f"bind {path}")


def setpriv_argv(uid: int, gid: int, read_caps: bool, pdeathsig: str, argv: list[str]) -> list[str]:
    out = [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", f"--pdeathsig={pdeathsig}"]
    if read_caps:
        out += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return [*out, "--", *argv]


def parse(args: list[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return opts, args[i + 1 :]
        if a == "--read-caps":
            opts["read-caps"] = "1"
            i += 1
            continue
        if a in ("--netns", "--resolv", "--uid", "--gid", "--pdeathsig") and i + 1 < len(args):
            opts[a[2:]] = args[i + 1]
            i += 2
            continue
        raise SystemExit(f"_podexec: unknown argument {a!r}")
    raise SystemExit("_podexec: missing -- COMMAND")


def main(args: list[str]) -> None:
    opts, argv = parse(args)
    if not argv:
        raise SystemExit("_podexec: missing COMMAND")
    libc = _libc()
    try:
        if "netns" in opts:
            enter_netns(libc, opts["netns"])
        if "resolv" in opts:
            bind_resolv_conf(libc, opts["resolv"])
    except OSError as e:
        sys.stderr.write(f"_podexec: {e}\n")
        raise SystemExit(126) from None
    if "uid" in opts:
        argv = setpriv_argv(
            int(opts["uid"]),
            int(opts.get("gid", opts["uid"])),
            "read-caps" in opts,
            opts.get("pdeathsig", "TERM"),
            argv,
        )
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        sys.stderr.write(f"_podexec: {argv[0]}: {e.strerror}\n")
        raise SystemExit(127) from None


if __name__ == "__main__":
    main(sys.argv[1:])
