"""The public API is what __all__ says, and nothing leaks."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import fairtrail


def test_all_is_exact() -> None:
    # submodules become attributes of the package once anything imports them (Python's
    # import system); every other public name must be exactly what __all__ says
    public = {
        name
        for name in dir(fairtrail)
        if not name.startswith("_") and not isinstance(getattr(fairtrail, name), ModuleType)
    }
    assert public == set(fairtrail.__all__) - {"__version__"}


def test_import_is_fast_and_side_effect_free() -> None:
    code = (
        "import logging, fairtrail; assert not logging.getLogger().handlers; import sys; "
        "assert 'web3' not in sys.modules and 'typer' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
