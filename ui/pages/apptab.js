// App tabs: pages contributed by apps in their manifest (capabilities.ui.tabs, SPEC §3). A tab with
// render {type: "iframe", src} shows /apps/<short>/<src> (src is relative to the app's HTTP mount;
// an absolute "/apps/<short>/..." is used as is) in a same-origin frame, which carries the auth
// cookie. Component tabs (render.type "component") are not supported by this UI: a notice says so.

import {h, clear, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

// The app's mount: /apps/<short>/, short = the id without its @scope/ (SPEC §3).
export function appMount(appId) {
  return `/apps/${encodeURIComponent(appId.split('/').pop())}/`;
}

// The frame URL of an iframe tab, or null when src leaves the app's mount (another origin, ..).
export function tabUrl(appId, src) {
  const mount = appMount(appId);
  const s = String(src || '');
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) || s.startsWith('//')) return null;  // another origin: refused by the CSP anyway
  const url = new URL(s.startsWith('/apps/') ? s : mount + s.replace(/^\/+/, ''), location.origin);
  return url.pathname.startsWith(mount) ? url.pathname + url.search + url.hash : null;
}

// [{key, appId, appName, tab}] for every enabled app whose manifest declares tabs, sorted by
// tab.position then title.
export async function loadAppTabs(client) {
  let apps = [];
  try {
    apps = (await client.call('apps.list')).apps || [];
  } catch {
    return [];
  }
  const infos = await Promise.all(apps.filter((a) => a.enabled !== false).map((a) =>
    client.call('apps.info', {id: a.id}).catch(() => null)));
  const tabs = [];
  for (const info of infos) {
    for (const tab of info?.manifest?.capabilities?.ui?.tabs || []) {
      if (!tab || typeof tab.id !== 'string') continue;
      tabs.push({key: `${encodeURIComponent(info.id)}/${encodeURIComponent(tab.id)}`, appId: info.id, appName: info.name || info.id, tab});
    }
  }
  const pos = (t) => (typeof t.tab.position === 'number' ? t.tab.position : 1000);
  return tabs.sort((a, b) => pos(a) - pos(b) || String(a.tab.title).localeCompare(String(b.tab.title)));
}

export class AppTabPage extends Page {
  constructor(ctx, {appId, appName, tab}) {
    super(ctx, tab.title || tab.id);
    this.refreshOnShow = false;
    const render = tab.render || {};
    this.el.classList.add('page-fill');
    const head = (...tools) => this.header(`${appName} (${appId})`, ...tools);
    if (render.type === 'iframe') {
      const url = tabUrl(appId, render.src);
      if (!url) {
        this.el.append(head(), notice(`This tab's src "${render.src}" is outside ${appMount(appId)}; it is not shown.`, 'error'));
        return;
      }
      this.frame = h('iframe', {class: 'app-frame', title: this.title, src: url, dataset: {app: appId}});
      this.el.append(head(
        h('a', {href: url, target: '_blank', rel: 'noopener', class: 'button ghost', text: 'Open in new tab'}),
        h('button', {class: 'ghost', text: 'Reload', onclick: () => { this.frame.src = url; }})), this.frame);  // works for sandboxed frames too
    } else {
      this.el.append(head(), notice(`${appName} renders this tab as the component <${render.tag || '?'}>, which this Control UI `
        + 'does not support yet. Component tabs need the app to ship a script the UI would load; only iframe tabs are shown.', 'info'));
    }
  }

  refresh() {}  // the frame loads itself; Reload re-reads it
}
