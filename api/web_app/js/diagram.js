// bpmn-js's NavigatedViewer (from the npm package, served by cartpath): draws a version's BPMN, marks
// elements, adds badges. Elements are found by id, by name, or by the message a catch event waits for.
export async function drawDiagram(container, xml) {
  const viewer = new window.BpmnJS({ container });
  await viewer.importXML(xml);
  viewer.get('canvas').zoom('fit-viewport');
  return viewer;
}

// Readable scale around the elements that matter (the whole CAR-T model is tiny once fitted); the
// buttons do with a keyboard what the wheel and the drag do with a mouse.
export function focusOn(viewer, elementIds) {
  const canvas = viewer.get('canvas');
  const registry = viewer.get('elementRegistry');
  const found = elementIds.map((id) => registry.get(id)).filter(Boolean);
  if (!found.length) return;
  canvas.zoom(0.75);
  canvas.scrollToElement(found[0], { top: 120, left: 300, right: 300, bottom: 120 });
}

export function zoomControls(viewer, labels) {
  const canvas = viewer.get('canvas');
  const button = (text, label, action) => {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'secondary'; b.textContent = text; b.setAttribute('aria-label', label);
    b.addEventListener('click', action);
    return b;
  };
  const box = document.createElement('div');
  box.className = 'zoom';
  box.append(button('+', labels.in, () => canvas.zoom(canvas.zoom() * 1.25)),
    button('−', labels.out, () => canvas.zoom(canvas.zoom() / 1.25)),
    button('⤢', labels.fit, () => canvas.zoom('fit-viewport')));
  return box;
}

export function findElements(viewer, name) {
  const registry = viewer.get('elementRegistry');
  const direct = registry.get(name);
  if (direct) return [direct];
  return registry.filter((el) => {
    const bo = el.businessObject || {};
    if (el.type === 'label') return false;
    if (bo.name === name) return true;
    return (bo.eventDefinitions || []).some((d) => (d.messageRef && (d.messageRef.name === name || d.messageRef.id === name)));
  });
}

export function mark(viewer, name, marker) {
  const found = findElements(viewer, name);
  for (const el of found) viewer.get('canvas').addMarker(el.id, marker);
  return found;
}

export function badge(viewer, elementId, text, { title, cls } = {}) {
  const span = document.createElement('span');
  span.className = `badge${cls ? ` ${cls}` : ''}`;
  span.textContent = text;
  span.setAttribute('data-element', elementId);
  if (title) { span.title = title; span.setAttribute('aria-label', title); }
  viewer.get('overlays').add(elementId, { position: { top: -12, right: 12 }, html: span });
  return span;
}

export function flowNodes(viewer) {
  return viewer.get('elementRegistry').filter((el) => el.type !== 'label' && !el.waypoints
    && /Task$|Event$|Gateway$|SubProcess$|CallActivity$/.test(el.type) && el.type !== 'bpmn:Process');
}
