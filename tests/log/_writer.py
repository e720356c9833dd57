"""Writer processes for the crash (F1) and concurrency (C1) tests.

python -m tests.log._writer crash DB KEYFILE SEED       append until killed, print ACKs
python -m tests.log._writer concurrent DB TAG ROUNDS    threads appending, print ACKs
"""

from __future__ import annotations

import json
import random
import sys
import threading
from pathlib import Path

from fairtrail.crypto import SigningKey
from fairtrail.log import SqliteStore, Store, TransparencyLog
from fairtrail.log.checkpoint import Ed25519NoteVerifier
from fairtrail.log.postgres import PostgresStore
from tests.log.helpers import ORIGIN, leaf


def _open(db: str, lock_timeout: float) -> Store:
    """A writer on `db`: a SQLite path or a PostgreSQL URL (the tests run both)."""
    if db.startswith("postgresql://"):
        return PostgresStore.open(db, writer=True, create=True, lock_timeout=lock_timeout)
    return SqliteStore.open(Path(db), writer=True, create=True, lock_timeout=lock_timeout)


def crash(db: str, key_file: Path, seed: int) -> None:
    rng = random.Random(seed)
    key = SigningKey.load(key_file)
    store = _open(db, lock_timeout=30)
    log = TransparencyLog(store, Ed25519NoteVerifier(ORIGIN, key.public), key)
    print("READY", log.size, flush=True)
    while True:
        start = log.size
        n = rng.randint(1, 64)
        first = log.append([leaf(i) for i in range(start, start + n)])
        print("ACK", first, n, flush=True)
        if rng.random() < 0.15:
            body, _ = log.checkpoint()
            print("CP", body.size, flush=True)


def concurrent(db: str, tag: str, rounds: int) -> None:
    acks: list[tuple[int, str]] = []
    lock = threading.Lock()
    for r in range(rounds):
        store = _open(db, lock_timeout=120)

        def work(t: int, r: int = r, store: Store = store) -> None:
            for j in range(5):
                name = f"{tag}-r{r}-t{t}-j{j}"
                first = store.append_batch([f"{name}-{k}".encode() for k in range(3)])
                with lock:
                    acks.append((first, name))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        store.close()
    print(json.dumps(acks), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "crash":
        crash(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
    else:
        concurrent(sys.argv[2], sys.argv[3], int(sys.argv[4]))
