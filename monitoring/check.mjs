// Static checks of the monitoring assets against the metric catalogue.
// Run through monitoring/check.sh, which adds the promtool and tsc steps.
//
//   node monitoring/check.mjs lint ROOT
//       the catalogue, every dashboard, the alert rules, their tests and
//       docs/monitoring.md (see lint() for the list); exit 1 on a finding
//   node monitoring/check.mjs promql-rules ROOT OUT
//       writes every dashboard expression (Grafana variables substituted) as
//       a recording rule to OUT, for `promtool check rules`
//   node monitoring/check.mjs count-rules FILE
//       prints how many rules FILE holds as this script reads it (check.sh
//       compares that with promtool's count, so the YAML reader below cannot
//       silently miss a rule)
//
// ROOT is a checkout: ROOT/monitoring/metrics.json, ROOT/monitoring/grafana/
// *.json, ROOT/monitoring/prometheus/{alerts,alerts_test}.yml,
// ROOT/docs/monitoring.md. Uses Node's standard library only.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

// ------------------------------------------------------------------ findings

const findings = [];
function fail(where, message) {
  findings.push(`${where}: ${message}`);
}

// -------------------------------------------------------------- YAML subset
// Prometheus rule and test files use block YAML. This reader accepts the
// subset those files need (block mappings and sequences, plain and quoted
// scalars, | and > block scalars, [] {} and one-line flow collections of
// scalars) and throws on anything else (anchors, aliases, tags, multi-line
// quoted scalars, several documents), so a construct it does not know is an
// error, never a silent misread. Scalars stay strings; an empty value is null.

class YamlError extends Error {}

