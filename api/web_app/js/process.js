// Process owners: deployed versions; the diagram with, per node, pathways there now (badge) and how long
// the node holds them (heatmap on the median, p90 in the badge's title and the table), by centre and
// period; deploying new files, with lint problems drawn on the refused diagram at their elements.
import { api, Problem, readYourWrites } from './api.js';
import { announce, h, problemBox, table } from './dom.js';
import { badge, drawDiagram, findElements, focusOn, zoomControls } from './diagram.js';
import { t, taskTitle } from './i18n.js';
import { go } from './main.js';

const state = { key: null, version: null, center: '', from: '', to: '' };
const HEAT = ['heat-0', 'heat-1', 'heat-2', 'heat-3', 'heat-4'];

function days(value) { return value === null || value === undefined ? '—' : Number(value).toFixed(1); }

export async function renderProcess(view) {
  const { body: defs } = await api('GET', '/process-definitions');
  const items = defs.items || [];
  view.append(h('h1', {}, t('process_title')));
  if (!items.length) { view.append(h('p', {}, '—')); view.append(deployForm()); return; }
  if (!state.key) { // the CAR-T pathway's latest version when deployed, else the last one listed
    const pathway = items.filter((d) => d.key === 'cart_pathway');
    const last = pathway.length ? pathway[pathway.length - 1] : items[items.length - 1];
    state.key = last.key; state.version = last.version;
  }
  view.append(h('h2', {}, t('versions')), table([t('col_key'), t('col_version'), 'sha256', t('col_files')],
    items.map((d) => [d.key, h('button', { type: 'button', class: 'secondary', 'aria-pressed': String(d.key === state.key && d.version === state.version),
      onclick: () => { state.key = d.key; state.version = d.version; go('#/process'); } }, `v${d.version}`),
    (d.sha256 || '').slice(0, 12), (d.files || []).map((f) => (typeof f === 'string' ? f : f.name)).join(', ')]), t('versions')));
  const field = (id, label, type, key) => h('div', {}, h('label', { for: id }, label),
    h('input', { id, type, value: state[key], onchange: (e) => { state[key] = e.target.value; } }));
  view.append(h('h2', {}, `${t('heat_title')} · ${state.key} v${state.version}`),
    h('form', { class: 'filters', id: 'heat-filters', onsubmit: (e) => { e.preventDefault(); go('#/process'); } },
      field('heat-center', t('filter_center'), 'text', 'center'), field('heat-from', t('period_from'), 'date', 'from'),
      field('heat-to', t('period_to'), 'date', 'to'), h('button', { type: 'submit' }, t('apply'))),
    h('p', { class: 'muted' }, t('heat_note')));
  const [{ body: stats }, xml] = await Promise.all([
    api('GET', '/reports/process-nodes', { query: { key: state.key, version: state.version, center: state.center,
      from: state.from, to: state.to, min_position: readYourWrites() } }),
    api('GET', `/process-definitions/${state.key}/versions/${state.version}/bpmn`, { raw: true }).then((r) => r.text)]);
  const diagram = h('div', { class: 'diagram', id: 'process-diagram', role: 'img', 'aria-label': `${state.key} v${state.version}` });
  view.append(h('div', { class: 'legend' }, HEAT.map((c, i) => h('span', { class: `l-${c}` }, ['0', '↑', '↑↑', '↑↑↑', '↑↑↑↑'][i]))), diagram);
  view.append(table([t('col_task'), t('now_here'), t('median'), 'p90', t('done_count')],
    stats.nodes.map((n) => [taskTitle(n.node, n.node), n.now, days(n.held.median), days(n.held.p90), n.held.count]), t('heat_title')));
  view.append(deployForm());
  requestAnimationFrame(() => drawHeat(diagram, xml, stats));
}

