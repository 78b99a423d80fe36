"""The audit report as a PDF: the human-readable copy of a pathway's records (21 CFR 11.10(b)).

It prints what ``audit_report.build`` gathered, in the order an inspector reads it: who the
pathway is (pseudonymous patient_ref, centre, product, definition versions), whether its
record holds (the integrity checks run at the time of printing, failures in red), then the
signatures with their manifestation, corrections (original and new value), deviations,
incidents, and every event with when, who and why. Printed with fpdf2's core fonts, which
encode Latin-1: any other character is written as its Python escape (``\\u2265``) rather
than dropped, so the copy stays exact.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from fpdf import FPDF, FontFace

# A row must fit on one page: an event's details beyond this are cut, saying how much (the JSON
# report, and the history, carry them whole).
MAX_DETAILS = 2500
RED, GREEN, GREY = (170, 20, 20), (20, 110, 40), (235, 235, 235)


def text(value: Any) -> str:
    """Latin-1 text for the core fonts; other characters as escapes, never dropped."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(", ", ": ")) if isinstance(value, (dict, list)) \
            else str(value)
    return value.encode("latin-1", "backslashreplace").decode("latin-1")


def who(actor: dict[str, Any] | None, kind: str = "") -> str:
    """The actor as recorded; events without one are the clock's (timers fired) or the engine's (outcomes)."""
    if not actor:
        return "clock (timers due)" if kind == "TimersFired" else "engine"
    roles = ", ".join(actor.get("roles") or [])
    org = f"@{actor['org']}" if actor.get("org") else ""
    return f"{actor.get('sub')}{org}" + (f" ({roles})" if roles else "")


