"""Deploying process definitions: versions, fingerprints, and refusals that name file and line."""
import pytest

from cartpath.engine import errors
from cartpath.engine.lint import lint_files
from tests.support.store import FIXTURES

MINI = (FIXTURES / "mini_pathway.bpmn").read_bytes()


def deploy_refused(app, files):
    before = app.definitions()
    with pytest.raises(errors.DefinitionRejected) as err:
        app.deploy(files)
    assert app.definitions() == before, "a refused deploy must deploy nothing"
    return err.value


def test_versions_are_immutable_and_redeploy_of_same_files_is_a_no_op(app):
    [again] = app.deploy({"mini_pathway.bpmn": MINI})
    assert (again["version"], again["created"]) == (1, False)
    changed = MINI.replace(b'name="Intake"', b'name="Intake of the patient"')
    [v2] = app.deploy({"mini_pathway.bpmn": changed})
    assert (v2["version"], v2["created"]) == (2, True) and v2["sha256"] != again["sha256"]
    versions = [(d["key"], d["version"]) for d in app.definitions()]
    assert versions == [("mini_pathway", 1), ("mini_pathway", 2)]
    assert app.model("mini_pathway", 1).files["mini_pathway.bpmn"] == MINI


def test_running_pathways_stay_on_their_version(app):
    p = app.start_pathway("P-1", "FR-01", "DLBCL", "axi-cel", process_key="mini_pathway").pathway
    app.deploy({"mini_pathway.bpmn": MINI.replace(b'name="Intake"', b'name="Intake v2"')})
    assert app.get_pathway(p.id).definition["version"] == 1
    new = app.start_pathway("P-2", "FR-01", "DLBCL", "axi-cel", process_key="mini_pathway").pathway
    assert new.definition["version"] == 2


def line_of(content: bytes, needle: bytes) -> int:
    return content[: content.index(needle)].count(b"\n") + 1


@pytest.mark.parametrize("mutate, message", [
    (lambda x: x.replace(b"</bpmn:process>", b"</bpmn:proces>"), "malformed XML"),
    (lambda x: x.replace(b'<bpmn:correlationPropertyRetrievalExpression messageRef="msg_slot">'
                         b'<bpmn:formalExpression>order_id</bpmn:formalExpression>'
                         b'</bpmn:correlationPropertyRetrievalExpression>', b""),
     "no correlation keys"),
    (lambda x: x.replace(b'"P1D"', b'"P1 day"'), "not an ISO 8601 duration"),
    (lambda x: x.replace(b'"P1D"', b'"P1D" +'), "does not parse"),
    (lambda x: x.replace(b"<bpmn:flowNodeRef>check</bpmn:flowNodeRef>", b""), "is in no lane"),
    (lambda x: x.replace(b'<bpmn:lane id="pharmacy" name="pharmacy">', b'<bpmn:lane id="pharmacy" name="neurology">'),
     "not configured"),
    (lambda x: x.replace(b"count = 1", b"import os"), "Import is not allowed"),
    (lambda x: x.replace(b"count = 1", b"count = open('/etc/passwd')"), "only these functions"),
])
def test_bad_definitions_are_refused_naming_file_and_line(app, mutate, message):
    err = deploy_refused(app, {"mini_pathway.bpmn": mutate(MINI)})
    assert any(message in p["message"] for p in err.problems), err.problems
    assert all(p["file"] == "mini_pathway.bpmn" and p["line"] for p in err.problems)


def test_script_refusal_points_at_the_script_line(app):
    bad = MINI.replace(b"count = 1", b"import os")
    err = deploy_refused(app, {"mini_pathway.bpmn": bad})
    assert err.problems[0]["line"] == line_of(bad, b"<bpmn:script>")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p">&xxe;</bpmn:process></bpmn:definitions>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p">&lol3;</bpmn:process></bpmn:definitions>"""


@pytest.mark.parametrize("content", [XXE, LAUGHS])
def test_entities_are_refused_outright(app, content):
    err = deploy_refused(app, {"evil.bpmn": content})
    assert "DOCTYPE" in err.problems[0]["message"]


def test_oversized_files_are_refused(app):
    err = deploy_refused(app, {"big.bpmn": b"<a>" + b" " * (3 * 1024 * 1024) + b"</a>"})
    assert "larger than" in err.problems[0]["message"]


def test_extra_lanes_come_from_configuration(env):
    from cartpath.engine.application import CartPath
    neuro = MINI.replace(b'<bpmn:lane id="pharmacy" name="pharmacy">', b'<bpmn:lane id="pharmacy" name="neurology">')
    assert any("not configured" in p.message for p in lint_files({"m.bpmn": neuro}))
    app = CartPath(env={**env, "CARTPATH_EXTRA_LANES": "neurology"})
    assert app.deploy({"m.bpmn": neuro})[0]["created"]


def test_unreachable_nodes_and_missing_di_are_reported():
    orphan = MINI.replace(b'<bpmn:sequenceFlow id="f8" sourceRef="wait_day" targetRef="check">',
                          b'<bpmn:sequenceFlow id="f8" sourceRef="check" targetRef="check">')
    assert any("cannot be reached" in p.message for p in lint_files({"m.bpmn": orphan}))
    no_di = MINI.replace(b'<bpmndi:BPMNShape id="check_di" bpmnElement="check">',
                         b'<bpmndi:BPMNShape id="check_di" bpmnElement="nothing">')
    assert any("no diagram shape" in p.message for p in lint_files({"m.bpmn": no_di}))
