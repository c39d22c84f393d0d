// corral's dashboard: plain JavaScript, no framework, no build step, nothing from the
// network but this daemon. The table is built once from the event stream's snapshot and
// then changed one row at a time as events arrive: it is never reloaded or polled.
'use strict';

const WINDOW = 15 * 60; // seconds of CPU/memory history
const LOG_KEEP = 2 * 1024 * 1024; // characters a log view keeps
const DESTRUCTIVE = new Set(['stop', 'restart', 'signal']);
const ACTIONS = [
  ['start', 'Start'], ['stop', 'Stop'], ['restart', 'Restart'],
  ['rolling-restart', 'Rolling'], ['signal', 'Signal…'],
];

const $ = (id) => document.getElementById(id);
// location.origin never carries credentials (a URL with them can't be fetched).
const url = (path) => location.origin + path;
const enc = encodeURIComponent;

const procs = new Map(); // namespec -> process object (as /api/v1/processes has it)
const rows = new Map(); // namespec -> {tr, cells}
const groups = new Map(); // group -> tbody
const hist = new Map(); // namespec -> {t: [], cpu: [], rss: []}
let readOnly = false;
let skew = 0; // the daemon's clock minus ours, seconds

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function say(text, error) {
  const m = $('message');
  m.textContent = text;
  m.className = error ? 'message error' : 'message';
  m.hidden = !text;
}

async function request(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  } else if (method === 'POST') {
    init.body = '';
  }
  const r = await fetch(url(path), init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const msg = data && data.error ? data.error.message : `HTTP ${r.status}`;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return data;
}

// ---------------------------------------------------------------- formatting

function uptime(p) {
  if (p.statename !== 'RUNNING' || !p.start) return '';
  let s = Math.max(0, Math.floor(Date.now() / 1000 + skew - p.start));
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  const hms = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return d ? `${d} day${d > 1 ? 's' : ''}, ${hms}` : hms;
}

function bytes(n) {
  if (n == null) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function restarts(p) {
  return Object.values(p.restarts || {}).reduce((a, b) => a + b, 0);
}

function spark(values, times, now) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 90 22');
  svg.setAttribute('aria-hidden', 'true');
  const pts = [];
  const max = Math.max(1e-9, ...values.filter((v) => v != null));
  // Up to 15 minutes; a shorter history fills the width (at least a minute of it).
  const span = Math.min(WINDOW, Math.max(60, now - times[0]));
  values.forEach((v, i) => {
    if (v == null) return;
    const x = 90 - ((now - times[i]) / span) * 90;
    if (x < 0) return;
    pts.push(`${x.toFixed(1)},${(21 - (v / max) * 20).toFixed(1)}`);
  });
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts.join(' '));
  const base = document.createElementNS('http://www.w3.org/2000/svg', 'line');
  for (const [k, v] of [['x1', 0], ['y1', 21.5], ['x2', 90], ['y2', 21.5]]) base.setAttribute(k, v);
  svg.append(base, line);
  const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
  title.textContent = `the last ${Math.round(span / 60)} min`;
  svg.append(title);
  return svg;
}

// ---------------------------------------------------------------- the table

function actionButtons(kind, name, label) {
  if (readOnly) return null;
  const box = el('div', { class: 'acts' });
  for (const [action, text] of ACTIONS) {
    box.append(el('button', {
      type: 'button', class: 'act' + (DESTRUCTIVE.has(action) ? ' danger' : ''),
      'data-action': action, 'aria-label': `${text.replace('…', '')} ${label}`, text,
    }));
    box.lastChild.addEventListener('click', () => act(kind, name, action, label));
  }
  return box;
}

function groupBody(group) {
  let tb = groups.get(group);
  if (tb) return tb;
  tb = el('tbody', { class: 'group', 'data-group': group });
  const th = el('th', { colspan: '10', scope: 'rowgroup' }, el('span', { text: group }));
  const acts = actionButtons('group', group, `group ${group}`);
  if (acts) th.append(acts);
  tb.append(el('tr', {}, th));
  const procsBody = el('tbody', { class: 'proc', 'data-group': group });
  tb.procs = procsBody;
  // Groups in name order.
  const table = $('processes');
  const after = [...groups.keys()].sort().find((g) => g > group);
  const before = after ? groups.get(after) : null;
  table.insertBefore(tb, before);
  table.insertBefore(procsBody, before);
  groups.set(group, tb);
  return tb;
}

