// The viewer's shell: signing in (a pasted key or token, or an embed token in the URL's
// fragment), the navigation the credential's roles allow, the pages by the URL's hash, and
// the theme.

import { ApiError, credential, json, signIn, signOut } from './api.js';
import { fill, h, note } from './dom.js';
import { closeDrawer } from './drawer.js';
import { eventsPage } from './events.js';
import {
  alertsPage, exportsPage, keysPage, ledgerPage, rememberSearch, reportsPage, retentionPage,
  rulesPage, statsPage, webhooksPage,
} from './pages.js';

/** Every page: its path, title, the role it needs, and whether an embed token may open it. */
const PAGES = [
  { path: 'events', title: 'Events', role: 'audit:read', embed: true, render: eventsPage },
  { path: 'stats', title: 'Statistics', role: 'audit:read', embed: false, render: statsPage },
  { path: 'exports', title: 'Exports', role: 'audit:export', embed: false, render: exportsPage },
  { path: 'reports', title: 'Reports', role: 'audit:export', embed: false, render: reportsPage },
  { path: 'alerts', title: 'Alerts', role: 'audit:read', embed: false, render: alertsPage },
  { path: 'webhooks', title: 'Webhooks', role: 'audit:admin', embed: false, render: webhooksPage },
  { path: 'rules', title: 'Rules', role: 'audit:admin', embed: false, render: rulesPage },
  { path: 'retention', title: 'Retention', role: 'audit:admin', embed: false, render: retentionPage },
  { path: 'keys', title: 'API keys', role: 'audit:admin', embed: false, render: keysPage },
  { path: 'ledger', title: 'Ledger', role: 'audit:read', embed: true, render: ledgerPage },
];

const THEME = 'trailkeep.theme';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let session = null;
let leave = () => {};

function applyTheme() {
  const chosen = localStorage.getItem(THEME);
  if (chosen) document.documentElement.dataset.theme = chosen;
  else delete document.documentElement.dataset.theme;
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme === 'dark' ||
    (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches);
  localStorage.setItem(THEME, dark ? 'light' : 'dark');
  applyTheme();
}

/** Goes to `hash`; `again` re-renders even when it is the current one. */
function navigate(hash, again) {
  if (location.hash === hash) {
    if (again) route();
  } else {
    location.hash = hash;
  }
}

function signInPage(problem) {
  const field = h('input', { id: 'credential', type: 'password', autocomplete: 'off', spellcheck: false,
    'aria-label': 'API key or token', placeholder: 'tk_… or a JWT' });
  fill(nav);
  fill(who);
  fill(main, h('section', { class: 'sign-in' },
    h('h1', {}, 'Sign in to the audit trail'),
    h('p', {}, 'Paste an API key or a token. It is kept in this tab only and forgotten when the tab closes.'),
    problem ? note('error', problem) : null,
    h('form', { id: 'sign-in', onsubmit: (e) => {
      e.preventDefault();
      if (!field.value.trim()) return;
      signIn(field.value);
      start();
    } }, field, h('button', { type: 'submit', class: 'primary' }, 'Sign in'))));
  field.focus();
}

function renderNav() {
  const embedded = session.credential === 'viewer';
  fill(nav, PAGES.filter((p) => !embedded || p.embed).map((p) => {
    const allowed = session.roles.includes(p.role);
    return h('a', { href: `#/${p.path}`, id: `nav-${p.path}`, class: allowed ? '' : 'locked',
      title: allowed ? p.title : `needs the ${p.role} role` }, p.title);
  }));
  const restriction = session.view && (session.view.actor_id || session.view.target_id)
    ? ` · only ${session.view.actor_id ? `actor ${session.view.actor_id}` : `target ${session.view.target_type}/${session.view.target_id}`}`
    : '';
  fill(who, h('span', { class: 'tenant', title: session.roles.join(' ') }, `${session.tenant}${restriction}`),
    h('button', { type: 'button', class: 'ghost', onclick: toggleTheme, 'aria-label': 'Switch theme' }, '◐'),
    embedded ? null : h('button', { type: 'button', class: 'ghost', id: 'sign-out', onclick: () => { signOut(); session = null; signInPage(); } }, 'Sign out'));
}

function route() {
  leave();
  leave = () => {};
  closeDrawer();
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = hash.split('?');
  const page = PAGES.find((p) => p.path === path) || PAGES[0];
  for (const a of nav.querySelectorAll('a')) a.toggleAttribute('aria-current', a.id === `nav-${page.path}`);
  document.title = `${page.title} · Trailkeep`;
  if (session.credential === 'viewer' && !page.embed) {
    fill(main, note('error', 'This page is not part of the embedded viewer.'));
    return;
  }
  if (!session.roles.includes(page.role)) {
    fill(main, h('h1', {}, page.title), note('error', `This page needs the ${page.role} role, which your credential does not have (it has ${session.roles.join(', ') || 'no roles'}).`));
    return;
  }
  if (page.path === 'events') rememberSearch(search);
  const cleanup = page.render(main, session, search, navigate);
  if (typeof cleanup === 'function') leave = cleanup;
}

async function start() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (fragment.get('token')) {
    signIn(fragment.get('token'));
    history.replaceState(null, '', `${location.pathname}#/events`);
  }
  if (!credential()) {
    signInPage();
    return;
  }
  fill(main, note('info', 'Signing in…'));
  try {
    session = await json('/v1/session');
  } catch (e) {
    signOut();
    signInPage(e instanceof ApiError && e.status === 401
      ? `That credential was refused: ${e.message}`
      : `Signing in failed: ${e.message}`);
    return;
  }
  renderNav();
  route();
}

applyTheme();
window.addEventListener('hashchange', () => {
  // An embed token put into the address of an open viewer signs in again with it.
  if (location.hash.startsWith('#token=')) start();
  // `#main` (the skip link) is a place on the page, not a page.
  else if (session && !/^#[a-z]+$/.test(location.hash)) route();
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });
start();
