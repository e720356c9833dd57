"""`fairtrail keys`: actors, their keys and roles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrail.cli._context import STATE
from fairtrail.crypto.keys import VerifyingKey
from fairtrail.errors import KeyFileError
from fairtrail.statements.actors import Role

keys_app = typer.Typer(
    help="Create actors, list them, and manage their roles.", no_args_is_help=True
)

_AS = typer.Option("--as", help="Admin actor who signs the change [default: the root admin].")
_KEY = typer.Option("--key", help="Sign with this Ed25519 PEM private key instead.")


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Actor name (a-z, 0-9, . _ -).")],
    role: Annotated[list[Role], typer.Option("--role", "-r", help="Role(s) to give.")],
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="Register this existing Ed25519 public key (PEM) instead of "
            "making a key pair here."
        ),
    ] = None,
    actor: Annotated[str | None, _AS] = None,
    key: Annotated[Path | None, _KEY] = None,
) -> None:
    """Register a new actor with a role, recorded as an admin-signed statement."""
    with STATE.open() as trail:
        pub = None
        if public_key is not None:
            try:
                data = public_key.read_bytes()
            except OSError as exc:
                raise KeyFileError(f"cannot read {public_key}: {exc.strerror}") from None
            pub = VerifyingKey.from_pem(data, source=str(public_key))
        receipt = trail.create_actor(name, role, STATE.signer(trail, actor, key), pub)
        where = "" if pub else f"; private key in {trail.paths.actor_key(name)}"
        STATE.out.print(
            f"actor {name} registered with role(s) {', '.join(r.value for r in role)} "
            f"at entry {receipt.index}{where}"
        )


@keys_app.command("list")
def list_keys() -> None:
    """List the actors of the trail, their roles and key IDs."""
    with STATE.open(writable=False) as trail:
        table = Table("actor", "roles", "key id", "since entry", "private key here")
        for a in trail.keyring.actors:
            table.add_row(
                a.name,
                ", ".join(sorted(r.value for r in a.roles)) or "(none)",
                a.key.key_id[:16],
                str(a.registered_at),
                "yes" if trail.paths.actor_key(a.name).exists() else "no",
            )
        STATE.out.print(table)


@keys_app.command("grant-role")
def grant_role(
    name: Annotated[str, typer.Argument(help="Actor to change.")],
    role: Annotated[list[Role], typer.Argument(help="Role(s) to grant.")],
    actor: Annotated[str | None, _AS] = None,
    key: Annotated[Path | None, _KEY] = None,
) -> None:
    """Grant role(s) to an actor (admin-signed)."""
    with STATE.open() as trail:
        receipt = trail.grant_role(name, role, STATE.signer(trail, actor, key))
        STATE.out.print(
            f"granted {', '.join(r.value for r in role)} to {name} at entry {receipt.index}"
        )


@keys_app.command("revoke-role")
def revoke_role(
    name: Annotated[str, typer.Argument(help="Actor to change.")],
    role: Annotated[list[Role], typer.Argument(help="Role(s) to revoke.")],
    actor: Annotated[str | None, _AS] = None,
    key: Annotated[Path | None, _KEY] = None,
) -> None:
    """Revoke role(s) from an actor (admin-signed); the last admin cannot be revoked."""
    with STATE.open() as trail:
        receipt = trail.revoke_role(name, role, STATE.signer(trail, actor, key))
        STATE.out.print(
            f"revoked {', '.join(r.value for r in role)} from {name} at entry {receipt.index}"
        )
