// Talking to the service: the credential (kept for this browser tab only), requests with it,
// and problem+json errors turned into sentences.

const CREDENTIAL = 'trailkeep.credential';

/** The credential signed in with, or null. */
export function credential() {
  return sessionStorage.getItem(CREDENTIAL);
}

/** Keeps `value` for this tab's session. */
export function signIn(value) {
  sessionStorage.setItem(CREDENTIAL, value.trim());
}

/** Forgets the credential. */
export function signOut() {
  sessionStorage.removeItem(CREDENTIAL);
}

/** A failed request, with the service's words. */
export class ApiError extends Error {
  constructor(status, problem) {
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`);
    const text = [problem.detail || problem.title || `HTTP ${status}`, ...fields].join('; ');
    super(text);
    this.status = status;
    this.problem = problem;
  }
}

async function problemOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { title: response.statusText, detail: text.slice(0, 300) };
  }
}

/** `fetch` with the credential; throws ApiError for any status but 2xx. */
export async function request(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = credential();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  let body = options.body;
  if (body !== undefined && typeof body !== 'string') {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { ...options, headers, body });
  } catch (e) {
    throw new ApiError(0, { detail: `the service did not answer (${e.message})` });
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

/** GET (or another method) answering JSON. */
export async function json(path, options) {
  const response = await request(path, options);
  if (response.status === 204) return null;
  return response.json();
}

/** GET answering text. */
export async function text(path) {
  return (await request(path)).text();
}

/** A query string from an object; arrays repeat the name, empty values are left out. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== '') search.append(key, v);
    }
  }
  const s = search.toString();
  return s ? `?${s}` : '';
}

/**
 * Reads server-sent events from `path` (fetch, so the credential goes in a header), calling
 * `onOpen()` once the service answered and `onEvent(name, data)` for each event, until
 * `signal` aborts.
 */
export async function stream(path, signal, onEvent, onOpen) {
  const response = await request(path, { signal, headers: { Accept: 'text/event-stream' } });
  onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, data.join('\n'));
    }
  }
}
