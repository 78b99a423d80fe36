// One ready task: its declared form (types, enums, required, min/max, defaults, help), completed with
// If-Match (the pathway's version as read); problem+json errors are shown at their fields.
import { api, getSession, Problem } from './api.js';
import { announce, h, problemBox } from './dom.js';
import { formatTime, getLang, laneTitle, t, taskTitle } from './i18n.js';
import { go } from './main.js';
import { claimsOf, configuredUsers, devToken, reauthenticate } from './signin.js';

function inputFor(field, id) {
  const common = { id, name: field.name, 'aria-describedby': `${id}-help ${id}-error`, 'aria-required': field.required ? 'true' : null };
  const value = field.default;
  if (field.type === 'bool') {
    return h('select', common, h('option', { value: '' }, t('choose')),
      h('option', { value: 'true', selected: value === true }, t('yes')), h('option', { value: 'false', selected: value === false }, t('no')));
  }
  if (field.type === 'enum') {
    return h('select', common, h('option', { value: '' }, t('choose')),
      (field.values || []).map((v) => h('option', { value: v, selected: v === value }, v)));
  }
  const types = { int: 'number', number: 'number', date: 'date', datetime: 'datetime-local', string: 'text' };
  const attrs = { ...common, type: types[field.type] || 'text' };
  if (field.type === 'int') attrs.step = '1';
  if (field.type === 'number') attrs.step = 'any';
  if (field.type === 'datetime') attrs.step = '60';
  if (field.minimum !== undefined) attrs.min = field.minimum;
  if (field.maximum !== undefined) attrs.max = field.maximum;
  if (value !== undefined && value !== null) attrs.value = field.type === 'datetime' ? String(value).slice(0, 16) : value;
  return h('input', attrs);
}

function valueOf(field, el) {
  const raw = el.value.trim();
  if (raw === '') return undefined;
  switch (field.type) {
    case 'bool': return raw === 'true';
    case 'int': return Number.isInteger(Number(raw)) ? Number(raw) : raw;
    case 'number': return Number.isFinite(Number(raw)) ? Number(raw) : raw;
    case 'datetime': return `${raw.length === 16 ? `${raw}:00` : raw}Z`; // entered in UTC, as the page shows times
    default: return raw;
  }
}

async function signatureBlock(task) {
  if (!task.signed) return null;
  const session = getSession();
  const needs = task.signatures_required && task.signatures_required.length ? task.signatures_required : ['signer'];
  const dev = session.mode === 'dev';
  const others = dev ? (await configuredUsers()).filter((u) => u.sub !== session.user.sub) : [];
  const meaning = (id, value) => h('select', { id }, ['performed', 'verified', 'approved'].map((m) => h('option', { value: m, selected: m === value }, m)));
  const who = (id, role) => dev
    ? h('select', { id, 'aria-describedby': `${id}-error` }, h('option', { value: '' }, t('choose')),
      others.filter((u) => !role || u.roles.includes(role) || u.roles.includes('admin')).map((u) => h('option', { value: u.sub }, `${u.name} (${u.sub})`)))
    : reauthButton(id);
  const part = (role, label, meaningValue, key, extraRole) => h('div', { class: 'field' },
    role === 'signer' && dev ? null : h('label', { for: `sig-${role}-who` }, label),
    role === 'signer' && dev
      ? h('label', {}, h('input', { type: 'checkbox', id: 'sig-signer-who' }), ' ', t('signature_confirm', { name: session.user.name }))
      : who(`sig-${role}-who`, extraRole),
    h('label', { for: `sig-${role}-meaning` }, t('meaning')), meaning(`sig-${role}-meaning`, meaningValue),
    h('p', { class: 'error', id: `sig-${role}-who-error`, 'data-error-for': key }));
  return h('fieldset', { id: 'signatures' }, h('legend', {}, t('signature')),
    needs.map((role) => role === 'signer' ? part('signer', t('signature'), 'performed', 'signature')
      : role === 'witness' ? part('witness', t('witness'), 'verified', 'witness')
        : part('countersign', t('countersign'), 'approved', 'countersign', task.countersign_role)));
}

