// Sign-in. Development (CARTPATH_DEV_USERS): pick a configured user, the server mints the token.
// Production: OpenID Connect with the configured issuer, authorization code + PKCE (a public client);
// the access token is kept in memory only. sessionStorage holds only the PKCE verifier across the redirect.
import { api, setSession } from './api.js';
import { h } from './dom.js';
import { laneTitle, t } from './i18n.js';
import { signedIn } from './main.js';

let config = null;
export async function appConfig() {
  if (!config) config = (await api('GET', '/app/config.json')).body;
  return config;
}

let devUsers = null;
export async function configuredUsers() {
  if (devUsers === null) devUsers = (await api('GET', '/auth/dev/users')).body.items;
  return devUsers;
}

export async function devToken(sub, signing = false) {
  return (await api('POST', '/auth/dev/token', { body: { sub, signing } })).body;
}

export async function renderSignIn(view) {
  const cfg = await appConfig();
  view.append(h('h1', {}, t('signin_title')));
  if (cfg.dev_sign_in) {
    const users = await configuredUsers();
    view.append(h('h2', {}, t('signin_dev')), h('ul', { class: 'users' }, users.map((u) => h('li', {},
      h('button', { type: 'button', 'data-sub': u.sub, onclick: async () => {
        const minted = await devToken(u.sub);
        signedIn({ token: minted.token, user: minted.user, mode: 'dev' });
      } }, t('signin_as', { name: u.name })), ' ',
      h('span', { class: 'muted' }, `${u.sub} · ${t('roles')}: ${u.roles.map(laneTitle).join(', ')} · ${t('centers')}: ${u.centers.join(', ') || '—'}`)))));
  }
  if (cfg.oidc) {
    view.append(h('p', {}, h('button', { type: 'button', id: 'oidc', onclick: () => startOidc(cfg.oidc) }, t('signin_oidc'))));
  }
  if (!cfg.dev_sign_in && !cfg.oidc) view.append(h('p', { class: 'alert' }, t('signin_none')));
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function discovery(issuer) {
  const r = await fetch(`${issuer}/.well-known/openid-configuration`, { credentials: 'omit' });
  if (!r.ok) throw new Error(`the OIDC issuer answered ${r.status}`);
  return r.json();
}

async function pkce() {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  return { verifier, state, challenge };
}

function authorizeUrl(meta, oidc, { state, challenge }, extra = {}) {
  const params = new URLSearchParams({ response_type: 'code', client_id: oidc.client_id, redirect_uri: `${location.origin}/`,
    scope: oidc.scope, state, code_challenge: challenge, code_challenge_method: 'S256', ...extra });
  return `${meta.authorization_endpoint}?${params}`;
}

async function exchange(meta, oidc, code, verifier) {
  const r = await fetch(meta.token_endpoint, { method: 'POST', credentials: 'omit',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${location.origin}/`,
      client_id: oidc.client_id, code_verifier: verifier }) });
  if (!r.ok) throw new Error(`the OIDC issuer refused the code (${r.status})`);
  return (await r.json()).access_token;
}

async function startOidc(oidc) {
  const meta = await discovery(oidc.issuer);
  const p = await pkce();
  sessionStorage.setItem('cartpath-pkce', JSON.stringify({ verifier: p.verifier, state: p.state }));
  location.assign(authorizeUrl(meta, oidc, p));
}

// A signature in production: the signer (or witness) proves who they are again at the issuer, in a popup
// (prompt=login, max_age=0); the token it answers carries that fresh auth_time and is the signing token.
// The popup hands the code back by postMessage; the verifier never leaves this page's memory.
export async function reauthenticate() {
  const cfg = await appConfig();
  const meta = await discovery(cfg.oidc.issuer);
  const p = await pkce();
  const code = await new Promise((resolve, reject) => {
    const popup = window.open(authorizeUrl(meta, cfg.oidc, p, { prompt: 'login', max_age: '0' }), 'cartpath-sign',
      'width=520,height=680');
    if (!popup) { reject(new Error('the browser blocked the sign-in window')); return; }
    const onMessage = (event) => {
      if (event.origin !== location.origin || !event.data || event.data.state !== p.state) return;
      window.removeEventListener('message', onMessage);
      resolve(event.data.code);
    };
    window.addEventListener('message', onMessage);
  });
  return exchange(meta, cfg.oidc, code, p.verifier);
}

export function claimsOf(token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(decodeURIComponent(escape(atob(part))));
}

// Back from the issuer with ?code=&state=: exchange the code, keep the token in memory.
export async function finishOidc() {
  const params = new URLSearchParams(location.search);
  if (!params.get('code')) return true;
  if (window.opener && window.name === 'cartpath-sign') {
    // a signature's popup: hand the code to the page that asked, and close
    window.opener.postMessage({ code: params.get('code'), state: params.get('state') }, location.origin);
    window.close();
    return false;
  }
  const saved = JSON.parse(sessionStorage.getItem('cartpath-pkce') || '{}');
  sessionStorage.removeItem('cartpath-pkce');
  history.replaceState(null, '', '/');
  if (!saved.state || saved.state !== params.get('state')) return true;
  const cfg = await appConfig();
  const meta = await discovery(cfg.oidc.issuer);
  const token = await exchange(meta, cfg.oidc, params.get('code'), saved.verifier);
  const claims = claimsOf(token);
  setSession({ token, mode: 'oidc',
    user: { sub: claims.sub, name: claims.name || claims.sub, roles: claims.roles || [], centers: claims.centers || [] } });
  location.hash = '#/';
  return true;
}
