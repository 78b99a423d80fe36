"""Tocilizumab stock per centre (PATHWAY.md "Inventory"): receipts, reservations, uses, releases.

One ``TocilizumabStock`` aggregate per centre (its id derived from the centre), so every
change to a centre's stock is a new version of one aggregate. The application saves the
stock in the same transaction as the pathway event that moves it; two commands that decided
on the same stock version cannot both be saved (the event store refuses the second version),
so two patients can never count the same vial.

Which pathway events move the stock (``stock_changes``):
- ``tocilizumab_reservation`` completed with ``doses`` N: N doses reserved for that pathway,
  from the lots that expire first, or the completion is refused (nothing recorded);
- ``toxicity_treatment`` completed with ``drug`` ``tocilizumab``: one of the pathway's
  reserved doses is used; with none reserved the use is still recorded (a dose given from
  elsewhere is a fact), marked ``source: unreserved`` and taken from no lot;
- ``discharge`` completed, or the pathway ends (an end event or a cancel): the doses still
  reserved for the pathway are released.

Time: a lot is expired when its ``expires_on`` is before the recorded clock's date (UTC) of
the command, never the wall clock of the machine.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from .errors import ConcurrentUpdate, InvalidTaskData
from .topics import pin_topics

NS = uuid.NAMESPACE_URL
RESERVATION_TASK, TREATMENT_TASK, DISCHARGE_TASK = "tocilizumab_reservation", "toxicity_treatment", "discharge"
DRUG = "tocilizumab"
MAX_DOSES = 10_000       # per receipt: a typing error (an extra zero) rather than a delivery
MAX_TEXT = 200
SNAPSHOT_EVERY = 50      # a busy centre's stock gains ~3 events per patient; loading stays cheap
RECEIPT_ATTEMPTS = 5     # receipts commute: a receipt that lost a race is simply applied again


class InsufficientStock(InvalidTaskData):
    """A reservation asks for more doses than the centre can reserve now."""

    code = "insufficient-stock"

    def __init__(self, detail: str, *, center: str, requested: int, available: int):
        super().__init__(detail, {"doses": [f"only {available} dose(s) available at centre {center}, "
                                            f"{requested} requested"]})
        self.extra.update(center=center, requested=requested, available=available)


class InvalidReceipt(InvalidTaskData):
    code = "invalid-receipt"


class StockChanged(ConcurrentUpdate):
    """A save that carried a centre's stock conflicted: the command may be decided again on fresh state."""

    code = "concurrent-update"


def stock_id(center: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"cartpath:tocilizumab-stock:{center}")


