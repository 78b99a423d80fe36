import { h } from './dom.js';
import { t } from './i18n.js';

export async function renderDashboard(view) {
  view.append(h('h1', {}, t('dashboard_title')));
}
