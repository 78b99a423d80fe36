"""Full CAR-T pathways through the engine on a SQLite file store, in simulated time.

    .venv/bin/python bench/pathway_bench.py [--pathways 50] [--rounds 3] [--ageing 100] [--cold 20] [--repeats 3]

Each pathway is the happy path of processes/cart_pathway.bpmn, contract v2 (referral to
follow_up_handover: start, 41 task completions, 3 manufacturer messages and 11 timer
firings; tocilizumab reserved, 15 daily assessments, two post-discharge visits, four
follow-up visits, four registry reports), driven by the same public use
cases as the API. The pathways of a round start an hour apart and interleave in
simulated time (one process, one thread, manual clock), the way a centre's pathways
share one store.

Prints:
- pathways/s and commands/s (a command = start_pathway, complete_task,
  deliver_message or one timer firing; each is load + engine step + save in one
  transaction), per round of ``--pathways`` and the median of ``--rounds``;
- the cost of each daily assessment command, day 0 (the first) to day 14 (the last),
  as medians over ``--ageing`` pathways, and the last/first ratio (target: at most 1.5x:
  a pathway must not get slower as it ages);
- the same first/last comparison in a cold application (no live engine: the pathway
  is loaded from its snapshot and the inputs since), over ``--cold`` pathways per day;
  each ageing measurement runs ``--repeats`` times on fresh stores, and the median ratio
  is printed (this machine is shared: one run can be unlucky).
For the two ageing figures pathway n first receives n % 50 informative status messages
(one event each), so its snapshots (every 50 events) fall on other days than its
neighbours' and no day's median is the cost of a snapshot that every pathway takes that day.
"""
from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine import inventory, signatures  # noqa: E402
from cartpath.engine.application import CartPath  # noqa: E402

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
DAYS = 15  # daily assessments of a calm pathway: day 0 to day 14
CALM = {"temperature_c": 36.9, "hypotension": "none", "oxygen": "none", "ice_score": 10, "seizure": False,
        "cerebral_edema": "none"}
FIT = {"active_infection": False, "uncontrolled_arrhythmia": False, "vasopressor_hypotension": False,
       "organ_dysfunction_g3": False, "clinical_worsening": False}
HOME = {"caregiver_24h": True, "lodging_within_2h": True, "driving_advice_given": True, "alert_card_given": True}
REPORTS = ("day0", "day100", "month6", "month12")


