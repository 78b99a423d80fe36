// The API at /api/v1, as any client uses it. The session (token, user) lives in this module's memory
// only: never localStorage or sessionStorage; a reload signs in again.
let session = null;
// The log position of this page's last write: report reads (built by the projections, which follow the
// log) pass it as min_position, so a page never shows a view older than what its user just did.
let lastPosition = null;
export function readYourWrites() { return lastPosition; }

export function setSession(value) { session = value; }
export function getSession() { return session; }

export class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  // field -> messages, task form fields named without their `data.` prefix
  fieldErrors() {
    const out = {};
    for (const [key, messages] of Object.entries(this.body.errors || {})) {
      out[key.replace(/^data\./, '')] = Array.isArray(messages) ? messages : [String(messages)];
    }
    if (this.body.field && !out[this.body.field]) out[this.body.field] = [this.body.detail || this.message];
    return out;
  }
}

export async function api(method, path, { body, ifMatch, query, raw } = {}) {
  const headers = { Accept: 'application/json' };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined && !(body instanceof FormData)) headers['Content-Type'] = 'application/json';
  if (ifMatch !== undefined && ifMatch !== null) headers['If-Match'] = `"${ifMatch}"`;
  let url = path.startsWith('/') && !path.startsWith('/api/') && !path.startsWith('/auth/') && !path.startsWith('/app/')
    ? `/api/v1${path}` : path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
    const text = params.toString();
    if (text) url += (url.includes('?') ? '&' : '?') + text;
  }
  const response = await fetch(url, {
    method, headers, credentials: 'omit',
    body: body === undefined ? undefined : (body instanceof FormData ? body : JSON.stringify(body)),
  });
  if (raw && response.ok) return { text: await response.text(), response };
  const type = response.headers.get('Content-Type') || '';
  const parsed = type.includes('json') ? await response.json() : await response.text();
  if (response.status === 401 && session && !path.startsWith('/auth/')) {
    // the token expired (or the server's keys changed): sign in again
    session = null;
    location.hash = '#/signin';
  }
  if (!response.ok) throw new Problem(response.status, typeof parsed === 'object' ? parsed : { detail: parsed });
  const position = response.headers.get('X-Cartpath-Position');
  if (method !== 'GET' && position && path.startsWith('/') && !path.startsWith('/auth/')) {
    lastPosition = Math.max(Number(position), lastPosition || 0);
  }
  return {
    body: parsed,
    etag: (response.headers.get('ETag') || '').replace(/\D/g, '') || null,
    position,
  };
}
