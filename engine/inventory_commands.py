"""``cartpath inventory``: a centre's tocilizumab stock from the command line (JSON out)."""
from __future__ import annotations

import click

from .console import out, refusals


def _app():
    from .config import open_app
    return open_app()


@click.group("inventory")
def inventory_group() -> None:
    """Tocilizumab stock per centre: receipts and the stock (reservations follow from pathway tasks)."""


@inventory_group.command("receive")
@click.option("--center", required=True)
@click.option("--doses", required=True, help="vials received (an integer, at least 1)")
@click.option("--lot", required=True)
@click.option("--expires-on", "expires_on", required=True, help="YYYY-MM-DD")
@click.option("--actor", default="cli")
@refusals
def receive_cmd(center: str, doses: str, lot: str, expires_on: str, actor: str) -> None:
    """Record vials of a lot received by the centre's pharmacy; prints the stock after it."""
    from .inventory import receive
    # parsed here, not by click, so a bad number is one `error:` line like every other refusal
    count: object = int(doses) if doses.strip().lstrip("+").isdigit() else doses
    out(receive(_app(), center, count, lot, expires_on, actor={"sub": actor, "roles": ["cli"]}))


@inventory_group.command("show")
@click.option("--center", required=True)
@refusals
def show_cmd(center: str) -> None:
    """The centre's stock: on hand, reserved, available, per lot, per reservation."""
    from .inventory import show
    if not center.strip():
        raise ValueError("--center must not be empty")
    out(show(_app(), center))


COMMANDS = [inventory_group]