// Production: the person signing (the user, a witness at their side) signs in again at the issuer in a
// popup; the fresh token is kept on the button until the completion is sent.
function reauthButton(id) {
  const status = h('span', { id: `${id}-status`, class: 'muted' });
  const button = h('button', { type: 'button', id, class: 'secondary', 'aria-describedby': `${id}-status ${id}-error`,
    onclick: async () => {
      try {
        const token = await reauthenticate();
        button.dataset.token = token;
        status.textContent = ` ✓ ${t('signed_by', { sub: claimsOf(token).name || claimsOf(token).sub })}`;
      } catch (error) { status.textContent = ` ${error.message || error}`; }
    } }, t('sign_at_issuer'));
  return h('span', {}, button, status);
}

async function signatures(task) {
  const out = {};
  const session = getSession();
  const dev = session.mode === 'dev';
  for (const [role, key] of [['signer', 'signature'], ['witness', 'witness'], ['countersign', 'countersign']]) {
    const who = document.getElementById(`sig-${role}-who`);
    if (!who) continue;
    const meaning = document.getElementById(`sig-${role}-meaning`).value;
    let token = null;
    if (dev) {
      const sub = role === 'signer' ? (who.checked ? session.user.sub : null) : who.value;
      if (sub) token = (await devToken(sub, true)).token;
    } else token = who.dataset.token || null;
    if (token) out[key] = { meaning, token };
  }
  return out;
}

function showErrors(form, error) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.error')) el.textContent = '';
  const byField = error.fieldErrors ? error.fieldErrors() : {};
  let first = null;
  for (const [field, messages] of Object.entries(byField)) {
    const target = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (!target) continue;
    target.textContent = messages.join(' ');
    const input = form.querySelector(`[name="${CSS.escape(field)}"]`) || document.getElementById(`sig-${field === 'signature' ? 'signer' : field}-who`);
    if (input) { input.setAttribute('aria-invalid', 'true'); first = first || input; }
  }
  const summary = form.querySelector('#form-problem');
  summary.replaceChildren(problemBox(error, t('form_problem')));
  (first || summary).focus();
}

export async function renderTask(view, taskId) {
  const { body: task } = await api('GET', `/tasks/${encodeURIComponent(taskId)}`);
  const { body: pathway, etag } = await api('GET', `/pathways/${task.pathway_id}`);
  const version = etag || pathway.version;
  const fields = task.fields.map((field, i) => {
    const id = `f-${field.name}`;
    const help = field.help || field.description;
    return h('div', { class: 'field', 'data-field': field.name },
      h('label', { for: id }, (getLang() === 'fr' && field.label_fr) || field.label || field.name, field.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
        field.required ? h('span', { class: 'sr-only' }, ` (${t('required')})`) : null),
      inputFor(field, id, i),
      h('p', { class: 'help', id: `${id}-help` }, [help, field.minimum !== undefined ? `min ${field.minimum}` : null,
        field.maximum !== undefined ? `max ${field.maximum}` : null, t(`type_${field.type}`)].filter(Boolean).join(' · ')),
      h('p', { class: 'error', id: `${id}-error`, 'data-error-for': field.name }));
  });
  const form = h('form', { class: 'task', novalidate: true, id: 'task-form' },
    h('div', { id: 'form-problem', tabindex: '-1' }), fields, await signatureBlock(task),
    h('p', {}, h('button', { type: 'submit', id: 'complete' }, t('complete')), ' ',
      h('a', { href: '#/worklist' }, t('cancel_edit'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = {};
    for (const field of task.fields) {
      const value = valueOf(field, form.querySelector(`[name="${CSS.escape(field.name)}"]`));
      if (value !== undefined) data[field.name] = value;
    }
    const button = form.querySelector('#complete');
    button.disabled = true;
    try {
      const sigs = await signatures(task);
      await api('POST', `/tasks/${encodeURIComponent(task.id)}/complete`, { body: { data, ...sigs }, ifMatch: version });
      announce(t('completed_ok'));
      go(`#/pathway/${task.pathway_id}`);
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });
  view.append(
    h('h1', {}, `${taskTitle(task.name, task.title)} · ${task.patient_ref}`),
    h('p', { class: 'muted' }, `${laneTitle(task.lane)} · ${task.center} · ${t('col_ready')} ${formatTime(task.ready_since)}`,
      task.due_at ? ` · ${t('col_due')} ${formatTime(task.due_at)}` : '', ' · ',
      h('a', { href: `#/pathway/${task.pathway_id}` }, t('col_pathway'))),
    form);
}