function makeRow(p) {
  const cells = {};
  const tr = el('tr', { 'data-namespec': p.namespec, id: 'proc-' + p.namespec });
  const cell = (key, label, cls) => {
    const td = el('td', { 'data-label': label, class: cls || '' });
    cells[key] = td;
    tr.append(td);
    return td;
  };
  const name = cell('name', 'Process');
  name.append(el('strong', { text: p.name }), el('div', { class: 'desc' }));
  cell('state', 'State');
  cell('pid', 'PID', 'num');
  cell('uptime', 'Uptime', 'num');
  cell('restarts', 'Restarts', 'num');
  cell('ready', 'Ready');
  cell('health', 'Health');
  cell('cpu', 'CPU');
  cell('mem', 'Memory');
  const acts = cell('actions', 'Actions');
  const box = actionButtons('process', p.namespec, p.namespec) || el('div', { class: 'acts' });
  const logs = el('button', { type: 'button', 'data-action': 'logs', 'aria-label': `Logs of ${p.namespec}`, text: 'Logs' });
  logs.addEventListener('click', () => openLog(p.namespec));
  box.append(logs);
  acts.append(box);
  return { tr, cells };
}

function fill(r, p) {
  const c = r.cells;
  // While RUNNING the columns say it all (the description's uptime would not tick).
  c.name.querySelector('.desc').textContent = p.statename === 'RUNNING' ? '' : (p.description || '');
  const badge = el('span', { class: 'state ' + p.statename, text: p.statename });
  c.state.replaceChildren(badge);
  r.tr.dataset.state = p.statename;
  c.pid.textContent = p.pid || '';
  c.uptime.textContent = uptime(p);
  c.restarts.textContent = String(restarts(p));
  c.ready.textContent = p.ready ? 'yes' : 'no';
  c.health.textContent = p.healthy == null ? '—' : (p.healthy ? 'healthy' : 'failing');
  drawStats(p.namespec);
}

function upsert(p) {
  if (!p) return;
  procs.set(p.namespec, p);
  skew = p.now - Date.now() / 1000;
  let r = rows.get(p.namespec);
  if (!r) {
    r = makeRow(p);
    rows.set(p.namespec, r);
    const body = groupBody(p.group).procs;
    const after = [...body.children].find((tr) => tr.dataset.namespec > p.namespec);
    body.insertBefore(r.tr, after || null);
  }
  fill(r, p);
  soloGroup(p.group);
  applyFilter();
}

// A program's own group with its one process: the process's buttons are the group's.
function soloGroup(group) {
  const tb = groups.get(group);
  if (!tb) return;
  const members = [...tb.procs.children];
  tb.hidden = members.length === 1 && members[0].dataset.namespec === group;
}

function removeGroup(group) {
  const tb = groups.get(group);
  if (!tb) return;
  tb.procs.remove();
  tb.remove();
  groups.delete(group);
  for (const [k, p] of procs) {
    if (p.group === group) { procs.delete(k); rows.delete(k); }
  }
  counts();
}

function counts() {
  const n = procs.size;
  const running = [...procs.values()].filter((p) => p.statename === 'RUNNING').length;
  $('counts').textContent = `${running} of ${n} running`;
}

function applyFilter() {
  const q = $('filter').value.trim().toLowerCase();
  for (const [k, r] of rows) {
    const p = procs.get(k);
    const hit = !q || k.toLowerCase().includes(q) || p.statename.toLowerCase().includes(q);
    r.tr.hidden = !hit;
  }
  counts();
}

// ---------------------------------------------------------------- stats

function addStats(data) {
  for (const [k, s] of Object.entries(data.processes || {})) {
    let h = hist.get(k);
    if (!h) { h = { t: [], cpu: [], rss: [] }; hist.set(k, h); }
    if (h.t.length && h.t[h.t.length - 1] >= s.t) continue;
    h.t.push(s.t); h.cpu.push(s.cpu); h.rss.push(s.rss);
    while (h.t.length && s.t - h.t[0] > WINDOW) { h.t.shift(); h.cpu.shift(); h.rss.shift(); }
  }
  for (const k of rows.keys()) drawStats(k);
}

