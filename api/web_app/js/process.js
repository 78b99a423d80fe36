import { h } from './dom.js';
import { t } from './i18n.js';

export async function renderProcess(view) {
  view.append(h('h1', {}, t('process_title')));
}