class ReportPdf(FPDF):
    def __init__(self, report: dict[str, Any]):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.report = report
        self.set_auto_page_break(auto=True, margin=14)
        self.set_margins(10, 10, 10)
        self.set_title(text(f"Audit report, pathway {report['pathway_id']}"))
        self.set_author("cartpath")
        self.set_subject(text(f"patient_ref {report['patient_ref']}, centre {report['center']}"))

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", size=7)
        self.set_text_color(90, 90, 90)
        printed = self.report["printed"]
        self.cell(0, 5, text(f"cartpath audit report - pathway {self.report['pathway_id']} - patient_ref "
                             f"{self.report['patient_ref']} - printed {printed['at']} ({printed['clock']} clock) by "
                             f"{printed['by'] or 'cli'} - page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0, 0, 0)

    # -- building blocks --------------------------------------------------------------------
    def heading(self, title: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 12)
        self.cell(0, 7, text(title), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=8)

    def note(self, line: str) -> None:
        self.set_font("Helvetica", "I", 8)
        self.multi_cell(0, 4, text(line), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=8)

    def grid(self, headings: Sequence[str] | None, rows: Iterable[Sequence[Any]], widths: Sequence[float],
             size: float = 7.5) -> None:
        """A table (headings repeated on each page it spans); long words and hashes wrap anywhere."""
        self.set_font("Helvetica", size=size)
        with self.table(col_widths=tuple(widths), text_align="LEFT", wrapmode="CHAR", line_height=size * 0.5,
                        headings_style=FontFace(emphasis="BOLD", fill_color=GREY), padding=0.8,
                        first_row_as_headings=headings is not None, repeat_headings=1) as table:
            if headings is not None:
                table.row([text(h) for h in headings])
            for cells in rows:
                table.row([text(c) for c in cells])
        self.set_font("Helvetica", size=8)


# What a check's result shows in print: its verdict's reasons first, then what it covered.
_CHECK_DETAILS = ("reason", "first_failure", "first_divergent_event", "recorded", "re_executed", "events", "checked",
                  "checkpoints", "unchained", "head")


def _checks(pdf: ReportPdf, integrity: dict[str, dict[str, Any]]) -> None:
    for name, result in integrity.items():
        ok = result.get("ok") is True
        pdf.set_font("Helvetica", "B", 10)
        pdf.set_text_color(*(GREEN if ok else RED))
        pdf.cell(45, 6, text(f"{name}: {'PASSED' if ok else 'FAILED'}"))
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", size=8)
        detail = "; ".join(f"{k}: {text(result[k])}" for k in _CHECK_DETAILS if result.get(k) not in (None, [], {}))
        pdf.multi_cell(0, 6 if len(detail) < 150 else 4, detail or "-", new_x="LMARGIN", new_y="NEXT")


def render(report: dict[str, Any]) -> bytes:
    """The report as PDF bytes."""
    pdf = ReportPdf(report)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, "Audit report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 5, text(f"Pathway {report['pathway_id']}"), new_x="LMARGIN", new_y="NEXT")
    definitions = "; ".join(f"{d['key']} version {d['version']} (sha256 {d['sha256']}, "
                            f"from event {d['since_position']})" for d in report["definitions"])
    pdf.ln(2)
    pdf.grid(None, [
        ("patient_ref", report["patient_ref"], "centre", report["center"]),
        ("indication", report["indication"], "product", report["product"]),
        ("status", report["status"], "outcome", report["outcome"] or "-"),
        ("started", report["started_at"], "ended", report["ended_at"] or "-"),
        ("business key", report["business_key"] or "-", "events", f"{len(report['events'])} (version "
                                                                   f"{report['printed']['version']})"),
    ], (35, 103, 35, 104), size=9)
    pdf.note(f"Definition version(s): {definitions or '-'}")

    pdf.heading("Integrity at the time of printing")
    _checks(pdf, report["integrity"])

    pdf.heading(f"Electronic signatures ({len(report['signatures'])})")
    if report["signatures"]:
        pdf.grid(("event", "task", "role", "signer", "printed name", "roles", "signed at", "meaning", "sha256 signed"),
                 [(s["position"], s["task"], s["role"], s["sub"], s["name"], ", ".join(s.get("roles") or []),
                   s["at"], s["meaning"], s["sha256"]) for s in report["signatures"]],
                 (12, 30, 20, 25, 38, 30, 38, 22, 62))
    else:
        pdf.note("No signature was recorded on this pathway.")

    pdf.heading(f"Corrections ({len(report['corrections'])})")
    if report["corrections"]:
        pdf.grid(("event", "task.field", "original value", "corrected value", "reason", "by", "at",
                  "decided on the original"),
                 [(c["position"], f"{c['task']}.{c['field']}", c["original"], c["value"], c["reason"], who(c["actor"]),
                   c["at"], "yes" if c.get("decided_on_corrected_data") else "no") for c in report["corrections"]],
                 (12, 35, 35, 35, 60, 35, 35, 30))
    else:
        pdf.note("No value was corrected on this pathway.")

    pdf.heading(f"Deviations ({len(report['deviations'])})")
    if report["deviations"]:
        pdf.grid(("event", "kind", "task", "reason", "limit", "actual", "at"),
                 [(d["position"], d.get("kind"), d.get("task"), d.get("reason"),
                   d.get("limit_minutes", d.get("limit_doses")), d.get("actual_minutes", d.get("actual_doses")),
                   d["at"]) for d in report["deviations"]],
                 (12, 40, 35, 100, 20, 20, 50))
    else:
        pdf.note("No deviation was recorded on this pathway.")

    pdf.heading(f"Incidents ({len(report['incidents'])})")
    if report["incidents"]:
        pdf.grid(("event", "type", "at", "by", "what"),
                 [(i["position"], i["type"], i["at"], who(i["actor"]), i["summary"]) for i in report["incidents"]],
                 (12, 40, 45, 45, 135))
    else:
        pdf.note("No incident was recorded on this pathway.")

    pdf.add_page()
    pdf.heading(f"Every event, oldest first ({len(report['events'])})")
    pdf.note("who: the subject and roles recorded (engine: an outcome of the input before it; clock: timers that "
             "fell due); "
             "why: the reason a person gave; what: a summary, then every recorded field.")
    pdf.grid(("#", "recorded at", "type", "who", "why", "what"),
             [(e["position"], e["at"], e["type"], who(e["actor"], e["type"]), e["why"] or "", _what(e))
              for e in report["events"]],
             (9, 37, 30, 40, 45, 116), size=7)
    return bytes(pdf.output())


def _what(event: dict[str, Any]) -> str:
    details = text(event["data"])
    if len(details) > MAX_DETAILS:
        details = details[:MAX_DETAILS] + f" ... ({len(details) - MAX_DETAILS} more characters in the JSON report)"
    return f"{event['summary']}\n{details}"