function drawStats(k) {
  const r = rows.get(k);
  const h = hist.get(k);
  const p = procs.get(k);
  if (!r) return;
  if (!h || !h.t.length || !p || !p.pid) {
    r.cells.cpu.replaceChildren();
    r.cells.mem.replaceChildren();
    return;
  }
  const now = Date.now() / 1000 + skew;
  const cpu = h.cpu[h.cpu.length - 1];
  r.cells.cpu.replaceChildren(el('div', { class: 'spark' }, spark(h.cpu, h.t, now),
    el('span', { text: cpu == null ? '…' : `${cpu.toFixed(1)}%` })));
  r.cells.mem.replaceChildren(el('div', { class: 'spark' }, spark(h.rss, h.t, now),
    el('span', { text: bytes(h.rss[h.rss.length - 1]) })));
}

// ---------------------------------------------------------------- actions

function confirmAction(text, withSignal) {
  const d = $('confirm');
  $('confirm-text').textContent = text;
  $('signal-row').hidden = !withSignal;
  d.returnValue = '';
  d.showModal();
  // The safe choice has the focus: Enter alone destroys nothing.
  (withSignal ? $('signal') : $('confirm-cancel')).focus();
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
  });
}

async function act(kind, name, action, label) {
  const words = { start: 'Start', stop: 'Stop', restart: 'Restart', 'rolling-restart': 'Rolling restart', signal: 'Send a signal to' };
  const target = kind === 'all' ? 'every process' : label;
  if (DESTRUCTIVE.has(action)) {
    const ok = await confirmAction(`${words[action]} ${target}?`, action === 'signal');
    if (!ok) return;
  }
  const base = kind === 'process' ? `/api/v1/processes/${enc(name)}`
    : kind === 'group' ? `/api/v1/groups/${enc(name)}` : '/api/v1/all';
  const body = action === 'signal' ? { signal: $('signal').value } : {};
  say(`${words[action]} ${target}…`);
  try {
    const r = await request('POST', `${base}/${action}`, body);
    const failed = Array.isArray(r.result)
      ? r.result.filter((x) => x.status !== 80).map((x) => `${x.group}:${x.name}: ${x.description}`)
      : [];
    say(failed.length ? failed.join('\n') : '', failed.length > 0);
  } catch (e) {
    say(`${words[action]} ${target}: ${e.message}`, true);
  }
}

// ---------------------------------------------------------------- logs

const log = { target: null, stream: 'stdout', text: '', pending: '', paused: false, ctl: null };

function logPath() {
  return log.target === null ? '/api/v1/log' : `/api/v1/processes/${enc(log.target)}/logs/${log.stream}`;
}

function renderLog() {
  const pre = $('log-text');
  const q = $('log-search').value;
  if (!q) {
    pre.textContent = log.text;
    $('log-matches').textContent = '';
  } else {
    const lower = q.toLowerCase();
    const frag = document.createDocumentFragment();
    let n = 0;
    for (const line of log.text.split('\n')) {
      const l = line.toLowerCase();
      if (!l.includes(lower)) continue;
      let i = 0;
      let j;
      while ((j = l.indexOf(lower, i)) >= 0) {
        frag.append(line.slice(i, j), el('mark', { text: line.slice(j, j + q.length) }));
        i = j + q.length;
        n++;
      }
      frag.append(line.slice(i) + '\n');
    }
    pre.replaceChildren(frag);
    $('log-matches').textContent = `${n} match${n === 1 ? '' : 'es'}`;
  }
  if (!log.paused && $('log-follow').checked) pre.scrollTop = pre.scrollHeight;
}

function appendLog(s) {
  if (log.paused) {
    log.pending = (log.pending + s).slice(-LOG_KEEP);
    $('log-pause').textContent = `Resume (${log.pending.length} new)`;
    return;
  }
  log.text = (log.text + s).slice(-LOG_KEEP);
  renderLog();
}

function stopFollow() {
  if (log.ctl) { log.ctl.abort(); log.ctl = null; }
}

async function follow(offset) {
  stopFollow();
  const ctl = new AbortController();
  log.ctl = ctl;
  try {
    const r = await fetch(url(`${logPath()}/follow?offset=${offset}`), { signal: ctl.signal });
    if (!r.ok || !r.body) return;
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || ctl.signal.aborted) break;
      appendLog(dec.decode(value, { stream: true }));
    }
  } catch (e) {
    // Aborted, or the connection went away.
  }
}

async function loadLog() {
  stopFollow();
  log.text = ''; log.pending = '';
  $('log-text').textContent = 'loading…';
  try {
    const r = await request('GET', `${logPath()}?tail=65536`);
    log.text = r.text || '';
    renderLog();
    if ($('log-follow').checked) follow(r.offset);
  } catch (e) {
    $('log-text').textContent = e.message;
  }
}

