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

const PAGE = 50; // executions a page
const CASES_PAGE = 25; // cases a page of the grid
const MAX_COLUMNS = 10; // combinations the grid shows unless told which
let pollTimer = null;

// ---------- numbers, written as the CLI writes them ----------

// The rule is host/internal/numfmt's, which is held to vectors this
// JavaScript generates (numfmt/testdata/rule.js): toFixed, toPrecision and
// toExponential round the exact value half away from zero, as numfmt does.
const DASH = '—';
const missing = (x) => x === null || x === undefined || Number.isNaN(x);
// Scores and means: three decimals.
const fmt = (x) => (missing(x) ? DASH : Number(x).toFixed(3));
// Fractions as whole percent, a half away from zero.
const pct = (x) => (missing(x) ? DASH : (Math.round(100 * x) + 0) + '%');
// Durations in milliseconds: 3.6 ms, 238 ms, 1.18 s, 4m05s.
function ms(x) {
  if (missing(x)) return DASH;
  x = Number(x);
  // Each unit as long as the figure rounds within it: 9.96 is "10 ms",
  // not "10.0 ms"; 999.6 is "1.00 s".
  if (x < 10 && x.toFixed(1) !== '10.0') return x.toFixed(1) + ' ms';
  if (x < 1000 && x.toFixed(0) !== '1000') return x.toFixed(0) + ' ms';
  if (x < 60000 && (x / 1000).toFixed(2) !== '60.00') return (x / 1000).toFixed(2) + ' s';
  const s = Math.round(x / 1000);
  return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
}
// p-values: two significant digits, plain from 0.001 up (0.42, 0.031,
// 0.0012, 0.50), scientific below with no padding (6.1e-7); exactly 1 is "1".
function pval(p) {
  if (missing(p)) return DASH;
  p = Number(p);
  if (p === 1) return '1';
  if (p === 0) return '0';
  if (Math.abs(p) >= 0.001) return p.toPrecision(2);
  return p.toExponential(1);
}
// Dates as `wtb results --list` prints them: local time, ISO date, 24 hours.
function when(t) {
  if (!t) return DASH;
  const d = new Date(t), p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
}
// Dollars: four significant digits below a cent ($0.0001235), cents above
// ($12.35); exactly 0 is "$0" (an unpriced cost is never written as $0).
function usd(x) {
  if (missing(x) || !Number.isFinite(Number(x))) return DASH;
  x = Number(x);
  if (x === 0) return '$0';
  if (Math.abs(x) < 0.01) {
    const d = 3 - Math.floor(Math.log10(Math.abs(x)));
    return '$' + x.toFixed(d).replace(/0+$/, '').replace(/\.$/, '');
  }
  return '$' + x.toFixed(2);
}
// Counts that may be means: whole, half away from zero, thousands separated.
function count(x) {
  if (missing(x) || !Number.isFinite(Number(x))) return DASH;
  x = Number(x);
  const n = Math.sign(x) * Math.round(Math.abs(x));
  return String(n + 0).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
// Changes of dollars and counts, signed as numfmt.SignedUSD and SignedCount.
const signedUsd = (x) => { const t = usd(Math.abs(x)); return t === DASH || t === '$0' ? t : (x < 0 ? '-' : '+') + t; };
const signedCount = (x) => { const t = count(x); return t === DASH || t === '0' || t.startsWith('-') ? t : '+' + t; };
// compareCost is a combination's change of cost per execution, as `wtb
// compare` writes it: the delta with both means, or why there is none.
function compareCost(x) {
  if (x.mean_a === null || x.mean_b === null) return DASH;
  switch (x.cost_delta_reason) {
    case null: return signedUsd(x.cost_delta) + ' (' + usd(x.cost_a) + ' → ' + usd(x.cost_b) + ')';
    case 'a': return 'unpriced in A (' + plural(x.unpriced_calls_a, 'call', 'calls') + ')';
    case 'b': return 'unpriced in B (' + plural(x.unpriced_calls_b, 'call', 'calls') + ')';
    case 'both': return 'unpriced in A and B';
    case 'none_a': return 'no calls in A';
    case 'none_b': return 'no calls in B';
    case 'not_recorded_a': return 'not recorded in A';
  }
  return DASH;
}
const compareTokens = (x) => (x.tokens_delta === null || x.mean_a === null || x.mean_b === null ? DASH
  : signedCount(x.tokens_delta) + ' (' + count(x.tokens_a) + ' → ' + count(x.tokens_b) + ')');
const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);
// A combination's mean cost per execution, as the CLI's leaderboard writes
// it: "unpriced" when no execution's calls could all be priced (never $0),
// and how many calls were left out when some could not.
function costText(c) {
  if (!c) return DASH;
  if (c.mean_usd === null) return 'unpriced (' + plural(c.unpriced_calls, 'call', 'calls') + ')';
  if (c.unpriced_calls > 0) return usd(c.mean_usd) + ' (+' + plural(c.unpriced_calls, 'unpriced call', 'unpriced calls') + ')';
  return usd(c.mean_usd);
}
// A number a bench file wrote (a threshold, a pass score), as written.
const asWritten = (x) => (missing(x) ? DASH : String(x));

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
  const q = u.searchParams;
  if (parts[3] === 'executions' && parts.length === 4) {
    let rows = REPORT.executions.executions.filter((r) =>
      (!q.get('combination') || r.combination === q.get('combination')) &&
      (!q.get('case') || r.case_id === q.get('case')) &&
      (!q.get('status') || r.status === q.get('status')) &&
      (!q.get('min') || r.overall_score >= Number(q.get('min'))) &&
      (!q.get('max') || r.overall_score <= Number(q.get('max'))));
    const by = { score: 'overall_score', duration: 'duration_ms', attempts: 'attempts', status: 'status' }[q.get('sort')];
    if (by || q.get('desc') === '1') {
      rows = sortRows(rows, (r) => [by ? r[by] : r.execution_key, r.execution_key], q.get('desc') === '1');
    }
    const offset = Number(q.get('offset') || 0), limit = Number(q.get('limit') || PAGE);
    return { format_version: 1, kind: 'executions', batch_id: id, total: rows.length, offset, executions: rows.slice(offset, offset + limit) };
  }
  if (parts[3] === 'cases') return reportCases(q);
  if (parts[3] === 'executions') {
    const key = parts.slice(4).join('/');
    const d = REPORT.details[key];
    if (!d) throw new Error('this report holds the details of ' + Object.keys(REPORT.details).length +
      ' executions (failures first); open the database with `wtb view` for ' + key);
    return d;
  }
  throw new Error('not available in a report: ' + path);
}

// reportCases pages, sorts and searches the grid a report holds, as the
// server does in its database.
function reportCases(q) {
  const all = REPORT.cases;
  const cols = q.getAll('col').length ? q.getAll('col') : all.shown.slice(0, MAX_COLUMNS);
  for (const c of cols) if (!all.shown.includes(c)) throw new Error('this report has no combination ' + c);
  const search = (q.get('q') || '').trim().toLowerCase();
  const sort = q.get('sort') || '', desc = q.get('desc') === '1', scoreOf = q.get('score_of') || '';
  let rows = [];
  for (const row of all.cases) {
    const cells = cols.map((c) => row.cells.find((x) => x.combination === c) || { combination: c, executions: 0, passed: 0, mean_score: null, runs: [] });
    const executions = cells.reduce((n, c) => n + c.executions, 0);
    if (executions === 0) continue;
    const failed = cells.reduce((n, c) => n + c.executions - c.passed, 0);
    const r = Object.assign({}, row, { cells, executions, failed });
    if (search && ![row.case_id, row.input.text, row.expected.text, ...cells.flatMap((c) => c.runs.map((x) => x.output.text))]
      .some((t) => t.toLowerCase().includes(search))) continue;
    rows.push(r);
  }
  if (sort === 'score') {
    const score = (r) => (r.cells.find((x) => x.combination === scoreOf) || { mean_score: null }).mean_score;
    rows = sortRows(rows, (r) => [score(r), r.case_id], desc);
  } else if (sort === 'case') {
    rows = sortRows(rows, (r) => [r.case_id], desc);
  } else {
    const most = sort === '' || desc; // failures first by default
    rows = sortRows(rows, (r) => [most ? -r.failed : r.failed, r.case_id], false);
  }
  const offset = Number(q.get('offset') || 0), limit = Number(q.get('limit') || CASES_PAGE);
  return Object.assign({}, all, { shown: cols, search: q.get('q') || '', sort: sort || 'failed', desc: sort ? desc : true, score_of: scoreOf,
    total: rows.length, offset, limit, cases: rows.slice(offset, offset + limit) });
}

// sortRows sorts rows by the values key gives (compared in order), keeping
// the order of equals; nulls go last whichever the direction. Only the first
// value is reversed by desc.
function sortRows(rows, key, desc) {
  const cmp = (a, b) => {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a) < String(b) ? -1 : 1;
  };
  return rows.map((r, i) => ({ r, i, k: key(r) })).sort((x, y) => {
    for (let j = 0; j < x.k.length; j++) {
      const a = x.k[j], b = y.k[j];
      if (a === null || a === undefined || b === null || b === undefined) { const c = cmp(a, b); if (c) return c; continue; }
      const c = cmp(a, b) * (j === 0 && desc ? -1 : 1);
      if (c) return c;
    }
    return x.i - y.i;
  }).map((x) => x.r);
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
const badge = (text, cls) => h('span', { class: 'badge ' + (cls || text).replace(/\s+/g, '-') }, text);
const json = (v) => JSON.stringify(v, null, 2);
const brief = (v, n = 80) => { const t = v === undefined ? '' : JSON.stringify(v); return t.length > n ? t.slice(0, n - 1) + '…' : t; };
const link = (hash, text, attrs) => h('a', Object.assign({ href: hash }, attrs || {}), text);
const batchHash = (id, params) => '#/batch/' + encodeURIComponent(id) + (params && [...params].length ? '?' + params : '');
const execHash = (id, key) => '#/execution/' + encodeURIComponent(id) + '/' + encodeURIComponent(key);
// An id (batch id, execution key) never wraps; cut with an ellipsis, its
// title shows it whole.
const idText = (text, attrs) => h('span', Object.assign({ class: 'id', title: text }, attrs || {}), text);
const idLink = (hash, text, attrs) => h('a', Object.assign({ class: 'id', href: hash, title: text }, attrs || {}), text);

// Links that lead somewhere: in a report, only to what the report holds.
const holdsBatch = (id) => !REPORT || id === REPORT.leaderboard.batch_id;
const holdsExecution = (key) => !REPORT || Object.prototype.hasOwnProperty.call(REPORT.details, key);
function batchRef(id) {
  if (holdsBatch(id)) return idLink(batchHash(id), id);
  return idText(id, { title: id + ' — not in this report', 'data-testid': 'absent-batch' });
}
function executionRef(batch, key, text, attrs) {
  if (holdsExecution(key)) return idLink(execHash(batch, key), text || key, attrs);
  return idText(text || key, Object.assign({}, attrs || {}, { title: key + ' — this report holds the details of ' +
    Object.keys(REPORT.details).length + ' executions (failures first); `wtb view` shows every one' }));
}

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
  return { path, parts, params: new URLSearchParams(query || '') };
}

