from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server._fixtures import Server, build_rich_trail, copy_trail, start_server


@pytest.fixture(scope="session")
def rich_base(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Built once per test worker; tests serve a private copy of it."""
    return build_rich_trail(tmp_path_factory.mktemp("rich"))


@pytest.fixture
def rich_trail(rich_base: Any, tmp_path: Path) -> Path:
    return copy_trail(rich_base.path, tmp_path / "trail")


@pytest.fixture
def server(rich_trail: Path) -> Iterator[Server]:
    s = start_server(rich_trail)
    yield s
    s.stop()