function openLog(namespec) {
  log.target = namespec;
  log.stream = 'stdout';
  log.paused = false;
  $('log-pause').setAttribute('aria-pressed', 'false');
  $('log-pause').textContent = 'Pause';
  $('log-title').textContent = namespec === null ? 'Main log' : `Log of ${namespec}`;
  $('streams').hidden = namespec === null;
  for (const b of $('streams').querySelectorAll('button')) {
    b.setAttribute('aria-pressed', String(b.dataset.stream === 'stdout'));
  }
  $('logview').showModal();
  $('log-text').focus();
  loadLog();
}

// ---------------------------------------------------------------- the stream

function connect() {
  const es = new EventSource(url('/api/v1/events?stats=1'));
  const conn = $('conn');
  const on = (name, f) => es.addEventListener(name, (e) => f(JSON.parse(e.data)));
  on('snapshot', (d) => {
    const seen = new Set(d.processes.map((p) => p.namespec));
    for (const g of [...groups.keys()]) {
      if (!d.processes.some((p) => p.group === g)) removeGroup(g);
    }
    for (const [k, r] of [...rows]) {
      if (!seen.has(k)) { r.tr.remove(); rows.delete(k); procs.delete(k); }
    }
    d.processes.forEach(upsert);
    conn.textContent = 'live'; conn.className = 'conn live';
    document.body.dataset.ready = 'true';
  });
  on('state', (d) => upsert(d.process));
  on('group', (d) => {
    if (!d.added) { removeGroup(d.group); return; }
    // A new group: its processes, once.
    request('GET', '/api/v1/processes').then((all) => all.filter((p) => p.group === d.group).forEach(upsert));
  });
  on('stats', addStats);
  on('supervisor', (d) => { $('ident').textContent = d.state; });
  es.onopen = () => { conn.textContent = 'live'; conn.className = 'conn live'; };
  es.onerror = () => { conn.textContent = 'reconnecting…'; conn.className = 'conn down'; };
}

// ---------------------------------------------------------------- start

async function init() {
  try {
    const who = await request('GET', '/api/v1/whoami');
    readOnly = who.role === 'readonly';
  } catch (e) {
    say(`cannot reach the API: ${e.message}`, true);
  }
  document.body.classList.toggle('readonly', readOnly);
  $('role').textContent = readOnly ? 'read-only' : '';
  if (readOnly) {
    for (const b of document.querySelectorAll('#global .act')) b.remove();
  } else {
    for (const b of document.querySelectorAll('#global .act')) {
      b.addEventListener('click', () => act('all', null, b.dataset.all, 'every process'));
    }
  }
  $('mainlog').addEventListener('click', () => openLog(null));
  $('filter').addEventListener('input', applyFilter);
  $('log-close').addEventListener('click', () => $('logview').close());
  $('logview').addEventListener('close', stopFollow);
  $('log-search').addEventListener('input', renderLog);
  $('log-follow').addEventListener('change', () => ($('log-follow').checked ? loadLog() : stopFollow()));
  $('log-pause').addEventListener('click', () => {
    log.paused = !log.paused;
    $('log-pause').setAttribute('aria-pressed', String(log.paused));
    $('log-pause').textContent = log.paused ? 'Resume' : 'Pause';
    if (!log.paused && log.pending) { const p = log.pending; log.pending = ''; appendLog(p); }
  });
  for (const b of $('streams').querySelectorAll('button')) {
    b.addEventListener('click', () => {
      log.stream = b.dataset.stream;
      for (const o of $('streams').querySelectorAll('button')) {
        o.setAttribute('aria-pressed', String(o === b));
      }
      loadLog();
    });
  }
  try {
    const s = await request('GET', '/api/v1/supervisor');
    $('ident').textContent = `${s.identification} · ${s.state.statename} · corral ${s.corral_version}`;
    document.title = `corral · ${s.identification}`;
    const st = await request('GET', '/api/v1/stats');
    for (const [k, h] of Object.entries(st.processes)) hist.set(k, h);
  } catch (e) {
    say(e.message, true);
  }
  connect();
  // Uptimes tick in the page; the daemon is not asked.
  setInterval(() => {
    for (const [k, r] of rows) {
      const p = procs.get(k);
      if (p && p.statename === 'RUNNING') r.cells.uptime.textContent = uptime(p);
    }
  }, 1000);
}

init();
