// The WTB viewer: a single page over the documents `wtb --format json` prints.
// Served by `wtb view` it fetches them from /api; inside a `wtb report` file the
// documents are embedded in the page and filtered here. Every string from the
// database is set as text, never parsed as HTML.
'use strict';

const REPORT = (() => {
  const el = document.getElementById('wtb-data');
  return el ? JSON.parse(el.textContent) : null;
})();
if (REPORT) document.body.classList.add('report');

const PAGE = 50;
let pollTimer = null;

// ---------- data ----------

async function get(path) {
  if (REPORT) return reportGet(path);
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  let body;
  try { body = await r.json(); } catch (e) { throw new Error(r.status + ' ' + r.statusText); }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// reportGet answers the API's paths from the documents a report embeds.
function reportGet(path) {
  const u = new URL(path, 'http://report/');
  const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const id = REPORT.leaderboard.batch_id;
  if (parts[1] === 'batches' && parts.length === 2) return { format_version: 1, kind: 'batches', batches: [REPORT.leaderboard.batch] };
  if (parts[1] === 'batches' && parts[2] !== id && parts[2] !== 'latest') throw new Error('this report holds batch ' + id + ' only');
  if (parts.length === 3) return REPORT.leaderboard;
  if (parts[3] === 'executions' && parts.length === 4) {
    const q = u.searchParams;
    let rows = REPORT.executions.executions.filter((r) =>
      (!q.get('combination') || r.combination === q.get('combination')) &&
      (!q.get('case') || r.case_id === q.get('case')) &&
      (!q.get('status') || r.status === q.get('status')) &&
      (!q.get('min') || r.overall_score >= Number(q.get('min'))) &&
      (!q.get('max') || r.overall_score <= Number(q.get('max'))));
    const offset = Number(q.get('offset') || 0), limit = Number(q.get('limit') || PAGE);
    return { format_version: 1, kind: 'executions', batch_id: id, total: rows.length, offset, executions: rows.slice(offset, offset + limit) };
  }
  if (parts[3] === 'executions') {
    const key = parts.slice(4).join('/');
    const d = REPORT.details[key];
    if (!d) throw new Error('this report holds the details of ' + Object.keys(REPORT.details).length +
      ' executions (failures first); open the database with `wtb view` for ' + key);
    return d;
  }
  throw new Error('not available in a report: ' + path);
}

// ---------- DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const fmt = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const pct = (x) => (x === null || x === undefined ? '–' : (100 * x).toFixed(0) + '%');
const ms = (x) => (x >= 1000 ? (x / 1000).toFixed(2) + ' s' : Number(x).toFixed(x < 10 ? 1 : 0) + ' ms');
const when = (t) => (t ? new Date(t).toLocaleString() : '–');
const badge = (text, cls) => h('span', { class: 'badge ' + (cls || text).replace(/\s+/g, '-') }, text);
const json = (v) => JSON.stringify(v, null, 2);
const brief = (v, n = 80) => { const t = v === undefined ? '' : JSON.stringify(v); return t.length > n ? t.slice(0, n - 1) + '…' : t; };
const link = (hash, text, attrs) => h('a', Object.assign({ href: hash }, attrs || {}), text);
const batchHash = (id, params) => '#/batch/' + encodeURIComponent(id) + (params && [...params].length ? '?' + params : '');
const execHash = (id, key) => '#/execution/' + encodeURIComponent(id) + '/' + encodeURIComponent(key);

function verdictBadge(v) {
  if (!v) return '';
  const cls = v === 'thresholds met' ? 'ok' : v === 'thresholds missed' ? 'bad' : v === 'incomplete' ? 'warn' : '';
  return badge(v, cls);
}

// ---------- routing ----------

function route() {
  const raw = location.hash.replace(/^#/, '') || (REPORT ? '/batch/' + encodeURIComponent(REPORT.leaderboard.batch_id) : '/');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || '') };
}

async function render() {
  clearTimeout(pollTimer);
  document.getElementById('live').hidden = true;
  const app = document.getElementById('app');
  const { parts, params } = route();
  const started = performance.now();
  try {
    let view;
    if (parts[0] === 'batch' && parts[1]) view = await batchPage(parts[1], params);
    else if (parts[0] === 'execution' && parts[1] && parts[2]) view = await executionPage(parts[1], parts.slice(2).join('/'));
    else if (parts[0] === 'compare') view = await comparePage(params);
    else view = await batchesPage();
    lastRenderMs = performance.now() - started;
    app.replaceChildren(view);
  } catch (e) {
    app.replaceChildren(h('p', { class: 'error', 'data-testid': 'error' }, e.message));
  }
}

// poll re-renders while a batch is running: every 2 s, or five times as long
// as the last page took, so a large batch's viewer never keeps the database busy.
let lastRenderMs = 0;
function poll(running) {
  document.getElementById('live').hidden = !running;
  if (running && !REPORT) pollTimer = setTimeout(render, Math.max(2000, 5 * lastRenderMs));
}

// ---------- batches ----------

async function batchesPage() {
  const d = await get('/api/batches');
  const picked = new Set();
  const compareBtn = h('button', { disabled: true, 'data-testid': 'compare-selected',
    onclick: () => { const [a, b] = [...picked]; location.hash = '#/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b); } },
  'Compare the two selected');
  const rows = d.batches.map((b) => {
    const stored = b.stored === null ? '–' : b.stored;
    return h('tr', { 'data-testid': 'batch-row', 'data-batch': b.id },
      h('td', {}, h('input', { type: 'checkbox', title: 'select for compare', onchange: (e) => {
        if (e.target.checked) picked.add(b.id); else picked.delete(b.id);
        compareBtn.disabled = picked.size !== 2;
      } })),
      h('td', {}, link(batchHash(b.id), b.id)),
      h('td', {}, b.name),
      h('td', {}, badge(b.status)),
      h('td', { class: 'num' }, stored + ' / ' + b.total_executions),
      h('td', { class: 'num' }, b.failed === null ? '–' : b.failed),
      h('td', {}, verdictBadge(b.verdict)),
      h('td', {}, b.runner),
      h('td', {}, when(b.started_at)),
      h('td', {}, lineage(b)));
  });
  poll(d.batches.some((b) => b.status === 'running'));
  return h('section', {},
    h('h1', {}, 'Batches'),
    d.batches.length === 0 ? h('p', { class: 'muted' }, 'No batches yet: run one with `wtb run bench.hcl`.') :
      h('table', { 'data-testid': 'batches' },
        h('thead', {}, h('tr', {}, ['', 'Batch', 'Name', 'Status', 'Stored', 'Failed', 'Verdict', 'Runner', 'Started', 'Parent'].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows)),
    h('p', { class: 'server-only' }, compareBtn));
}

// lineage says where a batch came from: a fork of its parent (re-running the
// nodes after one), or a rescore of it (no node ran).
function lineage(b) {
  if (!b.parent_id) return '';
  const parent = link(batchHash(b.parent_id), b.parent_id);
  if (b.lineage === 'rescore') return ['rescored from ', parent];
  return ['forked from ', parent, b.fork_node ? ' at ' + b.fork_node : ''];
}

// ---------- one batch ----------

async function batchPage(id, params) {
  const board = await get('/api/batches/' + encodeURIComponent(id));
  const b = board.batch;
  const q = new URLSearchParams();
  for (const k of ['combination', 'case', 'status', 'min', 'max', 'offset']) if (params.get(k)) q.set(k, params.get(k));
  q.set('limit', PAGE);
  const ex = await get('/api/batches/' + encodeURIComponent(b.id) + '/executions?' + q);
  const sum = board.summary;
  poll(b.status === 'running');
  return h('section', { 'data-testid': 'batch-page' },
    h('h1', {}, board.name, ' ', h('span', { class: 'muted' }, b.id)),
    h('div', { class: 'kv' },
      h('span', {}, badge(b.status)), h('span', {}, verdictBadge(sum.verdict)),
      h('span', {}, h('b', {}, sum.stored), ' of ', sum.total, ' stored'),
      h('span', {}, h('b', {}, sum.failed), ' failed'),
      sum.saved > 0 ? h('span', { 'data-testid': 'saved' }, h('b', {}, sum.saved), ' executions saved by adaptive repeats and racing') : null,
      h('span', {}, 'runner ', h('b', {}, b.runner)),
      h('span', {}, 'started ', when(b.started_at)),
      b.parent_id ? h('span', { 'data-testid': 'lineage' }, lineage(b)) : null,
      h('span', { class: 'server-only' }, link('#/compare?b=' + encodeURIComponent(b.id) + (b.parent_id ? '&a=' + encodeURIComponent(b.parent_id) : ''), 'compare…'))),
    thresholdsLine(board),
    h('h2', {}, 'Leaderboard'),
    leaderboardTable(board),
    h('h2', {}, 'Score and latency distributions'),
    charts(board),
    h('h2', {}, 'Executions'),
    filters(board, params),
    executionsTable(b.id, ex, params));
}

function thresholdsLine(board) {
  const t = board.thresholds, parts = [];
  if (t.overall_score !== null) parts.push('mean score ≥ ' + fmt(t.overall_score, 2));
  if (t.pass_rate !== null) parts.push('pass rate ≥ ' + fmt(t.pass_rate, 2));
  for (const [k, v] of Object.entries(t.evaluators)) parts.push(k + ' ≥ ' + fmt(v, 2));
  return h('p', { class: 'muted', 'data-testid': 'thresholds' },
    parts.length ? 'Thresholds (' + t.applies_to + ' combinations): ' + parts.join(', ') + '. ' : 'No thresholds. ',
    'An execution passes at overall score ≥ ' + fmt(board.pass_score, 2) + '.');
}

function leaderboardTable(board) {
  const evs = board.evaluators;
  const stopping = board.summary.leaderboard.some((c) => c.stopped) || board.summary.saved > 0;
  const stoppedCell = (c) => {
    if (!c.stopped) return h('td', {}, '');
    const d = c.stopped;
    const label = d.kind === 'pruned' ? 'pruned' : d.kind === 'converged' ? 'converged' : 'max repeats';
    return h('td', { title: d.reason, 'data-testid': 'stopped' }, badge(label, d.kind === 'pruned' ? 'warn' : 'ok'));
  };
  const rows = board.summary.leaderboard.map((c) => h('tr', { class: c.rank === 1 ? 'best' : '', 'data-testid': 'combo-row', 'data-combination': c.combination },
    h('td', { class: 'num' }, c.rank),
    h('td', {}, link(batchHash(board.batch.id, new URLSearchParams({ combination: c.combination })), c.combination, { 'data-testid': 'combo-link' })),
    h('td', { class: 'num', 'data-testid': 'mean' }, fmt(c.mean_score)),
    h('td', { class: 'num' }, fmt(c.stddev)),
    h('td', { class: 'num' }, c.ci95 ? '[' + fmt(c.ci95[0]) + ', ' + fmt(c.ci95[1]) + ']' : '–'),
    h('td', { class: 'num', 'data-testid': 'pass-rate', title: '95% Wilson interval ' + pct(c.pass_rate_ci95[0]) + '–' + pct(c.pass_rate_ci95[1]) }, pct(c.pass_rate)),
    h('td', { class: 'num' }, ms(c.p50_ms)),
    h('td', { class: 'num' }, ms(c.p95_ms)),
    h('td', { class: 'num' }, c.succeeded + ' / ' + c.failed),
    evs.map((e) => h('td', { class: 'num' }, fmt(c.evaluator_means[e.name]))),
    stopping ? [h('td', { class: 'num' }, c.repeats), stoppedCell(c)] : null,
    h('td', {}, !board.summary.has_thresholds ? '' : c.thresholds_apply === false ? badge('not required') : c.meets_thresholds ? badge('met', 'ok') : h('span', { title: c.misses.join('; ') }, badge('missed', 'bad')))));
  return h('table', { 'data-testid': 'leaderboard' },
    h('thead', {}, h('tr', {}, ['#', 'Combination', 'Mean', 'Std dev', '95% CI', 'Pass', 'p50', 'p95', 'OK / failed'].map((t, i) =>
      h('th', { class: i === 1 ? '' : 'num' }, t)), evs.map((e) => h('th', { class: 'num', title: e.type + ', weight ' + e.weight }, e.name)),
      stopping ? [h('th', { class: 'num' }, 'Repeats'), h('th', {}, 'Stopped')] : null, h('th', {}, 'Thresholds'))),
    h('tbody', {}, rows));
}

function charts(board) {
  return h('div', { class: 'charts', 'data-testid': 'charts' }, board.summary.leaderboard.map((c) => h('div', { class: 'chart' },
    h('div', { class: 'title', title: c.combination }, '#' + c.rank + ' ' + c.combination),
    histogram(c.score_histogram, 'overall score', (x) => fmt(x, 1)),
    histogram(c.latency_histogram_ms, 'duration', ms))));
}

function histogram(hist, label, tick) {
  const W = 280, H = 70, pad = 16, n = hist.counts.length, max = Math.max(1, ...hist.counts);
  const bw = (W - 2 * pad) / n;
  const bars = hist.counts.map((c, i) => s('rect', {
    x: pad + i * bw + 1, y: 6 + (H - 6) * (1 - c / max), width: Math.max(1, bw - 2), height: (H - 6) * c / max,
    fill: label === 'duration' ? '#8fb4e3' : '#7cc08f',
  }, s('title', {}, tick(hist.edges[i]) + ' – ' + tick(hist.edges[i + 1]) + ': ' + c)));
  return s('svg', { width: W, height: H + 28, viewBox: '0 0 ' + W + ' ' + (H + 28), role: 'img', 'aria-label': label + ' histogram' },
    bars, s('line', { x1: pad, x2: W - pad, y1: H, y2: H, stroke: '#c8cdd6' }),
    s('text', { x: pad, y: H + 12 }, tick(hist.edges[0])),
    s('text', { x: W - pad, y: H + 12, 'text-anchor': 'end' }, tick(hist.edges[n])),
    s('text', { x: W / 2, y: H + 24, 'text-anchor': 'middle' }, label));
}

function filters(board, params) {
  const combo = h('select', { name: 'combination' }, h('option', { value: '' }, 'all combinations'),
    board.summary.leaderboard.map((c) => h('option', { value: c.combination, selected: params.get('combination') === c.combination }, c.combination)));
  const status = h('select', { name: 'status' }, ['', 'succeeded', 'failed'].map((v) =>
    h('option', { value: v, selected: (params.get('status') || '') === v }, v || 'any status')));
  const kase = h('input', { name: 'case', placeholder: 'case id', value: params.get('case') || '', size: 14 });
  const min = h('input', { name: 'min', type: 'number', step: '0.05', min: 0, max: 1, placeholder: 'min', value: params.get('min') || '', style: 'width:5.5em' });
  const max = h('input', { name: 'max', type: 'number', step: '0.05', min: 0, max: 1, placeholder: 'max', value: params.get('max') || '', style: 'width:5.5em' });
  const apply = (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of [combo, status, kase, min, max]) if (el.value) q.set(el.name, el.value);
    location.hash = batchHash(board.batch.id, q);
  };
  return h('form', { class: 'filters', onsubmit: apply, 'data-testid': 'filters' },
    h('label', {}, 'Combination', combo), h('label', {}, 'Status', status), h('label', {}, 'Case', kase),
    h('label', {}, 'Score from', min), h('label', {}, 'to', max),
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: batchHash(board.batch.id) }, 'clear'));
}

function executionsTable(id, ex, params) {
  const offset = ex.offset, to = Math.min(ex.total, offset + ex.executions.length);
  const page = (off) => { const q = new URLSearchParams(params); q.set('offset', Math.max(0, off)); return batchHash(id, q); };
  const rows = ex.executions.map((r) => h('tr', { 'data-testid': 'execution-row' },
    h('td', {}, link(execHash(id, r.execution_key), r.execution_key)),
    h('td', {}, badge(r.status)),
    h('td', { class: 'num' }, fmt(r.overall_score)),
    h('td', {}, r.passed ? '✓' : '✗'),
    h('td', { class: 'num' }, ms(r.duration_ms)),
    h('td', { class: 'num' }, r.attempts),
    h('td', {}, r.error ? brief(r.error, 120).replace(/^"|"$/g, '') : '')));
  return h('div', {},
    h('div', { class: 'pager' },
      h('span', { 'data-testid': 'execution-count' }, ex.total === 0 ? 'no executions match' : (offset + 1) + '–' + to + ' of ' + ex.total),
      offset > 0 ? link(page(offset - PAGE), '← previous') : null,
      to < ex.total ? link(page(offset + PAGE), 'next →', { 'data-testid': 'next-page' }) : null),
    h('table', { 'data-testid': 'executions' },
      h('thead', {}, h('tr', {}, ['Execution', 'Status', 'Score', 'Passed', 'Duration', 'Attempts', 'Error'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows)));
}

// ---------- one execution ----------

async function executionPage(id, key) {
  const d = await get('/api/batches/' + encodeURIComponent(id) + '/executions/' + key.split('/').map(encodeURIComponent).join('/'));
  const e = d.execution;
  const panel = h('div', { 'data-testid': 'node-panel' });
  const select = (name) => {
    const n = d.nodes.find((x) => x.node === name);
    panel.replaceChildren(nodePanel(n, d));
    for (const g of document.querySelectorAll('g.node')) g.classList.toggle('selected', g.dataset.node === name);
  };
  const first = d.nodes.find((n) => n.status === 'failed') || d.nodes.find((n) => n.status === 'succeeded') || d.nodes[0];
  const view = h('section', { 'data-testid': 'execution-page' },
    h('p', {}, link(batchHash(d.batch_id), '← batch ' + d.batch_id)),
    h('h1', {}, e.execution_key),
    h('div', { class: 'kv' },
      h('span', {}, badge(e.status)), h('span', {}, 'score ', h('b', {}, fmt(e.overall_score))),
      h('span', {}, e.passed ? badge('passed', 'ok') : badge('not passed', 'bad')),
      h('span', {}, ms(e.duration_ms)), h('span', {}, e.attempts + ' attempt(s)'), h('span', {}, 'worker ', e.worker_id || '–')),
    e.error ? h('p', { class: 'error' }, e.failed_node ? 'node ' + e.failed_node + ': ' : '', e.error) : null,
    h('h2', {}, 'Scores'),
    h('table', { 'data-testid': 'scores' }, h('thead', {}, h('tr', {}, h('th', {}, 'Evaluator'), h('th', { class: 'num' }, 'Score'), h('th', {}, 'Why'))),
      h('tbody', {}, Object.keys(e.scores).sort().map((k) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, fmt(e.scores[k])), h('td', {}, e.notes[k] || ''))))),
    h('h2', {}, 'Workflow'),
    h('p', { class: 'muted' }, 'Click a node. Sources: ran = run for this execution; shared = run once for every execution with the same prefix; cached = the node cache; forked = the parent batch.'),
    h('div', { class: 'graph', 'data-testid': 'node-graph' }, graph(d.nodes, select)),
    panel,
    h('details', {}, h('summary', {}, 'Case input'), h('pre', {}, json(d.input))));
  setTimeout(() => first && select(first.node));
  return view;
}

// graph lays the workflow out in columns by dependency depth.
function graph(nodes, onSelect) {
  const byName = Object.fromEntries(nodes.map((n) => [n.node, n]));
  const depth = {};
  const depthOf = (n) => {
    if (depth[n.node] !== undefined) return depth[n.node];
    depth[n.node] = 0;
    depth[n.node] = n.depends_on.length ? 1 + Math.max(...n.depends_on.map((p) => (byName[p] ? depthOf(byName[p]) : 0))) : 0;
    return depth[n.node];
  };
  const cols = [];
  for (const n of nodes) (cols[depthOf(n)] = cols[depthOf(n)] || []).push(n);
  const BW = 190, BH = 58, GX = 60, GY = 18;
  const pos = {};
  cols.forEach((col, x) => col.forEach((n, y) => { pos[n.node] = { x: 10 + x * (BW + GX), y: 10 + y * (BH + GY) }; }));
  const W = 20 + cols.length * (BW + GX) - GX, H = 20 + Math.max(...cols.map((c) => c.length)) * (BH + GY) - GY;
  const edges = [];
  for (const n of nodes) for (const p of n.depends_on) {
    if (!pos[p]) continue;
    const a = pos[p], b = pos[n.node], x1 = a.x + BW, y1 = a.y + BH / 2, x2 = b.x, y2 = b.y + BH / 2;
    edges.push(s('path', { class: 'edge', d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }));
  }
  const boxes = nodes.map((n) => {
    const p = pos[n.node];
    const sub = n.status === 'succeeded' ? n.source + ' · ' + ms(n.duration_ms) : n.status.replace('_', ' ');
    return s('g', { class: 'node ' + n.status, 'data-node': n.node, 'data-testid': 'node-box', transform: `translate(${p.x},${p.y})`, onclick: () => onSelect(n.node) },
      s('rect', { width: BW, height: BH, rx: 6 }),
      s('text', { class: 'name', x: 10, y: 20 }, n.node + (n.variant ? ' = ' + n.variant : '')),
      s('text', { x: 10, y: 38 }, sub),
      n.logs.length ? s('text', { x: 10, y: 52 }, n.logs.length + (n.logs.length === 1 ? ' log line' : ' log lines')) : null);
  });
  return s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}` },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#9aa3b2' }))),
    edges, boxes);
}

function nodePanel(n, d) {
  if (!n) return h('p', {}, 'no node');
  const logs = n.status === 'failed' ? d.logs : n.logs;
  return h('div', {},
    h('h2', { 'data-testid': 'node-title' }, n.node + (n.variant ? ' = ' + n.variant : '')),
    h('div', { class: 'kv' },
      h('span', {}, badge(n.status === 'not_run' ? 'not run' : n.status, n.status === 'not_run' ? 'warn' : n.status)),
      n.source ? h('span', {}, 'source ', h('b', {}, n.source)) : null,
      n.status === 'succeeded' ? h('span', {}, ms(n.duration_ms)) : null,
      n.worker_id ? h('span', {}, 'worker ', n.worker_id) : null,
      n.checkpoint_id ? h('span', { class: 'muted' }, 'checkpoint ', n.checkpoint_id.slice(0, 12)) : null,
      Object.keys(n.metrics).length ? h('span', {}, 'metrics ', brief(n.metrics)) : null),
    n.status === 'succeeded' ? [
      h('h3', {}, 'What it changed'),
      n.diff.length === 0 ? h('p', { class: 'muted' }, 'nothing') :
        h('table', { class: 'diff', 'data-testid': 'diff' },
          h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'Path'), h('th', {}, 'Before'), h('th', {}, 'After'))),
          h('tbody', {}, n.diff.map((c) => h('tr', { class: c.op, 'data-testid': 'diff-row' },
            h('td', { class: c.op }, c.op === 'add' ? '+' : c.op === 'remove' ? '−' : '~'),
            h('td', {}, c.path), h('td', {}, c.op === 'add' ? '' : brief(c.before, 200)), h('td', {}, c.op === 'remove' ? '' : brief(c.after, 200)))))),
      n.diff_truncated ? h('p', { class: 'muted' }, 'more changes not listed') : null,
      h('details', {}, h('summary', {}, 'Output'), h('pre', { 'data-testid': 'node-output' }, json(n.output))),
      h('details', {}, h('summary', {}, 'Input state'), h('pre', {}, json(n.input_state))),
      h('details', {}, h('summary', {}, 'State after'), h('pre', {}, json(n.state))),
    ] : null,
    h('h3', {}, 'Logs'),
    logs.length ? h('pre', { class: 'logs', 'data-testid': 'node-logs' }, logs.map((l) => h('span', { class: l.stream }, l.stream + ' | ' + l.line + '\n')))
      : h('p', { class: 'muted' }, n.status === 'not_run' ? 'did not run' : 'no log lines'));
}

// ---------- compare ----------

async function comparePage(params) {
  const a = params.get('a') || '', b = params.get('b') || '';
  const list = await get('/api/batches');
  const pick = (name, value) => h('select', { name }, h('option', { value: '' }, 'choose a batch'),
    list.batches.map((x) => h('option', { value: x.id, selected: x.id === value }, x.id + ' — ' + x.name)));
  const selA = pick('a', a), selB = pick('b', b);
  const form = h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); location.hash = '#/compare?a=' + encodeURIComponent(selA.value) + '&b=' + encodeURIComponent(selB.value); } },
    h('label', {}, 'A (before)', selA), h('label', {}, 'B (after)', selB), h('button', { type: 'submit' }, 'Compare'));
  const page = h('section', { 'data-testid': 'compare-page' }, h('h1', {}, 'Compare two batches'), form);
  if (!a || !b) return page;
  const c = await get('/api/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b));
  const delta = (x) => h('span', { class: x > 0 ? 'pos' : x < 0 ? 'neg' : '' }, (x > 0 ? '+' : '') + fmt(x));
  append(page, [
    h('p', {}, link(batchHash(c.a.id), 'A ' + c.a.id), ' (', c.a.name, ') → ', link(batchHash(c.b.id), 'B ' + c.b.id), ' (', c.b.name, '): ',
      h('b', { 'data-testid': 'regressions' }, c.regressions), ' regression(s): a drop larger than ', fmt(c.tolerance, 2),
      ' that a paired ', c.test, ' test finds significant at ', c.alpha),
    h('h2', {}, 'Per combination'),
    h('table', { 'data-testid': 'compare-combinations' },
      h('thead', {}, h('tr', {}, ['Combination', 'Mean A', 'Mean B', 'Δ', 'Paired Δ [95% CI]', 'p', 'Pass A', 'Pass B', ''].map((t, i) => h('th', { class: i ? 'num' : '' }, t)))),
      h('tbody', {}, c.combinations.map((x) => h('tr', {},
        h('td', {}, x.combination), h('td', { class: 'num' }, fmt(x.mean_a)), h('td', { class: 'num' }, fmt(x.mean_b)),
        h('td', { class: 'num' }, delta(x.delta)),
        h('td', { class: 'num', title: x.pairs + ' paired executions' }, x.paired_diff_ci95 ? [delta(x.paired_mean_diff), ' [' + fmt(x.paired_diff_ci95[0]) + ', ' + fmt(x.paired_diff_ci95[1]) + ']'] : '–'),
        h('td', { class: 'num' }, x.pairs >= 2 ? Number(x.p_value).toPrecision(2) : '–'),
        h('td', { class: 'num' }, pct(x.pass_rate_a)), h('td', { class: 'num' }, pct(x.pass_rate_b)),
        h('td', {}, x.regression ? badge('regression', 'bad') : x.significant ? badge('significant', 'warn') : ''))))),
    h('h2', {}, 'Executions whose score changed (' + c.cases.length + ')'),
    c.cases.length === 0 ? h('p', { class: 'muted' }, 'none') : c.cases.slice(0, 200).map((x) => h('div', { class: 'chart', 'data-testid': 'compare-case' },
      h('p', {}, link(execHash(c.b.id, x.execution_key), x.execution_key), ' ', delta(x.score_delta), ' (', fmt(x.score_a), ' → ', fmt(x.score_b), ')',
        ' · first differing node ', h('b', { 'data-testid': 'diverging-node' }, x.first_differing_node)),
      h('p', { class: 'muted' }, x.detail),
      h('div', { class: 'side' },
        h('div', {}, h('div', { class: 'muted' }, 'A output'), h('pre', { 'data-testid': 'output-a' }, json(x.output_a))),
        h('div', {}, h('div', { class: 'muted' }, 'B output'), h('pre', { 'data-testid': 'output-b' }, json(x.output_b)))))),
    c.cases.length > 200 ? h('p', { class: 'muted' }, 'first 200 of ' + c.cases.length + ' shown; `wtb compare --cases --format json` lists all') : null,
  ]);
  return page;
}

window.addEventListener('hashchange', render);
render();
