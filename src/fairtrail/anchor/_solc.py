"""Compile the contracts with the pinned `solc` from npm (build step, not run time).

Users never need Node.js: the ABI and bytecode ship in `contracts/artifacts.json`.
This module rebuilds that file (`python -m fairtrail.anchor._solc`) and is what the
test calls to check the committed bytes are exactly what the pinned compiler makes
from the committed sources.

`evmVersion` is pinned to `prague`: py-evm (the in-process chain) does not run the
compiler's newer default, and one artifact must serve every backend.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["CONTRACTS", "SOLC_VERSION", "EVM_VERSION", "compile_contracts", "solcjs_path"]

SOLC_VERSION = "0.8.37"
EVM_VERSION = "prague"
CONTRACTS = ("FairtrailAnchor", "AuditRegistry", "RoyaltySplit")
_HERE = Path(__file__).resolve().parent / "contracts"
ARTIFACTS = _HERE / "artifacts.json"


def solcjs_path(root: Path | None = None) -> Path:
    """Where `npm ci` puts the compiler in a checkout of this repository."""
    root = root or Path(__file__).resolve().parents[3]
    return root / "node_modules" / ".bin" / "solcjs"


_IMPORT = re.compile(r'^\s*import\s+(?:\{[^}]*\}\s+from\s+)?"([^"]+)"\s*;', re.MULTILINE)


def _library_sources(sources: dict[str, str], root: Path) -> dict[str, str]:
    """Every library file the sources import (`@openzeppelin/...`, from `npm ci`'s
    node_modules), followed through their own imports, keyed by import path."""
    found: dict[str, str] = {}
    todo = [(name, text) for name, text in sources.items()]
    while todo:
        name, text = todo.pop()
        for target in _IMPORT.findall(text):
            if target.startswith("."):  # relative to the importing library file
                target = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if target in found or target in sources:
                continue
            path = root / "node_modules" / target
            if not target.startswith("@openzeppelin/contracts/") or not path.is_file():
                raise SystemExit(f"{name} imports {target}, not found: run `npm ci` first")
            found[target] = path.read_text("utf-8")
            todo.append((target, found[target]))
    return found


def standard_input(root: Path | None = None) -> dict[str, Any]:
    root = root or Path(__file__).resolve().parents[3]
    own = {f"{name}.sol": (_HERE / f"{name}.sol").read_text("utf-8") for name in CONTRACTS}
    sources = {**own, **dict(sorted(_library_sources(own, root).items()))}
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": 200},
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }


def compile_contracts(solcjs: Path | None = None) -> dict[str, Any]:
    """Run the pinned compiler; return the artifact document (sources hashed in)."""
    solcjs = solcjs or solcjs_path()
    if not solcjs.exists():
        raise SystemExit(f"{solcjs} not found: run `npm ci` in the repository first")
    version = subprocess.run(
        [str(solcjs), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not version.startswith(SOLC_VERSION + "+"):
        raise SystemExit(f"solc {SOLC_VERSION} is pinned, found {version}")
    spec = standard_input()
    done = subprocess.run(
        [str(solcjs), "--standard-json"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    # solcjs prints a notice about SMT solvers before the JSON on stdout
    output = json.loads(done.stdout[done.stdout.index("{") :])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SystemExit("\n".join(e["formattedMessage"] for e in errors))
    contracts: dict[str, Any] = {}
    for name in CONTRACTS:
        unit = output["contracts"][f"{name}.sol"][name]
        source = spec["sources"][f"{name}.sol"]["content"].encode("utf-8")
        contracts[name] = {
            "abi": unit["abi"],
            "bytecode": "0x" + unit["evm"]["bytecode"]["object"],
            "source_sha256": hashlib.sha256(source).hexdigest(),
        }
    libraries = {
        name: hashlib.sha256(unit["content"].encode("utf-8")).hexdigest()
        for name, unit in spec["sources"].items()
        if name.startswith("@")
    }
    return {
        "compiler": version,
        "settings": spec["settings"],
        "contracts": contracts,
        "libraries": libraries,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main() -> None:
    document = compile_contracts()
    ARTIFACTS.write_text(render(document), "utf-8")
    for name, unit in document["contracts"].items():
        print(f"{name}: {(len(unit['bytecode']) - 2) // 2} bytes of init code")
    print(f"wrote {ARTIFACTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
