"""A helper process that seals decision batches into the vault while the caller builds
the next batch, so recording at volume uses two cores instead of one.

Threads would not do: both halves are per-row Python work and SQLite calls that take the
GIL back for every row, so two threads run no faster than one (measured). The helper is
`python -m fairtrail.privacy._sealer VAULT`, not `multiprocessing`: it must not re-import
the caller's `__main__`, and it inherits nothing (no open SQLite handles across a fork).

Protocol on the helper's stdin/stdout: a frame is an 8-byte big-endian length and a
pickle. The caller sends (batch, items); the helper answers ("ok", "") once the batch is
durable in the vault, or (error kind, message). Pickle is safe here because both ends
are this package, talking over a pipe only the two of them hold.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from fairtrail.errors import FairtrailError, InputError, IntegrityError

__all__ = ["Sealer"]

_LEN = 8
_MAX_FRAME = 1 << 40


class Sealer:
    """One helper process, one batch in flight at a time."""

    def __init__(self, vault: Path) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "fairtrail.privacy._sealer", str(vault)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._busy = False

    def submit(self, batch: str, items: list[tuple[str, str, bytes]]) -> None:
        if self._busy:
            raise RuntimeError("one batch at a time")
        assert self._proc.stdin is not None
        try:
            _write(self._proc.stdin, (batch, items))
        except (BrokenPipeError, OSError):
            raise self._died() from None
        self._busy = True

    def wait(self) -> None:
        """Return once the submitted batch is durable in the vault; raise its error."""
        assert self._proc.stdout is not None
        self._busy = False
        try:
            kind, message = _read(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._died() from None
        if kind == "ok":
            return
        raise (InputError if kind == "input" else IntegrityError)(message)

    def close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _died(self) -> FairtrailError:
        code = self._proc.poll()
        return IntegrityError(
            f"the vault sealing process stopped (exit {code}); nothing of the batch in "
            "flight was recorded, run the command again"
        )


def _write(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_LEN, "big"))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    head = stream.read(_LEN)
    if len(head) != _LEN:
        raise EOFError
    size = int.from_bytes(head, "big")
    if size > _MAX_FRAME:
        raise EOFError
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own process on a private pipe


def _serve(vault_path: Path) -> int:
    from fairtrail.privacy.vault import Vault

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    with Vault(vault_path) as vault:
        while True:
            try:
                batch, items = _read(stdin)
            except EOFError:
                return 0
            try:
                vault.seal_batch(batch, items)
                _write(stdout, ("ok", ""))
            except InputError as exc:
                _write(stdout, ("input", str(exc)))
            except Exception as exc:  # reported to the caller, which raises it
                _write(stdout, ("error", f"vault: {exc}"))


if __name__ == "__main__":
    sys.exit(_serve(Path(sys.argv[1])))
