// Cron: scheduled agent turns (cron.list), run now (cron.run), enable/disable (cron.update),
// remove (cron.remove) and a small form to add one (cron.add). Schedules: docs/CONTROL-PLANE.md#cron.

import {h, clear, fmtAgo, fmtTime, badge, stateKind, emptyRow, notice, Poller} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const POLL_MS = 5000;

function describeSchedule(s = {}) {
  if (s.cron) return `cron "${s.cron}"${s.tz ? ` (${s.tz})` : ''}`;
  if (s.every) return `every ${s.every}`;
  if (s.at) return `once at ${s.at}`;
  return JSON.stringify(s);
}

export class CronPage extends Page {
  constructor(ctx) {
    super(ctx, 'Cron');
    this.state = h('div', {class: 'muted'});
    this.rows = h('tbody');
    this.poller = new Poller(() => this.refresh(), POLL_MS);
    this.el.append(
      this.header('Scheduled agent turns, fired by the kernel.', h('button', {class: 'ghost', text: 'Refresh', onclick: () => this.refresh()})),
      this.state,
      h('table', {class: 'table', id: 'cron-table'},
        h('thead', {}, h('tr', {}, ['Job', 'Schedule', 'Agent / session', 'Next run', 'Last run', 'Runs', ''].map((t) => h('th', {text: t})))),
        this.rows),
      this.buildForm());
  }

  onShow() { this.poller.start(false); }  // show() just refreshed
  onHide() { this.poller.stop(); }

  async refresh() {
    try {
      const r = await this.client.call('cron.list');
      this.state.textContent = `Scheduler ${r.enabled === false ? 'disabled (cron.enabled is false)' : 'enabled'} · default time zone ${r.defaultTimeZone || 'UTC'}`;
      const jobs = r.jobs || [];
      clear(this.rows, jobs.length ? jobs.map((j) => this.row(j)) : emptyRow(7, 'No jobs yet. Add one below.'));
    } catch (e) {
      clear(this.rows, emptyRow(7, `Could not list jobs: ${e.message}`));
    }
  }

  row(j) {
    const button = (label, fn, cls = '', success = undefined) => {
      const b = h('button', {class: ['small', cls], text: label});
      b.onclick = async () => { if (await this.act(b, fn, success) !== undefined) this.refresh(); };
      return b;
    };
    const last = j.lastRunAt
      ? [badge(j.lastStatus || '—', stateKind(j.lastStatus)), ' ', h('span', {text: fmtAgo(j.lastRunAt), title: fmtTime(j.lastRunAt)})]
      : '—';
    return h('tr', {dataset: {id: j.id}, class: j.enabled ? null : 'dim'},
      h('td', {}, h('div', {text: j.name || j.id}), h('div', {class: 'mono muted', text: j.id}),
        j.lastError ? h('div', {class: 'error-text', text: j.lastError}) : null),
      h('td', {class: 'mono', text: describeSchedule(j.schedule)}),
      h('td', {}, h('div', {text: j.agentId}), h('div', {class: 'muted', text: j.session}),
        j.deliver ? h('div', {class: 'muted', text: `→ ${j.deliver.channel}:${j.deliver.to}`}) : null),
      h('td', {text: j.nextRunAt ? fmtAgo(j.nextRunAt) : '—', title: fmtTime(j.nextRunAt)}),
      h('td', {}, last),
      h('td', {text: j.runCount ?? 0}),
      h('td', {class: 'actions'},
        button('Run now', () => this.client.call('cron.run', {id: j.id}), '', `${j.name || j.id}: started`),
        button(j.enabled ? 'Disable' : 'Enable', () => this.client.call('cron.update', {id: j.id, enabled: !j.enabled})),
        button('Remove', () => (confirm(`Remove the job ${j.name || j.id}?`) ? this.client.call('cron.remove', {id: j.id}) : undefined), 'danger')));
  }

  buildForm() {
    const f = {
      name: h('input', {placeholder: 'optional', name: 'name'}),
      kind: h('select', {name: 'kind'}, ['cron', 'every', 'at'].map((k) => h('option', {value: k, text: k}))),
      value: h('input', {placeholder: '0 9 * * 1-5', name: 'schedule', required: true}),
      tz: h('input', {placeholder: 'default', name: 'tz', class: 'small'}),
      message: h('textarea', {rows: 2, name: 'message', placeholder: 'What the agent should do', required: true}),
      agentId: h('input', {value: 'default', name: 'agentId', class: 'small'}),
      session: h('input', {value: 'isolated', name: 'session', class: 'small', title: 'isolated, main or a session key'}),
    };
    const hints = {cron: '0 9 * * 1-5', every: '30m', at: '2030-01-01T09:00:00Z'};
    f.kind.onchange = () => { f.value.placeholder = hints[f.kind.value]; f.tz.disabled = f.kind.value === 'every'; };
    const error = h('div');
    const submit = h('button', {class: 'primary', type: 'submit', text: 'Add job'});
    const field = (label, el) => h('label', {class: 'field'}, h('span', {text: label}), el);
    return h('form', {class: 'panel form', id: 'cron-form', onsubmit: async (e) => {
      e.preventDefault();
      clear(error);
      const schedule = {[f.kind.value]: f.value.value.trim()};
      if (f.tz.value.trim() && f.kind.value !== 'every') schedule.tz = f.tz.value.trim();
      const params = {schedule, message: f.message.value, agentId: f.agentId.value.trim() || 'default',
        session: f.session.value.trim() || 'isolated'};
      if (f.name.value.trim()) params.name = f.name.value.trim();
      submit.disabled = true;
      try {
        const r = await this.client.call('cron.add', params);
        this.ctx.toast(`Added ${r.job?.name || r.job?.id}`, 'ok');
        f.name.value = f.value.value = f.message.value = '';
        this.refresh();
      } catch (err) {
        error.append(notice(err.data?.path ? `${err.data.path}: ${err.message}` : err.message, 'error'));
      } finally {
        submit.disabled = false;
      }
    }},
    h('h2', {text: 'Add a job'}),
    h('div', {class: 'form-row'}, field('Name', f.name), field('Schedule', h('div', {class: 'inline'}, f.kind, f.value)), field('Time zone', f.tz)),
    h('div', {class: 'form-row'}, field('Agent', f.agentId), field('Session', f.session)),
    field('Message', f.message),
    h('div', {class: 'form-row'}, submit), error);
  }
}
