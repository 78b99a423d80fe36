// Elements built from data with textContent only: nothing the API returns is parsed as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function table(headers, rows, caption) {
  return h('div', { class: 'scroll' }, h('table', {},
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c)))))));
}

export function announce(text) {
  const status = document.getElementById('status');
  if (status) status.textContent = text;
}

export function problemBox(error, lead) {
  const messages = [];
  if (error && error.fieldErrors) {
    for (const [field, list] of Object.entries(error.fieldErrors())) messages.push(`${field}: ${list.join(' ')}`);
  }
  return h('div', { class: 'alert', role: 'alert' }, lead ? h('strong', {}, lead + ' ') : null,
    String((error && error.message) || error), messages.length ? h('ul', {}, messages.map((m) => h('li', {}, m))) : null);
}