function parseYaml(text, file) {
  const lines = text.split('\n').map((raw, i) => {
    const indent = raw.match(/^ */)[0].length;
    if (raw.slice(indent).startsWith('\t')) throw new YamlError(`${file}:${i + 1}: tab in indentation`);
    return { no: i + 1, raw, indent, content: raw.slice(indent).replace(/\s+$/, '') };
  });
  let pos = 0;
  const where = (line) => `${file}:${line.no}`;
  const isBlank = (line) => line.content === '' || line.content.startsWith('#');
  const skipBlank = () => {
    while (pos < lines.length && isBlank(lines[pos])) pos++;
  };
  const isSeqItem = (content) => content === '-' || content.startsWith('- ');

  // Splits "key: rest" (key plain or quoted); null when content is no mapping entry.
  function splitKey(content, line) {
    let key;
    let rest;
    if (content.startsWith('"') || content.startsWith("'")) {
      const [value, end] = quoted(content, 0, line);
      if (content[end] !== ':') return null;
      key = value;
      rest = content.slice(end + 1);
    } else {
      const m = content.match(/^([^\s#'"{}[\],&*!|>?%@`][^:#]*?)\s*:(\s|$)/);
      if (!m) return null;
      key = m[1];
      rest = content.slice(m[0].length - m[2].length);
    }
    if (rest !== '' && !/^\s/.test(rest)) return null;
    return { key, rest: rest.trim() };
  }

  // Reads a quoted scalar starting at content[start]; returns [value, end].
  function quoted(content, start, line) {
    const q = content[start];
    let out = '';
    let i = start + 1;
    for (; i < content.length; i++) {
      const c = content[i];
      if (q === "'" && c === "'") {
        if (content[i + 1] === "'") { out += "'"; i++; continue; }
        return [out, i + 1];
      }
      if (q === '"' && c === '\\') {
        const n = content[++i];
        const simple = { n: '\n', t: '\t', '"': '"', '\\': '\\', '/': '/', r: '\r', 0: '\0', ' ': ' ' };
        if (n in simple) { out += simple[n]; continue; }
        if (n === 'u' || n === 'x') {
          const len = n === 'u' ? 4 : 2;
          out += String.fromCharCode(parseInt(content.slice(i + 1, i + 1 + len), 16));
          i += len;
          continue;
        }
        throw new YamlError(`${where(line)}: unsupported escape \\${n}`);
      }
      if (q === '"' && c === '"') return [out, i + 1];
      out += c;
    }
    throw new YamlError(`${where(line)}: quoted scalar does not end on its line (unsupported)`);
  }

  function stripComment(text, line) {
    const m = text.match(/(^|\s)#/);
    const value = m ? text.slice(0, m.index).trim() : text.trim();
    if (/^[&*!]/.test(value)) throw new YamlError(`${where(line)}: anchors, aliases and tags are unsupported`);
    return value;
  }

  // A scalar or one-line flow collection written after "key:" or "- ".
  function inlineValue(text, line) {
    if (text.startsWith('"') || text.startsWith("'")) {
      const [value, end] = quoted(text, 0, line);
      if (stripComment(text.slice(end), line) !== '') throw new YamlError(`${where(line)}: text after a quoted scalar`);
      return value;
    }
    const value = stripComment(text, line);
    if (value.startsWith('[') || value.startsWith('{')) return flow(value, line);
    if (value === '' || value === '~' || value === 'null') return null;
    return value;
  }

  function flow(text, line) {
    const isSeq = text[0] === '[';
    if (!text.endsWith(isSeq ? ']' : '}')) throw new YamlError(`${where(line)}: flow collection must end on its line`);
    const body = text.slice(1, -1);
    let i = 0;
    const spaces = () => { while (body[i] === ' ') i++; };
    // A quoted or plain scalar ending before one of `stops`.
    const scalar = (stops) => {
      spaces();
      if (body[i] === '"' || body[i] === "'") {
        const [value, end] = quoted(body, i, line);
        i = end;
        spaces();
        return value;
      }
      let j = i;
      while (j < body.length && !stops.includes(body[j])) {
        if ('[]{}"\''.includes(body[j])) throw new YamlError(`${where(line)}: nested or partly quoted flow items are unsupported`);
        j++;
      }
      const value = body.slice(i, j).trim();
      i = j;
      return value;
    };
    const out = isSeq ? [] : {};
    spaces();
    while (i < body.length) {
      if (isSeq) {
        out.push(scalar(','));
      } else {
        const key = scalar(':');
        if (body[i] !== ':') throw new YamlError(`${where(line)}: flow mapping entry '${key}' is not key: value`);
        i++;
        out[key] = scalar(',');
      }
      if (i < body.length) {
        if (body[i] !== ',') throw new YamlError(`${where(line)}: unexpected '${body[i]}' in flow collection`);
        i++;
        spaces();
      }
    }
    return out;
  }

  function blockScalar(header, parentIndent, line) {
    const m = header.match(/^([|>])([+-]?)\s*(#.*)?$/);
    if (!m) throw new YamlError(`${where(line)}: unsupported block scalar header '${header}'`);
    const body = [];
    let contentIndent = -1;
    while (pos < lines.length) {
      const l = lines[pos];
      if (l.content === '') { body.push(''); pos++; continue; }
      if (l.indent <= parentIndent) break;
      if (contentIndent < 0) contentIndent = l.indent;
      if (l.indent < contentIndent) throw new YamlError(`${where(l)}: block scalar line indented less than its first line`);
      body.push(l.raw.slice(contentIndent).replace(/\s+$/, ''));
      pos++;
    }
    while (body.length && body[body.length - 1] === '') body.pop();
    let text = m[1] === '|' ? body.join('\n') : body.join('\n').replace(/([^\n])\n(?=[^\n])/g, '$1 ');
    if (m[2] !== '-' && text !== '') text += '\n';
    return text;
  }

  // The value after "key:" whose text on the line is `rest`.
  function valueAfter(rest, indent, line, allowSameIndentSeq) {
    if (rest.startsWith('|') || rest.startsWith('>')) return blockScalar(rest, indent, line);
    if (stripComment(rest, line) !== '') return inlineValue(rest, line);
    skipBlank();
    if (pos >= lines.length) return null;
    const next = lines[pos];
    if (next.indent > indent) return node(next.indent);
    if (allowSameIndentSeq && next.indent === indent && isSeqItem(next.content)) return sequence(indent);
    return null;
  }

  function node(indent) {
    skipBlank();
    const line = lines[pos];
    if (isSeqItem(line.content)) return sequence(indent);
    if (splitKey(line.content, line)) return mapping(indent);
    pos++;
    return inlineValue(line.content, line);
  }

  function sequence(indent) {
    const out = [];
    for (;;) {
      skipBlank();
      if (pos >= lines.length) break;
      const line = lines[pos];
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlError(`${where(line)}: unexpected indentation (a multi-line plain scalar? use | or >)`);
      if (!isSeqItem(line.content)) break;
      const rest = line.content.slice(1).replace(/^ +/, '');
      if (rest === '' || rest.startsWith('#')) {
        pos++;
        skipBlank();
        out.push(pos < lines.length && lines[pos].indent > indent ? node(lines[pos].indent) : null);
        continue;
      }
      const itemIndent = indent + (line.content.length - rest.length);
      if (isSeqItem(rest) || splitKey(rest, line)) {
        // "- key: v" or "- - x": the item is a collection starting on this line.
        lines[pos] = { ...line, indent: itemIndent, content: rest };
        out.push(node(itemIndent));
      } else if (rest.startsWith('|') || rest.startsWith('>')) {
        pos++;
        out.push(blockScalar(rest, indent, line));
      } else {
        pos++;
        out.push(inlineValue(rest, line));
      }
    }
    return out;
  }

  function mapping(indent) {
    const out = {};
    for (;;) {
      skipBlank();
      if (pos >= lines.length) break;
      const line = lines[pos];
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlError(`${where(line)}: unexpected indentation (a multi-line plain scalar? use | or >)`);
      if (isSeqItem(line.content)) break;
      const kv = splitKey(line.content, line);
      if (!kv) throw new YamlError(`${where(line)}: expected 'key: value', got '${line.content}'`);
      if (kv.key in out) throw new YamlError(`${where(line)}: duplicate key '${kv.key}'`);
      pos++;
      out[kv.key] = valueAfter(kv.rest, indent, line, true);
    }
    return out;
  }

  skipBlank();
  if (pos < lines.length && lines[pos].content === '---') { pos++; skipBlank(); }
  if (pos >= lines.length) return null;
  const doc = node(lines[pos].indent);
  skipBlank();
  if (pos < lines.length) throw new YamlError(`${where(lines[pos])}: unexpected content (several documents or bad indentation)`);
  return doc;
}

// ---------------------------------------------------------------- catalogue

const BUILTIN_SERIES = {
  // Written by Prometheus for every target or by its rule evaluation.
  up: ['job', 'instance'],
  scrape_duration_seconds: ['job', 'instance'],
  scrape_samples_scraped: ['job', 'instance'],
  scrape_samples_post_metric_relabeling: ['job', 'instance'],
  scrape_series_added: ['job', 'instance'],
  ALERTS: null, // any label
  ALERTS_FOR_STATE: null,
};
const TARGET_LABELS = ['job', 'instance'];
const RESERVED_LABELS = ['job', 'instance', 'le', 'quantile', '__name__'];
const ID_LABELS = ['instance_id', 'execution_id', 'task_id', 'activity_id', 'worker_id', 'worker', 'identity'];

function loadCatalogue(file) {
  let cat;
  try {
    cat = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(file, `not valid JSON: ${e.message}`);
    return new Map();
  }
  const metrics = new Map();
  for (const [i, m] of (cat.metrics ?? []).entries()) {
    const at = `${file}: metrics[${i}] ${m.name ?? ''}`;
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name ?? '')) { fail(at, 'invalid metric name'); continue; }
    if (metrics.has(m.name)) fail(at, 'defined twice');
    if (!['counter', 'gauge', 'histogram'].includes(m.type)) fail(at, `unknown type '${m.type}'`);
    if (!['all', 'scheduler', 'broker', 'worker'].includes(m.part)) fail(at, `unknown part '${m.part}'`);
    if (m.type === 'counter' && !m.name.endsWith('_total')) fail(at, "a counter's name must end in _total");
    if (m.type === 'histogram' && !(cat.buckets ?? {})[m.buckets]) fail(at, `unknown bucket set '${m.buckets}'`);
    if (!m.help) fail(at, 'has no help');
    for (const l of m.labels ?? []) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l)) fail(at, `invalid label name '${l}'`);
      if (RESERVED_LABELS.includes(l) || ID_LABELS.includes(l)) {
        fail(at, `label '${l}' is reserved or an id (labels never carry instance, task or worker ids)`);
      }
    }
    metrics.set(m.name, m);
  }
  if (metrics.size === 0) fail(file, 'defines no metric');
  return metrics;
}

// The labels a series name may carry, or undefined when the name is unknown.
// null means "any label" (ALERTS).
function seriesLabels(name, catalogue) {
  if (Object.hasOwn(BUILTIN_SERIES, name)) return BUILTIN_SERIES[name];
  const m = catalogue.get(name);
  if (m) return [...(m.labels ?? []), ...TARGET_LABELS];
  const h = name.match(/^(.*)_(bucket|sum|count)$/);
  if (h && catalogue.get(h[1])?.type === 'histogram') {
    return [...(catalogue.get(h[1]).labels ?? []), ...TARGET_LABELS, ...(h[2] === 'bucket' ? ['le'] : [])];
  }
  return undefined;
}

// ------------------------------------------------------------ PromQL reading
// Not a parser (promtool parses): a lexer that finds the series selectors
// (metric names and label matchers), the label names of grouping clauses
// and the labels that label_replace/count_values create.

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'inf', 'nan', 'atan2']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

