"""A linear process of N user tasks (start -> task_1 -> ... -> task_N -> end), generated: the
shape the storage and throughput figures are quoted on ("a finished 30-task instance").

    from linear_process import linear_bpmn, LINEAR_KEY
    app.deploy({"linear_pathway.bpmn": linear_bpmn(30)})
"""
from __future__ import annotations

LINEAR_KEY = "linear_pathway"
_NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
       'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
       'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
       'xmlns:cartpath="urn:cartpath:bpmn:1.0"')


def linear_bpmn(tasks: int = 30, key: str = LINEAR_KEY) -> bytes:
    """BPMN (with its diagram, as lint wants) of ``tasks`` user tasks in a row, in the ward lane,
    each with a form of one required int ``value`` and an optional ``note``."""
    ids = [f"task_{i}" for i in range(1, tasks + 1)]
    nodes = ["start", *ids, "end_done"]
    flows = [(f"f{i}", a, b) for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False), start=1)]
    incoming = {b: f for f, _, b in flows}
    outgoing = {a: f for f, a, _ in flows}
    form = ('<bpmn:extensionElements><cartpath:form><cartpath:field name="value" type="int" required="true" '
            'label="Value"/><cartpath:field name="note" type="string" required="false" label="Note"/>'
            '</cartpath:form></bpmn:extensionElements>')
    body = [f'<bpmn:startEvent id="start" name="Start"><bpmn:outgoing>{outgoing["start"]}</bpmn:outgoing>'
            '</bpmn:startEvent>']
    for i, node in enumerate(ids, start=1):
        body.append(f'<bpmn:userTask id="{node}" name="Task {i}">{form}<bpmn:incoming>{incoming[node]}'
                    f'</bpmn:incoming><bpmn:outgoing>{outgoing[node]}</bpmn:outgoing></bpmn:userTask>')
    body.append('<bpmn:endEvent id="end_done" name="End Done"><bpmn:extensionElements><cartpath:outcome '
                f'value="follow_up_handover"/></bpmn:extensionElements><bpmn:incoming>{incoming["end_done"]}'
                '</bpmn:incoming></bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}"></bpmn:sequenceFlow>' for f, a, b in flows]
    lane = "".join(f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in ids)
    shapes = [f'<bpmndi:BPMNShape id="{key}_di" bpmnElement="hospital" isHorizontal="true">'
              f'<dc:Bounds x="0" y="0" width="{130 * len(nodes) + 100}" height="300"/></bpmndi:BPMNShape>']
    shapes += [f'<bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{60 + 130 * i}" y="120" '
               'width="80" height="60"/></bpmndi:BPMNShape>' for i, n in enumerate(nodes)]
    shapes += [f'<bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="{140 + 130 * i}" y="150"/>'
               f'<di:waypoint x="{190 + 130 * i}" y="150"/></bpmndi:BPMNEdge>' for i, (f, _, _) in enumerate(flows)]
    return "\n".join([
        f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {_NS} id="defs_{key}" '
        'targetNamespace="urn:cartpath:bench">',
        f'<bpmn:collaboration id="collab"><bpmn:participant id="hospital" name="Hospital" processRef="{key}"/>'
        '</bpmn:collaboration>',
        f'<bpmn:process id="{key}" isExecutable="true">',
        f'<bpmn:laneSet id="lanes"><bpmn:lane id="ward" name="ward">{lane}</bpmn:lane></bpmn:laneSet>',
        *body,
        '</bpmn:process><bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="collab">',
        *shapes,
        "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>",
    ]).encode("utf-8")
