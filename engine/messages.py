"""The manufacturer handshake (PATHWAY.md): which messages exist and what they carry."""
from __future__ import annotations

from .forms import FormField, TaskForm

_S, _B, _D, _T = "string", "bool", "date", "datetime"


def _form(*fields: tuple[str, str]) -> TaskForm:
    return TaskForm(fields=tuple(FormField(name=n, type=t, label=n) for n, t in fields), declared=True)


# Payloads of messages the manufacturer sends us (correlation keys excluded).
INBOUND: dict[str, TaskForm] = {
    "slot_confirmed": _form(("apheresis_date", _D), ("manufacturing_slot", _S)),
    "apheresis_received": _form(("received_at", _T), ("condition_ok", _B)),
    "manufacturing_status": _form(("stage", _S), ("at", _T)),
    "manufacturing_failed": _form(("reason", _S)),
    "product_released": _form(("released_at", _T), ("out_of_spec", _B), ("certificate_ref", _S)),
    "product_shipped": _form(("shipper_id", _S), ("tracking", _S), ("shipped_at", _T)),
    # (v2) the manufacturer's answer to a quarantined product
    "quarantine_decision": _form(("usable", _B), ("assessment_ref", _S)),
}
# Recorded, never delivered to the process model: they must not block or reorder it.
INFORMATIVE = frozenset({"apheresis_received", "manufacturing_status"})
OUTBOUND = frozenset({"order_placed", "apheresis_shipped", "product_received", "product_quarantined",
                      "infusion_done"})
CORRELATION_KEYS = ("order_id", "coi")