function lexPromQL(expr) {
  const tokens = [];
  let i = 0;
  const err = (msg) => { throw new Error(`${msg} at offset ${i} of: ${expr}`); };
  const readString = () => {
    const q = expr[i];
    let out = '';
    for (i++; i < expr.length; i++) {
      if (expr[i] === '\\' && q !== '`') { out += expr[i + 1]; i++; continue; }
      if (expr[i] === q) { i++; return out; }
      out += expr[i];
    }
    return err('unterminated string');
  };
  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { while (i < expr.length && expr[i] !== '\n') i++; continue; }
    if (c === '"' || c === "'" || c === '`') { tokens.push({ t: 'str', v: readString() }); continue; }
    if (c === '{') {
      i++;
      const matchers = [];
      for (;;) {
        while (/[\s,]/.test(expr[i] ?? '')) i++;
        if (expr[i] === '}') { i++; break; }
        const name = expr.slice(i).match(/^[a-zA-Z_][a-zA-Z0-9_]*/);
        if (!name) err('expected a label name in a selector');
        i += name[0].length;
        while (/\s/.test(expr[i] ?? '')) i++;
        const op = expr.slice(i).match(/^(=~|!~|!=|=)/);
        if (!op) err('expected a matcher operator');
        i += op[0].length;
        while (/\s/.test(expr[i] ?? '')) i++;
        if (!/["'`]/.test(expr[i] ?? '')) err('expected a quoted matcher value');
        matchers.push({ label: name[0], op: op[0], value: readString() });
      }
      tokens.push({ t: 'sel', matchers });
      continue;
    }
    if (c === '[') {
      const end = expr.indexOf(']', i);
      if (end < 0) err('unterminated range');
      i = end + 1;
      tokens.push({ t: 'range' });
      continue;
    }
    const num = expr.slice(i).match(/^(0x[0-9a-fA-F]+|(\d+(ms|[smhdwy]))+|\d*\.?\d+([eE][-+]?\d+)?)/);
    if (num && num[0] !== '') { tokens.push({ t: 'num' }); i += num[0].length; continue; }
    const id = expr.slice(i).match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/);
    if (id) { tokens.push({ t: 'id', v: id[0] }); i += id[0].length; continue; }
    tokens.push({ t: 'p', v: c });
    i++;
  }
  return tokens;
}

