"""The ``lateen`` command."""

from lateen.cli._main import main

__all__ = ["main"]