class TocilizumabStock(Aggregate):
    """One centre's tocilizumab: lots received, doses reserved per pathway, doses used."""

    @staticmethod
    def create_id(center: str, at: datetime) -> uuid.UUID:
        return stock_id(center)

    @event("Opened")
    def __init__(self, center: str, at: datetime):
        self.center = center
        self.lots: dict[str, dict[str, Any]] = {}            # lot -> {expires_on, received, used}
        self.reservations: dict[str, dict[str, int]] = {}    # pathway id -> {lot: doses still reserved}
        self.unreserved_uses = 0

    # -- events ---------------------------------------------------------------------------
    @event("Received")
    def _received(self, lot: str, doses: int, expires_on: str, actor: dict[str, Any], at: datetime) -> None:
        entry = self.lots.setdefault(lot, {"expires_on": expires_on, "received": 0, "used": 0})
        entry["received"] += doses

    @event("Reserved")
    def _reserved(self, pathway_id: str, task_id: str, doses: int, lots: dict[str, int], at: datetime) -> None:
        held = self.reservations.setdefault(pathway_id, {})
        for lot, n in lots.items():
            held[lot] = held.get(lot, 0) + n

    @event("DoseUsed")
    def _dose_used(self, pathway_id: str, task_id: str, lot: str | None, source: str, given_at: str | None,
                   note: str | None, at: datetime) -> None:
        if lot is None:
            self.unreserved_uses += 1
            return
        self.lots[lot]["used"] += 1
        held = self.reservations[pathway_id]
        held[lot] -= 1
        if held[lot] == 0:
            del held[lot]
        if not held:
            del self.reservations[pathway_id]

    @event("Released")
    def _released(self, pathway_id: str, lots: dict[str, int], reason: str, at: datetime) -> None:
        self.reservations.pop(pathway_id, None)

    # -- the domain's verbs ------------------------------------------------------------------
    def receive(self, lot: str, doses: int, expires_on: str, actor: dict[str, Any], at: datetime) -> None:
        known = self.lots.get(lot)
        if known is not None and known["expires_on"] != expires_on:
            raise InvalidReceipt(f"lot {lot} was received before with expires_on {known['expires_on']}, "
                                 f"not {expires_on}", {"expires_on": [f"lot {lot} expires on {known['expires_on']}"]})
        self._received(lot=lot, doses=doses, expires_on=expires_on, actor=actor, at=at)

    def reserve(self, pathway_id: str, task_id: str, doses: int, at: datetime) -> None:
        today = at.date()
        available = self.available(today)
        if doses > available:
            raise InsufficientStock(f"cannot reserve {doses} tocilizumab dose(s): only {available} available at "
                                    f"centre {self.center}", center=self.center, requested=doses, available=available)
        if doses == 0:
            return
        lots: dict[str, int] = {}
        wanted = doses
        for lot in self._reservable_lots(today):  # first expiry, first out
            take = min(wanted, self._free(lot))
            if take:
                lots[lot] = take
                wanted -= take
            if not wanted:
                break
        self._reserved(pathway_id=pathway_id, task_id=task_id, doses=doses, lots=lots, at=at)

    def use(self, pathway_id: str, task_id: str, given_at: str | None, at: datetime) -> None:
        held = self.reservations.get(pathway_id)
        if not held:
            self._dose_used(pathway_id=pathway_id, task_id=task_id, lot=None, source="unreserved", given_at=given_at,
                            note="no dose was reserved for this pathway here: given from elsewhere", at=at)
            return
        today = at.date()
        # an unexpired vial first, the one expiring soonest; an expired one only if nothing else is held
        lot = min(held, key=lambda name: (self._expired(name, today), self.lots[name]["expires_on"], name))
        self._dose_used(pathway_id=pathway_id, task_id=task_id, lot=lot, source="reservation", given_at=given_at,
                        note=None, at=at)

    def release(self, pathway_id: str, reason: str, at: datetime) -> None:
        held = self.reservations.get(pathway_id)
        if held:
            self._released(pathway_id=pathway_id, lots=dict(held), reason=reason, at=at)

    # -- reading ------------------------------------------------------------------------------
    def reserved_in(self, lot: str) -> int:
        return sum(held.get(lot, 0) for held in self.reservations.values())

    def _free(self, lot: str) -> int:
        entry = self.lots[lot]
        return max(0, entry["received"] - entry["used"] - self.reserved_in(lot))

    def _expired(self, lot: str, today: date) -> bool:
        return date.fromisoformat(self.lots[lot]["expires_on"]) < today

    def _reservable_lots(self, today: date) -> list[str]:
        return sorted((lot for lot in self.lots if not self._expired(lot, today)),
                      key=lambda lot: (self.lots[lot]["expires_on"], lot))

    def available(self, today: date) -> int:
        return sum(self._free(lot) for lot in self._reservable_lots(today))

    def view(self, today: date) -> dict[str, Any]:
        lots = []
        for lot, entry in sorted(self.lots.items(), key=lambda kv: (kv[1]["expires_on"], kv[0])):
            expired = self._expired(lot, today)
            lots.append({"lot": lot, "expires_on": entry["expires_on"], "received": entry["received"],
                         "used": entry["used"], "on_hand": entry["received"] - entry["used"],
                         "reserved": self.reserved_in(lot), "available": 0 if expired else self._free(lot),
                         "expired": expired})
        return {
            "center": self.center, "today": today.isoformat(),
            "on_hand": sum(x["on_hand"] for x in lots),
            "reserved": sum(x["reserved"] for x in lots),
            "available": sum(x["available"] for x in lots),
            "expired": sum(x["on_hand"] for x in lots if x["expired"]),
            "unreserved_uses": self.unreserved_uses,
            "lots": lots,
            "reservations": [{"pathway_id": pid, "doses": sum(held.values()),
                              "lots": [{"lot": lot, "doses": n} for lot, n in sorted(held.items())]}
                             for pid, held in sorted(self.reservations.items())],
        }


def empty_view(center: str, today: date) -> dict[str, Any]:
    return {"center": center, "today": today.isoformat(), "on_hand": 0, "reserved": 0, "available": 0, "expired": 0,
            "unreserved_uses": 0, "lots": [], "reservations": []}


# -- use cases (the application passes itself: they load and save through it) ---------------------
def check_receipt(center: Any, doses: Any, lot: Any, expires_on: Any) -> tuple[str, int, str, str]:
    """The receipt's fields, checked; InvalidReceipt names every bad one."""
    errors: dict[str, list[str]] = {}
    for name, value in (("center", center), ("lot", lot)):
        if not isinstance(value, str) or not value.strip():
            errors[name] = ["must be a non-empty string"]
        elif len(value) > MAX_TEXT:
            errors[name] = [f"at most {MAX_TEXT} characters"]
    if isinstance(doses, bool) or not isinstance(doses, int) or not 1 <= doses <= MAX_DOSES:
        errors["doses"] = [f"must be an integer from 1 to {MAX_DOSES}"]
    expiry = None
    if isinstance(expires_on, date) and not isinstance(expires_on, datetime):
        expiry = expires_on.isoformat()
    elif isinstance(expires_on, str):
        try:
            expiry = date.fromisoformat(expires_on).isoformat()
        except ValueError:
            pass
    if expiry is None:
        errors["expires_on"] = ["must be a date (YYYY-MM-DD)"]
    if errors:
        listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(errors.items()))
        raise InvalidReceipt(f"invalid receipt: {listed}", errors)
    return center, doses, lot, expiry  # type: ignore[return-value]