// Returns { selectors: [{ names, matchers }], grouping: [labels], created: [labels] }.
function analysePromQL(expr) {
  const tokens = lexPromQL(expr);
  const selectors = [];
  const grouping = [];
  const created = [];
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k];
    const next = tokens[k + 1];
    if (tok.t === 'id' && next?.t === 'p' && next.v === '(') {
      if (GROUPING.has(tok.v)) {
        for (k += 2; k < tokens.length && !(tokens[k].t === 'p' && tokens[k].v === ')'); k++) {
          if (tokens[k].t === 'id') grouping.push(tokens[k].v);
        }
      } else if (tok.v === 'label_replace' || tok.v === 'count_values') {
        // The first string argument names the label the function creates.
        const label = tokens.slice(k + 2).find((t) => t.t === 'str');
        if (label) created.push(label.v);
      }
      continue;
    }
    // "sum by (x) (...)": an aggregation whose grouping comes first.
    if (tok.t === 'id' && next?.t === 'id' && (next.v === 'by' || next.v === 'without')) continue;
    if (tok.t === 'id' && !KEYWORDS.has(tok.v.toLowerCase())) {
      const matchers = next?.t === 'sel' ? next.matchers : [];
      if (next?.t === 'sel') k++;
      selectors.push({ names: [tok.v], matchers });
      continue;
    }
    if (tok.t === 'sel') {
      const byName = tok.matchers.find((m) => m.label === '__name__');
      let names = [];
      if (byName && byName.op === '=') names = [byName.value];
      else if (byName && byName.op === '=~' && /^[a-zA-Z0-9_:|]+$/.test(byName.value)) names = byName.value.split('|');
      else names = null; // cannot tell which series
      selectors.push({ names, matchers: tok.matchers.filter((m) => m.label !== '__name__') });
    }
  }
  return { selectors, grouping, created };
}

