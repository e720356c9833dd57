"""Every store test that takes `log_db` runs against both backends: a SQLite file and a
database on a real PostgreSQL server started here (tests/_postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._postgres import PostgresServer
from tests.log.helpers import OPENED


@pytest.fixture(params=["sqlite", "postgres"])
def log_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a fresh log lives: a SQLite path, or a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "log.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()
