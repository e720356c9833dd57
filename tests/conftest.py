from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests._postgres import PostgresServer, run_postgres

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile("default")

DATA = Path(__file__).parent / "data"


@pytest.fixture
def trail_dir(tmp_path: Path) -> Path:
    return tmp_path / "trail"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1, one per test worker (tests/_postgres.py)."""
    with run_postgres() as server:
        yield server