// Checks metric names and label names of one expression.
function checkExpr(expr, where, catalogue) {
  let a;
  try {
    a = analysePromQL(expr);
  } catch (e) {
    fail(where, `cannot read expression: ${e.message}`);
    return;
  }
  if (a.selectors.length === 0) fail(where, `no series selector in: ${expr}`);
  const known = new Set([...TARGET_LABELS, ...a.created]);
  let anyLabel = false;
  for (const sel of a.selectors) {
    if (sel.names === null) {
      fail(where, `cannot tell which metrics a {__name__...} selector reads (use name="x" or =~"a|b"): ${expr}`);
      continue;
    }
    for (const name of sel.names) {
      const labels = seriesLabels(name, catalogue);
      if (labels === undefined) {
        fail(where, `metric '${name}' is not defined in monitoring/metrics.json (expression: ${expr})`);
        continue;
      }
      if (labels === null) { anyLabel = true; continue; }
      labels.forEach((l) => known.add(l));
      for (const m of sel.matchers) {
        if (!labels.includes(m.label)) fail(where, `metric '${name}' has no label '${m.label}' (it has: ${labels.join(', ')})`);
      }
    }
  }
  if (!anyLabel) {
    for (const l of a.grouping) {
      if (!known.has(l)) fail(where, `grouping label '${l}' is on none of the metrics of: ${expr}`);
    }
  }
}

// ---------------------------------------------------------------- dashboards

const GRAFANA_GLOBALS = {
  __rate_interval: '5m', __interval: '1m', __range: '1h', __interval_ms: '60000',
  __range_ms: '3600000', __range_s: '3600', __from: '0', __to: '0',
};

// Grafana's variable forms: $name, ${name}, ${name:format}, [[name]].
const VAR_RE = /\$\{([a-zA-Z0-9_]+)(?::[^}]*)?\}|\$([a-zA-Z0-9_]+)|\[\[([a-zA-Z0-9_]+)(?::[^\]]*)?\]\]/g;

function substituteVars(expr, vars, where) {
  return expr.replace(VAR_RE, (whole, a, b, c) => {
    const name = a ?? b ?? c;
    if (name in GRAFANA_GLOBALS) return GRAFANA_GLOBALS[name];
    if (vars.has(name)) return vars.get(name);
    fail(where, `uses undefined variable '${name}'`);
    return whole;
  });
}

function flattenPanels(dash) {
  const out = [];
  for (const p of dash.panels ?? []) {
    out.push({ panel: p, nested: false });
    for (const c of p.panels ?? []) out.push({ panel: c, nested: true });
  }
  return out;
}

// Returns the expressions of a dashboard: [{ where, expr (substituted), record }].
function dashboardExprs(file, dash) {
  const exprs = [];
  // Record names (valid metric names) name the dashboard, panel and target.
  const prefix = `dashboard_${String(dash.uid ?? basename(file, '.json')).replace(/[^a-zA-Z0-9_]/g, '_')}`;
  const vars = new Map();
  for (const v of dash.templating?.list ?? []) {
    // A query variable stands for label values in a matcher: any value fits.
    vars.set(v.name, v.type === 'query' || v.type === 'datasource' ? '.*' : String(v.current?.value ?? v.query ?? ''));
  }
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const where = `${file}: variable ${v.name}`;
    const m = (q ?? '').match(/^\s*label_values\(\s*(.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s);
    if (!m) { fail(where, `query is not label_values(selector, label): ${q}`); continue; }
    const expr = substituteVars(m[1], vars, where);
    exprs.push({ where, expr, record: `${prefix}:variable_${v.name}`, label: m[2] });
  }
  for (const { panel } of flattenPanels(dash)) {
    for (const t of panel.targets ?? []) {
      const where = `${file}: panel ${panel.id} '${panel.title}' target ${t.refId}`;
      if (typeof t.expr !== 'string' || t.expr.trim() === '') { fail(where, 'has no expr'); continue; }
      exprs.push({ where, expr: substituteVars(t.expr, vars, where), record: `${prefix}:panel_${panel.id}_${t.refId}` });
    }
  }
  return exprs;
}

function readDashboard(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
    return JSON.parse(text);
  } catch (e) {
    // Node 18/20 name only the offset; give the line too.
    const at = e.message.match(/at position (\d+)/);
    const line = at ? `:${text.slice(0, Number(at[1])).split('\n').length}` : '';
    fail(`${file}${line}`, `not valid JSON: ${e.message}`);
    return null;
  }
}