// here is the current page with some parameters changed (null removes one).
function here(changes) {
  const { path, params } = route();
  const q = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    q.delete(k);
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== null && v !== undefined && v !== '') q.set(k, v);
  }
  const qs = q.toString();
  return '#' + (path || '/') + (qs ? '?' + qs : '');
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
    else if (parts[0] === 'execution' && parts[1] && parts[2]) view = await executionPage(parts[1], parts.slice(2).join('/'), params);
    else if (parts[0] === 'compare' && !REPORT) view = await comparePage(params);
    else view = await batchesPage(params);
    lastRenderMs = performance.now() - started;
    app.replaceChildren(view);
  } catch (e) {
    app.replaceChildren(h('p', { class: 'error', 'data-testid': 'error' }, e.message));
  }
  app.dataset.rendered = location.hash; // what the page shows now (tests wait on it)
}

// poll re-renders while a batch is running: every 2 s, or five times as long
// as the last page took, so a large batch's viewer never keeps the database busy.
let lastRenderMs = 0;
function poll(running) {
  document.getElementById('live').hidden = !running;
  if (running && !REPORT) pollTimer = setTimeout(render, Math.max(2000, 5 * lastRenderMs));
}

// ---------- sortable tables ----------

// A sortable column: name is its sort (in the URL), first the direction of a
// first click (true: descending).
function sortHeader(col, state, hashFor) {
  const cls = (col.num ? 'num ' : '') + (col.cls || '');
  if (!col.name) return h('th', { class: cls || null, title: col.title }, col.label);
  const active = state.by === col.name;
  const desc = active ? !state.desc : !!col.first;
  return h('th', { class: cls + ' sortable', title: col.title, 'aria-sort': active ? (state.desc ? 'descending' : 'ascending') : null, 'data-sort': col.name },
    h('a', { href: hashFor(col.name, desc), class: 'sort' }, col.label, h('span', { class: 'arrow' }, active ? (state.desc ? '▼' : '▲') : '↕')));
}
// sortState reads a table's sort from the URL: by and desc parameters.
function sortState(params, by, desc, fallback) {
  return { by: params.get(by) || fallback, desc: params.get(desc) === '1' };
}
const sortHashes = (by, desc) => (name, d) => here({ [by]: name, [desc]: d ? '1' : '0' });

// ---------- batches ----------

