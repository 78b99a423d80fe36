// A pathway: its diagram with completed, active and waiting elements; timeline; custody with the chain of
// identity checks; data; history with the actor of each event; verify; cancel with a reason.
import { api, getSession, Problem, readYourWrites } from './api.js';
import { announce, h, problemBox, table } from './dom.js';
import { badge, drawDiagram, focusOn, mark, zoomControls } from './diagram.js';
import { formatTime, laneTitle, t, taskTitle } from './i18n.js';
import { go } from './main.js';

const REASONS = ['death', 'progression', 'patient_decision', 'physician_decision', 'other', 'lost_to_follow_up', 'transferred'];
// steps that are BPMN elements (a start names the process; a cancel, correction or deviation no element)
const DRAWN_KINDS = ['task', 'timer', 'wait', 'decision', 'message_in', 'message_out'];
const DEATH_CAUSES = ['progression', 'crs', 'icans', 'infection', 'hlh', 'secondary_malignancy', 'other'];

export async function renderPathways(view) {
  const { body } = await api('GET', '/pathways', { query: { limit: 200 } });
  view.append(h('h1', {}, t('pathways_title')), table(
    [t('col_patient'), t('col_center'), t('product'), t('col_status'), t('col_started')],
    body.items.map((p) => [h('a', { href: `#/pathway/${p.id}` }, p.patient_ref), p.center, p.product,
      p.outcome ? `${p.status} (${p.outcome})` : p.status, formatTime(p.started_at)]), t('pathways_title')));
}

async function optional(promise) {
  try { return (await promise).body; } catch (error) { return { error }; }
}

export async function renderPathway(view, id) {
  const { body: p } = await api('GET', `/pathways/${id}`);
  const [history, timeline, custody, xml] = await Promise.all([
    optional(api('GET', `/pathways/${id}/history`)),
    optional(api('GET', `/pathways/${id}/timeline`, { query: { min_position: readYourWrites() } })),
    optional(api('GET', `/pathways/${id}/custody`, { query: { min_position: readYourWrites() } })),
    api('GET', `/process-definitions/${p.definition.key}/versions/${p.definition.version}/bpmn`, { raw: true }).then((r) => r.text),
  ]);
  const diagram = h('div', { class: 'diagram', id: 'diagram', role: 'img',
    'aria-label': `${t('diagram')}: ${p.definition.key} v${p.definition.version}` });
  view.append(
    h('h1', {}, t('pathway_title', { ref: p.patient_ref })),
    h('p', {}, `${t('status')}: `, h('strong', { id: 'pathway-status' }, p.status), p.outcome ? ` · ${t('outcome')}: ${p.outcome}` : '',
      ` · ${p.center} · ${t('product')}: ${p.product} · ${t('indication')}: ${p.indication} · ${p.definition.key} v${p.definition.version}`),
    h('div', { class: 'panel' },
      h('strong', {}, `${t('ready_tasks')}: `), p.tasks.length ? p.tasks.map((task, i) => [i ? ', ' : '',
        h('a', { href: `#/task/${encodeURIComponent(task.id)}` }, taskTitle(task.name, task.title))]) : '—',
      h('br'), h('strong', {}, `${t('waiting_for')}: `),
      p.waiting.length ? p.waiting.map((w) => `${w.title || w.name}${w.due_at ? ` (${formatTime(w.due_at)})` : ''}`).join(', ') : '—'),
    h('h2', {}, t('diagram')),
    h('div', { class: 'legend' }, h('span', { class: 'l-done' }, t('legend_done')), h('span', { class: 'l-active' }, t('legend_active')),
      h('span', { class: 'l-waiting' }, t('legend_waiting'))),
    diagram);
  const actions = h('div', { class: 'panel', id: 'actions' });
  view.append(h('h2', {}, t('verify')), actions);
  renderActions(actions, p);
  view.append(h('div', { class: 'grid2' },
    h('section', {}, h('h2', {}, t('timeline')), timelineTable(timeline)),
    h('section', {}, h('h2', {}, t('custody')), custodyTable(custody))));
  view.append(h('h2', {}, t('data')), h('pre', { id: 'pathway-data', tabindex: '0' }, JSON.stringify(p.data, null, 2)));
  view.append(h('h2', {}, t('history')), historyTable(history));
  // drawn once the view is in the document (bpmn-js measures its container)
  requestAnimationFrame(() => draw(diagram, xml, p, timeline));
}

async function draw(container, xml, p, timeline) {
  const viewer = await drawDiagram(container, xml);
  const done = new Map();
  for (const step of (timeline && timeline.steps) || []) {
    if (step.name && step.done_at && DRAWN_KINDS.includes(step.kind)) done.set(step.name, (done.get(step.name) || 0) + 1);
  }
  for (const [name, count] of done) {
    for (const el of mark(viewer, name, 'cp-done')) badge(viewer, el.id, `✓${count > 1 ? count : ''}`, { title: `${name}: ${count}` });
  }
  for (const task of p.tasks) {
    for (const el of mark(viewer, task.name, 'cp-active')) badge(viewer, el.id, '▶', { title: `${task.name}: ready`, cls: 'active' });
  }
  const focus = [];
  for (const task of p.tasks) focus.push(task.name);
  for (const w of p.waiting) {
    for (const el of mark(viewer, w.name, 'cp-waiting')) {
      badge(viewer, el.id, '⏳', { title: `${w.name}: waiting` });
      focus.push(el.id);
    }
  }
  focusOn(viewer, focus);
  container.append(zoomControls(viewer, { in: t('zoom_in'), out: t('zoom_out'), fit: t('zoom_fit') }));
  container.setAttribute('data-drawn', 'true');
}

