"""Incidents through the engine on a real store (SQLite, or PostgreSQL with CARTPATH_TEST_STORE=postgres):
one failing pathway among many, the incident surviving a restart and snapshots, retries replayed by verify."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from tests.support.store import FIXTURES, T0, ready_named

INCIDENT = read_paths([FIXTURES / "incident_pathway.bpmn"])


def dosed(app: CartPath, patient_ref: str, divisor: int):
    p = app.start_pathway(patient_ref, "FR-01", "DLBCL", "axi-cel", process_key="incident_pathway").pathway
    return app.complete_task(p.id, ready_named(p, "dose"), {"divisor": divisor})


def test_one_failing_pathway_among_many_stops_alone_and_survives_a_restart(env):
    app = CartPath(env=env)
    app.deploy(INCIDENT)
    pathways = [dosed(app, f"PSN-{i:03d}", 0 if i == 3 else i + 1) for i in range(8)]
    done = app.fire_round(T0 + timedelta(hours=2))
    assert done.fired == 8 and done.failed == []
    assert [i["pathway_id"] for i in done.incidents] == [str(pathways[3].id)]
    for i, p in enumerate(pathways):
        shown = app.get_pathway(p.id)
        assert (shown.incident is not None) == (i == 3)
        assert [r["name"] for r in shown.ready.values()] == ([] if i == 3 else ["review"])

    restarted = CartPath(env=env)  # another process: the incident is in the store, not in memory
    failing = restarted.get_pathway(pathways[3].id)
    assert failing.incident["node"] == "compute" and failing.incident["error_class"] == "ScriptFailed"
    assert restarted.fire_round(T0 + timedelta(days=1)).fired == 0
    # retries that fail again, enough of them to cross the snapshot thresholds
    incident_id = failing.incident["incident_id"]
    for _ in range(10):
        incident_id = restarted.retry_incident(failing.id, incident_id).incident["incident_id"]
    again = CartPath(env=env)
    fixed = again.retry_incident(failing.id, incident_id, {"dose": {"divisor": 2}})
    assert fixed.incident is None and [r["name"] for r in fixed.ready.values()] == ["review"]
    assert len(fixed.closed_incidents) == 11  # the first and the ten raised again
    for p in pathways:
        assert again.verify(p.id)["ok"] is True


def test_verify_notices_a_recorded_incident_the_definition_does_not_raise(env):
    """An incident is an outcome like any other: replay must raise the same one, at the same node."""
    app = CartPath(env=env)
    app.deploy(INCIDENT)
    p = dosed(app, "PSN-900", 0)
    app.fire_round(T0 + timedelta(hours=2))
    events = list(app.events.get(p.id))
    raised = next(e for e in events if type(e).__name__ == "IncidentRaised")
    assert app.verify(p.id)["ok"] is True
    from cartpath.engine.verification import verify_pathway
    model = app.model("incident_pathway", 1)
    tampered = [e for e in events if e is not raised]
    result = verify_pathway(p.id, tampered, model)
    assert result["ok"] is False and result["re_executed"]["type"] == "IncidentRaised"


SCRIPT = b'<bpmn:scriptTask id="compute" name="Compute"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>ratio = 100 // dose["divisor"]</bpmn:script></bpmn:scriptTask>'  # noqa: E501
VARIANTS = {
    # a script reading a key the data lacks (the name is the model's own, so the message may say it)
    "missing key": (SCRIPT.replace(b'100 // dose["divisor"]', b'dose["weight_kg"] if dose["divisor"] == 0 else 1'),
                    "ScriptFailed", "weight_kg"),
    # a condition that cannot be evaluated
    "condition": (b'<bpmn:exclusiveGateway id="compute" name="Compute"><bpmn:incoming>f3</bpmn:incoming>'
                  b'<bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>', None, "ZeroDivisionError"),
    # a timer whose duration is computed from data, and fails when it is armed
    "timer expression": (b'<bpmn:intermediateCatchEvent id="compute" name="Compute"><bpmn:incoming>f3</bpmn:incoming>'
                         b'<bpmn:outgoing>f4</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>'
                         b'"PT" + str(100 // dose["divisor"]) + "M"</bpmn:timeDuration></bpmn:timerEventDefinition>'
                         b'</bpmn:intermediateCatchEvent>', None, "ZeroDivisionError"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_class_of_failing_step_is_an_incident_that_a_corrected_retry_resolves(env, variant):
    element, error_class, needle = VARIANTS[variant]
    content = INCIDENT["incident_pathway.bpmn"]
    assert SCRIPT in content
    content = content.replace(SCRIPT, element)
    if variant == "condition":
        content = content.replace(b'<bpmn:sequenceFlow id="f4" sourceRef="compute" targetRef="review">',
                                  b'<bpmn:sequenceFlow id="f4" sourceRef="compute" targetRef="review">'
                                  b'<bpmn:conditionExpression>100 // dose["divisor"] &gt; 0</bpmn:conditionExpression>')
    app = CartPath(env=env)
    app.deploy({"incident_pathway.bpmn": content})
    bad, good = dosed(app, "PSN-BAD-7", 0), dosed(app, "PSN-GOOD-8", 5)
    done = app.fire_round(T0 + timedelta(hours=2))
    [incident] = done.incidents
    assert incident["pathway_id"] == str(bad.id) and incident["node"] == "compute"
    assert error_class in (None, incident["error_class"]) and needle in incident["message"], incident
    assert "PSN-BAD-7" not in str(incident)
    app.fire_round(T0 + timedelta(hours=6))  # the good one's computed timer (if any) is due by now
    assert [r["name"] for r in app.get_pathway(good.id).ready.values()] == ["review"]
    fixed = app.retry_incident(bad.id, incident["incident_id"], {"dose": {"divisor": 50}})
    assert fixed.incident is None
    app.fire_round(T0 + timedelta(hours=9))
    assert [r["name"] for r in app.get_pathway(bad.id).ready.values()] == ["review"]
    for p in (bad, good):
        assert CartPath(env=env).verify(p.id)["ok"] is True
