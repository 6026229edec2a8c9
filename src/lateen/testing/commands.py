"""A fake ``CommandRunner`` (``lateen.capture``): records every command and its stdin and
answers from a handler, like Istio's iptables ``DependenciesStub``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lateen.capture import CommandResult

__all__ = ["FakeRunner"]

Handler = Callable[[tuple[str, ...], str | None], CommandResult | None]


class FakeRunner:
    """``calls`` holds ``(argv, input)`` in order. ``handler`` may answer a command (return a
    ``CommandResult``) or pass (``None``); unanswered commands succeed with no output, except
    ``iptables -C`` (a rule check), which answers "no such rule" (exit 1)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.calls: list[tuple[tuple[str, ...], str | None]] = []

    def run(self, argv: Sequence[str], input: str | None = None) -> CommandResult:
        args = tuple(argv)
        self.calls.append((args, input))
        if self.handler is not None:
            res = self.handler(args, input)
            if res is not None:
                return res
        if "-C" in args:
            return CommandResult(1, "", "Bad rule (does a matching rule exist in that chain?).")
        return CommandResult(0)

    def commands(self) -> list[str]:
        """Every argv as one string (for compact assertions)."""
        return [" ".join(argv) for argv, _ in self.calls]

    def inputs(self, program: str) -> list[str]:
        """The stdin given to every run of ``program`` (e.g. ``iptables-nft-restore``)."""
        return [inp or "" for argv, inp in self.calls if argv and argv[0] == program]