async function drawHeat(container, xml, stats) {
  const viewer = await drawDiagram(container, xml);
  const medians = stats.nodes.map((n) => n.held.median).filter((m) => m !== null && m !== undefined);
  const top = Math.max(...medians, 0);
  for (const n of stats.nodes) {
    for (const el of findElements(viewer, n.node)) {
      const m = n.held.median;
      const level = m === null || m === undefined || top === 0 ? 0 : Math.min(4, 1 + Math.floor((m / top) * 3.999));
      viewer.get('canvas').addMarker(el.id, HEAT[level]);
      badge(viewer, el.id, String(n.now), { title: `${n.node}: ${n.now} · ${t('median')} ${days(m)} · p90 ${days(n.held.p90)} (${n.held.count})` });
    }
  }
  const busiest = [...stats.nodes].sort((a, b) => b.now - a.now).filter((n) => n.now > 0)
    .flatMap((n) => findElements(viewer, n.node).map((el) => el.id));
  focusOn(viewer, busiest);
  container.append(zoomControls(viewer, { in: t('zoom_in'), out: t('zoom_out'), fit: t('zoom_fit') }));
  container.setAttribute('data-drawn', 'true');
}

// The element a lint problem's line falls in: the id of the tag that opens at (or spans) that line.
function elementAtLine(text, line) {
  const lines = text.split('\n');
  for (let i = line - 1; i < Math.min(lines.length, line + 5); i++) {
    const m = lines[i] && lines[i].match(/\sid="([^"]+)"/);
    if (m) return m[1];
    if (lines[i] && lines[i].includes('>')) break;
  }
  return null;
}

function deployForm() {
  const input = h('input', { id: 'deploy-files', type: 'file', multiple: true, accept: '.bpmn,.dmn' });
  const result = h('div', { id: 'deploy-result' });
  const form = h('form', { id: 'deploy-form', class: 'panel', novalidate: true },
    h('h2', {}, t('deploy')), h('label', { for: 'deploy-files' }, t('deploy_files')), input, ' ',
    h('button', { type: 'submit', id: 'deploy-do' }, t('deploy_do')), result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const files = [...input.files];
    if (!files.length) return;
    const body = new FormData();
    for (const f of files) body.append('files', f, f.name);
    try {
      const { body: answer } = await api('POST', '/process-definitions', { body });
      const first = (answer.items || [answer])[0] || {};
      state.key = first.key || state.key; state.version = first.version || state.version;
      announce(t('deployed_ok', { key: first.key, version: first.version }));
      go('#/process');
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      await showLintProblems(result, error, files);
    }
  });
  return form;
}

async function showLintProblems(box, error, files) {
  const problems = error.body.problems || Object.entries(error.body.errors || {}).flatMap(([where, messages]) => {
    const [file, line] = where.split(':');
    return messages.map((message) => ({ file, line: line ? Number(line) : null, message }));
  });
  box.replaceChildren(problemBox(error, t('lint_problems')));
  const bpmn = files.find((f) => f.name.endsWith('.bpmn'));
  if (!bpmn || !problems.length) return;
  const text = await bpmn.text();
  const container = h('div', { class: 'diagram', id: 'lint-diagram', role: 'img', 'aria-label': `${t('lint_problems')} ${bpmn.name}` });
  box.append(container);
  let viewer;
  try { viewer = await drawDiagram(container, text); } catch (drawError) { container.replaceChildren(h('p', { class: 'error' }, String(drawError.message || drawError))); return; }
  const byElement = new Map();
  for (const p of problems.filter((x) => x.file === bpmn.name && x.line)) {
    const id = elementAtLine(text, p.line);
    if (id && viewer.get('elementRegistry').get(id)) byElement.set(id, [...(byElement.get(id) || []), p.message]);
  }
  for (const [id, messages] of byElement) {
    viewer.get('canvas').addMarker(id, 'cp-problem');
    badge(viewer, id, '!', { title: messages.join(' · '), cls: 'problem' });
  }
  focusOn(viewer, [...byElement.keys()]);
  container.append(zoomControls(viewer, { in: t('zoom_in'), out: t('zoom_out'), fit: t('zoom_fit') }));
  container.setAttribute('data-drawn', 'true');
}
