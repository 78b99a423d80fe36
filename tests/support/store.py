"""Stores for tests: real SQLite files in a temporary directory, or a fresh schema on the
PostgreSQL server named by CARTPATH_TEST_POSTGRES_* when the suite runs on it; and the small
test process's moves."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cartpath.engine.application import CartPath

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def store_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a fresh, empty store of the kind this suite runs on."""
    env = {"CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual",
           "CARTPATH_CLOCK_START": T0.isoformat()}
    if os.environ.get("CARTPATH_TEST_STORE") == "postgres":
        from tests.support.pg import fresh_postgres_env
        env.update(fresh_postgres_env())
    else:
        env.update({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(tmp_path / "cartpath.sqlite3")})
    return env


def start_mini(app: CartPath, patient_ref: str = "P-0001", **kw):
    return app.start_pathway(patient_ref, "FR-01", "DLBCL", "axi-cel", process_key="mini_pathway", **kw).pathway


def ready_named(pathway, name: str) -> str:
    found = [t for t, r in pathway.ready.items() if r["name"] == name]
    assert len(found) == 1, f"expected one ready {name}, got {pathway.ready}"
    return found[0]


def run_mini_to_slot(app: CartPath, order_id: str = "ORD-1", coi: str = "COI-1", patient_ref: str = "P-0001"):
    p = start_mini(app, patient_ref)
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": order_id})
    app.deliver_message("slot_confirmed", f"m-{uuid.uuid4()}", {"order_id": order_id, "coi": coi},
                        {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"})
    return app.get_pathway(p.id)