def open_store(directory: str) -> CartPath:
    env = {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0.isoformat(),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"}
    return CartPath(env=env)


def new_store(directory: str, patients: int) -> CartPath:
    """A fresh store with the bundled processes and the tocilizumab every patient will reserve."""
    app = open_store(directory)
    app.deploy_bundled()
    inventory.receive(app, "FR-075-01", 2 * patients + 10, "TCZ-BENCH", "2030-01-01")
    return app


class Stats:
    def __init__(self) -> None:
        self.commands = 0
        self.assessment_seconds: dict[int, list[float]] = defaultdict(list)


class Patient:
    """One pathway's people and manufacturer, as lean as a client can be: one worklist
    read when the pathway moved by itself (message, timer), none after a completion."""

    def __init__(self, app: CartPath, n: int, stats: Stats, status_messages: int = 0):
        self.app, self.n, self.stats, self.status_messages = app, n, stats, status_messages
        self.order_id, self.coi = f"B-ORD-{n:06d}", f"W0000 26 {n:06d} B"
        self.pathway = app.start_pathway(f"B-{n:06d}", "FR-075-01", "DLBCL", "axi-cel").pathway
        self.messages = 0
        stats.commands += 1

    def now(self) -> datetime:
        return self.app.clock.now()

    def complete(self, name: str, data: dict[str, Any]) -> float:
        found = [t for t, r in self.pathway.ready.items() if r["name"] == name]
        if not found:  # it moved by a message or a timer: read the worklist
            self.pathway = self.app.get_pathway(self.pathway.id)
            found = [t for t, r in self.pathway.ready.items() if r["name"] == name]
        assert len(found) == 1, (self.n, name, self.pathway.ready)
        definition = self.pathway.definition
        form = self.app.model(definition["key"], definition["version"]).forms.get(name)
        signers = signatures.signers_for(form, {"sub": "system", "name": "Bench signer"},  # the default actor
                                         witness={"sub": "bench-witness"},
                                         countersigner={"sub": "bench-pharmacist", "roles": ["pharmacy"]})
        start = time.perf_counter()
        self.pathway = self.app.complete_task(self.pathway.id, found[0], data, signers=signers)
        elapsed = time.perf_counter() - start
        self.stats.commands += 1
        return elapsed

    def tell(self, name: str, payload: dict[str, Any]) -> None:
        self.messages += 1
        answer = self.app.deliver_message(name, f"B-{self.n}-{self.messages}", {"order_id": self.order_id,
                                                                               "coi": self.coi}, payload)
        assert answer["accepted"], answer
        self.stats.commands += 1


def happy_path(p: Patient, hold_at_day: int | None = None) -> Iterator[datetime]:
    """The pathway; each ``yield`` hands back a simulated instant to resume at. With
    ``hold_at_day`` it stops when that day's assessment is ready, without doing it."""
    iso = lambda: p.now().isoformat()  # noqa: E731
    p.complete("rcp_eligibility", {"eligible": True, "rcp_date": p.now().date().isoformat()})
    yield p.now() + timedelta(days=2)
    p.complete("patient_consent", {"consent_signed": True})
    p.complete("place_order", {"order_id": p.order_id, "manufacturer": "kite-eu",
                               "requested_apheresis_date": (p.now() + timedelta(days=10)).date().isoformat()})
    yield p.now() + timedelta(days=2)
    p.tell("slot_confirmed", {"apheresis_date": (p.now() + timedelta(days=8)).date().isoformat(),
                              "manufacturing_slot": "S-1"})
    yield p.now() + timedelta(days=8)
    p.complete("apheresis", {"collection_date": p.now().date().isoformat(), "coi_scanned": p.coi,
                             "cd3_cells_e9": 3.9, "adequate": True})
    p.complete("ship_apheresis", {"courier": "WC", "shipper_id": "SHP", "pickup_at": iso()})
    for k in range(p.status_messages):  # informative: recorded, never moves the pathway
        p.tell("manufacturing_status", {"stage": f"stage-{k}", "at": iso()})
    yield p.now() + timedelta(days=1)
    p.complete("bridging_decision", {"bridging": True, "regimen": "R-GemOx"})
    yield p.now() + timedelta(days=20)
    p.tell("product_released", {"released_at": iso(), "out_of_spec": False, "certificate_ref": "CoA"})
    yield p.now() + timedelta(days=2)
    p.tell("product_shipped", {"shipper_id": "SHP", "tracking": "TRK", "shipped_at": iso()})
    yield p.now() + timedelta(days=1)
    p.complete("product_receipt", {"coi_scanned": p.coi, "temperature_ok": True, "storage_location": "LN2",
                                   "received_at": iso()})
    p.complete("tocilizumab_reservation", {"doses": 2})
    yield p.now() + timedelta(days=3)
    start = p.now().date()
    p.complete("lymphodepletion_start", {"start_date": start.isoformat()})
    yield p.now() + timedelta(days=2)
    p.complete("lymphodepletion_end", {"end_date": p.now().date().isoformat(), "completed": True})
    yield datetime(start.year, start.month, start.day, 9, tzinfo=UTC) + timedelta(days=5)
    p.complete("pre_infusion_check", FIT)
    p.complete("thaw_product", {"coi_scanned": p.coi, "thaw_started_at": iso(), "thaw_ended_at": iso()})
    p.complete("infusion", {"coi_wristband": p.coi, "coi_bag": p.coi, "infused_at": iso()})
    reports = 0
    for day in range(DAYS):
        yield p.now() + timedelta(hours=1 if day == 0 else 24)
        if day == 0:  # the day-0 registry report fell due at the infusion
            p.complete("registry_report", {"registry": "DESCAR-T", "submitted_at": iso(), "timepoint": "day0"})
            reports += 1
        if day == hold_at_day:
            return
        elapsed = p.complete("daily_assessment", CALM)
        p.stats.assessment_seconds[day].append(elapsed)
    p.complete("discharge", dict(HOME, discharged_at=iso()))
    while p.pathway.status == "active":  # visits and reports as each falls due
        p.pathway = p.app.get_pathway(p.pathway.id)
        ready = {r["name"] for r in p.pathway.ready.values()}
        if "post_discharge_visit" in ready:
            p.complete("post_discharge_visit", {"visit_date": p.now().date().isoformat(), "readmit": False})
        elif "follow_up_visit" in ready:
            p.complete("follow_up_visit", {"response": "CR", "alive": True})
        elif "registry_report" in ready:
            p.complete("registry_report", {"registry": "DESCAR-T", "submitted_at": iso(),
                                           "timepoint": REPORTS[reports]})
            reports += 1
        elif p.pathway.status == "active":
            yield datetime.fromisoformat(p.pathway.next_due()) + timedelta(hours=1)
    assert p.pathway.outcome == "follow_up_handover", p.pathway.outcome


def run_round(app: CartPath, first: int, pathways: int, stats: Stats, *, hold_at_day: int | None = None,
              spread: bool = False, stagger: timedelta = timedelta(hours=1)) -> int:
    """Drive ``pathways`` happy paths interleaved in simulated time; returns the timer firings.
    With ``spread``, pathway n first receives n % 50 status messages (one event each), so
    its snapshots (every 50 events) fall on other days than its neighbours'."""
    queue: list[tuple[datetime, int, Iterator[datetime]]] = []
    base = app.clock.now()
    for i in range(pathways):
        heapq.heappush(queue, (base + i * stagger, first + i, iter(())))  # a start, below
    fired = 0
    started: set[int] = set()
    while queue:
        at, n, journey = heapq.heappop(queue)
        if at > app.clock.now():
            fired += app.fire_due_timers(at)
        if n not in started:
            started.add(n)
            journey = happy_path(Patient(app, n, stats, n % 50 if spread else 0), hold_at_day)
        try:
            heapq.heappush(queue, (next(journey), n, journey))
        except StopIteration:
            pass
    stats.commands += fired
    return fired


def bench_throughput(directory: str, pathways: int, rounds: int) -> None:
    app = new_store(directory, pathways * rounds)
    stats = Stats()
    rates = []
    for r in range(rounds):
        before = stats.commands
        start = time.perf_counter()
        fired = run_round(app, r * pathways, pathways, stats)
        elapsed = time.perf_counter() - start
        commands = stats.commands - before
        rates.append(pathways / elapsed)
        print(f"round {r + 1}: {pathways} pathways ({commands} commands incl. {fired} timer firings) in {elapsed:.2f}s "
              f"= {pathways / elapsed:.2f} pathways/s, {commands / elapsed:,.0f} commands/s")
    print(f"median over {rounds} rounds: {statistics.median(rates):.2f} pathways/s "
          f"({stats.commands / rounds / pathways:.0f} commands per pathway)")


def report_ageing(label: str, samples: dict[int, list[float]]) -> float:
    medians = {day: statistics.median(s) * 1000 for day, s in sorted(samples.items())}
    print(f"{label}: daily_assessment median ms by day (n={len(samples[0])} per day):")
    print("  " + "  ".join(f"d{day}:{ms:.2f}" for day, ms in medians.items()))
    first, last = medians[min(medians)], medians[max(medians)]
    print(f"  last (day {max(medians)}) / first (day 0): {last:.2f} / {first:.2f} ms = {last / first:.2f}x "
          f"(target <= 1.5x; day 14 also ends monitoring and opens discharge)")
    if DAYS - 2 in medians:
        print(f"  day {DAYS - 2} / day 0 (the same engine steps): {medians[DAYS - 2] / first:.2f}x")
    return last / first


def bench_cold(directory: str, pathways: int) -> float:
    """The first and the last assessment, each timed in a fresh application (no live engine,
    empty caches but the parsed model): the pathway is loaded from its snapshot and inputs.
    One group of pathways waits at day 0, another at day 14; they are timed in turn."""
    app = new_store(directory, 2 * pathways)
    groups: dict[int, list] = {}
    for group, day in enumerate((0, DAYS - 1)):
        first = 100_000 * (group + 1)
        run_round(app, first, pathways, Stats(), hold_at_day=day, spread=True)
        groups[day] = [pid for pid in app.pathway_ids() if app.get_pathway(pid).patient_ref >= f"B-{first:06d}"]
    samples: dict[int, list[float]] = {day: [] for day in groups}
    for turn in range(pathways):
        for day, ids in groups.items():
            cold = open_store(directory)
            cold.model("cart_pathway", 1)  # parsing is a per-process cost, not a per-command one
            pathway = cold.get_pathway(ids[turn])
            [task] = [t for t, r in pathway.ready.items() if r["name"] == "daily_assessment"]
            start = time.perf_counter()
            cold.complete_task(pathway.id, task, CALM)
            samples[day].append(time.perf_counter() - start)
            after = {r["name"] for r in cold.get_pathway(pathway.id).ready.values()}
            assert ("discharge" in after) == (day == DAYS - 1), (day, after)
    return report_ageing(f"cold load ({pathways} pathways per day)", samples)


def bench_ageing(directory: str, pathways: int) -> float:
    app = new_store(directory, pathways)
    stats = Stats()
    # starts 8 hours apart: while one pathway is at day 14 another is at day 0, so both are
    # timed under the same background load of this shared machine
    run_round(app, 0, pathways, stats, spread=True, stagger=timedelta(hours=8))
    return report_ageing(f"live engine ({pathways} pathways)", stats.assessment_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pathways", type=int, default=50, help="pathways per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ageing", type=int, default=100, help="pathways timed day by day (live engine)")
    parser.add_argument("--cold", type=int, default=20, help="pathways timed at day 0 and at day 14 (cold)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh stores for each ageing measurement")
    args = parser.parse_args()
    if args.rounds:
        with tempfile.TemporaryDirectory() as directory:
            bench_throughput(directory, args.pathways, args.rounds)
    for label, size, measure in (("live engine", args.ageing, bench_ageing), ("cold load", args.cold, bench_cold)):
        if not size:
            continue
        ratios = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as directory:
                ratios.append(measure(directory, size))
        print(f"{label}: last/first daily assessment over {args.repeats} runs: "
              f"{', '.join(f'{r:.2f}x' for r in ratios)}; median {statistics.median(ratios):.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