def receive(app, center: Any, doses: Any, lot: Any, expires_on: Any,
            actor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a receipt of ``doses`` vials of ``lot`` at ``center``; returns the stock after it."""
    center, doses, lot, expiry = check_receipt(center, doses, lot, expires_on)
    for attempt in range(RECEIPT_ATTEMPTS):
        at = app.clock.now()
        stock = _load(app, center, snapshot=True) or TocilizumabStock(center=center, at=at)
        stock.receive(lot, doses, expiry, actor or {"sub": "system", "roles": ["system"]}, at)
        try:
            app.save(stock)
        except IntegrityError:
            if attempt == RECEIPT_ATTEMPTS - 1:
                raise ConcurrentUpdate(f"the stock of centre {center} kept changing; try again") from None
            continue
        return stock.view(at.date())
    raise AssertionError("unreachable")


def show(app, center: str) -> dict[str, Any]:
    """The centre's stock as of the recorded clock's today."""
    today = app.clock.now().date()
    stock = _load(app, center)
    return stock.view(today) if stock is not None else empty_view(center, today)


def stock_changes(app, aggregates: Iterable[Aggregate]) -> list[TocilizumabStock]:
    """The stocks that the pathways' unsaved events move, to be saved with them (one transaction).

    Raises InsufficientStock (the whole command is refused) when a reservation cannot be met."""
    from .pathway import Pathway
    stocks: dict[str, TocilizumabStock | None] = {}
    for pathway in aggregates:
        if not isinstance(pathway, Pathway):
            continue
        for ev in pathway.pending_events:
            if (isinstance(ev, Pathway.TaskCompleted)  # type: ignore[attr-defined]  # made by @event
                    and ev.name in (RESERVATION_TASK, TREATMENT_TASK, DISCHARGE_TASK)):
                if ev.name == TREATMENT_TASK and ev.data.get("drug") != DRUG:
                    continue
                _apply_task(app, stocks, pathway, ev)
            elif isinstance(ev, Pathway.PathwayEnded):  # type: ignore[attr-defined]  # made by @event
                stock = _stock(app, stocks, pathway.center, create=False)
                if stock is not None:
                    stock.release(str(pathway.id), f"ended:{ev.outcome}", ev.at)
    return [s for s in stocks.values() if s is not None and s.pending_events]


def _apply_task(app, stocks: dict, pathway, ev) -> None:
    pathway_id = str(pathway.id)
    if ev.name == RESERVATION_TASK:
        doses = ev.data.get("doses")
        if isinstance(doses, bool) or not isinstance(doses, int) or doses < 0:
            raise InvalidTaskData("doses must be a whole number of doses (0 or more)",
                                  {"doses": ["must be an integer, at least 0"]})
        stock = _stock(app, stocks, pathway.center, create=False)
        if stock is None:
            if doses:
                raise InsufficientStock(f"cannot reserve {doses} tocilizumab dose(s): centre {pathway.center} has "
                                        f"received none", center=pathway.center, requested=doses, available=0)
            return
        stock.reserve(pathway_id, ev.task_id, doses, ev.at)
    elif ev.name == TREATMENT_TASK:
        stock = _stock(app, stocks, pathway.center, create=True, at=ev.at)
        given_at = ev.data.get("given_at")
        # create=True: never None
        stock.use(pathway_id, ev.task_id, given_at if isinstance(given_at, str) else None, ev.at)  # type: ignore[union-attr]
    else:
        stock = _stock(app, stocks, pathway.center, create=False)
        if stock is not None:
            stock.release(pathway_id, "discharge", ev.at)


def _stock(app, stocks: dict, center: str, *, create: bool, at: datetime | None = None) -> TocilizumabStock | None:
    if center not in stocks:
        stocks[center] = _load(app, center, snapshot=True)
    if stocks[center] is None and create:
        stocks[center] = TocilizumabStock(center=center, at=at)  # type: ignore[arg-type]  # creators pass `at`
    return stocks[center]


def _load(app, center: str, *, snapshot: bool = False) -> TocilizumabStock | None:
    from eventsourcing.application import AggregateNotFoundError
    try:
        stock = app.repository.get(stock_id(center))
    except AggregateNotFoundError:
        return None
    if snapshot and app.snapshots is not None and stock.version % SNAPSHOT_EVERY == 0:
        # the state as loaded is committed: snapshot it now, before this command changes it
        try:
            app.snapshots.put([TocilizumabStock.Snapshot.take(stock)])
        except IntegrityError:  # another process took the same snapshot
            pass
    return stock


pin_topics("inventory", TocilizumabStock)
