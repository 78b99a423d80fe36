// The manufacturer's page: it speaks to the hospital through messages (POST /messages, its own system),
// and reads here what the hospital sent it (GET /outbox: its own orders only), newest last.
import { api } from './api.js';
import { h, table } from './dom.js';
import { formatTime, t } from './i18n.js';

export async function renderOutbox(view) {
  const items = [];
  let after = 0;
  for (let page = 0; page < 20; page++) {
    const { body } = await api('GET', '/outbox', { query: { after, limit: 500 } });
    items.push(...body.items);
    if (body.next === null || body.next === undefined) break;
    after = body.next;
  }
  view.append(h('h1', {}, t('outbox_title')), h('p', { class: 'muted' }, t('outbox_note')),
    table([t('col_at'), t('col_message'), t('col_order'), 'COI', t('col_payload')],
      items.map((m) => [formatTime(m.at), m.name, m.payload.order_id || '—', m.payload.coi || '—',
        h('code', {}, JSON.stringify(m.payload))]), t('outbox_title')));
}