async function batchesPage(params) {
  const d = await get('/api/batches');
  const picked = new Set();
  const comparing = !REPORT && d.batches.length >= 2;
  const compareBtn = h('button', { disabled: true, 'data-testid': 'compare-selected',
    onclick: () => { const [a, b] = [...picked]; location.hash = '#/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b); } },
  'Compare the two selected');
  const state = { by: params.get('sort'), desc: params.get('desc') === '1' };
  const cols = [
    comparing ? { label: '' } : null,
    { label: 'Batch', name: 'id', key: (b) => b.id },
    { label: 'Name', name: 'name', key: (b) => b.name },
    { label: 'Status', name: 'status', key: (b) => b.status },
    { label: 'Stored', name: 'stored', num: true, first: true, key: (b) => b.stored },
    { label: 'Failed', name: 'failed', num: true, first: true, key: (b) => b.failed },
    { label: 'Verdict', name: 'verdict', key: (b) => b.verdict },
    { label: 'Runner', name: 'runner', key: (b) => b.runner },
    { label: 'Started', name: 'started', first: true, key: (b) => b.started_at },
    { label: 'Parent', name: 'parent', key: (b) => b.parent_id || null },
  ].filter(Boolean);
  const col = cols.find((c) => c.name && c.name === state.by);
  const batches = col ? sortRows(d.batches, (b) => [col.key(b)], state.desc) : d.batches;
  const rows = batches.map((b) => {
    const stored = b.stored === null ? DASH : b.stored;
    return h('tr', { 'data-testid': 'batch-row', 'data-batch': b.id },
      comparing ? h('td', {}, h('input', { type: 'checkbox', title: 'select for compare', onchange: (e) => {
        if (e.target.checked) picked.add(b.id); else picked.delete(b.id);
        compareBtn.disabled = picked.size !== 2;
      } })) : null,
      h('td', { class: 'id' }, batchRef(b.id)),
      h('td', {}, b.name),
      h('td', {}, statusBadge(b)),
      h('td', { class: 'num' }, stored + ' / ' + b.total_executions),
      h('td', { class: 'num' }, b.failed === null ? DASH : b.failed),
      h('td', {}, verdictBadge(b.verdict)),
      h('td', {}, b.runner),
      h('td', { class: 'date', 'data-testid': 'started' }, when(b.started_at)),
      h('td', {}, lineage(b)));
  });
  poll(d.batches.some((b) => b.status === 'running'));
  return h('section', {},
    h('h1', {}, 'Batches'),
    d.batches.length === 0 ? h('p', { class: 'muted' }, 'No batches yet: run one with `wtb run bench.hcl`.') :
      h('table', { 'data-testid': 'batches' },
        h('thead', {}, h('tr', {}, cols.map((c) => sortHeader(c, state, sortHashes('sort', 'desc'))))),
        h('tbody', {}, rows)),
    comparing ? h('p', {}, compareBtn) : null);
}

// statusBadge is a batch's status; a running batch someone asked to stop
// (`wtb cancel`) says so until it has, and who asked shows on hover.
function statusBadge(b) {
  const req = b.cancel_requested;
  const el = req && b.status === 'running' ? badge('cancel requested', 'warn') : badge(b.status);
  if (req) el.title = 'cancel requested by ' + req.by + ' at ' + when(req.at);
  return el;
}

// lineage says where a batch came from: a fork of its parent (re-running the
// nodes after one), or a rescore of it (no node ran). A report links only to
// the batch it holds.
function lineage(b) {
  if (!b.parent_id) return '';
  const parent = batchRef(b.parent_id);
  if (b.lineage === 'rescore') return ['rescored from ', parent];
  return ['forked from ', parent, b.fork_node ? ' at ' + b.fork_node : ''];
}

// datasetLine says what a batch ran, as `wtb results` does: its cases hash
// and the git commit, branch and uncommitted changes of its bench file.
function datasetLine(b) {
  const d = b.dataset || { cases_hash: '', git: null };
  const short = (x) => (x || '').replace(/^sha256:/, '').slice(0, 12) || '—';
  const git = d.git
    ? [' · git ', h('b', { title: d.git.commit }, short(d.git.commit)), d.git.branch ? ' on ' + d.git.branch : ' (detached)',
       d.git.dirty ? h('span', { class: 'warn-text' }, ', uncommitted changes') : null]
    : ' · not in a git repository';
  return h('span', { 'data-testid': 'dataset' }, 'cases ', h('b', { title: d.cases_hash }, short(d.cases_hash)), git);
}

// ---------- one batch ----------

async function batchPage(id, params) {
  const board = await get('/api/batches/' + encodeURIComponent(id));
  const b = board.batch;
  const q = new URLSearchParams();
  for (const k of ['combination', 'case', 'status', 'min', 'max', 'offset']) if (params.get(k)) q.set(k, params.get(k));
  if (params.get('esort')) q.set('sort', params.get('esort'));
  if (params.get('edesc') === '1') q.set('desc', '1');
  q.set('limit', PAGE);
  // A grid the server refuses (a path that names nothing, say) is said in
  // its place; the rest of the page stands.
  const [ex, grid] = await Promise.all([
    get('/api/batches/' + encodeURIComponent(b.id) + '/executions?' + q),
    Promise.resolve().then(() => get('/api/batches/' + encodeURIComponent(b.id) + '/cases?' + gridQuery(board, params))).catch((e) => ({ error: e.message })),
  ]);
  const sum = board.summary;
  poll(b.status === 'running');
  return h('section', { 'data-testid': 'batch-page' },
    h('h1', {}, board.name, ' ', h('span', { class: 'muted id' }, b.id)),
    h('div', { class: 'kv' },
      h('span', {}, statusBadge(b)), h('span', {}, verdictBadge(sum.verdict)),
      h('span', {}, h('b', {}, sum.stored), ' of ', sum.total, ' stored'),
      h('span', {}, h('b', {}, sum.failed), ' failed'),
      sum.saved > 0 ? h('span', { 'data-testid': 'saved' }, h('b', {}, sum.saved), ' executions saved by adaptive repeats and racing') : null,
      h('span', {}, 'runner ', h('b', {}, b.runner)),
      datasetLine(b),
      h('span', {}, 'started ', h('span', { class: 'date', 'data-testid': 'batch-started' }, when(b.started_at))),
      b.parent_id ? h('span', { 'data-testid': 'lineage' }, lineage(b)) : null,
      REPORT ? null : h('span', {}, link('#/compare?b=' + encodeURIComponent(b.id) + (b.parent_id ? '&a=' + encodeURIComponent(b.parent_id) : ''), 'compare…', { 'data-testid': 'compare-link' }))),
    thresholdsLine(board),
    h('h2', {}, 'Leaderboard'),
    leaderboardTable(board, params),
    costChart(board),
    h('h2', { id: 'cases' }, 'Cases × combinations'),
    casesGrid(board, grid, params),
    h('h2', {}, 'Score and latency distributions'),
    charts(board),
    h('h2', {}, 'Executions'),
    filters(board, params),
    executionsTable(b.id, ex, params));
}

function thresholdsLine(board) {
  const t = board.thresholds, parts = [];
  if (t.overall_score !== null) parts.push('mean score ≥ ' + asWritten(t.overall_score));
  if (t.pass_rate !== null) parts.push('pass rate ≥ ' + asWritten(t.pass_rate));
  for (const [k, v] of Object.entries(t.evaluators)) parts.push(k + ' ≥ ' + asWritten(v));
  return h('p', { class: 'muted', 'data-testid': 'thresholds' },
    parts.length ? 'Thresholds (' + t.applies_to + ' combinations): ' + parts.join(', ') + '. ' : 'No thresholds. ',
    'An execution passes at overall score ≥ ' + asWritten(board.pass_score) + '.');
}

function leaderboardTable(board, params) {
  const evs = board.evaluators;
  const stopping = board.summary.leaderboard.some((c) => c.stopped) || board.summary.saved > 0;
  const costs = board.summary.leaderboard.some((c) => c.cost);
  const stoppedCell = (c) => {
    if (!c.stopped) return h('td', {}, '');
    const d = c.stopped;
    const label = d.kind === 'pruned' ? 'pruned' : d.kind === 'converged' ? 'converged' : 'max repeats';
    return h('td', { title: d.reason, 'data-testid': 'stopped' }, badge(label, d.kind === 'pruned' ? 'warn' : 'ok'));
  };
  const cols = [
    { label: '#', name: 'rank', num: true, key: (c) => c.rank },
    { label: 'Combination', name: 'combination', key: (c) => c.combination },
    { label: 'Mean', name: 'mean', num: true, first: true, key: (c) => c.mean_score },
    { label: 'Std dev', name: 'stddev', num: true, key: (c) => c.stddev },
    { label: '95% CI', name: 'ci', num: true, first: true, key: (c) => (c.ci95 ? c.ci95[0] : null) },
    { label: 'Pass', name: 'pass', num: true, first: true, key: (c) => c.pass_rate },
    { label: 'p50', name: 'p50', num: true, key: (c) => c.p50_ms },
    { label: 'p95', name: 'p95', num: true, key: (c) => c.p95_ms },
    { label: 'OK / failed', name: 'failed', num: true, first: true, key: (c) => c.failed },
    ...evs.map((e) => ({ label: e.name, name: 'ev:' + e.name, num: true, first: true, title: e.type + ', weight ' + e.weight, key: (c) => c.evaluator_means[e.name] })),
    ...(stopping ? [{ label: 'Repeats', name: 'repeats', num: true, key: (c) => c.repeats }, { label: 'Stopped' }] : []),
    ...(costs ? [{ label: 'Cost / exec', name: 'cost', num: true, title: 'mean over the executions whose model calls were all priced', key: (c) => (c.cost ? c.cost.mean_usd : null) },
      { label: 'Tokens / exec', name: 'tokens', num: true, key: (c) => (c.cost ? c.cost.mean_tokens : null) }] : []),
    { label: 'Thresholds' },
  ];
  const state = sortState(params, 'lsort', 'ldesc', 'rank');
  const col = cols.find((c) => c.name === state.by) || cols[0];
  const combos = sortRows(board.summary.leaderboard, (c) => [col.key(c), c.rank], state.desc);
  const rows = combos.map((c) => h('tr', { class: c.rank === 1 ? 'best' : '', 'data-testid': 'combo-row', 'data-combination': c.combination },
    h('td', { class: 'num' }, c.rank),
    h('td', {}, link(batchHash(board.batch.id, new URLSearchParams({ combination: c.combination })), c.combination, { 'data-testid': 'combo-link', class: 'id', title: c.combination })),
    h('td', { class: 'num', 'data-testid': 'mean' }, fmt(c.mean_score)),
    h('td', { class: 'num' }, fmt(c.stddev)),
    h('td', { class: 'num' }, c.ci95 ? '[' + fmt(c.ci95[0]) + ', ' + fmt(c.ci95[1]) + ']' : DASH),
    h('td', { class: 'num', 'data-testid': 'pass-rate', title: '95% Wilson interval ' + pct(c.pass_rate_ci95[0]) + '–' + pct(c.pass_rate_ci95[1]) }, pct(c.pass_rate)),
    h('td', { class: 'num' }, ms(c.p50_ms)),
    h('td', { class: 'num' }, ms(c.p95_ms)),
    h('td', { class: 'num' }, c.succeeded + ' / ' + c.failed),
    evs.map((e) => h('td', { class: 'num' }, fmt(c.evaluator_means[e.name]))),
    stopping ? [h('td', { class: 'num' }, c.repeats), stoppedCell(c)] : null,
    costs ? [h('td', { class: 'num', 'data-testid': 'cost' }, costText(c.cost)), h('td', { class: 'num', 'data-testid': 'tokens' }, c.cost ? count(c.cost.mean_tokens) : DASH)] : null,
    h('td', {}, !board.summary.has_thresholds ? '' : c.thresholds_apply === false ? badge('not required') : c.meets_thresholds ? badge('met', 'ok') : h('span', { title: c.misses.join('; ') }, badge('missed', 'bad')))));
  return h('div', { class: 'scroll' }, h('table', { 'data-testid': 'leaderboard' },
    h('thead', {}, h('tr', {}, cols.map((c) => sortHeader(c, state, sortHashes('lsort', 'ldesc'))))),
    h('tbody', {}, rows)));
}

// paretoFront marks the points no other point beats on both counts: none is
// at most as dear and at least as good, and strictly one of the two.
function paretoFront(points) {
  const front = new Set();
  for (const p of points) {
    const beaten = points.find((q) => q !== p && q.cost <= p.cost && q.score >= p.score && (q.cost < p.cost || q.score > p.score));
    if (beaten) p.beatenBy = beaten.name;
    else front.add(p.name);
  }
  return front;
}

// costChart is score versus cost, one point per combination: its mean score
// against its mean cost per execution, the Pareto front marked. A
// combination with unpriced calls has no known cost (a mean over its priced
// executions only would flatter it): it is drawn hollow in a strip apart and
// left out of the front. No model calls, no chart.
function costChart(board) {
  const combos = board.summary.leaderboard.filter((c) => c.cost);
  if (combos.length === 0) return null;
  const priced = [], unpriced = [];
  for (const c of combos) {
    const p = { name: c.combination, score: c.mean_score, cost: c.cost.mean_usd, c };
    if (c.cost.mean_usd !== null && c.cost.unpriced_calls === 0) priced.push(p);
    else unpriced.push(p);
  }
  const front = paretoFront(priced);
  const W = 760, H = 260, L = 56, R = unpriced.length ? 240 : 110, T = 12, B = 40;
  // The axis ends at a round figure (1, 2, 2.5 or 5 times a power of ten)
  // at or above the dearest combination.
  const dearest = Math.max(0, ...priced.map((p) => p.cost));
  const step = dearest > 0 ? Math.pow(10, Math.floor(Math.log10(dearest))) : 1;
  const maxCost = step * ([1, 2, 2.5, 5, 10].find((k) => k * step >= dearest * 1.0001) || 10);
  const x = (v) => L + (W - L - R) * v / maxCost;
  const y = (v) => T + (H - T - B) * (1 - Math.max(0, Math.min(1, v)));
  const describe = (p) => p.name + '\nmean score ' + fmt(p.score) + ' · cost/exec ' + costText(p.c.cost) +
    ' · tokens/exec ' + count(p.c.cost.mean_tokens);
  const frontLine = priced.filter((p) => front.has(p.name)).sort((a, b) => a.cost - b.cost);
  const marks = [];
  for (const p of priced) {
    const on = front.has(p.name);
    marks.push(s('circle', { cx: x(p.cost), cy: y(p.score), r: on ? 6 : 5, class: on ? 'point front' : 'point',
      'data-testid': 'cost-point', 'data-combination': p.name, 'data-front': on ? '1' : '0', 'data-priced': '1' },
    s('title', {}, describe(p) + '\n' + (on ? 'on the Pareto front: no other combination is both cheaper and better'
      : 'not on the front: ' + p.beatenBy + ' is at most as dear and at least as good'))));
  }
  const stripX = W - R + 135; // past the room the priced points' names need
  unpriced.forEach((p) => {
    const why = p.c.cost.mean_usd === null ? 'none of its executions had all their calls priced'
      : 'its mean covers only the ' + p.c.cost.priced_executions + ' executions whose calls were all priced';
    marks.push(s('circle', { cx: stripX, cy: y(p.score), r: 5, class: 'point unpriced',
      'data-testid': 'cost-point', 'data-combination': p.name, 'data-front': '0', 'data-priced': '0' },
    s('title', {}, describe(p) + '\nunpriced: ' + plural(p.c.cost.unpriced_calls, 'call', 'calls') + ' with no price or no usage reported (' + why +
      '), so its cost is unknown: drawn apart and left out of the Pareto front')));
  });
  const axis = [
    s('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), class: 'axis' }),
    s('line', { x1: L, x2: L, y1: y(0), y2: y(1), class: 'axis' }),
    [0, 0.5, 1].map((v) => s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v.toFixed(1))),
    s('text', { x: L, y: H - B + 16 }, usd(0)),
    s('text', { x: (L + W - R) / 2, y: H - B + 16, 'text-anchor': 'middle' }, usd(maxCost / 2)),
    s('text', { x: W - R, y: H - B + 16, 'text-anchor': 'end' }, usd(maxCost)),
    s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, 'mean cost per execution'),
    s('text', { x: 14, y: (T + H - B) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(T + H - B) / 2})` }, 'mean score'),
    unpriced.length ? [s('line', { x1: W - R + 110, x2: W - R + 110, y1: y(0), y2: y(1), class: 'axis dashed' }),
      s('text', { x: stripX, y: H - B + 16, 'text-anchor': 'middle' }, 'unpriced')] : null,
  ];
  // Few points are named beside them; more would cover each other (hover
  // names any).
  const labels = combos.length <= 12 ? [...priced.map((p) => [x(p.cost), p]), ...unpriced.map((p) => [stripX, p])].map(([px, p]) =>
    s('text', { x: px + 8, y: y(p.score) + 4, class: 'label' }, p.name)) : null;
  const line = frontLine.length > 1 ? s('polyline', { class: 'front-line', points: frontLine.map((p) => x(p.cost) + ',' + y(p.score)).join(' ') }) : null;
  return [
    h('h2', {}, 'Score versus cost'),
    h('div', { class: 'cost-chart', 'data-testid': 'cost-chart' },
      s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'mean score versus mean cost per execution' }, axis, line, marks, labels),
      h('p', { class: 'muted' }, 'One point per combination; hover for its figures. ',
        h('span', { class: 'key front' }, '●'), ' on the Pareto front (no other combination is both cheaper and better) · ',
        h('span', { class: 'key' }, '●'), ' beaten (another is at most as dear and at least as good)',
        unpriced.length ? [' · ', h('span', { class: 'key unpriced' }, '○'), ' unpriced calls: cost unknown (never $0), drawn apart and left out of the front'] : null)),
  ];
}

function charts(board) {
  return h('div', { class: 'charts', 'data-testid': 'charts' }, board.summary.leaderboard.map((c) => h('div', { class: 'chart' },
    h('div', { class: 'title', title: c.combination }, '#' + c.rank + ' ' + c.combination),
    histogram(c.score_histogram, 'overall score', (x) => Number(x).toFixed(1)),
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

// ---------- the case × combination grid ----------

// Grid parameters in the page's URL: gq (search), gsort/gdesc/gscore (order),
// goff (offset), gcol (the columns, repeated), gout (where outputs are).
function gridQuery(board, params) {
  const q = new URLSearchParams();
  const cols = params.getAll('gcol').length ? params.getAll('gcol') : rankedCombinations(board).slice(0, MAX_COLUMNS);
  cols.forEach((c) => q.append('col', c));
  if (params.get('gq')) q.set('q', params.get('gq'));
  if (params.get('gsort')) q.set('sort', params.get('gsort'));
  if (params.get('gdesc') === '1') q.set('desc', '1');
  if (params.get('gscore')) q.set('score_of', params.get('gscore'));
  if (params.get('goff')) q.set('offset', params.get('goff'));
  if (params.get('gout') && !REPORT) q.set('output', params.get('gout'));
  q.set('limit', CASES_PAGE);
  return q;
}
const rankedCombinations = (board) => board.summary.leaderboard.map((c) => c.combination);

function casesGrid(board, d, params) {
  if (d.error) {
    return h('div', { class: 'cases', 'data-testid': 'grid' }, h('p', { class: 'error', 'data-testid': 'grid-error' }, d.error, ' — ',
      h('a', { href: here({ gq: null, gsort: null, gdesc: null, gscore: null, goff: null, gcol: null, gout: null }) }, 'show the default grid')));
  }
  const id = board.batch.id;
  const ranked = rankedCombinations(board);
  const all = [...ranked, ...d.combinations.filter((c) => !ranked.includes(c))];
  const byCombo = Object.fromEntries(board.summary.leaderboard.map((c) => [c.combination, c]));
  const evs = d.evaluators;
  const state = { by: d.sort === 'score' ? 'score:' + d.score_of : d.sort, desc: d.desc };
  const sortHash = (name, desc) => name.startsWith('score:')
    ? here({ gsort: 'score', gscore: name.slice(6), gdesc: desc ? '1' : '0', goff: null })
    : here({ gsort: name, gscore: null, gdesc: desc ? '1' : '0', goff: null });

  // The toolbar: search, where outputs are, which combinations.
  const search = h('input', { name: 'gq', type: 'search', value: d.search, placeholder: 'case id, input, expected or output text', size: 36, 'data-testid': 'grid-search' });
  const toolbar = h('form', { class: 'filters grid-tools', 'data-testid': 'grid-tools', onsubmit: (e) => {
    e.preventDefault();
    location.hash = here({ gq: search.value.trim(), goff: null });
  } },
  h('label', {}, 'Search', search), h('button', { type: 'submit', 'data-testid': 'grid-search-go' }, 'Search'),
  d.search ? h('a', { href: here({ gq: null, goff: null }) }, 'clear') : null,
  outputChooser(d, params), columnPicker(all, d.shown, byCombo));

  const from = d.total === 0 ? 0 : d.offset + 1, to = d.offset + d.cases.length;
  const sortText = d.sort === 'score' ? d.score_of + '’s score, ' + (d.desc ? 'highest' : 'lowest') + ' first'
    : d.sort === 'case' ? 'case id' + (d.desc ? ', Z to A' : '') : d.desc ? 'failures first' : 'fewest failures first';
  const pager = h('div', { class: 'pager' },
    h('span', { 'data-testid': 'grid-count' }, d.total === 0 ? (d.search ? 'no case matches' : 'no cases stored yet') : 'cases ' + from + '–' + to + ' of ' + d.total),
    d.offset > 0 ? link(here({ goff: Math.max(0, d.offset - d.limit) || null }), '← previous', { 'data-testid': 'grid-prev' }) : null,
    to < d.total ? link(here({ goff: d.offset + d.limit }), 'next →', { 'data-testid': 'grid-next' }) : null,
    h('span', { class: 'muted', 'data-testid': 'grid-order' }, '· sorted by ' + sortText,
      d.sort === 'failed' && d.desc ? null : [' (', link(here({ gsort: null, gdesc: null, gscore: null, goff: null }), 'failures first'), ')']));
  const holds = d.holds && d.holds.cases < d.holds.total
    ? h('p', { class: 'note', 'data-testid': 'grid-holds' }, 'This report holds ' + d.holds.cases + ' of the batch’s ' + d.holds.total +
      ' cases, ' + d.holds.order + '; search and sort look at those. `wtb view` shows every case.') : null;

  const head = h('tr', {},
    sortHeader({ label: 'Case', name: 'case', cls: 'case' }, state, sortHash),
    sortHeader({ label: 'Failed', name: 'failed', num: true, first: true, cls: 'nfail', title: 'executions that did not pass, of those shown' }, state, sortHash),
    d.shown.map((c) => {
      const th = sortHeader({ label: comboLabel(c, byCombo[c]), name: 'score:' + c, title: c + ' — sort by its score on each case' }, state, sortHash);
      th.classList.add('combo');
      th.dataset.combination = c;
      return th;
    }));
  const rows = d.cases.map((row) => h('tr', { 'data-testid': 'grid-row', 'data-case': row.case_id },
    caseCell(row),
    h('td', { class: 'num nfail' + (row.failed ? ' bad' : ''), 'data-testid': 'grid-failed', title: row.failed + ' of ' + row.executions + ' executions did not pass' },
      row.failed ? row.failed : '0', h('span', { class: 'muted' }, '/' + row.executions)),
    row.cells.map((c) => gridCell(id, c, evs, d.pass_score, d.output))));
  return h('div', { class: 'cases', 'data-testid': 'grid' },
    toolbar, holds, pager,
    d.cases.length === 0 ? null : h('div', { class: 'grid-wrap' },
      h('table', { class: 'grid', 'data-testid': 'grid-table' }, h('thead', {}, head), h('tbody', {}, rows))),
    h('p', { class: 'muted legend' }, 'Each cell: the first repeat’s output at ', h('code', {}, outputName(d.output)),
      ', ✓/✗ per evaluator (hover for its score and why), the mean score and how many repeats passed; the squares are the repeats. A cell opens its execution.'));
}

// comboLabel shows a combination one variant a line, its rank and mean.
function comboLabel(c, ranked) {
  return h('span', { class: 'combo-name' }, ranked ? h('span', { class: 'rank' }, '#' + ranked.rank + ' · ' + fmt(ranked.mean_score)) : null,
    c.split(',').map((v) => h('span', { class: 'variant' }, v)));
}

const outputName = (o) => (o.path ? o.path : 'the last node’s output');

// outputChooser picks where cells' outputs are: an evaluator's path, the last
// node's output, or any path. A report holds outputs at one path.
function outputChooser(d, params) {
  if (REPORT) return h('span', { class: 'muted' }, 'outputs at ', h('code', {}, outputName(d.output)));
  const paths = [];
  for (const e of d.evaluators) if (e.path && !e.node && !paths.includes(e.path)) paths.push(e.path);
  const current = params.get('gout') || '';
  const sel = h('select', { name: 'gout', 'data-testid': 'grid-output', onchange: (e) => {
    if (e.target.value === '?') { custom.hidden = false; custom.focus(); return; }
    location.hash = here({ gout: e.target.value, goff: null });
  } },
  h('option', { value: '', selected: current === '' }, current === '' ? 'default: ' + outputName(d.output) : 'default'),
  paths.map((p) => h('option', { value: p, selected: current === p }, p)),
  h('option', { value: 'node', selected: current === 'node' }, 'the last node’s output'),
  h('option', { value: '?', selected: current !== '' && current !== 'node' && !paths.includes(current) }, 'another path…'));
  const custom = h('input', { name: 'gpath', placeholder: '$.path.to[0].value', size: 18, value: current.startsWith('$') ? current : '',
    hidden: !(current.startsWith('$') && !paths.includes(current)), onkeydown: (e) => {
      if (e.key === 'Enter') { e.preventDefault(); location.hash = here({ gout: custom.value.trim(), goff: null }); }
    } });
  return h('label', {}, 'Output', h('span', { class: 'inline' }, sel, custom));
}

// columnPicker chooses the combinations shown, in leaderboard order.
function columnPicker(all, shown, byCombo) {
  const boxes = all.map((c) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: c, checked: shown.includes(c) }),
    ' ', byCombo[c] ? '#' + byCombo[c].rank + ' ' : '', c));
  const apply = h('button', { type: 'button', 'data-testid': 'grid-columns-apply', onclick: () => {
    const picked = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (picked.length) location.hash = here({ gcol: picked, goff: null });
  } }, 'Show');
  return h('details', { class: 'columns', 'data-testid': 'grid-columns' },
    h('summary', {}, 'Combinations (' + shown.length + ' of ' + all.length + ')'),
    h('div', { class: 'menu' }, boxes, h('div', {}, apply, ' ', h('a', { href: here({ gcol: null, goff: null }) }, 'the first ' + Math.min(MAX_COLUMNS, all.length)))));
}

// briefValue shows a JSON value for reading: an object as key: value pairs,
// strings without quotes.
function briefValue(snippet) {
  if (!snippet.found) return '';
  if (snippet.truncated) return snippet.text + '…';
  let v;
  try { v = JSON.parse(snippet.text); } catch (e) { return snippet.text; }
  const one = (x) => (typeof x === 'string' ? x : JSON.stringify(x));
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).map(([k, x]) => k + ': ' + one(x)).join(' · ');
  return one(v);
}
const prettySnippet = (snippet) => {
  if (snippet.truncated) return snippet.text + '…';
  try { return json(JSON.parse(snippet.text)); } catch (e) { return snippet.text; }
};

function caseCell(row) {
  const value = (label, snippet, testid) => h('div', { class: 'val' },
    h('span', { class: 'lbl' }, label), ' ',
    snippet.found ? h('span', { class: 'text', title: prettySnippet(snippet), 'data-testid': testid }, briefValue(snippet)) : h('span', { class: 'muted', 'data-testid': testid }, 'none'));
  return h('th', { scope: 'row', class: 'case' },
    h('div', { class: 'cid id', title: row.case_id, 'data-testid': 'grid-case' }, row.case_id),
    value('input', row.input, 'grid-input'),
    value('expected', row.expected, 'grid-expected'),
    h('details', { class: 'full' }, h('summary', {}, 'full'),
      h('div', { class: 'lbl' }, 'input'), h('pre', {}, prettySnippet(row.input)),
      row.expected.found ? [h('div', { class: 'lbl' }, 'expected'), h('pre', {}, prettySnippet(row.expected))] : null));
}

// gridCell is what one combination made of a case: the first repeat's
// output and verdicts, the mean score, the repeats.
function gridCell(batch, c, evs, passScore, output) {
  if (c.runs.length === 0) return h('td', { class: 'cell none', 'data-testid': 'grid-cell', 'data-combination': c.combination }, h('span', { class: 'muted' }, 'not run'));
  const first = c.runs[0];
  const state = c.passed === c.executions ? 'pass' : c.passed === 0 ? 'fail' : 'mixed';
  let out;
  if (first.status === 'failed') {
    out = h('span', { class: 'err', title: first.error }, '✗ ', first.failed_node ? first.failed_node + ': ' : '', first.error || 'failed');
  } else if (!first.output.found) {
    out = h('span', { class: 'muted' }, 'nothing at ' + outputName(output));
  } else {
    out = briefValue(first.output);
  }
  const outTitle = first.status === 'failed' ? first.error : first.output.found ? prettySnippet(first.output) : '';
  const marks = evs.map((e) => {
    const score = first.scores[e.name];
    const ok = first.status !== 'failed' && score !== undefined && score >= passScore;
    const why = first.notes[e.name] || (ok ? 'passes: ' + e.rule : e.rule);
    return h('span', { class: 'mark ' + (ok ? 'ok' : 'bad'), 'data-testid': 'grid-mark', 'data-evaluator': e.name,
      title: e.name + ' ' + fmt(score) + (ok ? ' ✓' : ' ✗') + ' — ' + why }, (ok ? '✓ ' : '✗ ') + e.name);
  });
  const dots = c.runs.length > 1 ? h('span', { class: 'dots' }, c.runs.map((r) => {
    const title = 'repeat ' + r.repeat + ': ' + (r.passed ? 'passed' : 'did not pass') + ', score ' + fmt(r.overall_score) +
      (r.status === 'failed' ? ' — ' + r.error : r.output.found ? ' — ' + briefValue(r.output) : '');
    const cls = 'dot ' + (r.passed ? 'ok' : 'bad');
    return holdsExecution(r.execution_key) ? h('a', { class: cls, href: execHash(batch, r.execution_key), title }) : h('span', { class: cls, title });
  })) : null;
  const body = holdsExecution(first.execution_key)
    ? h('a', { class: 'out', href: execHash(batch, first.execution_key), title: outTitle, 'data-testid': 'grid-output' }, out)
    : h('span', { class: 'out', title: outTitle + '\n(this report does not hold this execution’s details)', 'data-testid': 'grid-output' }, out);
  return h('td', { class: 'cell ' + state, 'data-testid': 'grid-cell', 'data-combination': c.combination },
    body,
    h('div', { class: 'marks' }, marks),
    h('div', { class: 'meta' }, h('span', { 'data-testid': 'grid-score', title: 'mean overall score of ' + c.executions + ' repeat(s)' }, fmt(c.mean_score)),
      ' · ', h('span', { 'data-testid': 'grid-passed' }, c.passed + '/' + c.executions + ' passed'), ' ', dots));
}

// ---------- executions ----------

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
    const q = {};
    for (const el of [combo, status, kase, min, max]) q[el.name] = el.value || null;
    location.hash = here(Object.assign(q, { offset: null }));
  };
  return h('form', { class: 'filters', onsubmit: apply, 'data-testid': 'filters' },
    h('label', {}, 'Combination', combo), h('label', {}, 'Status', status), h('label', {}, 'Case', kase),
    h('label', {}, 'Score from', min), h('label', {}, 'to', max),
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: here({ combination: null, status: null, case: null, min: null, max: null, offset: null }) }, 'clear'));
}

function executionsTable(id, ex, params) {
  const offset = ex.offset, to = Math.min(ex.total, offset + ex.executions.length);
  const page = (off) => here({ offset: Math.max(0, off) || null });
  const state = sortState(params, 'esort', 'edesc', 'key');
  const sortHash = (name, desc) => here({ esort: name, edesc: desc ? '1' : '0', offset: null });
  const cols = [
    { label: 'Execution', name: 'key' }, { label: 'Status', name: 'status' }, { label: 'Score', name: 'score', num: true, first: true },
    { label: 'Passed' }, { label: 'Duration', name: 'duration', num: true, first: true }, { label: 'Attempts', name: 'attempts', num: true, first: true }, { label: 'Error' },
  ];
  const rows = ex.executions.map((r) => h('tr', { 'data-testid': 'execution-row' },
    h('td', { class: 'id' }, executionRef(id, r.execution_key)),
    h('td', {}, badge(r.status)),
    h('td', { class: 'num' }, fmt(r.overall_score)),
    h('td', {}, r.passed ? '✓' : '✗'),
    h('td', { class: 'num' }, ms(r.duration_ms)),
    h('td', { class: 'num' }, r.attempts),
    h('td', {}, r.error ? brief(r.error, 120).replace(/^"|"$/g, '') : '')));
  const held = REPORT && REPORT.executions.total > REPORT.executions.executions.length
    ? h('p', { class: 'note', 'data-testid': 'executions-holds' }, 'This report lists the first ' + REPORT.executions.executions.length +
      ' of the batch’s ' + REPORT.executions.total + ' executions, by key; filters and sorting look at those. `wtb view` lists every one.') : null;
  return h('div', {}, held,
    h('div', { class: 'pager' },
      h('span', { 'data-testid': 'execution-count' }, ex.total === 0 ? 'no executions match' : (offset + 1) + '–' + to + ' of ' + ex.total),
      offset > 0 ? link(page(offset - PAGE), '← previous') : null,
      to < ex.total ? link(page(offset + PAGE), 'next →', { 'data-testid': 'next-page' }) : null),
    h('table', { 'data-testid': 'executions' },
      h('thead', {}, h('tr', {}, cols.map((c) => sortHeader(c, state, sortHash)))),
      h('tbody', {}, rows)));
}

// ---------- one execution ----------

async function executionPage(id, key, params) {
  const d = await get('/api/batches/' + encodeURIComponent(id) + '/executions/' + key.split('/').map(encodeURIComponent).join('/'));
  const e = d.execution;
  const panel = h('div', { 'data-testid': 'node-panel' });
  const eventsBox = h('div', { 'data-testid': 'events' }, h('p', { class: 'muted' }, 'loading the events…'));
  const select = (name) => {
    const n = d.nodes.find((x) => x.node === name);
    panel.replaceChildren(nodePanel(n, d));
    for (const g of document.querySelectorAll('g.node')) g.classList.toggle('selected', g.dataset.node === name);
  };
  // The node to look at first: the one that failed, else the last that ran.
  const ran = d.nodes.filter((n) => n.status === 'succeeded');
  const first = d.nodes.find((n) => n.status === 'failed') || ran[ran.length - 1] || d.nodes[0];
  const out = d.output;
  const outTitle = out.path ? ['Output at ', h('code', {}, out.path), out.evaluator ? h('span', { class: 'muted' }, ' (evaluator ' + out.evaluator + '’s path)') : null]
    : ['Output of ', h('code', {}, out.node || 'the last node')];
  const final = ran.length ? ran[ran.length - 1] : null;
  const view = h('section', { 'data-testid': 'execution-page' },
    h('p', {}, link(batchHash(d.batch_id), '← batch '), idText(d.batch_id)),
    h('h1', { class: 'id', title: e.execution_key, 'data-testid': 'execution-key' }, e.execution_key),
    h('div', { class: 'kv' },
      h('span', {}, badge(e.status)), h('span', {}, e.passed ? badge('passed', 'ok') : badge('not passed', 'bad')),
      h('span', {}, 'score ', h('b', {}, fmt(e.overall_score))),
      h('span', {}, 'case ', h('b', { class: 'id' }, e.case_id)), h('span', {}, 'combination ', h('b', { class: 'id' }, e.combination)),
      h('span', {}, 'repeat ', e.repeat),
      h('span', {}, ms(e.duration_ms)), h('span', {}, e.attempts + ' attempt(s)'), h('span', {}, 'worker ', e.worker_id || DASH),
      h('span', { class: 'date' }, when(e.created_at))),
    e.error ? h('p', { class: 'error', 'data-testid': 'execution-error' }, e.failed_node ? 'node ' + e.failed_node + ': ' : '', e.error) : null,
    h('div', { class: 'io', 'data-testid': 'io' },
      ioPanel('Input', d.input, 'io-input'),
      ioPanel('Expected', d.expected, 'io-expected', 'the case has no expected values'),
      ioPanel(outTitle, out.found ? out.value : undefined, 'io-output',
        e.status === 'failed' ? 'no output: the execution failed' + (e.failed_node ? ' at node ' + e.failed_node : '') : 'nothing at ' + (out.path || 'the output'),
        final && out.path ? h('details', { class: 'state' }, h('summary', {}, 'the final state'), h('pre', {}, json(final.state))) : null)),
    h('h2', {}, 'Scores'),
    scoresTable(d, params),
    executionCost(d),
    h('h2', {}, 'Workflow'),
    h('p', { class: 'muted' }, 'Click a node. Sources: ran = run for this execution; shared = run once for every execution with the same prefix; cached = the node cache; forked = the parent batch.'),
    h('div', { class: 'graph', 'data-testid': 'node-graph' }, graph(d.nodes, select)),
    panel,
    traceSection(d),
    REPORT ? null : h('h2', {}, 'Events'),
    REPORT ? null : eventsBox);
  setTimeout(() => first && select(first.node));
  if (!REPORT) {
    get('/api/batches/' + encodeURIComponent(id) + '/audit?level=DEBUG&execution=' + encodeURIComponent(key))
      .then((a) => eventsBox.replaceChildren(eventsTable(a.entries)))
      .catch((err) => eventsBox.replaceChildren(h('p', { class: 'error' }, 'events: ' + err.message)));
  }
  return view;
}

// eventsTable is an execution's timeline from the audit trail: what WTB
// recorded about it and the events other systems' logs sent about it
// (`wtb audit import`), in time order.
function eventsTable(entries) {
  if (!entries.length) {
    return h('p', { class: 'muted', 'data-testid': 'events-none' },
      'No events recorded for this execution (failures, retries and imported events show here; `wtb run --audit-nodes` records every node).');
  }
  const sev = { ERROR: 'bad', WARNING: 'warn', SUCCESS: 'ok' };
  return h('table', { 'data-testid': 'execution-events' },
    h('thead', {}, h('tr', {}, ['Time', 'Severity', 'Event', 'Message', 'Node', 'From'].map((c) => h('th', {}, c)))),
    h('tbody', {}, entries.map((e) => {
      const from = e.details && e.details.imported ? e.details.source : 'wtb';
      return h('tr', { 'data-testid': 'event-row' },
        h('td', { class: 'date', title: e.time }, when(e.time)), h('td', {}, badge(e.severity, sev[e.severity] || 'info')),
        h('td', { class: 'id' }, e.event_type), h('td', {}, e.message), h('td', { class: 'id' }, e.node || DASH),
        h('td', { class: 'id', 'data-testid': 'event-from' }, from));
    })));
}

// callTotals adds up model calls: how many, their tokens (every kind; a
// response without usage counts none and is noted), what the priced ones
// cost and how many could not be priced.
function callTotals(calls) {
  const t = { calls: calls.length, tokens: 0, cost: 0, unpriced: 0, noUsage: 0 };
  for (const c of calls) {
    if (c.usage) t.tokens += c.usage.input_tokens + c.usage.output_tokens + c.usage.cache_read_tokens + c.usage.cache_write_tokens + c.usage.reasoning_tokens;
    else t.noUsage++;
    if (c.cost_usd === null || c.cost_usd === undefined) t.unpriced++;
    else t.cost += c.cost_usd;
  }
  return t;
}
// totalCostText is what calls cost in all: unpriced calls are said, never
// added as $0.
function totalCostText(cost, calls, unpriced) {
  if (unpriced === 0) return usd(cost);
  if (unpriced === calls) return 'unpriced (' + plural(unpriced, 'call', 'calls') + ')';
  return usd(cost) + ' + ' + plural(unpriced, 'unpriced call', 'unpriced calls');
}

// executionCost is what the execution's model calls used and cost, node run
// by node run, and in all (its wtb.llm.* metrics: a shared prefix's calls
// counted in full, as if the execution ran alone). Calls of failed attempts
// are listed apart: the execution's totals count the runs that finished.
function executionCost(d) {
  const m = d.execution.metrics || {};
  const runs = d.nodes.filter((n) => (n.model_calls || []).length);
  const judges = d.evaluations.filter((x) => (x.model_calls || []).length);
  if (!m['wtb.llm.calls'] && runs.length === 0 && judges.length === 0) return null;
  const row = (label, t, testid, title) => h('tr', { 'data-testid': testid, title: title || null },
    h('td', {}, label), h('td', { class: 'num' }, t.calls), h('td', { class: 'num' }, count(t.tokens) + (t.noUsage ? ' (' + t.noUsage + ' reported none)' : '')),
    h('td', { class: 'num', 'data-testid': 'cost' }, totalCostText(t.cost, t.calls, t.unpriced)));
  const rows = [];
  const failed = [];
  for (const n of runs) {
    const finished = n.model_calls.filter((c) => !c.attempt);
    failed.push(...n.model_calls.filter((c) => c.attempt));
    if (finished.length) {
      rows.push(row([n.node + (n.variant ? ' = ' + n.variant : ''), n.source ? h('span', { class: 'muted' }, ' (' + n.source + ')') : null],
        callTotals(finished), 'node-cost'));
    }
  }
  if (failed.length) rows.push(row(h('span', { class: 'muted' }, 'failed attempts (not in the total)'), callTotals(failed), 'failed-cost'));
  const totalOf = (p) => ({ calls: m[p + 'calls'] || 0, cost: m[p + 'cost_usd'] || 0, unpriced: m[p + 'unpriced_calls'] || 0, noUsage: 0,
    tokens: ['input', 'output', 'cache_read', 'cache_write', 'reasoning'].reduce((a, k) => a + (m[p + k + '_tokens'] || 0), 0) });
  const total = totalOf('wtb.llm.');
  // The judges' calls are counted apart (wtb.llm.judge.*), as the
  // leaderboard's judge cost is: grading is not what the workflow costs.
  const judgeRows = judges.map((x) => row(['judge ', h('b', {}, x.name), h('span', { class: 'muted' }, ' (' + x.type + ')')], callTotals(x.model_calls), 'judge-cost-row'));
  const judgeTotal = judges.length ? row(h('b', {}, 'the judges, apart'), totalOf('wtb.llm.judge.'), 'judge-total',
    'the wtb.llm.judge.* metrics of the execution: its llm_judge evaluators’ calls, not in the workflow’s total') : null;
  return [
    h('h2', {}, 'Model calls: tokens and cost'),
    h('table', { 'data-testid': 'execution-cost' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Node run'), h('th', { class: 'num' }, 'Calls'), h('th', { class: 'num' }, 'Tokens'), h('th', { class: 'num' }, 'Cost'))),
      h('tbody', {}, rows),
      h('tfoot', {}, row(h('b', {}, 'this execution'), total, 'execution-total',
        'the wtb.llm.* metrics of the execution: every node run it needed, a shared one in full'), judgeRows, judgeTotal)),
    total.unpriced ? h('p', { class: 'muted' }, 'An unpriced call (its model has no price, or its response reported no usage) has no known cost: it is counted, never as $0.') : null,
  ];
}

// ioPanel shows a value as pretty JSON, folded when long.
function ioPanel(title, value, testid, empty, extra) {
  const body = value === undefined || value === null
    ? h('p', { class: 'muted', 'data-testid': testid }, empty || 'none')
    : folded(json(value), testid);
  return h('div', { class: 'panel' }, h('h3', {}, title), body, extra || null);
}

const FOLD_LINES = 14, FOLD_CHARS = 1200;
function folded(text, testid) {
  const lines = text.split('\n').length;
  const long = lines > FOLD_LINES || text.length > FOLD_CHARS;
  const pre = h('pre', { 'data-testid': testid, class: long ? 'folded' : '' }, text);
  if (!long) return pre;
  const btn = h('button', { type: 'button', class: 'linkish', 'data-testid': testid + '-unfold', onclick: () => {
    const open = pre.classList.toggle('folded');
    btn.textContent = open ? 'show all' : 'show less';
  } }, 'show all (' + lines + ' lines)');
  return h('div', {}, pre, btn);
}

function scoresTable(d, params) {
  const state = sortState(params, 'ssort', 'sdesc', null);
  const cols = [
    { label: 'Evaluator', name: 'name', key: (x) => x.name }, { label: 'Checks', name: 'rule', key: (x) => x.rule },
    { label: 'Weight', name: 'weight', num: true, first: true, key: (x) => x.weight }, { label: 'Score', name: 'score', num: true, key: (x) => x.score },
    { label: '✓/✗', name: 'passed', key: (x) => (x.passed ? 1 : 0) }, { label: 'Why', name: 'reason', key: (x) => x.reason },
  ];
  const col = cols.find((c) => c.name === state.by);
  const evs = col ? sortRows(d.evaluations, (x) => [col.key(x)], state.desc) : d.evaluations;
  return h('table', { 'data-testid': 'scores' },
    h('thead', {}, h('tr', {}, cols.map((c) => sortHeader(c, state, sortHashes('ssort', 'sdesc'))))),
    h('tbody', {}, evs.map((x) => [h('tr', { 'data-testid': 'score-row', 'data-evaluator': x.name },
      h('td', {}, h('b', {}, x.name), ' ', h('span', { class: 'muted' }, x.type)),
      h('td', { class: 'rule' }, x.rule),
      h('td', { class: 'num' }, x.weight),
      h('td', { class: 'num' }, fmt(x.score)),
      h('td', {}, x.passed ? badge('✓', 'ok') : badge('✗', 'bad')),
      h('td', { 'data-testid': 'reason' }, x.reason)),
    // An llm_judge's calls, under its verdict: apart from the workflow's.
    (x.model_calls || []).length ? h('tr', { class: 'judge-row', 'data-testid': 'judge-row', 'data-evaluator': x.name },
      h('td', {}), h('td', { colspan: 5 }, modelCalls(x.model_calls, 'The judge’s calls (node judge:' + x.name + ', apart from the workflow’s)', 'judge'))) : null])));
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
    modelCalls(n.model_calls || []),
    (n.spans || []).length ? h('p', { class: 'muted', 'data-testid': 'node-spans' }, plural(Math.max(n.spans_total || 0, n.spans.length), 'span', 'spans'),
      (n.tool_calls || []).length ? ', ' + plural(n.tool_calls.length, 'tool call', 'tool calls') : '', n.spans_dropped ? ' (' + n.spans_dropped + ' dropped)' : '', ' — ',
      h('button', { type: 'button', class: 'linkish', 'data-testid': 'node-spans-show', onclick: () => {
        const el = document.querySelector('[data-testid=trace-run][data-node="' + CSS.escape(n.node) + '"]');
        if (el) el.scrollIntoView({ behavior: 'smooth', block: 'start' });
      } }, 'show its waterfall')) : null,
    h('h3', {}, 'Logs'),
    logs.length ? h('pre', { class: 'logs', 'data-testid': 'node-logs' }, logs.map((l) => h('span', { class: l.stream }, l.stream + ' | ' + l.line + '\n')))
      : h('p', { class: 'muted' }, n.status === 'not_run' ? 'did not run' : 'no log lines'));
}

// modelCalls lists a node run's calls to model APIs through the gateway:
// one row each, the request and the response (as stored: credentials are
// never stored, secrets masked) folded under it.
function modelCalls(calls, title, kind) {
  if (calls.length === 0) return null;
  const judge = kind === 'judge';
  const body = (doc) => {
    if (!doc) return '';
    if (doc.chunks) return doc.chunks.map((c) => (c.text !== undefined ? c.text : c.json !== undefined ? JSON.stringify(c.json) : '[' + (c.base64 || '').length + ' bytes base64]')).join('');
    if (doc.json !== undefined) return json(doc.json);
    if (doc.text !== undefined) return doc.text;
    return doc.base64 ? '[' + doc.base64.length + ' bytes, base64]' : '';
  };
  const t = callTotals(calls);
  const tokensOf = (u) => (u ? u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens + u.reasoning_tokens : null);
  const usageTitle = (u) => (u ? 'input ' + count(u.input_tokens) + ', output ' + count(u.output_tokens) + ', cache read ' + count(u.cache_read_tokens) +
    ', cache write ' + count(u.cache_write_tokens) + ', reasoning ' + count(u.reasoning_tokens) : 'the response reported no usage (not 0 tokens)');
  return [
    h(judge ? 'h4' : 'h3', {}, title || 'Model calls'),
    h('p', { class: 'kv', 'data-testid': judge ? 'judge-cost' : 'node-cost' }, h('span', {}, plural(t.calls, 'call', 'calls')), h('span', {}, 'tokens ', h('b', {}, count(t.tokens))),
      h('span', {}, 'cost ', h('b', {}, totalCostText(t.cost, t.calls, t.unpriced)))),
    h('table', { 'data-testid': judge ? 'judge-calls' : 'model-calls' },
      h('thead', {}, h('tr', {}, ['#', 'Call', 'Model', 'Status', 'Source', 'Time', 'Tokens', 'Cost', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, calls.map((c) => [
        h('tr', { 'data-testid': judge ? 'judge-call' : 'model-call' },
          h('td', { class: 'num' }, c.ordinal),
          h('td', {}, h('span', { class: 'id', title: c.method + ' ' + c.upstream + ' ' + c.path }, c.method + ' ' + c.upstream + ' ' + c.path)),
          h('td', {}, c.model || DASH),
          h('td', {}, c.status ? badge(String(c.status), c.status < 400 ? 'ok' : 'bad') : badge('no answer', 'bad')),
          h('td', {}, badge(c.source, c.source === 'replayed' ? 'ok' : ''), c.streamed ? ' streamed' : '', c.attempt ? ' (attempt ' + c.attempt + ', failed)' : ''),
          h('td', { class: 'num', title: 'first byte after ' + ms(c.first_byte_ms) + (c.queue_ms ? '; waited ' + ms(c.queue_ms) + ' in the gateway first' : '') + (c.sends > 1 ? '; sent ' + c.sends + ' times' : '') }, ms(c.duration_ms), c.queue_ms >= 0.05 ? h('div', { class: 'muted', 'data-testid': 'call-queue' }, '+' + ms(c.queue_ms) + ' queued') : null),
          h('td', { class: 'num', title: usageTitle(c.usage) }, c.usage ? count(tokensOf(c.usage)) : 'not reported'),
          h('td', { class: 'num', 'data-testid': 'call-cost', title: c.cost_usd === null ? 'no price for this model, or no usage reported: the cost is unknown, never $0' : null },
            c.cost_usd === null ? 'unpriced' : usd(c.cost_usd)),
          h('td', {}, c.error ? h('span', { class: 'error', title: c.error }, c.error.split('\n')[0]) : '')),
        h('tr', { class: 'call-detail' }, h('td', {}), h('td', { colspan: 8 },
          h('details', {}, h('summary', {}, 'request'), h('pre', { 'data-testid': 'call-request' }, body(c.request))),
          h('details', {}, h('summary', {}, 'response'), h('pre', { 'data-testid': 'call-response' }, body(c.response))))),
      ]))),
  ];
}

// ---------- spans ----------

// Spans a node run's waterfall shows at a time, and tool calls a list shows
// before "show all": a node run keeps up to 2,000 spans, and a page that drew
// them all at once would be slow to open.
const SPAN_PAGE = 200, TOOL_PAGE = 100;

// spanTimes gives each span of a node run its start and end in ms since the
// epoch: offset_ms is exact within a tree (one per attempt), start is ms-precise.
function spanTimes(spans) {
  const base = {};
  for (const sp of spans) {
    const b = Date.parse(sp.start) - sp.offset_ms;
    if (base[sp.attempt] === undefined || b < base[sp.attempt]) base[sp.attempt] = b;
  }
  return spans.map((sp) => ({ from: base[sp.attempt] + sp.offset_ms, to: base[sp.attempt] + sp.offset_ms + sp.duration_ms }));
}

// toolCallsOf lists a node run's tool calls: the execute_tool spans (with
// their duration, status and result) in the order the trajectory evaluators
// see them, and the calls a model turn asked for that no span shows.
function toolCallsOf(n) {
  const spans = n.spans.map((sp, i) => ({ sp, i })).filter((x) => x.sp.tool_name || (x.sp.attributes || {})['gen_ai.operation.name'] === 'execute_tool');
  const times = spanTimes(n.spans);
  spans.sort((a, b) => times[a.i].from - times[b.i].from);
  const used = new Set();
  return (n.tool_calls || []).map((c) => {
    let sp = null;
    if (c.source !== 'requested') {
      const m = spans.find((x) => !used.has(x.i) && x.sp.tool_name === c.name);
      if (m) { used.add(m.i); sp = m.sp; }
    }
    const result = sp ? (sp.attributes || {})['gen_ai.tool.call.result'] : undefined;
    return { node: n.node, name: c.name, args: c.arguments, source: c.source || 'executed', error: c.error || (sp && sp.status === 'error' ? sp.status_message || 'error' : ''),
      duration: sp ? sp.duration_ms : null, status: sp ? sp.status : '', result, attempt: sp ? sp.attempt : 0 };
  });
}

// toolTable lists tool calls: tool, arguments, result or status, duration.
function toolTable(calls, withNode, testid) {
  const table = h('table', { class: 'tools', 'data-testid': testid },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, '#'), withNode ? h('th', {}, 'Node') : null, h('th', {}, 'Tool'), h('th', {}, 'Arguments'),
      h('th', {}, 'Result / status'), h('th', { class: 'num' }, 'Duration'))));
  const body = h('tbody', {});
  const row = (c, i) => h('tr', { 'data-testid': 'tool-call', 'data-tool': c.name, class: c.error ? 'failed' : '' },
    h('td', { class: 'num' }, i + 1),
    withNode ? h('td', { class: 'id' }, c.node) : null,
    h('td', {}, h('b', {}, c.name), c.attempt ? h('span', { class: 'muted' }, ' attempt ' + c.attempt) : null),
    h('td', { class: 'args', title: c.args === null ? null : json(c.args), 'data-testid': 'tool-args' }, c.args === null ? DASH : brief(c.args, 160)),
    h('td', { 'data-testid': 'tool-status' },
      c.error ? h('span', { class: 'span-error' }, '✗ ' + c.error.split('\n')[0])
        : c.source === 'requested' ? h('span', { class: 'muted', title: 'gen_ai.output.messages of a model turn asked for it; no execute_tool span shows it ran' }, 'asked for by the model')
          : c.result !== undefined ? h('span', { title: typeof c.result === 'string' ? c.result : json(c.result) }, typeof c.result === 'string' ? cut(c.result, 120) : brief(c.result, 120)) : badge(c.status || 'unset', c.status === 'ok' ? 'ok' : '')),
    h('td', { class: 'num' }, c.duration === null ? DASH : ms(c.duration)));
  const show = (k) => body.replaceChildren(...calls.slice(0, k).map(row));
  show(TOOL_PAGE);
  append(table, [body]);
  if (calls.length <= TOOL_PAGE) return table;
  const more = h('button', { type: 'button', class: 'linkish', 'data-testid': testid + '-all', onclick: () => { show(calls.length); more.remove(); } },
    'show all ' + calls.length + ' tool calls');
  return h('div', {}, table, more);
}

// traceSection draws each node run's spans as a waterfall on the
// execution's timeline (Jaeger's layout: a row per span, nested by parent,
// its bar placed and sized by time), then the execution's tool calls. A
// run reused from the node cache or a parent batch ran at another time: it
// is drawn from its own start and says so.
function traceSection(d) {
  const runs = d.nodes.filter((n) => n.spans.length || n.spans_dropped);
  if (runs.length === 0) return null;
  const reused = (n) => n.source === 'cached' || n.source === 'forked';
  let origin = Infinity, end = -Infinity;
  const times = new Map(runs.map((n) => [n, spanTimes(n.spans)]));
  for (const n of runs) {
    if (reused(n)) continue;
    for (const t of times.get(n)) { origin = Math.min(origin, t.from); end = Math.max(end, t.to); }
  }
  const tools = runs.flatMap(toolCallsOf);
  return h('section', { 'data-testid': 'trace' },
    h('h2', {}, 'Spans'),
    h('p', { class: 'muted' }, 'Each node run’s spans on the execution’s timeline, nested by parent; click a span for its attributes. ',
      '✗ marks an error, with its message; a ', h('span', { class: 'badge standin' }, 'stand-in'),
      ' is a model call the gateway saw that no span of the node describes; the ', h('span', { class: 'badge' }, 'node run'), ' span is WTB’s own.'),
    tools.length ? [h('h3', {}, 'Tool calls of the execution (' + tools.length + ')'), toolTable(tools, true, 'execution-tools')] : null,
    runs.map((n) => {
      let o = origin, e = end, own = false;
      if (reused(n) || !Number.isFinite(o)) {
        own = true;
        o = Math.min(...times.get(n).map((t) => t.from));
        e = Math.max(...times.get(n).map((t) => t.to));
      }
      const cut = REPORT && REPORT.spans_cut && REPORT.spans_cut[d.execution.execution_key] ? REPORT.spans_cut[d.execution.execution_key][n.node] : 0;
      return traceRun(n, times.get(n), o, Math.max(e - o, 0.001), own, cut, d.batch_id, d.execution.execution_key);
    }));
}

// traceRun is one node run's waterfall: a page of rows at a time, subtrees
// folded at will. The viewer's API sends the first page of a node run's
// spans (spans_total says how many it kept); the next pages are fetched
// as the user asks for more rows, appended in the same tree order, so the
// folds made (by position) still hold. A report holds what it holds.
function traceRun(n, times, origin, total, own, cut, batchID, execKey) {
  const spans = n.spans.slice();
  const kept = REPORT ? spans.length : Math.max(n.spans_total || 0, spans.length);
  const kidsOf = () => new Set(spans.filter((sp) => sp.parent_span_id).map((sp) => sp.parent_span_id + '@' + sp.attempt));
  let hasKids = kidsOf();
  const folded = new Set();
  let limit = SPAN_PAGE;
  let fetching = null;
  const fetchMore = () => fetching || (fetching = get('/api/batches/' + encodeURIComponent(batchID) + '/spans?execution=' + encodeURIComponent(execKey) +
    '&node=' + encodeURIComponent(n.node) + '&offset=' + spans.length + '&limit=' + SPAN_PAGE).then((p) => {
    spans.push(...p.spans);
    times = spanTimes(spans);
    hasKids = kidsOf();
  }).finally(() => { fetching = null; }));
  const rows = h('div', { class: 'spans', 'data-testid': 'span-rows' });
  const pager = h('div', { class: 'pager' });
  const visible = () => {
    const out = [];
    let hideBelow = Infinity;
    spans.forEach((sp, i) => {
      if (sp.depth > hideBelow) return;
      hideBelow = folded.has(i) ? sp.depth : Infinity;
      out.push(i);
    });
    return out;
  };
  const draw = () => {
    const vis = visible();
    rows.replaceChildren(...vis.slice(0, limit).map((i) => spanRow(spans[i], i, times[i], origin, total, hasKids.has(spans[i].span_id + '@' + spans[i].attempt), folded.has(i), () => {
      if (folded.has(i)) folded.delete(i); else folded.add(i);
      draw();
    })));
    const shown = Math.min(limit, vis.length);
    const unloaded = kept - spans.length;
    pager.replaceChildren();
    append(pager, [
      h('span', { class: 'muted', 'data-testid': 'span-count' }, shown === kept ? plural(kept, 'span', 'spans')
        : shown + ' of ' + kept + ' spans shown' + (vis.length < spans.length ? ' (' + (spans.length - vis.length) + ' in folded subtrees)' : '')),
      shown < vis.length || unloaded > 0 ? h('button', { type: 'button', class: 'linkish', 'data-testid': 'span-more', onclick: async (e) => {
        e.target.disabled = true;
        try {
          // The rows past what is loaded come from the server first.
          while (unloadedNow() > 0 && visible().length < limit + SPAN_PAGE) await fetchMore();
        } catch (err) {
          e.target.disabled = false;
          e.target.textContent = 'could not fetch more spans (' + err.message + '); try again';
          return;
        }
        limit += SPAN_PAGE;
        draw();
      } }, 'show ' + Math.min(SPAN_PAGE, vis.length - shown + unloaded) + ' more') : null,
      shown < vis.length ? h('button', { type: 'button', class: 'linkish', 'data-testid': 'span-fold-deep', onclick: () => {
        spans.forEach((sp, i) => { if (sp.depth >= 1 && hasKids.has(sp.span_id + '@' + sp.attempt)) folded.add(i); });
        draw();
      } }, 'fold every subtree below the top') : null]);
  };
  const unloadedNow = () => kept - spans.length;
  draw();
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => h('span', { class: 'tick', style: 'left:' + (f * 100) + '%' }, ms(f * total)));
  const tools = toolCallsOf(n);
  return h('div', { class: 'trace-run', 'data-testid': 'trace-run', 'data-node': n.node },
    h('h3', {}, n.node + (n.variant ? ' = ' + n.variant : ''), ' ', n.source ? h('span', { class: 'muted' }, '(' + n.source + ')') : null),
    own ? h('p', { class: 'muted', 'data-testid': 'trace-own' }, 'Reused (' + n.source + '): it ran at ' + when(origin) + ', so it is drawn from its own start.') : null,
    cut ? h('p', { class: 'note', 'data-testid': 'spans-cut' }, 'This report holds the first ' + spans.length + ' of the node run’s ' + cut +
      ' spans, in tree order; `wtb view` or `wtb show` shows every one.') : null,
    n.spans_dropped ? h('p', { class: 'note', 'data-testid': 'spans-dropped' }, plural(n.spans_dropped, 'span', 'spans') +
      ' dropped: past the bound of 2,000 spans or 4 MiB per node run; the receiver kept the first.') : null,
    h('div', { class: 'waterfall' },
      h('div', { class: 'span-axis' }, h('span', { class: 'span-name muted' }, 'span'), h('span', { class: 'span-track' }, ticks)),
      rows),
    pager,
    tools.length ? [h('h4', {}, 'Tool calls (' + tools.length + ')'), toolTable(tools, false, 'run-tools')] : null);
}

// spanRow is one span: its name (indented by depth) with what matters at a
// glance, its bar on the timeline, and its attributes when opened.
function spanRow(sp, i, t, origin, total, kids, isFolded, toggle) {
  const left = Math.max(0, Math.min(100, 100 * (t.from - origin) / total));
  const width = Math.max(0.3, Math.min(100 - left, 100 * sp.duration_ms / total));
  const err = sp.status === 'error';
  const facts = [];
  if (sp.model) facts.push(h('span', { class: 'fact', 'data-testid': 'span-model' }, sp.model));
  if (sp.input_tokens || sp.output_tokens) facts.push(h('span', { class: 'fact', 'data-testid': 'span-tokens', title: 'input ' + count(sp.input_tokens) + ', output ' + count(sp.output_tokens) }, count(sp.input_tokens) + ' → ' + count(sp.output_tokens) + ' tokens'));
  if (sp.tool_name) {
    const args = (sp.attributes || {})['gen_ai.tool.call.arguments'];
    facts.push(h('span', { class: 'fact', 'data-testid': 'span-tool' }, 'tool ' + sp.tool_name + (args !== undefined ? ' ' + brief(typeof args === 'string' ? tryJSON(args) : args, 80) : '')));
  }
  if (sp.source === 'gateway') facts.push(h('span', { class: 'badge standin', 'data-testid': 'span-standin', title: 'a model call the gateway saw that no span of the node describes' }, 'stand-in'));
  if (sp.source === 'wtb') facts.push(h('span', { class: 'badge' }, 'node run'));
  if (sp.attempt) facts.push(h('span', { class: 'badge warn' }, 'attempt ' + sp.attempt));
  const title = sp.name + ' — +' + ms(t.from - origin) + ', ' + ms(sp.duration_ms) + ', ' + (sp.status || 'unset') + (sp.status_message ? ': ' + sp.status_message : '');
  const attrs = Object.entries(sp.attributes || {});
  return h('details', { class: 'span-row' + (err ? ' failed' : ''), 'data-testid': 'span-row', 'data-span': sp.span_id, 'data-depth': sp.depth, 'data-status': sp.status || 'unset' },
    h('summary', { title },
      h('span', { class: 'span-name', style: 'padding-left:' + (sp.depth * 14) + 'px' },
        kids ? h('button', { type: 'button', class: 'fold', title: isFolded ? 'show its subtree' : 'fold its subtree', 'data-testid': 'span-fold',
          onclick: (e) => { e.preventDefault(); e.stopPropagation(); toggle(); } }, isFolded ? '▸' : '▾') : h('span', { class: 'fold' }, ''),
        err ? h('span', { class: 'span-mark', 'data-testid': 'span-error-mark' }, '✗ ') : null,
        h('span', { class: 'span-label', 'data-testid': 'span-name' }, sp.name), ' ', facts,
        err && sp.status_message ? h('div', { class: 'span-error', 'data-testid': 'span-error' }, sp.status_message.split('\n')[0]) : null),
      h('span', { class: 'span-track' },
        h('span', { class: 'span-bar ' + (err ? 'error' : sp.source === 'gateway' ? 'standin' : sp.source === 'wtb' ? 'run' : ''), style: 'left:' + left + '%;width:' + width + '%' }),
        h('span', { class: 'span-dur', style: left > 70 ? 'right:' + (100 - left) + '%' : 'left:' + (left + width) + '%' }, ms(sp.duration_ms)))),
    h('div', { class: 'span-detail', 'data-testid': 'span-detail' },
      h('div', { class: 'kv' }, h('span', {}, 'start +', ms(t.from - origin)), h('span', {}, 'duration ', ms(sp.duration_ms)),
        h('span', {}, 'status ', h('b', {}, sp.status || 'unset')), sp.kind ? h('span', {}, 'kind ', sp.kind) : null, h('span', {}, 'source ', sp.source || DASH),
        h('span', { class: 'muted' }, 'span ', sp.span_id), h('span', { class: 'muted' }, 'trace ', sp.trace_id)),
      sp.status_message ? h('pre', { class: 'span-error' }, sp.status_message) : null,
      attrs.length === 0 ? h('p', { class: 'muted' }, 'no attributes') :
        h('table', { class: 'attrs', 'data-testid': 'span-attrs' }, h('tbody', {}, attrs.map(([k, v]) => h('tr', {},
          h('td', { class: 'id' }, k), h('td', {}, h('pre', {}, typeof v === 'string' ? v : json(v)))))))));
}

const cut = (t, n) => (t.length > n ? t.slice(0, n - 1) + '…' : t);
const tryJSON = (s) => { try { return JSON.parse(s); } catch (e) { return s; } };

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
  const state = sortState(params, 'csort', 'cdesc', null);
  const costs = c.combinations.some((x) => x.tokens_a !== null || x.tokens_b !== null);
  const cols = [
    { label: 'Combination', name: 'combination', key: (x) => x.combination },
    { label: 'Mean A', name: 'mean_a', num: true, first: true, key: (x) => x.mean_a }, { label: 'Mean B', name: 'mean_b', num: true, first: true, key: (x) => x.mean_b },
    { label: 'Δ', name: 'delta', num: true, key: (x) => x.delta },
    ...(costs ? [{ label: 'Δ Cost / exec', name: 'cost', num: true, title: 'a side with unpriced calls has no known cost: no delta', key: (x) => x.cost_delta },
      { label: 'Δ Tokens / exec', name: 'tokens', num: true, key: (x) => x.tokens_delta }] : []),
    { label: 'Paired Δ [95% CI]', name: 'paired', num: true, key: (x) => x.paired_mean_diff },
    { label: 'p', name: 'p', num: true, key: (x) => (x.pairs >= 2 ? x.p_value : null) },
    { label: 'Pass A', name: 'pass_a', num: true, first: true, key: (x) => x.pass_rate_a }, { label: 'Pass B', name: 'pass_b', num: true, first: true, key: (x) => x.pass_rate_b },
    { label: '' },
  ];
  const col = cols.find((x) => x.name && x.name === state.by);
  const combos = col ? sortRows(c.combinations, (x) => [col.key(x)], state.desc) : c.combinations;
  append(page, [
    h('p', {}, link(batchHash(c.a.id), 'A ' + c.a.id, { class: 'id' }), ' (', c.a.name, ') → ', link(batchHash(c.b.id), 'B ' + c.b.id, { class: 'id' }), ' (', c.b.name, '): ',
      h('b', { 'data-testid': 'regressions' }, c.regressions), ' regression(s): a drop larger than ', asWritten(c.tolerance),
      ' that a paired ', c.test, ' test finds significant at ', asWritten(c.alpha)),
    h('h2', {}, 'Per combination'),
    h('table', { 'data-testid': 'compare-combinations' },
      h('thead', {}, h('tr', {}, cols.map((x) => sortHeader(x, state, sortHashes('csort', 'cdesc'))))),
      h('tbody', {}, combos.map((x) => h('tr', { 'data-combination': x.combination },
        h('td', { class: 'id', title: x.combination }, x.combination), h('td', { class: 'num' }, fmt(x.mean_a)), h('td', { class: 'num' }, fmt(x.mean_b)),
        h('td', { class: 'num' }, delta(x.delta)),
        costs ? [h('td', { class: 'num', 'data-testid': 'cost-delta' }, compareCost(x)), h('td', { class: 'num', 'data-testid': 'tokens-delta' }, compareTokens(x))] : null,
        h('td', { class: 'num', title: x.pairs + ' paired executions' }, x.paired_diff_ci95 ? [delta(x.paired_mean_diff), ' [' + fmt(x.paired_diff_ci95[0]) + ', ' + fmt(x.paired_diff_ci95[1]) + ']'] : DASH),
        h('td', { class: 'num', 'data-testid': 'p-value' }, x.pairs >= 2 ? pval(x.p_value) : DASH),
        h('td', { class: 'num' }, pct(x.pass_rate_a)), h('td', { class: 'num' }, pct(x.pass_rate_b)),
        h('td', {}, x.regression ? badge('regression', 'bad') : x.significant ? badge('significant', 'warn') : ''))))),
    h('h2', {}, 'Executions whose score changed (' + c.cases.length + ')'),
    c.cases.length === 0 ? h('p', { class: 'muted' }, 'none') : c.cases.slice(0, 200).map((x) => h('div', { class: 'chart', 'data-testid': 'compare-case' },
      h('p', {}, idLink(execHash(c.b.id, x.execution_key), x.execution_key), ' ', delta(x.score_delta), ' (', fmt(x.score_a), ' → ', fmt(x.score_b), ')',
        ' · first differing node ', h('b', { 'data-testid': 'diverging-node' }, x.first_differing_node)),
      h('p', { class: 'muted' }, x.detail),
      h('div', { class: 'side' },
        h('div', {}, h('div', { class: 'muted' }, 'A output'), h('pre', { 'data-testid': 'output-a' }, json(x.output_a))),
        h('div', {}, h('div', { class: 'muted' }, 'B output'), h('pre', { 'data-testid': 'output-b' }, json(x.output_b)))))),
    c.cases.length > 200 ? h('p', { class: 'muted' }, 'first 200 of ' + c.cases.length + ' shown; `wtb compare --cases --format json` lists all') : null,
  ]);
  return page;
}

// A report holds one batch: no comparing, nothing to link to elsewhere.
if (REPORT) for (const el of document.querySelectorAll('.server-only')) el.remove();
window.addEventListener('hashchange', render);
render();
