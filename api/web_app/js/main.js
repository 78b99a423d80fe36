// The one page: #/routes for the views, a session in memory, the header's navigation and language.
import { getSession, setSession } from './api.js';
import { getLang, setLang, t } from './i18n.js';
import { h } from './dom.js';
import { renderSignIn, finishOidc } from './signin.js';
import { renderWorklist } from './worklist.js';
import { renderTask } from './task.js';
import { renderPathway, renderPathways } from './pathway.js';
import { renderProcess } from './process.js';
import { renderDashboard } from './dashboard.js';
import { renderOutbox } from './outbox.js';

const LANE_ROLES = ['coordination', 'hematology', 'apheresis', 'pharmacy', 'cell_therapy_unit', 'ward', 'icu'];

export function roles() { return (getSession() && getSession().user.roles) || []; }
export function isStaff() { return roles().some((r) => !['process_owner', 'auditor', 'manufacturer'].includes(r)); }

function home() {
  const r = roles();
  if (r.length === 1 && r[0] === 'manufacturer') return '#/outbox';
  if (r.includes('admin') || r.some((x) => LANE_ROLES.includes(x)) || !['process_owner', 'auditor'].some((x) => r.includes(x))) return '#/worklist';
  return r.includes('process_owner') ? '#/process' : '#/dashboard';
}

function navItems() {
  const r = roles();
  const items = [];
  if (isStaff()) items.push(['#/worklist', 'nav_worklist']);
  if (isStaff() || r.includes('auditor')) items.push(['#/pathways', 'nav_pathways']);
  if (r.includes('process_owner') || r.includes('admin')) items.push(['#/process', 'nav_process']);
  if (isStaff() || r.includes('auditor')) items.push(['#/dashboard', 'nav_dashboard']);  // the reports' readers
  if (r.includes('manufacturer') || r.includes('auditor')) items.push(['#/outbox', 'nav_outbox']);
  return items;
}

function renderHeader(route) {
  document.getElementById('skip').textContent = t('skip');
  document.getElementById('lang-label').textContent = t('language');
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('main_nav'));
  nav.replaceChildren(...(getSession() ? navItems().map(([href, key]) => h('a', {
    href, 'aria-current': route.startsWith(href) ? 'page' : null }, t(key))) : []));
  const who = document.getElementById('who');
  const session = getSession();
  who.replaceChildren(...(session ? [t('signed_in_as', { sub: session.user.sub }), ' ',
    h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: () => { setSession(null); location.hash = '#/signin'; } },
      t('sign_out'))] : []));
}

const ROUTES = [
  [/^#\/signin$/, renderSignIn],
  [/^#\/worklist$/, renderWorklist],
  [/^#\/task\/([^/]+)$/, renderTask],
  [/^#\/pathways$/, renderPathways],
  [/^#\/pathway\/([^/]+)$/, renderPathway],
  [/^#\/process$/, renderProcess],
  [/^#\/dashboard$/, renderDashboard],
  [/^#\/outbox$/, renderOutbox],
];

let current = 0;

async function route() {
  const hash = location.hash.split('?')[0] || '';
  if (!getSession() && hash !== '#/signin') { location.hash = '#/signin'; return; }
  if (getSession() && (hash === '' || hash === '#/' || hash === '#/signin')) { location.hash = home(); return; }
  renderHeader(hash);
  const main = document.getElementById('main');
  const ticket = ++current;
  const name = hash.split('/')[1] || 'home';
  const started = performance.now();
  main.replaceChildren(h('p', {}, t('loading')));
  for (const [pattern, render] of ROUTES) {
    const m = hash.match(pattern);
    if (m) {
      const view = h('div', {});
      try {
        await render(view, ...m.slice(1).map(decodeURIComponent));
      } catch (error) {
        view.replaceChildren(h('div', { class: 'alert', role: 'alert' }, `${t('error')}: ${error.message || error}`));
      }
      if (ticket === current) {
        main.replaceChildren(view);
        document.title = `${(view.querySelector('h1') || {}).textContent || 'cartpath'} · cartpath`;
        // route -> the first frame painted with the view (bench/web_bench.py reads it)
        requestAnimationFrame(() => requestAnimationFrame(() => performance.measure(`view:${name}`,
          { start: started, end: performance.now() })));
      }
      return;
    }
  }
  main.replaceChildren(h('p', {}, t('not_found')));
}

export function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

export function signedIn(session) {
  setSession(session);
  go(home());
}

// The skip link moves focus to the content; as an anchor it would change the #/route.
document.getElementById('skip').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});

const langSelect = document.getElementById('lang');
langSelect.value = getLang();
setLang(getLang());
langSelect.addEventListener('change', () => { setLang(langSelect.value); route(); });
window.addEventListener('hashchange', route);
finishOidc().then((goOn) => { if (goOn) route(); });
