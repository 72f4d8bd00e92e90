// myquorum dashboard: vanilla JS, no dependencies, no build step. Reads the live snapshot
// stream (GET /events) and the HTTP API (API.md); draws its charts as SVG by hand.
'use strict';
(() => {
  // ---------------------------------------------------------------- helpers
  const $ = (sel, root = document) => root.querySelector(sel);
  const SVG_NS = 'http://www.w3.org/2000/svg';

  /** An element with attributes and children (strings become text: nothing is parsed as HTML). */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function svg(tag, attrs) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return el;
  }

  const dash = '–';
  function fmtMs(v) {
    if (v === null || v === undefined) return dash;
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (v >= 100) return Math.round(v) + ' ms';
    if (v >= 10) return v.toFixed(1) + ' ms';
    return v.toFixed(2) + ' ms';
  }
  function fmtSeconds(v) {
    if (v === null || v === undefined) return dash;
    if (v < 60) return (Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : 1)) + ' s';
    return fmtDuration(v);
  }
  function fmtDuration(s) {
    if (s === null || s === undefined) return dash;
    s = Math.floor(s);
    const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d} d ${hr} h`;
    if (hr) return `${hr} h ${m} min`;
    if (m) return `${m} min ${sec} s`;
    return `${sec} s`;
  }
  const fmtInt = (n) => (n === null || n === undefined ? dash : Number(n).toLocaleString('en-US'));
  const fmtRate = (v) => (v === null || v === undefined ? dash : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' /s');
  const fmtWrites = (n) => (n === null || n === undefined ? dash : `${fmtInt(n)} write${n === 1 ? '' : 's'}`);
  const yesNo = (b) => (b === null || b === undefined ? dash : b ? 'yes' : 'no');

  function kv(pairs) {
    const dl = h('dl', { class: 'kv' });
    for (const [k, v, attrs] of pairs) {
      if (v === undefined) continue;
      dl.append(h('dt', {}, k), h('dd', attrs || {}, v));
    }
    return dl;
  }

  function table(head, rows, attrs) {
    return h('table', Object.assign({ class: 'data' }, attrs || {}),
      h('thead', {}, h('tr', {}, head.map((c) => (c instanceof Node ? c : h('th', {}, c))))),
      h('tbody', {}, rows));
  }

  // ---------------------------------------------------------------- API access and token
  const TOKEN_KEY = 'myquorum.token';
  let token = null;
  try { token = sessionStorage.getItem(TOKEN_KEY); } catch (_) { token = null; }
  let authRequired = false;
  let tokenPrompt = null;

  function saveToken(t) {
    token = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* storage disabled: the token stays in memory only */ }
  }

  /** Opens the token dialog; resolves true once a token was entered. */
  function askToken(reason) {
    if (tokenPrompt) return tokenPrompt;
    const dialog = $('#token-dialog');
    const err = $('#token-error');
    err.hidden = !reason;
    err.textContent = reason || '';
    $('#token-input').value = '';
    tokenPrompt = new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        tokenPrompt = null;
        const value = $('#token-input').value.trim();
        $('#token-input').value = '';
        if (dialog.returnValue === 'ok' && value) {
          saveToken(value);
          resolve(true);
        } else {
          resolve(false);
        }
      }, { once: true });
      dialog.returnValue = '';
      dialog.showModal();
    });
    return tokenPrompt;
  }

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  const needsToken = (path) => path.startsWith('/admin/') || path === '/query';

  /** Calls the API: JSON in and out, the bearer token when there is one, 401 asks for it. */
  async function api(method, path, body) {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (authRequired && !token && needsToken(path)) {
        if (!(await askToken())) throw new ApiError(401, 'this action needs the API token');
      }
      const headers = { Accept: 'application/json' };
      if (method !== 'GET') headers['Content-Type'] = 'application/json';
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(path, {
        method,
        headers,
        body: method === 'GET' ? undefined : JSON.stringify(body || {}),
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'error',
      });
      let data = null;
      try { data = await response.json(); } catch (_) { data = null; }
      if (response.status === 401) {
        authRequired = true;
        const hadToken = Boolean(token);
        saveToken(null);
        if (await askToken(hadToken ? 'The token was refused; enter it again.' : null)) continue;
        throw new ApiError(401, 'this action needs the API token', data);
      }
      if (!response.ok) {
        const message = (data && (data.message || data.error)) || `${response.status} ${response.statusText}`;
        throw new ApiError(response.status, `${message} (HTTP ${response.status})`, data);
      }
      return data;
    }
    throw new ApiError(401, 'this action needs the API token');
  }

  /** A native confirmation dialog (Esc or Cancel refuses); resolves true on Confirm. */
  function confirmAction(title, text, okLabel) {
    const dialog = $('#confirm-dialog');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel || 'Confirm';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
    });
  }

  /** Runs `fn` with `button` disabled. */
  async function busy(button, fn) {
    button.disabled = true;
    try { return await fn(); } finally { button.disabled = false; }
  }

  // ---------------------------------------------------------------- live series
  const WINDOW_S = 300;
  const series = new Map();
  let latest = null;

  let seriesStart = null;
  function push(key, t, v) {
    if (v === null || v === undefined || Number.isNaN(v)) return;
    let s = series.get(key);
    if (!s) { s = []; series.set(key, s); }
    if (s.length && s[s.length - 1][0] >= t) return;
    s.push([t, v]);
    if (seriesStart === null || t < seriesStart) seriesStart = t;
    while (s.length && s[0][0] < t - WINDOW_S) s.shift();
  }

  function record(snap) {
    const t = snap.t / 1000;
    for (const n of snap.nodes) {
      push(`probe:${n.replica_id}`, t, n.latency_ms);
      if (n.role === 'primary') continue;
      push(`lag:${n.replica_id}`, t, n.replication_lag);
      push(`lags:${n.replica_id}`, t, n.replication_lag_seconds);
    }
    const st = snap.stats || {};
    push('qps:total', t, st.throughput_qps);
    for (const [label, v] of Object.entries(st.qps || {})) push(`qps:${label}`, t, v);
    for (const [route, p] of Object.entries(st.latency_ms || {})) {
      for (const q of ['p50', 'p95', 'p99']) push(`lat:${route}:${q}`, t, p[q]);
    }
    for (const [level, p] of Object.entries(st.latency_by_level_ms || {})) {
      for (const q of ['p50', 'p95', 'p99']) push(`latl:${level}:${q}`, t, p[q]);
    }
    const qw = st.quorum_wait_ms || {};
    for (const q of ['p50', 'p95', 'p99']) push(`qw:${q}`, t, qw[q]);
  }

  // ---------------------------------------------------------------- charts (hand-drawn SVG)
  /** The top of a chart's y axis: 4 gridline steps of a round size, covering `v`. */
  function niceMax(v, least) {
    v = Math.max(v, least || 0);
    if (!(v > 0)) return 1;
    const step = v / 4;
    const p = Math.pow(10, Math.floor(Math.log10(step)));
    for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step <= m * p + 1e-12) return 4 * m * p;
    return 40 * p;
  }

  /** Draws `lines` ({key, label, color, dash}) into the chart figure `id`. */
  function drawChart(id, lines, fmt, least) {
    const fig = document.getElementById(id);
    const el = fig.querySelector('svg');
    const box = el.getBoundingClientRect();
    const W = Math.max(200, Math.round(box.width) || 400);
    const H = Math.max(100, Math.round(box.height) || 180);
    const padL = 58, padR = 8, padT = 8, padB = 18;
    const now = latest ? latest.t / 1000 : Date.now() / 1000;
    // The window grows with the data, from 1 minute to WINDOW_S, so a page just opened is
    // readable too.
    const span = seriesStart === null ? 0 : now - seriesStart;
    const windowS = Math.min(WINDOW_S, Math.max(60, Math.ceil(span / 30) * 30));
    const t0 = now - windowS;
    let max = 0, points = 0;
    for (const line of lines) for (const [t, v] of series.get(line.key) || []) if (t >= t0) max = Math.max(max, v);
    const yMax = niceMax(max, least);
    const x = (t) => padL + ((t - t0) / windowS) * (W - padL - padR);
    const y = (v) => padT + (1 - v / yMax) * (H - padT - padB);
    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      parts.push(svg('line', { class: 'gridline', x1: padL, x2: W - padR, y1: y(v), y2: y(v) }));
      const label = svg('text', { class: 'axis', x: padL - 4, y: y(v) + 3, 'text-anchor': 'end' });
      label.textContent = fmt(v);
      parts.push(label);
    }
    const tick = windowS <= 120 ? 15 : 60;
    for (let back = Math.floor(windowS / tick) * tick; back >= 0; back -= tick) {
      const anchor = back === windowS ? 'start' : back === 0 ? 'end' : 'middle';
      const label = svg('text', { class: 'axis', x: x(now - back), y: H - 4, 'text-anchor': anchor });
      label.textContent = back === 0 ? 'now' : tick === 60 ? `−${back / 60} min` : `−${back} s`;
      parts.push(label);
    }
    lines.forEach((line, i) => {
      const data = (series.get(line.key) || []).filter(([t]) => t >= t0);
      points += data.length;
      // A gap of more than 2.5 s (no statements, or a node that changed role) breaks the line.
      let seg = [];
      const color = line.color ?? i % 8;
      const flush = () => {
        if (seg.length === 1) {
          parts.push(svg('circle', { class: `dot f${color}`, cx: x(seg[0][0]).toFixed(1), cy: y(seg[0][1]).toFixed(1), r: 2.5 }));
        } else if (seg.length > 1) {
          parts.push(svg('polyline', {
            class: `line s${color}${line.dash ? ' dash' + line.dash : ''}`,
            points: seg.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
          }));
        }
        seg = [];
      };
      let prev = null;
      for (const p of data) {
        if (prev !== null && p[0] - prev > 2.5) flush();
        seg.push(p);
        prev = p[0];
      }
      flush();
    });
    el.setAttribute('viewBox', `0 0 ${W} ${H}`);
    el.replaceChildren(...parts);
    fig.dataset.points = String(points);
    const legendKey = lines.map((l) => l.key).join('|');
    const legend = fig.querySelector('.legend');
    if (legend.dataset.key !== legendKey) {
      legend.dataset.key = legendKey;
      legend.replaceChildren(...lines.map((line, i) => {
        return h('span', {}, h('i', { class: `k${line.color ?? i % 8}${line.dash ? ' dash' + line.dash : ''}` }), line.label);
      }));
    }
  }

  function renderCharts() {
    if (!latest) return;
    const ids = latest.nodes.map((n) => n.replica_id);
    const everReplica = ids.filter((id) => series.has(`lag:${id}`));
    const colorOf = (id) => ids.indexOf(id) % 8;
    drawChart('chart-lag', everReplica.map((id) => ({ key: `lag:${id}`, label: id, color: colorOf(id) })), (v) => fmtInt(v) + ' w', 4);
    drawChart('chart-lag-s', everReplica.map((id) => ({ key: `lags:${id}`, label: id, color: colorOf(id) })), (v) => (v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : Math.round(v)) + ' s');
    const lat = [];
    ['primary', 'replica'].forEach((route, r) => {
      ['p50', 'p95', 'p99'].forEach((q, d) => lat.push({ key: `lat:${route}:${q}`, label: `${route} ${q}`, color: r === 0 ? 0 : 1, dash: d }));
    });
    drawChart('chart-latency', lat, (v) => fmtMs(v));
    const latl = [];
    ['EVENTUAL', 'CAUSAL', 'STRONG'].forEach((level, c) => {
      ['p50', 'p95', 'p99'].forEach((q, d) => latl.push({ key: `latl:${level}:${q}`, label: `${level} ${q}`, color: c + 2, dash: d }));
    });
    drawChart('chart-latency-level', latl, (v) => fmtMs(v));
    const qps = [{ key: 'qps:total', label: 'total', color: 7 }];
    let c = 0;
    for (const key of [...series.keys()].filter((k) => k.startsWith('qps:') && k !== 'qps:total').sort()) {
      if ((series.get(key) || []).some(([, v]) => v > 0)) qps.push({ key, label: key.slice(4), color: c++ % 7 });
    }
    drawChart('chart-qps', qps, (v) => (v < 10 ? v.toFixed(1) : Math.round(v)) + ' /s', 4);
    drawChart('chart-quorum', ['p50', 'p95', 'p99'].map((q, d) => ({ key: `qw:${q}`, label: q, color: 2, dash: d })), (v) => fmtMs(v));
    drawChart('chart-probe', ids.map((id) => ({ key: `probe:${id}`, label: id, color: colorOf(id) })), (v) => fmtMs(v));
  }

  // ---------------------------------------------------------------- cluster at a glance
  function nodeCard(n) {
    const role = n.role;
    const replica = role !== 'primary';
    return h('article', { class: 'card', 'data-node': n.replica_id, 'data-role': role, 'data-healthy': String(n.is_healthy) },
      h('header', {},
        h('h3', {}, n.replica_id),
        h('span', {},
          h('span', { class: `badge ${role}` }, role), ' ',
          h('span', { class: `badge ${n.is_healthy ? 'up' : 'down'}` }, n.is_healthy ? 'healthy' : 'unhealthy'))),
      kv([
        ['host', n.host],
        ['server_id', n.server_id ?? dash],
        ['GTID seq', fmtInt(n.gtid_seq), { 'data-field': 'gtid' }],
        ['lag', replica ? `${fmtWrites(n.replication_lag)} · ${fmtSeconds(n.replication_lag_seconds)}` : '0 (primary)', { 'data-field': 'lag' }],
        ['probe latency', fmtMs(n.latency_ms)],
        ['uptime', fmtDuration(n.uptime_seconds)],
        ['crashes', fmtInt(n.crash_count)],
        ['replication', replica ? `IO ${yesNo(n.io_running)} · SQL ${yesNo(n.sql_running)}` : undefined],
        ['Cabinet weight', n.weight === null || n.weight === undefined ? dash : n.weight.toFixed(3)],
        ['pool', `${fmtInt(n.pool_busy)} busy · ${fmtInt(n.pool_idle)} idle`],
        ['last error', n.last_error || undefined, { class: 'error' }],
      ]));
  }

  function renderCabinet(snap) {
    const q = snap.quorum;
    const body = $('#cabinet-body');
    body.classList.remove('muted');
    if (!q) {
      body.replaceChildren(h('p', { class: 'muted' }, 'No quorum tracker: this proxy has no replicas to wait for.'));
      return;
    }
    const weights = snap.nodes.filter((n) => n.weight !== null && n.weight !== undefined)
      .sort((a, b) => b.weight - a.weight);
    const top = weights.length ? weights[0].weight : 1;
    const inQuorum = new Set([snap.primary, ...q.predicted]);
    body.replaceChildren(
      h('p', {}, 'Next STRONG write waits for: ',
        q.predicted.length ? h('b', { 'data-field': 'quorum' }, q.predicted.join(', ')) : h('b', { class: 'error', 'data-field': 'quorum' }, q.unavailable || 'no quorum possible'),
        ` (plus the primary; t = ${q.failure_threshold}, a quorum weighs more than ${q.threshold.toFixed(3)})`),
      table(['node', 'weight', ''], weights.map((n) => {
        const bar = h('div', { class: 'bar' }, h('span'));
        bar.firstChild.style.width = `${Math.max(2, (n.weight / top) * 100)}%`;
        return h('tr', {},
          h('td', {}, n.replica_id, inQuorum.has(n.replica_id) ? ' ✓' : ''),
          h('td', { class: 'num' }, n.weight.toFixed(3)),
          h('td', { class: 'barcell' }, bar));
      })),
      kv([
        ['writes waiting now', fmtInt(q.pending)],
        ['quorums reached', fmtInt(q.achieved)],
        ['quorum timeouts', fmtInt(q.timed_out)],
        ['wait bound', fmtMs(q.timeout_ms)],
      ]));
  }

  function candidatesTable(candidates) {
    return table(['#', 'replica', 'score', 'eligible', 'latency', 'lag (writes)'],
      candidates.map((c, i) => h('tr', { class: c.eligible ? '' : 'ineligible' },
        h('td', { class: 'num' }, i + 1),
        h('td', {}, c.id, h('div', { class: 'muted small' }, c.reason)),
        h('td', { class: 'num' }, c.score.toFixed(3)),
        h('td', {}, c.eligible ? 'yes' : 'no'),
        h('td', { class: 'num' }, fmtMs(c.latency_ms)),
        h('td', { class: 'num' }, fmtInt(c.replication_lag)))));
  }

  function renderSeer(snap) {
    const s = snap.seer;
    const body = $('#seer-body');
    body.classList.remove('muted');
    body.replaceChildren(
      h('p', {}, 'Would promote: ', h('b', {}, s.leader || 'nobody (no eligible replica)'),
        ` · must hold GTID ≥ ${fmtInt(s.required_position)}`),
      candidatesTable(s.candidates));
  }

  function renderProxy(snap) {
    const p = snap.proxy;
    const body = $('#proxy-body');
    body.classList.remove('muted');
    const pins = Object.entries(p.pins);
    body.replaceChildren(kv([
      ['client sessions', fmtInt(p.sessions), { 'data-field': 'sessions' }],
      ['pinned to the primary now', fmtInt(p.pinned_now)],
      ['pool: opened', fmtInt(p.pool_opened)],
      ['pool: reused', fmtInt(p.pool_reused)],
      ['pool: discarded', fmtInt(p.pool_discarded)],
      ['pool: refused (caps)', fmtInt(p.pool_refused)],
      ['throughput (last second)', fmtRate(snap.stats.throughput_qps)],
    ]), h('h4', {}, 'Pins since start, by reason'),
    pins.length ? kv(pins.map(([k, v]) => [k, fmtInt(v)])) : h('p', { class: 'muted small' }, 'none'));
  }

  function syncSelect(select, ids) {
    const key = ids.join('|');
    if (select.dataset.key === key) return;
    const keep = select.value;
    select.dataset.key = key;
    select.replaceChildren(...ids.map((id) => h('option', { value: id }, id)));
    if (ids.includes(keep)) select.value = keep;
  }

  function renderOverview(snap) {
    $('#nodes').replaceChildren(...snap.nodes.map(nodeCard));
    renderCabinet(snap);
    renderSeer(snap);
    renderProxy(snap);
    $('#pill-primary').textContent = `primary: ${snap.primary}${snap.failover_in_progress ? ' (failover running)' : ''}`;
    $('#pill-epoch').textContent = `epoch ${snap.epoch}`;
    $('#pill-seq').textContent = `GTID ${fmtInt(snap.primary_seq)}`;
    for (const el of document.querySelectorAll('.primary-name')) el.textContent = snap.primary;
    const replicas = snap.nodes.filter((n) => n.role === 'replica').map((n) => n.replica_id);
    syncSelect($('#switchover-target'), replicas);
    syncSelect($('#promote-target'), replicas);
  }

  // ---------------------------------------------------------------- event stream
  let renderQueued = false;
  let firstSnapshot = true;
  function onSnapshot(snap) {
    latest = snap;
    record(snap);
    if (snap.auth_required && !authRequired) authRequired = true;
    if (firstSnapshot) {
      firstSnapshot = false;
      afterFirstSnapshot();
    }
    if (!renderQueued) {
      renderQueued = true;
      setTimeout(() => {
        renderQueued = false;
        renderOverview(latest);
        renderCharts();
      }, 50);
    }
  }

  function connect() {
    const pill = $('#pill-feed');
    const source = new EventSource('/events');
    source.addEventListener('open', () => { pill.dataset.state = 'open'; pill.textContent = 'live'; });
    source.addEventListener('error', () => {
      pill.dataset.state = 'error';
      pill.textContent = 'live: reconnecting';
    });
    source.addEventListener('snapshot', (e) => {
      try { onSnapshot(JSON.parse(e.data)); } catch (err) { console.warn('bad snapshot', err); }
    });
  }

  // ---------------------------------------------------------------- per-table timestamps
  async function refreshTables() {
    let data;
    try { data = await api('GET', '/table-timestamps'); } catch (e) {
      $('#ts-table').replaceChildren(h('tbody', {}, h('tr', {}, h('td', { class: 'error' }, e.message))));
      return;
    }
    const tables = Object.keys(data.master.table_timestamps).sort();
    const head = ['table', `${data.master.id} (primary)`, ...data.replicas.map((r) => r.id)];
    const lagCell = (ts, lag) => h('td', { class: `num${lag > 0 ? (lag >= 10 ? ' lag2' : ' lag1') : ''}` },
      ts === null || ts === undefined ? dash : fmtInt(ts), lag > 0 ? ` (−${fmtInt(lag)})` : '');
    const rows = [h('tr', { 'data-table': '*' }, h('td', {}, h('b', {}, 'all writes (global)')),
      h('td', { class: 'num' }, fmtInt(data.master.global_timestamp)),
      ...data.replicas.map((r) => lagCell(r.global_timestamp, r.global_lag)))];
    for (const t of tables) {
      rows.push(h('tr', { 'data-table': t }, h('td', {}, t),
        h('td', { class: 'num', 'data-field': 'primary-ts' }, fmtInt(data.master.table_timestamps[t])),
        ...data.replicas.map((r) => lagCell(r.table_timestamps[t], r.table_lag[t] || 0))));
    }
    const tableEl = $('#ts-table');
    tableEl.replaceChildren(h('caption', { class: 'sr-only' }, 'Per-table timestamps'),
      h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))), h('tbody', {}, rows));
  }

  // ---------------------------------------------------------------- failover
  function logFailover(what, ok, text) {
    const li = h('li', { class: ok ? 'ok' : 'error' }, `${new Date().toLocaleTimeString()} · ${what}: `, text);
    $('#failover-log').prepend(li);
  }

  function describeFailover(r) {
    const rep = r.report || {};
    return h('div', {},
      h('p', {}, r.message),
      kv([
        ['old primary', r.old_master],
        ['new primary', r.new_master],
        ['epoch', rep.epoch === undefined ? undefined : String(rep.epoch)],
        ['replicas re-pointed', (r.reconfigured_replicas || []).join(', ') || dash],
        ['not re-pointed', rep.not_reconfigured && rep.not_reconfigured.length ? rep.not_reconfigured.join('; ') : undefined],
        ['required position', rep.required_position === undefined ? undefined : fmtInt(rep.required_position)],
        ['may be lost', rep.may_be_lost && rep.may_be_lost.length ? rep.may_be_lost.join(', ') : undefined],
        ['took', rep.duration_ms === undefined ? undefined : fmtMs(rep.duration_ms)],
      ]),
      rep.candidates ? candidatesTable(rep.candidates) : null);
  }

  async function refreshStatus() {
    try {
      const s = await api('GET', '/status');
      const el = $('#last-failover');
      const parts = [];
      if (s.last_failover) {
        const r = s.last_failover;
        parts.push(h('p', {}, `${r.old_master} → ${r.new_master}, epoch ${r.epoch}, took ${fmtMs(r.duration_ms)}`));
      }
      if (s.fenced && s.fenced.length) parts.push(h('p', {}, `fenced (not routed to): ${s.fenced.join(', ')}`));
      if (s.failover_refused) parts.push(h('p', { class: 'error' }, `last automatic failover refused: ${s.failover_refused.reason}`));
      el.classList.toggle('muted', parts.length === 0);
      el.replaceChildren(...(parts.length ? parts : ['none since start']));
    } catch (e) {
      $('#last-failover').textContent = e.message;
    }
  }

  /** Runs one step: its list item shows running / ok / error and the result. */
  async function runStep(name, button, fn, describe) {
    const li = document.querySelector(`#steps li[data-step="${name}"]`);
    const out = li ? li.querySelector('.step-result') : null;
    if (li) li.dataset.state = 'running';
    if (out) out.replaceChildren('running…');
    const started = performance.now();
    try {
      const result = await busy(button, fn);
      if (result === undefined) { if (li) delete li.dataset.state; if (out) out.replaceChildren(); return null; }
      const took = ` (${fmtMs(performance.now() - started)})`;
      if (li) li.dataset.state = 'ok';
      if (out) out.replaceChildren(describe(result), h('p', { class: 'muted small' }, 'done' + took));
      logFailover(name, true, (result.message || 'done') + took);
      return result;
    } catch (e) {
      if (li) li.dataset.state = 'error';
      const extra = e.body && e.body.candidates ? candidatesTable(e.body.candidates) : null;
      if (out) out.replaceChildren(h('p', { class: 'error' }, e.message), extra || '');
      logFailover(name, false, e.message);
      return null;
    } finally {
      refreshStatus();
    }
  }

  function primaryNow() { return latest ? latest.primary : null; }

  function setupFailover() {
    $('#step-stop').addEventListener('click', (e) => runStep('stop', e.currentTarget, async () => {
      const p = primaryNow();
      if (!(await confirmAction('Stop the primary?', `Stops ${p}'s server. Writes fail until a replica is promoted (the failover detector may promote one on its own).`, 'Stop primary'))) return undefined;
      return api('POST', '/admin/stop-master-only', { master_id: p });
    }, (r) => h('p', {}, `${r.message} (${r.stopped_container})`)));

    $('#step-elect').addEventListener('click', (e) => runStep('elect', e.currentTarget,
      async () => {
        const r = await api('POST', '/elect-leader', {});
        return Object.assign({ message: `SEER picks ${r.leader_id} (score ${r.score.toFixed(3)})` }, r);
      },
      (r) => {
        const select = $('#promote-target');
        if (![...select.options].some((o) => o.value === r.leader_id)) select.append(h('option', { value: r.leader_id }, r.leader_id));
        select.value = r.leader_id;
        return h('div', {}, h('p', {}, `SEER picks ${r.leader_id} (score ${r.score.toFixed(3)}); must hold GTID ≥ ${fmtInt(r.required_position)}`),
          candidatesTable(r.candidates));
      }));

    $('#step-promote').addEventListener('click', (e) => runStep('promote', e.currentTarget, async () => {
      const target = $('#promote-target').value;
      if (!target) throw new Error('choose a replica to promote (run the election first)');
      if (!(await confirmAction('Promote a replica?', `Promotes ${target} to primary and fences ${primaryNow()}.`, `Promote ${target}`))) return undefined;
      return api('POST', '/admin/promote-leader', { new_leader: target });
    }, describeFailover));

    $('#step-restart').addEventListener('click', (e) => runStep('restart', e.currentTarget, async () => {
      if (!(await confirmAction('Restart the old primary?', 'Starts the last failover\'s old primary and rejoins it as a read-only replica of the current primary.', 'Restart'))) return undefined;
      return api('POST', '/admin/restart-old-master', {});
    }, (r) => h('p', {}, `${r.message}; ${r.total_replicas} replicas`)));

    $('#auto-failover').addEventListener('click', (e) => runStep('automatic failover', e.currentTarget, async () => {
      if (!(await confirmAction('Fail over now?', `SEER picks the best eligible replica, it is promoted and ${primaryNow()} is fenced (it stays running but is never routed to until it rejoins).`, 'Fail over'))) return undefined;
      const r = await api('POST', '/elect-leader', { apply: true });
      return Object.assign({ message: `${r.leader_id} promoted` }, r);
    }, (r) => h('div', {}, h('p', {}, r.message), candidatesTable(r.candidates || []))));

    $('#kill-failover').addEventListener('click', (e) => runStep('stop primary and fail over', e.currentTarget, async () => {
      if (!(await confirmAction('Stop the primary and fail over?', `Stops ${primaryNow()}'s server, then SEER picks and promotes a replica.`, 'Stop and fail over'))) return undefined;
      return api('POST', '/admin/stop-master', {});
    }, describeFailover));

    $('#switchover').addEventListener('click', (e) => runStep('switchover', e.currentTarget, async () => {
      const to = $('#switchover-target').value;
      if (!to) throw new Error('no replica to switch over to');
      if (!(await confirmAction('Switch over?', `Planned handover without loss: writes wait, ${primaryNow()} is fenced, ${to} applies everything and is promoted, and ${primaryNow()} rejoins as a replica.`, `Switch over to ${to}`))) return undefined;
      return api('POST', '/admin/switchover', { to });
    }, describeFailover));
  }

  // ---------------------------------------------------------------- stress
  async function refreshDataCount() {
    const el = $('#data-count');
    try {
      const d = await api('GET', '/admin/stress-test/data-count');
      el.classList.remove('muted');
      const rows = (n) => `${fmtInt(n)} row${n === 1 ? '' : 's'}`;
      el.textContent = `users: ${rows(d.users)} · products: ${rows(d.products)} · total: ${rows(d.total)}`;
    } catch (e) {
      el.textContent = e.message;
    }
  }

  async function statementsRun() {
    const m = await api('GET', '/consistency-metrics');
    return Object.values(m).reduce((sum, level) => sum + (level && level.total_count ? level.total_count : 0), 0);
  }

  function reportView(r) {
    const errors = Object.entries(r.errors || {});
    return h('div', {},
      h('div', { class: 'summary' },
        h('span', {}, 'succeeded ', h('b', {}, `${fmtInt(r.successful)} / ${fmtInt(r.total_operations)}`)),
        h('span', {}, 'throughput ', h('b', { 'data-field': 'throughput' }, `${r.throughput_ops_per_sec.toFixed(1)} ops/s`)),
        h('span', {}, 'took ', h('b', {}, `${r.duration_seconds.toFixed(2)} s`))),
      kv([
        ['level', r.consistency_level],
        ['failed', fmtInt(r.failed)],
        ['writes · reads', `${fmtInt(r.writes)} · ${fmtInt(r.reads)}`],
        ['latency avg', fmtMs(r.avg_latency_ms)],
        ['latency min · max', `${fmtMs(r.min_latency_ms)} · ${fmtMs(r.max_latency_ms)}`],
        ['latency p50 · p95 · p99', `${fmtMs(r.p50_latency_ms)} · ${fmtMs(r.p95_latency_ms)} · ${fmtMs(r.p99_latency_ms)}`],
        ['timestamps', r.timestamp_range && r.timestamp_range.min !== null ? `${fmtInt(r.timestamp_range.min)} … ${fmtInt(r.timestamp_range.max)}` : dash],
        ['timestamps unique', yesNo(r.timestamps_unique)],
        ['timestamps follow real time', yesNo(r.timestamps_ordered)],
        ['quorum not achieved', fmtInt(r.quorum_not_achieved)],
      ]),
      errors.length ? h('div', {}, h('h4', {}, 'Errors'), kv(errors.map(([m, n]) => [m, `${fmtInt(n)}×`]))) : null);
  }

  function comparisonView(r) {
    const levels = Object.keys(r.results);
    const row = (label, f) => h('tr', {}, h('th', {}, label), ...levels.map((l) => h('td', { class: 'num' }, f(r.results[l]))));
    return h('div', {},
      h('p', {}, `${fmtInt(r.operations_per_level)} writes per level · fastest ${r.summary.fastest} · most reliable ${r.summary.most_reliable} · highest throughput ${r.summary.highest_throughput}`),
      table(['', ...levels], [
        row('succeeded', (x) => `${fmtInt(x.successful)} / ${fmtInt(x.total_operations)}`),
        row('throughput', (x) => `${x.throughput_ops_per_sec.toFixed(1)} ops/s`),
        row('latency avg', (x) => fmtMs(x.avg_latency_ms)),
        row('latency p50', (x) => fmtMs(x.p50_latency_ms)),
        row('latency p95', (x) => fmtMs(x.p95_latency_ms)),
        row('latency p99', (x) => fmtMs(x.p99_latency_ms)),
        row('timestamps unique', (x) => yesNo(x.timestamps_unique)),
        row('timestamps follow real time', (x) => yesNo(x.timestamps_ordered)),
        row('quorum not achieved', (x) => fmtInt(x.quorum_not_achieved)),
      ]));
  }

  function readAfterWriteView(r) {
    const levels = [['STRONG', r.strong_results], ['EVENTUAL', r.eventual_results]];
    const row = (label, f) => h('tr', {}, h('th', {}, label), ...levels.map(([, x]) => h('td', { class: 'num' }, f(x))));
    return h('div', {},
      h('p', {}, r.summary.message),
      table(['', ...levels.map(([l]) => l)], [
        row('trials', (x) => fmtInt(x.trials)),
        row('fresh reads', (x) => fmtInt(x.fresh_reads)),
        row('stale reads', (x) => fmtInt(x.stale_reads)),
        row('failed', (x) => fmtInt(x.failed)),
        row('stale read rate', (x) => `${x.stale_read_rate.toFixed(1)} %`),
        row('write latency avg', (x) => fmtMs(x.avg_write_latency_ms)),
        row('read latency avg', (x) => fmtMs(x.avg_read_latency_ms)),
        row('reads by node', (x) => Object.entries(x.reads_by_node).map(([n, c]) => `${n}: ${c}`).join(', ') || dash),
      ]));
  }

  function setupStress() {
    const form = $('#stress-form');
    const testSel = $('#stress-test');
    const size = $('#stress-size');
    const level = $('#stress-level');
    const sync = () => {
      const t = testSel.value;
      level.disabled = t === 'consistency-comparison' || t === 'read-after-write';
      size.max = t === 'read-after-write' ? '1000' : '10000';
      $('label[for="stress-size"]').textContent = t === 'read-after-write' ? 'Trials' : t === 'consistency-comparison' ? 'Writes per level' : 'Operations';
    };
    testSel.addEventListener('change', sync);
    sync();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const t = testSel.value;
      const n = Math.max(1, Math.min(Number(size.max), Math.floor(Number(size.value) || 1)));
      size.value = n;
      const expected = { 'concurrent-writes': n, 'read-write-mix': n, 'consistency-comparison': 2 * n, 'read-after-write': 4 * n }[t];
      let path = `/admin/stress-test/${t}`;
      let body = { num_operations: n, consistency: level.value };
      if (t === 'consistency-comparison') { path += `?num_operations=${n}`; body = {}; }
      if (t === 'read-after-write') { path += `?num_trials=${n}`; body = {}; }
      const progress = $('#stress-progress');
      const bar = progress.querySelector('progress');
      const label = progress.querySelector('span');
      const out = $('#stress-result');
      progress.hidden = false;
      bar.value = 0;
      out.classList.add('muted');
      out.replaceChildren('running…');
      const started = performance.now();
      let base = null;
      try { base = await statementsRun(); } catch (_) { base = null; }
      const timer = setInterval(async () => {
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        if (base === null) { label.textContent = `${secs} s`; return; }
        try {
          const done = Math.min(expected, (await statementsRun()) - base);
          bar.value = (100 * done) / expected;
          label.textContent = `≈ ${fmtInt(done)} / ${fmtInt(expected)} statements · ${secs} s`;
        } catch (_) { label.textContent = `${secs} s`; }
      }, 500);
      await busy($('#stress-run'), async () => {
        try {
          const r = await api('POST', path, body);
          bar.value = 100;
          out.classList.remove('muted');
          out.replaceChildren(t === 'consistency-comparison' ? comparisonView(r) : t === 'read-after-write' ? readAfterWriteView(r) : reportView(r));
        } catch (err) {
          out.classList.remove('muted');
          out.replaceChildren(h('p', { class: 'error' }, err.message));
        } finally {
          clearInterval(timer);
          label.textContent = `done in ${((performance.now() - started) / 1000).toFixed(2)} s`;
          refreshDataCount();
        }
      });
    });
    $('#data-refresh').addEventListener('click', () => refreshDataCount());
    $('#data-clear').addEventListener('click', (e) => busy(e.currentTarget, async () => {
      if (!(await confirmAction('Clear data?', 'Deletes every row of the demo tables users and products.', 'Clear data'))) return;
      try {
        const r = await api('POST', '/admin/clear-data', {});
        $('#stress-result').replaceChildren(h('p', {}, r.message));
      } catch (err) {
        $('#stress-result').replaceChildren(h('p', { class: 'error' }, err.message));
      }
      refreshDataCount();
    }));
  }

  // ---------------------------------------------------------------- query console
  function cell(v) {
    if (v === null || v === undefined) return h('td', { class: 'muted' }, 'NULL');
    if (typeof v === 'object') return h('td', {}, JSON.stringify(v));
    return h('td', { class: typeof v === 'number' ? 'num' : '' }, String(v));
  }

  function queryView(r) {
    const fields = [
      ['executed on', r.executed_on, 'executed_on'],
      ['level', r.consistency_level, 'level'],
      ['timestamp', r.timestamp === null ? 'none (nothing changed)' : String(r.timestamp), 'timestamp'],
      ['latency', fmtMs(r.latency_ms), 'latency'],
      ['rows affected', fmtInt(r.rows_affected), 'rows_affected'],
      ['quorum', r.quorum_achieved === null ? 'n/a' : r.quorum_achieved ? 'achieved' : 'NOT achieved (timed out)', 'quorum'],
      ['replicas caught up', r.replica_caught_up ? r.replica_caught_up.join(', ') || 'none' : 'n/a', 'caught_up'],
      ['warnings', fmtInt(r.warnings), 'warnings'],
    ];
    const out = [h('p', { class: 'ok' }, r.message),
      h('div', { class: 'summary' }, fields.map(([k, v, f]) => h('span', {}, `${k} `, h('b', { 'data-field': f }, v))))];
    if (r.data) {
      const cols = r.columns || (r.data[0] ? Object.keys(r.data[0]) : []);
      out.push(h('p', { class: 'muted small' }, `${fmtInt(r.data.length)} row${r.data.length === 1 ? '' : 's'}${r.truncated ? ' (truncated by the server\'s caps)' : ''}`));
      out.push(h('div', { class: 'scroll' }, table(cols, r.data.map((row) => h('tr', {}, cols.map((c) => cell(row[c])))), { id: 'query-rows' })));
    }
    return out;
  }

  function setupConsole() {
    const form = $('#query-form');
    const sql = $('#query-sql');
    const run = async () => {
      const out = $('#query-result');
      const body = { query: sql.value, consistency: $('#query-level').value };
      const after = $('#query-after').value.trim();
      if (after !== '' && body.consistency === 'CAUSAL') body.after_timestamp = Number(after);
      out.replaceChildren(h('p', { class: 'muted' }, 'running…'));
      await busy($('#query-run'), async () => {
        try {
          const r = await api('POST', '/query', body);
          out.replaceChildren(...queryView(r));
          out.dataset.state = 'ok';
          if (r.is_write) { refreshTables(); refreshDataCount(); }
        } catch (e) {
          const code = e.body && e.body.error && typeof e.body.error === 'object' && e.body.error.code
            ? ` [${e.body.error.code}${e.body.error.sqlstate ? ' / ' + e.body.error.sqlstate : ''}]` : '';
          out.replaceChildren(h('p', { class: 'error', 'data-field': 'error' }, e.message + code));
          out.dataset.state = 'error';
        }
      });
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
    sql.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
    });
  }

  // ---------------------------------------------------------------- start
  function afterFirstSnapshot() {
    const admin = () => { refreshDataCount(); };
    if (authRequired && !token) askToken().then((ok) => { if (ok) admin(); });
    else admin();
  }

  function start() {
    for (const button of document.querySelectorAll('dialog button.cancel')) {
      button.addEventListener('click', () => button.closest('dialog').close('cancel'));
    }
    $('#token-button').addEventListener('click', () => askToken());
    setupFailover();
    setupStress();
    setupConsole();
    connect();
    refreshTables();
    refreshStatus();
    setInterval(refreshTables, 2000);
    setInterval(refreshStatus, 5000);
    window.addEventListener('resize', () => renderCharts());
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
