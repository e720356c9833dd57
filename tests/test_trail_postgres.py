"""A whole trail whose log lives in PostgreSQL: init, record, checkpoint, verify,
reopen, one writer, and URLs that would leak a password refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrail import Role, Trail
from fairtrail.errors import ConfigError, StoreLockedError
from tests._postgres import PostgresServer

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "d.csv", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://example.com/note/v1",
    "predicate": {"note": "hello"},
}


def test_trail_on_postgres(tmp_path: Path, postgres: PostgresServer) -> None:
    url = postgres.new_database()
    trail = Trail.init(tmp_path / "t", origin="pg.example/log", log_db=url)
    assert trail.store.name.startswith("postgresql://") and not (tmp_path / "t/log.db").exists()
    trail.create_actor("mo", [Role.ML_ENGINEER], trail.actor_key("admin"))
    receipt = trail.record(STATEMENT, trail.actor_key("mo"))
    trail.checkpoint()
    trail.prove_inclusion(receipt.index).verify()
    assert trail.verify().statements == 3
    with pytest.raises(StoreLockedError):
        Trail.open(tmp_path / "t")
    reader = Trail.open(tmp_path / "t", writable=False)
    assert reader.indices_of_subject("sha256", "ab" * 32) == [receipt.index]
    reader.close()
    trail.close()
    again = Trail.open(tmp_path / "t")
    assert again.store.size == 3 and again.verify().actors == 2
    again.close()


def test_init_refuses_a_database_that_already_holds_a_log(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.new_database()
    Trail.init(tmp_path / "a", log_db=url).close()
    with pytest.raises(ConfigError, match="already holds a log"):
        Trail.init(tmp_path / "b", log_db=url)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:secret@127.0.0.1/db", "postgresql://u@h/db?password=secret", "sqlite:x"],
)
def test_log_urls_with_passwords_are_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError):
        Trail.init(tmp_path / "t", log_db=url)
    assert not (tmp_path / "t").exists()
