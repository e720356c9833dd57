"""The compiled contracts shipped with the package (no Node.js needed at run time)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["abi", "artifacts", "bytecode"]


@cache
def artifacts() -> dict[str, Any]:
    text = resources.files("fairtrail.anchor").joinpath("contracts/artifacts.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def abi(contract: str) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = artifacts()["contracts"][contract]["abi"]
    return value


def bytecode(contract: str) -> str:
    value: str = artifacts()["contracts"][contract]["bytecode"]
    return value
