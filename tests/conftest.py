from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile("default")

DATA = Path(__file__).parent / "data"


@pytest.fixture
def trail_dir(tmp_path: Path) -> Path:
    return tmp_path / "trail"