function isDatasourceVarRef(ds) {
  return ds && typeof ds === 'object' && ds.type === 'prometheus' && (ds.uid === '${datasource}' || ds.uid === '$datasource');
}

function checkDashboard(file, dash, catalogue) {
  for (const key of ['__inputs', '__requires', '__elements']) {
    if (key in dash) fail(file, `has '${key}': export for sharing; provisioning needs the plain form`);
  }
  if (typeof dash.uid !== 'string' || !/^[a-zA-Z0-9_-]{1,40}$/.test(dash.uid)) fail(file, 'needs a uid of 1-40 letters, digits, - or _');
  if (!dash.title) fail(file, 'needs a title');
  if (typeof dash.schemaVersion !== 'number') fail(file, 'needs a numeric schemaVersion');
  if (dash.id !== undefined && dash.id !== null) fail(file, 'must not carry a database id (set "id": null or leave it out)');

  const vars = dash.templating?.list ?? [];
  const names = new Set();
  for (const v of vars) {
    if (names.has(v.name)) fail(file, `variable '${v.name}' defined twice`);
    names.add(v.name);
  }
  const dsVar = vars.find((v) => v.name === 'datasource');
  if (!dsVar || dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') {
    fail(file, "needs a variable 'datasource' of type datasource with query 'prometheus'");
  }
  for (const v of vars.filter((v) => v.type === 'query')) {
    if (!isDatasourceVarRef(v.datasource)) fail(file, `variable '${v.name}' must use datasource {type: prometheus, uid: \${datasource}}`);
  }

  const ids = new Map();
  const boxes = [];
  for (const { panel, nested } of flattenPanels(dash)) {
    const where = `${file}: panel ${panel.id ?? '?'} '${panel.title ?? ''}'`;
    if (!Number.isInteger(panel.id)) fail(where, 'needs an integer id');
    else if (ids.has(panel.id)) fail(where, `duplicate panel id ${panel.id} (also '${ids.get(panel.id)}')`);
    else ids.set(panel.id, panel.title);
    if (!panel.type) fail(where, 'needs a type');
    const g = panel.gridPos;
    if (!g || !['x', 'y', 'w', 'h'].every((k) => Number.isInteger(g[k]))) {
      fail(where, 'needs a gridPos with integer x, y, w, h');
    } else {
      if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) fail(where, `gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
      if (!nested) {
        for (const b of boxes) {
          if (g.x < b.g.x + b.g.w && b.g.x < g.x + g.w && g.y < b.g.y + b.g.h && b.g.y < g.y + g.h) {
            fail(where, `overlaps panel ${b.id} '${b.title}'`);
          }
        }
        boxes.push({ g, id: panel.id, title: panel.title });
      }
    }
    if (panel.type === 'row') {
      if (panel.targets?.length) fail(where, 'a row has no targets');
      continue;
    }
    if (!panel.title) fail(where, 'needs a title');
    if (!isDatasourceVarRef(panel.datasource)) fail(where, 'must use datasource {type: prometheus, uid: ${datasource}}');
    if (!panel.targets?.length) fail(where, 'has no targets');
    const refIds = new Set();
    for (const t of panel.targets ?? []) {
      if (!t.refId || refIds.has(t.refId)) fail(where, `target refId '${t.refId}' missing or repeated`);
      refIds.add(t.refId);
      if (t.datasource !== undefined && !isDatasourceVarRef(t.datasource)) fail(where, `target ${t.refId} must use the \${datasource} variable`);
    }
  }

  for (const e of dashboardExprs(file, dash)) {
    checkExpr(e.expr, e.where, catalogue);
    if (e.label) {
      // The label a variable lists must be on the metrics it reads.
      const a = analysePromQL(e.expr);
      for (const sel of a.selectors) {
        for (const n of sel.names ?? []) {
          const labels = seriesLabels(n, catalogue);
          if (labels && !labels.includes(e.label)) fail(e.where, `metric '${n}' has no label '${e.label}'`);
        }
      }
    }
  }
}

// -------------------------------------------------------------------- rules

const SEVERITIES = ['critical', 'warning', 'info'];

function readYaml(file) {
  try {
    return parseYaml(readFileSync(file, 'utf8'), file);
  } catch (e) {
    fail(file, e instanceof YamlError ? e.message : `cannot read: ${e.message}`);
    return null;
  }
}

function rulesOf(doc) {
  const out = [];
  for (const g of doc?.groups ?? []) for (const r of g?.rules ?? []) out.push({ group: g.name, rule: r });
  return out;
}

function anchorOf(heading) {
  // GitHub's heading anchors: lower case, spaces to '-', punctuation dropped.
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

function checkAlerts(file, doc, catalogue, docsAnchors, docsFile) {
  const alerts = new Map();
  for (const { group, rule } of rulesOf(doc)) {
    const name = rule.alert ?? rule.record;
    const where = `${file}: group ${group} rule ${name}`;
    if (typeof rule.expr !== 'string') { fail(where, 'has no expr'); continue; }
    checkExpr(rule.expr, where, catalogue);
    if (!rule.alert) continue;
    if (alerts.has(rule.alert)) fail(where, 'alert name used twice');
    alerts.set(rule.alert, rule);
    if (!SEVERITIES.includes(rule.labels?.severity)) fail(where, `needs labels.severity, one of ${SEVERITIES.join(', ')}`);
    for (const a of ['summary', 'description', 'runbook_url']) {
      if (!rule.annotations?.[a]) fail(where, `needs annotations.${a}`);
    }
    const want = `docs/monitoring.md#${rule.alert.toLowerCase()}`;
    if (rule.annotations?.runbook_url && rule.annotations.runbook_url !== want) {
      fail(where, `runbook_url must be '${want}', is '${rule.annotations.runbook_url}'`);
    }
    if (docsAnchors && !docsAnchors.has(rule.alert.toLowerCase())) {
      fail(where, `${docsFile} has no heading '### ${rule.alert}' (the runbook_url anchor)`);
    }
  }
  if (alerts.size === 0) fail(file, 'defines no alert');
  return alerts;
}

function checkAlertTests(file, doc, alerts, alertsFile, catalogue) {
  if (!doc) return;
  const ruleFiles = doc.rule_files ?? [];
  if (!ruleFiles.map((f) => basename(f)).includes(basename(alertsFile))) {
    fail(file, `rule_files does not load ${basename(alertsFile)}`);
  }
  const fires = new Set();
  const quiet = new Set();
  for (const [i, test] of (doc.tests ?? []).entries()) {
    const where = `${file}: test ${i + 1} '${test?.name ?? ''}'`;
    for (const s of test?.input_series ?? []) {
      try {
        const a = analysePromQL(s.series ?? '');
        for (const sel of a.selectors) {
          for (const n of sel.names ?? []) {
            const labels = seriesLabels(n, catalogue);
            if (labels === undefined) fail(where, `input series '${n}' is not defined in monitoring/metrics.json`);
            else if (labels) {
              for (const m of sel.matchers) if (!labels.includes(m.label)) fail(where, `input series '${n}' has no label '${m.label}'`);
            }
          }
        }
      } catch (e) {
        fail(where, `cannot read input series '${s.series}': ${e.message}`);
      }
    }
    for (const t of test?.alert_rule_test ?? []) {
      if (!alerts.has(t.alertname)) { fail(where, `tests alert '${t.alertname}', which ${alertsFile} does not define`); continue; }
      const exp = t.exp_alerts ?? [];
      if (exp.length === 0) { quiet.add(t.alertname); continue; }
      fires.add(t.alertname);
      for (const e of exp) {
        if (!e?.exp_labels?.severity) fail(where, `expected alert ${t.alertname} lists no exp_labels with severity`);
        if (!e?.exp_annotations?.summary) fail(where, `expected alert ${t.alertname} lists no exp_annotations`);
      }
    }
  }
  for (const name of alerts.keys()) {
    if (!fires.has(name)) fail(file, `alert ${name} has no test case where it fires`);
    if (!quiet.has(name)) fail(file, `alert ${name} has no test case where it stays quiet (exp_alerts: [])`);
  }
}

// --------------------------------------------------------------------- docs

function checkDocs(file, catalogue) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail(file, `cannot read: ${e.message}`);
    return null;
  }
  const quotedNames = new Set([...text.matchAll(/`([a-zA-Z_:][a-zA-Z0-9_:]*)`/g)].map((m) => m[1]));
  for (const name of catalogue.keys()) {
    if (!quotedNames.has(name)) fail(file, `does not mention metric \`${name}\``);
  }
  // Rows of the metric table ("| `name` | type | `label`, ... | meaning |")
  // name catalogue metrics, with the catalogue's type and labels.
  for (const [i, line] of text.split('\n').entries()) {
    const m = line.match(/^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|([^|]*)\|([^|]*)\|/);
    if (!m || !/^(baton|process)_/.test(m[1])) continue;
    const where = `${file}:${i + 1}`;
    const def = catalogue.get(m[1]);
    if (!def) { fail(where, `table row for '${m[1]}', which monitoring/metrics.json does not define`); continue; }
    if (m[2].trim().split(/\s+/)[0] !== def.type) fail(where, `'${m[1]}' is a ${def.type}, the table says '${m[2].trim()}'`);
    const labels = [...m[3].matchAll(/`([^`]+)`/g)].map((x) => x[1]).sort().join(', ');
    const want = [...(def.labels ?? [])].sort().join(', ');
    if (labels !== want) fail(where, `'${m[1]}' has labels [${want}], the table says [${labels}]`);
  }
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1])));
}

// ------------------------------------------------------------------- layout

function paths(root) {
  const grafana = join(root, 'monitoring', 'grafana');
  let dashboards = [];
  try {
    dashboards = readdirSync(grafana).filter((f) => f.endsWith('.json')).sort().map((f) => join(grafana, f));
  } catch {
    // reported below
  }
  return {
    catalogue: join(root, 'monitoring', 'metrics.json'),
    dashboards,
    alerts: join(root, 'monitoring', 'prometheus', 'alerts.yml'),
    alertsTest: join(root, 'monitoring', 'prometheus', 'alerts_test.yml'),
    docs: join(root, 'docs', 'monitoring.md'),
  };
}

function lint(root) {
  const p = paths(root);
  const catalogue = loadCatalogue(p.catalogue);
  if (p.dashboards.length === 0) fail(join(root, 'monitoring', 'grafana'), 'holds no dashboard (*.json)');
  for (const f of p.dashboards) {
    const dash = readDashboard(f);
    if (dash) checkDashboard(f, dash, catalogue);
  }
  const anchors = checkDocs(p.docs, catalogue);
  const alertsDoc = readYaml(p.alerts);
  const alerts = checkAlerts(p.alerts, alertsDoc, catalogue, anchors, p.docs);
  checkAlertTests(p.alertsTest, readYaml(p.alertsTest), alerts, p.alerts, catalogue);
}

function promqlRules(root, out) {
  const p = paths(root);
  const rules = [];
  for (const f of p.dashboards) {
    const dash = readDashboard(f);
    if (!dash) continue;
    for (const e of dashboardExprs(f, dash)) {
      // JSON strings are valid YAML double-quoted scalars.
      rules.push(`      - record: ${e.record}\n        expr: ${JSON.stringify(e.expr)}`);
      console.log(`${e.record}\t${e.where}`);
    }
  }
  writeFileSync(out, `groups:\n  - name: dashboard_expressions\n    rules:\n${rules.join('\n')}\n`);
}

function main(argv) {
  const [cmd, ...args] = argv;
  if (cmd === 'lint' && args.length === 1) lint(args[0]);
  else if (cmd === 'promql-rules' && args.length === 2) promqlRules(args[0], args[1]);
  else if (cmd === 'count-rules' && args.length === 1) {
    const doc = readYaml(args[0]);
    if (doc) console.log(rulesOf(doc).length);
  } else {
    console.error('usage: check.mjs lint ROOT | promql-rules ROOT OUT | count-rules FILE');
    process.exit(2);
  }
  if (findings.length) {
    for (const f of findings) console.error(`check: ${f}`);
    console.error(`check: ${findings.length} problem(s)`);
    process.exit(1);
  }
}

main(process.argv.slice(2));
