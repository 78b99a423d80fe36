// Ready tasks of my lanes and centres, oldest first, overdue flagged; filter by lane and centre.
import { api, getSession, readYourWrites } from './api.js';
import { h } from './dom.js';
import { formatTime, laneTitle, t, taskTitle } from './i18n.js';
import { go } from './main.js';

const LANES = ['coordination', 'hematology', 'apheresis', 'pharmacy', 'cell_therapy_unit', 'ward', 'icu'];
export const worklistState = { lane: '', center: '' };

export async function renderWorklist(view) {
  const user = getSession().user;
  const admin = user.roles.includes('admin');
  const myLanes = admin ? LANES : user.roles.filter((r) => LANES.includes(r) || !['process_owner', 'auditor', 'manufacturer'].includes(r));
  const { body } = await api('GET', '/reports/worklists', { query: {
    lane: worklistState.lane, center: worklistState.center, limit: 10000, min_position: readYourWrites() } });
  const tasks = body.tasks.filter((task) => admin || myLanes.includes(task.lane));
  const choose = (id, label, options, value, key) => h('div', {},
    h('label', { for: id }, label),
    h('select', { id, onchange: (e) => { worklistState[key] = e.target.value; go('#/worklist'); } },
      h('option', { value: '' }, t('all')),
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
  view.append(
    h('h1', {}, t('worklist_title')),
    h('div', { class: 'filters' },
      choose('filter-lane', t('filter_lane'), myLanes.map((l) => [l, laneTitle(l)]), worklistState.lane, 'lane'),
      choose('filter-center', t('filter_center'), user.centers.map((c) => [c, c]), worklistState.center, 'center'),
      h('button', { type: 'button', id: 'refresh', class: 'secondary', onclick: () => go('#/worklist') }, t('refresh'))),
    h('p', { id: 'worklist-count' }, tasks.length ? t('tasks_count', { n: tasks.length }) : t('no_tasks')));
  if (!tasks.length) return;
  const rows = document.createDocumentFragment();
  for (const task of tasks) {
    rows.append(h('tr', { 'data-task': task.id, 'data-name': task.name, class: task.overdue ? 'overdue-row' : null },
      h('td', {}, h('a', { href: `#/task/${encodeURIComponent(task.id)}` }, taskTitle(task.name, task.title))),
      h('td', {}, task.patient_ref),
      h('td', {}, task.center),
      h('td', {}, laneTitle(task.lane)),
      h('td', {}, formatTime(task.ready_since)),
      h('td', {}, task.due_at ? formatTime(task.due_at) : '—', ' ',
        task.overdue ? h('span', { class: 'tag bad overdue' }, t('overdue')) : null),
      h('td', {}, task.waiting_days === undefined ? '' : task.waiting_days.toFixed(1)),
      h('td', {}, h('a', { href: `#/pathway/${task.pathway_id}`, 'aria-label': `${t('col_pathway')} ${task.patient_ref}` }, '↗'))));
  }
  view.append(h('div', { class: 'scroll' }, h('table', { id: 'worklist' },
    h('caption', { class: 'sr-only' }, t('worklist_title')),
    h('thead', {}, h('tr', {}, [t('col_task'), t('col_patient'), t('col_center'), t('col_lane'), t('col_ready'), t('col_due'),
      t('col_waiting'), t('col_pathway')].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows))));
}
