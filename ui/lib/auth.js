// Gateway credentials in the browser (docs/CONTROL-UI.md "Authentication"). The token or password
// is kept in localStorage (so a reload stays logged in; localStorage is per origin, port included)
// and exchanged for the cookie `openclaw_auth`, which the gateway accepts as a bearer credential
// on HTTP: iframes (app tabs, the canvas) and asset loads cannot send an Authorization header, but
// they do send this cookie. The gateway sets it (POST /auth/cookie) so it is HttpOnly: cookies are
// shared by every port of a host, and a page on another localhost port must not read it.
// SameSite=Strict keeps other sites from riding on it.

const STORAGE_KEY = 'openclaw.controlUi.auth';

// {kind: 'token'|'password', secret} or null.
export function loadCredentials() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
    if (saved && typeof saved.secret === 'string' && saved.secret) return saved;
  } catch { /* storage unavailable or corrupt: log in again */ }
  return null;
}

export function saveCredentials(kind, secret) {
  const creds = {kind: kind === 'password' ? 'password' : 'token', secret};
  try { localStorage.setItem(STORAGE_KEY, JSON.stringify(creds)); } catch { /* private mode */ }
  setCookie(secret);
  return creds;
}

export function clearCredentials() {
  try { localStorage.removeItem(STORAGE_KEY); } catch { /* nothing stored */ }
  fetch('/auth/cookie', {method: 'DELETE'}).catch(() => { /* gateway gone: the cookie ends with the session */ });
}

// Re-sets the cookie from stored credentials (it is a session cookie; localStorage outlives it).
export function refreshCookie(creds) {
  if (creds) setCookie(creds.secret);
}

// The `auth` object of the connect frame.
export function connectAuth(creds) {
  if (!creds) return {};
  return creds.kind === 'password' ? {password: creds.secret} : {token: creds.secret};
}

function setCookie(secret) {
  // A wrong secret gets 401 and no cookie; the WebSocket login reports the error.
  fetch('/auth/cookie', {method: 'POST', headers: {Authorization: `Bearer ${secret}`}})
    .catch(() => { /* offline: the next refreshCookie sets it */ });
}
