from __future__ import annotations

from pathlib import Path

import pytest

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def testdata() -> Path:
    return TESTDATA


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Unit tests first, then the end-to-end suite (marker ``e2e``)."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