function timelineTable(timeline) {
  if (!timeline || timeline.error) return problemBox(timeline && timeline.error);
  return table([t('col_step'), t('col_lane'), t('col_actor'), t('col_ready'), t('col_done')],
    timeline.steps.map((s) => [s.name ? taskTitle(s.name, s.title) : (s.title || s.kind), laneTitle(s.lane), s.actor || '—',
      formatTime(s.ready_at), s.open ? '…' : formatTime(s.done_at)]), t('timeline'));
}

function custodyTable(custody) {
  if (!custody || custody.error) return problemBox(custody && custody.error);
  return h('div', { id: 'custody' },
    h('p', {}, custody.chain_intact ? h('span', { class: 'tag ok' }, t('chain_intact'))
      : h('span', { class: 'tag bad' }, `${t('chain_broken')}: ${(custody.chain_issues || []).join('; ')}`),
    ` COI ${custody.coi || '—'} · ${custody.order_id || '—'} · ${custody.manufacturer || '—'}`),
    table([t('col_step'), t('col_at'), t('col_place'), t('col_actor'), t('col_coi'), t('col_order')],
      custody.handoffs.map((x) => [x.step, formatTime(x.at), x.place || '—', x.actor || '—',
        x.coi_check ? h('span', { class: `tag ${x.coi_check.result === 'match' || x.coi_check.result === 'ok' ? 'ok' : (x.coi_check.result === 'mismatch' ? 'bad' : '')}` }, x.coi_check.result) : '—',
        x.order_check || '—']), t('custody')));
}

function historyTable(history) {
  if (!history || history.error) return problemBox(history && history.error);
  return table(['#', t('col_type'), t('col_kind'), t('col_at'), t('col_actor')],
    history.items.map((e) => [e.position, e.type, e.kind, formatTime(e.at || e.recorded_at),
      e.actor ? [e.actor.sub, e.actor.org ? ` (${e.actor.org})` : '', e.actor.roles ? ` · ${e.actor.roles.join(', ')}` : ''].join('') : '—']),
    t('history'));
}

function renderActions(box, p) {
  const result = h('div', { id: 'verify-result', role: 'status' });
  box.append(h('button', { type: 'button', id: 'verify', onclick: async () => {
    try {
      const { body } = await api('POST', `/pathways/${p.id}/verify`);
      result.replaceChildren(body.ok ? h('p', { class: 'notice' }, t('verify_ok', { n: body.events }))
        : h('p', { class: 'alert' }, t('verify_bad', { detail: JSON.stringify(body.first_divergence || body) })));
    } catch (error) { result.replaceChildren(problemBox(error)); }
  } }, t('verify')), result);
  const roles = getSession().user.roles;
  if (p.status === 'ended' || !roles.some((r) => ['coordination', 'hematology', 'admin'].includes(r))) return;
  const reason = h('select', { id: 'cancel-reason', name: 'reason' }, REASONS.map((r) => h('option', { value: r }, r)));
  const form = h('form', { id: 'cancel-form', novalidate: true },
    h('h2', {}, t('cancel')), h('div', { id: 'cancel-problem' }),
    h('div', { class: 'field' }, h('label', { for: 'cancel-reason' }, t('reason')), reason),
    h('div', { class: 'field' }, h('label', { for: 'cancel-comment' }, t('comment')), h('input', { id: 'cancel-comment', type: 'text' })),
    h('div', { class: 'field' }, h('label', { for: 'cancel-death-date' }, t('death_date')), h('input', { id: 'cancel-death-date', type: 'date' })),
    h('div', { class: 'field' }, h('label', { for: 'cancel-death-cause' }, t('death_cause')),
      h('select', { id: 'cancel-death-cause' }, h('option', { value: '' }, t('choose')), DEATH_CAUSES.map((c) => h('option', { value: c }, c)))),
    h('button', { type: 'submit', class: 'danger', id: 'cancel-do' }, t('cancel_do')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { reason: reason.value };
    const comment = form.querySelector('#cancel-comment').value.trim();
    const deathDate = form.querySelector('#cancel-death-date').value;
    const deathCause = form.querySelector('#cancel-death-cause').value;
    if (comment) body.comment = comment;
    if (deathDate) body.death_date = deathDate;
    if (deathCause) body.death_cause = deathCause;
    try {
      await api('POST', `/pathways/${p.id}/cancel`, { body, ifMatch: p.version });
      announce(t('cancelled_ok'));
      go(`#/pathway/${p.id}`);
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      form.querySelector('#cancel-problem').replaceChildren(problemBox(error));
    }
  });
  box.append(form);
}
