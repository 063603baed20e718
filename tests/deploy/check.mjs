// Offline checks of the Helm chart (helm/baton) and the container images
// (docker/Dockerfile) against each other and against the sources of the
// binaries. ctest runs each step as its own test (tests/deploy/deploy.cmake).
//
//   node tests/deploy/check.mjs STEP [ARG]
//
// Steps (exit 0 when it passes, 1 with one line per finding otherwise):
//   lint        helm lint --strict with every values file of tests/deploy/values
//               (the defaults and all-features.yaml among them)
//   invalid     every tests/deploy/values/invalid/*.yaml makes helm template
//               fail with the message its "# expect:" line names
//   validate    every object rendered from every values file validates against
//               the Kubernetes 1.27, prometheus-operator and KEDA models
//   cross       the rendered objects agree with each other and with the
//               binaries (see crossCheck)
//   notes       the commands NOTES.txt shows work (batonctl subcommands and
//               flags, the scheduler's Service and port, the example's output,
//               the client credentials the scheduler demands)
//   monitoring  the chart's alert rules and dashboard are symbolic links to
//               monitoring/, rendered unchanged, and packaged as their content
//   version     Chart.yaml version and appVersion equal project(baton VERSION)
//   docker      docker/Dockerfile: one target per image, each copying a real
//               CMake executable, run as non-root, agreeing with the chart
//   packages [BUILD_DIR]
//               docker/runtime-packages.sh resolves the built binaries'
//               libraries to Debian packages (default: $BATON_BUILD_DIR, build/)
//   selftest NAME
//               breaks one thing (a rendered object, the Dockerfile, the
//               version, the chart's files) and passes only if the check that
//               should catch it reports it: proof that the checks can fail.
//               `selftest list` prints the names; `selftests-registered NAME...`
//               checks that ctest registers exactly those.
//
// Tools: HELM (default: scripts/fetch-helm.sh) and DEPLOY_TOOLS, the
// node_modules parent of tools/deploy (default: scripts/npm-tools.sh deploy).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync,
  readlinkSync, realpathSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = join(ROOT, 'helm/baton');
const VALUES_DIR = join(ROOT, 'tests/deploy/values');
// The namespace every test render uses (Service names may be qualified with it).
const NAMESPACE = 'baton';

// The chart's symbolic links into monitoring/ (the one copy of each asset).
const MONITORING_LINKS = {
  'files/alerts.yml': 'monitoring/prometheus/alerts.yml',
  'files/baton.json': 'monitoring/grafana/baton.json',
};

// Which sources make up each binary: the BATON_* names it can read are the
// string literals there. common/ and monitoring/ link into every part.
const PART_SOURCES = {
  scheduler: ['scheduler', 'common', 'monitoring'],
  broker: ['broker', 'common', 'monitoring'],
  worker: ['worker', 'common', 'monitoring', 'examples'],
  batonctl: ['client', 'common', 'monitoring'],
};
const PART_MAIN = {
  scheduler: 'scheduler/src/main.cc',
  broker: 'broker/src/main.cc',
  batonctl: 'client/src/batonctl.cc',
};
// The part each chart component runs.
const COMPONENT_PART = {
  scheduler: 'scheduler', migrate: 'scheduler', broker: 'broker', worker: 'worker', test: 'batonctl',
};
// libpq reads these itself (the chart passes credentials, sslmode and the CA
// this way so they never sit in a URL).
const LIBPQ_ENV = new Set(['PGUSER', 'PGPASSWORD', 'PGSSLMODE', 'PGSSLROOTCERT']);
// The official postgres image's variables (evaluation database only).
const POSTGRES_IMAGE_ENV = new Set(['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB', 'PGDATA']);

// ------------------------------------------------------------------ tools

function tool(envName, script, args = []) {
  if (process.env[envName]) return process.env[envName];
  const out = execFileSync(join(ROOT, script), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop();
}

let helmPath;
function helm(args, { allowFailure = false, cwd = ROOT } = {}) {
  helmPath ??= tool('HELM', 'scripts/fetch-helm.sh');
  const r = spawnSync(helmPath, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  // Helm warns on stderr for each symbolic link it follows: expected here.
  const stderr = r.stderr.split('\n').filter((l) => l && !/walk\.go:\d+: found symbolic link/.test(l)).join('\n');
  if (r.status !== 0 && !allowFailure) {
    throw new Error(`helm ${args.join(' ')} failed (${r.status}):\n${stderr}\n${r.stdout}`);
  }
  return { status: r.status, stdout: r.stdout, stderr };
}

let modules;
function deployModules() {
  if (modules) return modules;
  const dir = tool('DEPLOY_TOOLS', 'scripts/npm-tools.sh', ['deploy']);
  const req = createRequire(join(dir, 'node_modules', 'package.json'));
  modules = { require: req, YAML: req('yaml') };
  return modules;
}

// ------------------------------------------------------------ repo facts

function read(rel) {
  return readFileSync(join(ROOT, rel), 'utf8');
}

function sourceFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h|cpp|hpp)$/.test(e.name)) out.push(p);
    }
  };
  if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
  return out;
}

// Options and subcommands a CLI11 main defines: "--name" and "-x" spellings.
function cliOf(mainFile) {
  const text = read(mainFile);
  const options = new Set();
  for (const m of text.matchAll(/add_(?:option|flag)\(\s*"([^"]+)"/g)) {
    for (const spelling of m[1].split(',')) if (spelling.startsWith('-')) options.add(spelling);
  }
  const subcommands = new Set([...text.matchAll(/add_subcommand\(\s*"([^"]+)"/g)].map((m) => m[1]));
  // Options documented as "(env BATON_X ...)": the flag overrides that variable.
  const envOf = new Map();
  for (const m of text.matchAll(/add_option\(\s*"([^"]+)"[^;]*?\(env (BATON_[A-Z0-9_]+)/g)) envOf.set(m[1], m[2]);
  return { options, subcommands, envOf };
}

function repoFacts() {
  const env = {};
  for (const [part, dirs] of Object.entries(PART_SOURCES)) {
    env[part] = new Set();
    for (const dir of dirs) {
      for (const f of sourceFiles(dir)) {
        for (const m of readFileSync(f, 'utf8').matchAll(/"(BATON_[A-Z0-9_]+)"/g)) env[part].add(m[1]);
      }
    }
  }
  const cli = Object.fromEntries(Object.entries(PART_MAIN).map(([part, f]) => [part, cliOf(f)]));
  // HTTP paths every process serves: the probe paths answered in
  // metrics_server.cc, plus prometheus-cpp's default /metrics when the
  // collectables are registered without a path of their own.
  const server = read('monitoring/src/metrics_server.cc');
  const httpPaths = new Set([...server.matchAll(/"(\/[a-z]+)"/g)].map((m) => m[1]));
  if (/RegisterCollectable\(\s*\w+\s*\)/.test(server)) httpPaths.add('/metrics');
  const catalogue = JSON.parse(read('monitoring/metrics.json'));
  const metrics = new Set(catalogue.metrics.map((m) => m.name));
  const { YAML } = deployModules();
  const alertsText = read(MONITORING_LINKS['files/alerts.yml']);
  const alerts = YAML.parse(alertsText);
  const dashboardText = read(MONITORING_LINKS['files/baton.json']);
  // Job matchers of the alerts and the dashboard: job="x" names a job the
  // scrape config must produce; job=~"re" must match the ones it produces.
  const jobsReferenced = new Set();
  const jobPatterns = [];
  for (const text of [alertsText, dashboardText]) {
    for (const m of text.matchAll(/\bjob\s*(=~|=)\s*\\?"((?:[^"\\]|\\[^"])*)\\?"/g)) {
      if (m[1] === '=') jobsReferenced.add(m[2]);
      else jobPatterns.push(new RegExp(`^(?:${m[2].replace(/\\\\/g, '\\')})$`));
    }
  }
  return { env, cli, httpPaths, metrics, alerts, dashboardText, jobsReferenced, jobPatterns, docker: dockerFacts(read('docker/Dockerfile')) };
}

// ------------------------------------------------------------ Dockerfile

// Stages of a Dockerfile: name, base, COPY --from lines, USER, ENTRYPOINT,
// CMD, ENV names, EXPOSE ports, RUN lines (continuations joined).
function dockerFacts(text) {
  const args = {};
  const stages = [];
  let stage = null;
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const [instr, ...restParts] = line.split(/\s+/);
    const rest = restParts.join(' ');
    switch (instr.toUpperCase()) {
      case 'ARG': {
        const [k, v] = rest.split('=');
        if (!stage) args[k] = v;
        break;
      }
      case 'FROM': {
        const m = rest.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i);
        const base = m[1].replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? '');
        stage = { name: m[2] ?? String(stages.length), base, copies: [], env: new Set(), expose: [], runs: [], user: null, entrypoint: null, cmd: null };
        stages.push(stage);
        break;
      }
      case 'COPY': {
        const from = rest.match(/--from=(\S+)/);
        const paths = rest.replace(/--\S+/g, '').trim().split(/\s+/);
        stage.copies.push({ from: from ? from[1] : null, src: paths.slice(0, -1), dest: paths.at(-1) });
        break;
      }
      case 'USER': stage.user = rest; break;
      case 'ENTRYPOINT': stage.entrypoint = JSON.parse(rest); break;
      case 'CMD': stage.cmd = JSON.parse(rest); break;
      case 'ENV':
        for (const m of rest.matchAll(/(\w+)=/g)) stage.env.add(m[1]);
        break;
      case 'EXPOSE': stage.expose.push(...rest.split(/\s+/).map((p) => Number(p.split('/')[0]))); break;
      case 'RUN': stage.runs.push(rest); break;
      default: break;
    }
  }
  // The image names of the header comment: "--target T -t REGISTRY/NAME:VERSION".
  const images = {};
  for (const m of text.matchAll(/--target\s+(\S+)\s+-t\s+REGISTRY\/([a-z0-9-]+):VERSION/g)) images[m[2]] = m[1];
  return { stages, images };
}

function cmakeExecutables() {
  const names = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (!/^(build.*|\.git|\.cache|\.baton|Testing|node_modules)$/.test(e.name)) walk(join(d, e.name));
      } else if (e.name === 'CMakeLists.txt' || e.name.endsWith('.cmake')) {
        for (const m of readFileSync(join(d, e.name), 'utf8').matchAll(/add_executable\(\s*([A-Za-z0-9_.-]+)/g)) {
          names.add(m[1]);
        }
      }
    }
  };
  walk(ROOT);
  return names;
}

function checkDocker(text, executables, values, facts) {
  const findings = [];
  const { stages, images } = dockerFacts(text);
  const byName = Object.fromEntries(stages.map((s) => [s.name, s]));
  const build = byName.build;
  if (!build) findings.push('docker: no stage named build');
  const wanted = {
    [values.scheduler.image.repository]: 'scheduler',
    [values.broker.image.repository]: 'broker',
    [values.batonctl.image.repository]: 'batonctl',
    [values.workers.image.repository]: 'worker',
  };
  for (const [repo, part] of Object.entries(wanted)) {
    const target = images[repo];
    if (!target) {
      findings.push(`docker: the header names no "--target ... -t REGISTRY/${repo}:VERSION" for the chart's image ${repo}`);
      continue;
    }
    const s = byName[target];
    if (!s) {
      findings.push(`docker: target ${target} (image ${repo}) is not a stage`);
      continue;
    }
    if (s.base !== 'debian:bookworm-slim') findings.push(`docker: target ${target} is based on ${s.base}, not debian:bookworm-slim`);
    const user = (s.user ?? '').split(':');
    if (!s.user || !/^\d+$/.test(user[0]) || Number(user[0]) === 0 || (user[1] !== undefined && !/^\d+$/.test(user[1]))) {
      findings.push(`docker: target ${target} must end as a numeric non-root USER (has ${s.user ?? 'none'})`);
    }
    if (!s.entrypoint) {
      findings.push(`docker: target ${target} has no exec-form ENTRYPOINT`);
      continue;
    }
    const binary = s.entrypoint[0];
    const copy = s.copies.find((c) => c.from === 'build' && c.dest === binary);
    if (!copy) {
      findings.push(`docker: target ${target}: ENTRYPOINT ${binary} is not copied from the build stage`);
    } else {
      const name = basename(copy.src[0]);
      if (!executables.has(name)) findings.push(`docker: target ${target} copies ${name}, which is no CMake executable`);
      if (build && !build.runs.some((r) => new RegExp(`ninja .*\\b${name}\\b`).test(r))) {
        findings.push(`docker: the build stage does not build ${name}`);
      }
      if (build && !build.runs.some((r) => r.includes('runtime-packages.sh') && r.includes(`/${name}`))) {
        findings.push(`docker: the build stage does not resolve the runtime packages of ${name}`);
      }
      if (!s.copies.some((c) => c.from === 'build' && c.src[0] === `/out/${name}.packages`)) {
        findings.push(`docker: target ${target} does not install the runtime packages of ${name}`);
      }
    }
    for (const e of s.env) {
      if (e.startsWith('BATON_') && !facts.env[part].has(e)) findings.push(`docker: target ${target} sets ${e}, which ${part} does not read`);
    }
    // The chart runs these binaries by path: the image must have them there.
    const chartCommand = {
      scheduler: '/usr/local/bin/baton-scheduler', broker: '/usr/local/bin/baton-broker',
      batonctl: '/usr/local/bin/batonctl', worker: values.workers.command[0],
    }[part];
    if (chartCommand && chartCommand !== binary) {
      findings.push(`docker: target ${target} runs ${binary} but the chart runs ${chartCommand} in image ${repo}`);
    }
  }
  if (build && !build.runs.some((r) => r.includes('scripts/install-deps.sh'))) {
    findings.push('docker: the build stage does not install dependencies with scripts/install-deps.sh');
  }
  if (build && !build.runs.some((r) => /CMAKE_BUILD_TYPE=Release\b/.test(r))) findings.push('docker: the build is not a Release build');
  return findings;
}

// -------------------------------------------------------------- rendering

function valuesFiles() {
  return readdirSync(VALUES_DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(VALUES_DIR, f));
}

// Renders the chart (hooks and tests included) and parses every object.
function render(valuesFile, { release = 'baton', namespace = NAMESPACE, chart = CHART } = {}) {
  const { YAML } = deployModules();
  const args = ['template', release, chart, '--namespace', namespace];
  if (valuesFile) args.push('--values', valuesFile);
  const out = helm(args).stdout;
  const objects = [];
  for (const doc of YAML.parseAllDocuments(out)) {
    if (doc.errors.length) throw new Error(`${valuesFile}: rendered YAML does not parse: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) objects.push(obj);
  }
  return objects;
}

function chartValues(valuesFile) {
  const { YAML } = deployModules();
  const merge = (a, b) => {
    if (b === null) return undefined;
    if (typeof a !== 'object' || a === null || Array.isArray(a) || typeof b !== 'object' || Array.isArray(b)) return b;
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const merged = merge(a[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
    return out;
  };
  const defaults = YAML.parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
  return valuesFile ? merge(defaults, YAML.parse(readFileSync(valuesFile, 'utf8')) ?? {}) : defaults;
}

// ------------------------------------------------------------- validation

function modelFor(apiVersion, kind) {
  const { require } = deployModules();
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const candidates = {
    '': [`kubernetes-models/${version}/${kind}`],
    'monitoring.coreos.com': [`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`],
    'keda.sh': [`@kubernetes-models/keda/${group}/${version}/${kind}`],
  }[group] ?? [`kubernetes-models/${group}/${version}/${kind}`];
  for (const id of candidates) {
    try {
      const mod = require(id);
      if (mod[kind]) return mod[kind];
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
    }
  }
  return null;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function validateObjects(objects, where) {
  const findings = [];
  const seen = new Set();
  for (const obj of objects) {
    const id = `${where}: ${obj.kind}/${obj.metadata?.name}`;
    const Model = modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      findings.push(`${id}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      findings.push(`${id}: ${e.message}`);
    }
    const name = obj.metadata?.name ?? '';
    if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) findings.push(`${id}: invalid name`);
    if (obj.kind === 'Service' && (!DNS1123_LABEL.test(name) || name.length > 63 || !/^[a-z]/.test(name))) {
      findings.push(`${id}: a Service name must be a DNS-1035 label`);
    }
    const key = `${obj.kind}/${obj.metadata?.namespace ?? ''}/${name}`;
    if (seen.has(key)) findings.push(`${id}: rendered twice`);
    seen.add(key);
    for (const labels of [obj.metadata?.labels, podTemplate(obj)?.metadata?.labels]) {
      for (const [k, v] of Object.entries(labels ?? {})) {
        if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) findings.push(`${id}: label ${k}=${v} is not a valid label value`);
      }
    }
  }
  return findings;
}

// ------------------------------------------------------------ cross-check

function podTemplate(obj) {
  if (obj.kind === 'Pod') return { metadata: obj.metadata, spec: obj.spec };
  if (obj.kind === 'Job') return obj.spec?.template;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(obj.kind)) return obj.spec?.template;
  return null;
}

// JSON with object keys sorted: equal values, equal text (toYaml sorts keys).
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);

function parseTcp(address) {
  const m = /^tcp:\/\/([^:/]+):(\d+)$/.exec(address ?? '');
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

function parseHostPort(address) {
  const m = /^([^:]+):(\d+)$/.exec(address ?? '');
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

// A Service port's targetPort (or a probe's port) as a number on `container`.
function resolvePort(port, containers) {
  if (typeof port === 'number') return port;
  for (const c of containers) {
    const p = (c.ports ?? []).find((x) => x.name === port);
    if (p) return p.containerPort;
  }
  return null;
}

function envValue(container, name) {
  return (container.env ?? []).find((e) => e.name === name);
}

// Checks the rendered objects of one values file against each other and the
// binaries; returns findings (strings). `values` are the merged chart values.
function crossCheck(objects, facts, values, where) {
  const findings = [];
  const fail = (msg) => findings.push(`${where}: ${msg}`);

  const workloads = objects.filter(podTemplate).map((obj) => {
    const t = podTemplate(obj);
    return {
      obj, id: `${obj.kind}/${obj.metadata.name}`, labels: t.metadata?.labels ?? {}, spec: t.spec,
      component: t.metadata?.labels?.['app.kubernetes.io/component'],
      containers: t.spec.containers ?? [], initContainers: t.spec.initContainers ?? [],
      hook: obj.metadata?.annotations?.['helm.sh/hook'] ?? '',
    };
  });
  const services = objects.filter((o) => o.kind === 'Service');
  const secrets = objects.filter((o) => o.kind === 'Secret');
  const byComponent = (c) => workloads.filter((w) => w.component === c);
  const serviceNamed = (host) => {
    const short = host.replace(new RegExp(`\\.${NAMESPACE}(\\.svc(\\.cluster\\.local)?)?$`), '');
    return services.find((s) => s.metadata.name === short);
  };
  const servedBy = (svc) => workloads.filter((w) => !w.hook && matches(svc.spec.selector, w.labels));

  // 1. Every container: env names the binary reads, flags it knows, security.
  for (const w of workloads) {
    const part = COMPONENT_PART[w.component];
    const all = [...w.initContainers.map((c) => ({ c, init: true })), ...w.containers.map((c) => ({ c, init: false }))];
    const sec = w.spec.securityContext ?? {};
    for (const { c, init } of all) {
      const cid = `${w.id} container ${c.name}`;
      const names = (c.env ?? []).map((e) => e.name);
      const dup = names.filter((n, i) => names.indexOf(n) !== i);
      if (dup.length) fail(`${cid}: env ${dup.join(', ')} set twice`);
      const cpart = c.name === 'migrate' ? 'scheduler' : part;
      for (const n of names) {
        if (n.startsWith('BATON_')) {
          if (!cpart) fail(`${cid}: sets ${n}, but ${w.component} runs no Baton binary`);
          else if (!facts.env[cpart].has(n)) fail(`${cid}: env ${n} is not read by ${cpart} (no "${n}" in ${PART_SOURCES[cpart].join('/, ')}/)`);
        } else if (cpart === 'scheduler' && !LIBPQ_ENV.has(n)) {
          fail(`${cid}: env ${n} is read by neither the scheduler nor libpq`);
        } else if ((cpart === 'broker' || cpart === 'batonctl')) {
          fail(`${cid}: env ${n} is not read by ${cpart}`);
        } else if (w.component === 'postgresql' && !POSTGRES_IMAGE_ENV.has(n)) {
          fail(`${cid}: env ${n} is not one of the postgres image's`);
        }
      }
      // Commands and flags.
      const argv = [...(c.command ?? []), ...(c.args ?? [])];
      if (cpart && cpart !== 'worker' && PART_MAIN[cpart]) {
        const cli = facts.cli[cpart];
        const stage = facts.docker.stages.find((s) => s.name === facts.docker.images[imageRepo(c.image)]);
        if (!c.command?.length) fail(`${cid}: no command`);
        else if (stage?.entrypoint && c.command[0] !== stage.entrypoint[0]) {
          fail(`${cid}: runs ${c.command[0]}, but image ${imageRepo(c.image)} has ${stage.entrypoint[0]}`);
        }
        let rest = argv.slice(1);
        if (cli.subcommands.size) {
          const sub = rest[0];
          if (!cli.subcommands.has(sub)) fail(`${cid}: "${sub}" is not a subcommand of ${basename(argv[0] ?? '')} (${[...cli.subcommands].join(', ')})`);
          rest = rest.slice(1);
        }
        for (const a of rest) {
          const flag = a.split('=')[0];
          if (!/^--?[A-Za-z]/.test(a)) continue;
          if (!cli.options.has(flag)) fail(`${cid}: flag ${a} is not an option of ${basename(argv[0] ?? '')}`);
          const overridden = cli.envOf.get(flag);
          if (overridden && names.includes(overridden)) fail(`${cid}: flag ${flag} overrides ${overridden}, which the chart sets (Services and probes follow the env)`);
        }
      }
      if (w.component === 'migrate' || c.name === 'migrate') {
        if (argv.at(-1) !== 'migrate' || basename(argv[0] ?? '') !== 'baton-scheduler') {
          fail(`${cid}: the migration must run "baton-scheduler migrate", runs ${JSON.stringify(argv)}`);
        }
      }
      // Security context.
      const cs = c.securityContext ?? {};
      if (!(cs.runAsNonRoot ?? sec.runAsNonRoot)) fail(`${cid}: runAsNonRoot is not set`);
      if ((cs.runAsUser ?? sec.runAsUser) === 0) fail(`${cid}: runs as UID 0`);
      if (cs.readOnlyRootFilesystem !== true) fail(`${cid}: root filesystem is not read-only`);
      if (cs.allowPrivilegeEscalation !== false) fail(`${cid}: allowPrivilegeEscalation is not false`);
      if (cs.privileged) fail(`${cid}: privileged`);
      if (!(cs.capabilities?.drop ?? []).includes('ALL')) fail(`${cid}: does not drop ALL capabilities`);
      if ((cs.capabilities?.add ?? []).length) fail(`${cid}: adds capabilities`);
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory']) {
          if (c.resources?.[kind]?.[r] === undefined) fail(`${cid}: no ${r} ${kind.slice(0, -1)}`);
        }
      }
      // Addresses it binds, ports it declares, probes.
      const metricsEnv = envValue(c, 'BATON_METRICS_ADDRESS');
      const longRunning = !init && !['Job', 'Pod'].includes(w.obj.kind);
      if (cpart && cpart !== 'batonctl' && longRunning) {
        const addr = parseHostPort(metricsEnv?.value);
        const declared = (c.ports ?? []).find((p) => p.name === 'metrics');
        if (!addr) fail(`${cid}: BATON_METRICS_ADDRESS is not host:port (${metricsEnv?.value})`);
        else {
          if (addr.host !== '0.0.0.0') fail(`${cid}: metrics bound to ${addr.host}, unreachable for probes and Prometheus`);
          if (!declared || declared.containerPort !== addr.port) fail(`${cid}: metrics on port ${addr.port}, but containerPort "metrics" is ${declared?.containerPort}`);
        }
        for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
          const g = c[probe]?.httpGet;
          if (!g) {
            fail(`${cid}: no ${probe}`);
            continue;
          }
          if (g.path !== path) fail(`${cid}: ${probe} path ${g.path}, expected ${path}`);
          if (!facts.httpPaths.has(g.path)) fail(`${cid}: ${probe} path ${g.path} is not served (monitoring/src/metrics_server.cc serves ${[...facts.httpPaths].join(', ')})`);
          if (addr && resolvePort(g.port, [c]) !== addr.port) fail(`${cid}: ${probe} port ${g.port} is not the metrics port ${addr.port}`);
        }
      } else if (w.component === 'postgresql' && longRunning) {
        if (!c.livenessProbe || !c.readinessProbe) fail(`${cid}: needs liveness and readiness probes`);
      }
      const binds = { BATON_LISTEN_ADDRESS: 'api', BATON_BROKER_BIND: 'zmq' };
      for (const [envName, portName] of Object.entries(binds)) {
        const e = envValue(c, envName);
        if (!e) continue;
        const addr = parseTcp(e.value);
        const declared = (c.ports ?? []).find((p) => p.name === portName);
        if (!addr) fail(`${cid}: ${envName} is not tcp://host:port`);
        else if (!declared || declared.containerPort !== addr.port) fail(`${cid}: ${envName} port ${addr.port}, but containerPort "${portName}" is ${declared?.containerPort}`);
      }
    }
    // Scrape annotations point at the metrics port.
    const ann = podTemplate(w.obj).metadata?.annotations ?? {};
    if (ann['prometheus.io/scrape'] === 'true') {
      const port = Number(ann['prometheus.io/port']);
      if (!w.containers.some((c) => (c.ports ?? []).some((p) => p.name === 'metrics' && p.containerPort === port))) {
        fail(`${w.id}: prometheus.io/port ${port} is not its metrics port`);
      }
      if (!facts.httpPaths.has(ann['prometheus.io/path'])) fail(`${w.id}: prometheus.io/path ${ann['prometheus.io/path']} is not served`);
    }
    // Every secretKeyRef into a rendered Secret names a key it has.
    for (const c of [...w.initContainers, ...w.containers]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        const s = ref && secrets.find((x) => x.metadata.name === ref.name);
        if (s && !({ ...s.data, ...s.stringData }[ref.key] !== undefined)) fail(`${w.id}: ${e.name} reads key ${ref.key}, absent from Secret ${ref.name}`);
      }
    }
  }

  // 2. Services: their selectors find pods, their targetPorts exist there.
  for (const svc of services) {
    const pods = servedBy(svc);
    const sid = `Service/${svc.metadata.name}`;
    if (!pods.length) {
      fail(`${sid}: selects no pods`);
      continue;
    }
    const components = new Set(pods.map((p) => p.component));
    if (components.size > 1) fail(`${sid}: selects pods of ${[...components].join(' and ')}`);
    for (const p of svc.spec.ports ?? []) {
      for (const pod of pods) {
        if (resolvePort(p.targetPort ?? p.port, pod.containers) === null ||
            !pod.containers.some((c) => (c.ports ?? []).some((cp) => cp.containerPort === resolvePort(p.targetPort ?? p.port, pod.containers)))) {
          fail(`${sid}: port ${p.name} targetPort ${p.targetPort} matches no containerPort of ${pod.id}`);
        }
      }
    }
  }

  // 3. Every address a pod dials reaches, through a Service, a pod that listens
  //    there; NetworkPolicies selecting that pod admit the dialer.
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const dials = { BATON_BROKER_ADDRESS: ['broker', 'BATON_BROKER_BIND'], BATON_ADDRESS: ['scheduler', 'BATON_LISTEN_ADDRESS'] };
  const edges = [];
  for (const w of workloads) {
    for (const c of [...w.initContainers, ...w.containers]) {
      for (const [envName, [target, bindEnv]] of Object.entries(dials)) {
        const e = envValue(c, envName);
        if (!e) continue;
        const addr = parseTcp(e.value);
        if (!addr) {
          fail(`${w.id}: ${envName}=${e.value} is not tcp://host:port`);
          continue;
        }
        const svc = serviceNamed(addr.host);
        if (!svc) {
          fail(`${w.id}: ${envName} names ${addr.host}, which is no Service of the release`);
          continue;
        }
        const sp = (svc.spec.ports ?? []).find((p) => p.port === addr.port);
        if (!sp) {
          fail(`${w.id}: ${envName} dials port ${addr.port}, but Service/${svc.metadata.name} has ports ${(svc.spec.ports ?? []).map((p) => p.port).join(', ')}`);
          continue;
        }
        const pods = servedBy(svc);
        if (!pods.length || pods.some((p) => p.component !== target)) {
          fail(`${w.id}: ${envName} reaches ${pods.map((p) => p.id).join(', ') || 'nothing'}, not the ${target}`);
          continue;
        }
        for (const pod of pods) {
          const listen = pod.containers.map((x) => parseTcp(envValue(x, bindEnv)?.value)).find(Boolean);
          const tp = resolvePort(sp.targetPort ?? sp.port, pod.containers);
          if (!listen || listen.port !== tp) fail(`${w.id}: ${envName} reaches ${pod.id} on targetPort ${tp}, but it listens on ${listen?.port}`);
          const server = pod.containers.find((x) => envValue(x, bindEnv)) ?? pod.containers[0];
          edges.push({ from: w, fromContainer: c, to: pod, toContainer: server, target, port: tp, what: envName });
        }
      }
      const db = envValue(c, 'BATON_DB_URL');
      const ref = db?.valueFrom?.secretKeyRef;
      const secret = ref && secrets.find((s) => s.metadata.name === ref.name);
      if (secret) {
        const url = new URL({ ...secret.stringData }[ref.key]);
        const svc = serviceNamed(url.hostname);
        const pods = svc ? servedBy(svc) : [];
        const sp = svc?.spec.ports.find((p) => p.port === Number(url.port || 5432));
        if (!svc || !sp || !pods.length) fail(`${w.id}: BATON_DB_URL names ${url.host}, which no Service of the release serves`);
        else for (const pod of pods) edges.push({ from: w, to: pod, port: resolvePort(sp.targetPort, pod.containers), what: 'BATON_DB_URL' });
      }
    }
  }
  for (const edge of edges) {
    const selecting = policies.filter((p) => matches(p.spec.podSelector?.matchLabels, edge.to.labels) && (p.spec.policyTypes ?? ['Ingress']).includes('Ingress'));
    if (!selecting.length) continue;
    const admitted = selecting.some((p) => (p.spec.ingress ?? []).some((rule) => {
      const portOk = !rule.ports || rule.ports.some((rp) => resolvePort(rp.port, edge.to.containers) === edge.port);
      const peerOk = !rule.from || rule.from.some((peer) => peer.podSelector && !peer.namespaceSelector && !peer.ipBlock && matches(peer.podSelector.matchLabels, edge.from.labels));
      return portOk && peerOk;
    }));
    if (!admitted) fail(`NetworkPolicy: ${edge.from.id} is not admitted to ${edge.to.id} port ${edge.port} (${edge.what})`);
  }
  // The policies' intent: workers reach the scheduler's API, the scheduler and
  // workers the broker, even without an env var naming it.
  if (policies.length) {
    for (const [from, to, portName] of [['worker', 'scheduler', 'api'], ['scheduler', 'broker', 'zmq'], ['worker', 'broker', 'zmq']]) {
      for (const src of byComponent(from)) for (const dst of byComponent(to)) {
        const port = resolvePort(portName, dst.containers);
        const ok = policies.filter((p) => matches(p.spec.podSelector?.matchLabels, dst.labels)).some((p) => (p.spec.ingress ?? []).some((rule) =>
          (!rule.ports || rule.ports.some((rp) => resolvePort(rp.port, dst.containers) === port)) &&
          (!rule.from || rule.from.some((peer) => peer.podSelector && !peer.namespaceSelector && matches(peer.podSelector.matchLabels, src.labels)))));
        if (!ok) fail(`NetworkPolicy: ${src.id} is not admitted to ${dst.id} port ${portName}`);
      }
    }
  }

  // 4. Migration: a pre-install/pre-upgrade hook Job, or (evaluation
  //    database) a scheduler init container; same database either way.
  const schedulers = byComponent('scheduler');
  const jobs = workloads.filter((w) => w.obj.kind === 'Job' && w.component === 'migrate');
  const initMigrations = schedulers.flatMap((s) => s.initContainers.filter((c) => c.name === 'migrate'));
  if (jobs.length + (initMigrations.length ? 1 : 0) !== 1) fail(`migration: expected one hook Job or a scheduler init container, found ${jobs.length} Job(s) and ${initMigrations.length} init container(s)`);
  const dbSource = (c) => JSON.stringify(envValue(c, 'BATON_DB_URL') ?? null);
  for (const job of jobs) {
    const hooks = job.hook.split(',');
    if (!hooks.includes('pre-install') || !hooks.includes('pre-upgrade')) fail(`${job.id}: not a pre-install,pre-upgrade hook (${job.hook})`);
    if (job.spec.restartPolicy !== 'Never' && job.spec.restartPolicy !== 'OnFailure') fail(`${job.id}: restartPolicy ${job.spec.restartPolicy}`);
    const sa = job.spec.serviceAccountName;
    const saObj = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === sa);
    if (saObj && !(saObj.metadata.annotations?.['helm.sh/hook'] ?? '').includes('pre-install')) {
      fail(`${job.id}: uses ServiceAccount ${sa}, which is created only after pre-install hooks run`);
    }
    for (const s of schedulers) {
      const main = s.containers[0];
      if (dbSource(job.containers[0]) !== dbSource(main)) fail(`${job.id}: migrates ${dbSource(job.containers[0])}, the scheduler uses ${dbSource(main)}`);
      for (const n of ['PGUSER', 'PGPASSWORD', 'PGSSLMODE', 'PGSSLROOTCERT']) {
        if (JSON.stringify(envValue(job.containers[0], n)) !== JSON.stringify(envValue(main, n))) fail(`${job.id}: ${n} differs from the scheduler's`);
      }
    }
  }
  // A new scheduler is a standby while the old one holds the leases: a
  // rolling update with surge would never finish.
  for (const s of schedulers) {
    if (s.obj.spec.strategy?.type !== 'Recreate') fail(`${s.id}: strategy must be Recreate (a surged standby never becomes ready)`);
  }
  for (const b of byComponent('broker')) {
    if (b.obj.spec.replicas !== 1) fail(`${b.id}: the broker must run exactly one replica`);
  }

  // 5. Workers: grace period covers the drain; autoscalers target them.
  for (const w of byComponent('worker')) {
    const drain = Number(envValue(w.containers[0], 'BATON_DRAIN_TIMEOUT_S')?.value ?? NaN);
    const grace = w.spec.terminationGracePeriodSeconds ?? 30;
    if (!(grace > drain)) fail(`${w.id}: terminationGracePeriodSeconds ${grace} does not exceed BATON_DRAIN_TIMEOUT_S ${drain}`);
  }
  const autoscalers = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject');
  const targets = new Map();
  for (const a of autoscalers) {
    const ref = a.spec.scaleTargetRef;
    const target = workloads.find((w) => w.obj.kind === (ref.kind ?? 'Deployment') && w.obj.metadata.name === ref.name);
    const aid = `${a.kind}/${a.metadata.name}`;
    if (!target) {
      fail(`${aid}: scales ${ref.kind}/${ref.name}, which is not rendered`);
      continue;
    }
    if (targets.has(ref.name)) fail(`${aid}: ${ref.name} is also scaled by ${targets.get(ref.name)}`);
    targets.set(ref.name, aid);
    if (target.obj.spec.replicas !== undefined) fail(`${aid}: ${target.id} sets spec.replicas, which every upgrade would reset`);
    const usesCpu = a.kind === 'HorizontalPodAutoscaler'
      ? (a.spec.metrics ?? []).some((m) => m.resource?.name === 'cpu')
      : (a.spec.triggers ?? []).some((t) => t.type === 'cpu');
    if (usesCpu && target.containers.some((c) => !c.resources?.requests?.cpu)) fail(`${aid}: scales on CPU but ${target.id} requests none`);
    if (a.kind === 'ScaledObject') {
      const worker = target.containers[0];
      const bns = envValue(worker, 'BATON_NAMESPACE')?.value ?? 'default';
      const queues = (envValue(worker, 'BATON_TASK_QUEUES')?.value ?? 'default').split(',');
      for (const t of (a.spec.triggers ?? []).filter((x) => x.type === 'prometheus')) {
        const q = t.metadata?.query ?? '';
        for (const m of q.matchAll(/\b(baton_[a-z0-9_]+)\b/g)) if (!facts.metrics.has(m[1])) fail(`${aid}: query reads ${m[1]}, which is not in monitoring/metrics.json`);
        if (!/baton_backlog_tasks/.test(q)) fail(`${aid}: query does not read the queue depth baton_backlog_tasks`);
        if (!/^(sum|max)\s*\(/.test(q)) fail(`${aid}: query must aggregate to one series`);
        const unq = (s) => s.replace(/\\(.)/g, '$1');
        const nsm = /namespace="((?:[^"\\]|\\.)*)"/.exec(q);
        if (!nsm || unq(nsm[1]) !== bns) fail(`${aid}: query counts namespace ${nsm ? unq(nsm[1]) : '(any)'}, the workers serve ${bns}`);
        const qm = /task_queue=~"((?:[^"\\]|\\.)*)"/.exec(q);
        const re = qm && new RegExp(`^(?:${unq(qm[1])})$`);
        for (const queue of queues) if (!re || !re.test(queue)) fail(`${aid}: query does not count task queue ${queue}`);
        if (re && re.test('some-other-queue') && !queues.includes('some-other-queue')) fail(`${aid}: query counts queues the workers do not serve`);
        if (!(Number(t.metadata?.threshold) > 0)) fail(`${aid}: threshold ${t.metadata?.threshold} is not a positive number`);
        if (!/^https?:\/\//.test(t.metadata?.serverAddress ?? '')) fail(`${aid}: serverAddress is not a URL`);
      }
    }
  }
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    if (!workloads.some((w) => !w.hook && matches(pdb.spec.selector?.matchLabels, w.labels))) fail(`PodDisruptionBudget/${pdb.metadata.name}: selects no pods`);
  }

  // 6. Monitoring: ServiceMonitors find the metrics ports and set the job
  //    names the alerts and dashboard use; the rules and dashboard are the
  //    files of monitoring/, unchanged.
  const jobs_ = new Set();
  for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    const smid = `ServiceMonitor/${sm.metadata.name}`;
    const svcs = services.filter((s) => matches(sm.spec.selector?.matchLabels, s.metadata.labels));
    if (!svcs.length) fail(`${smid}: selects no Service`);
    for (const ep of sm.spec.endpoints ?? []) {
      for (const s of svcs) {
        const sp = (s.spec.ports ?? []).find((p) => p.name === ep.port);
        if (!sp) fail(`${smid}: Service/${s.metadata.name} has no port ${ep.port}`);
        else for (const pod of servedBy(s)) {
          const target = resolvePort(sp.targetPort, pod.containers);
          const metricsAddr = pod.containers.map((c) => parseHostPort(envValue(c, 'BATON_METRICS_ADDRESS')?.value)).find(Boolean);
          if (!metricsAddr || metricsAddr.port !== target) fail(`${smid}: scrapes ${pod.id} on ${target}, metrics are on ${metricsAddr?.port}`);
        }
        if (!s.spec.publishNotReadyAddresses) fail(`${smid}: Service/${s.metadata.name} hides not-ready pods (standby schedulers) from Prometheus`);
      }
      if (!facts.httpPaths.has(ep.path ?? '/metrics')) fail(`${smid}: path ${ep.path} is not served`);
      for (const r of ep.relabelings ?? []) if (r.targetLabel === 'job') jobs_.add(r.replacement);
    }
  }
  if (jobs_.size) {
    for (const job of facts.jobsReferenced) {
      if (!jobs_.has(job) && !(job === 'baton-worker' && !byComponent('worker').length)) {
        fail(`ServiceMonitors: the alerts or dashboard expect job ${job}, the ServiceMonitors set ${[...jobs_].join(', ')}`);
      }
    }
    for (const job of jobs_) {
      if (!facts.jobsReferenced.has(job) && !facts.jobPatterns.some((re) => re.test(job))) {
        fail(`ServiceMonitors: job ${job} matches no job matcher of the alerts or dashboard`);
      }
    }
  }
  for (const rule of objects.filter((o) => o.kind === 'PrometheusRule')) {
    if (canonical(rule.spec.groups) !== canonical(facts.alerts.groups)) {
      fail(`PrometheusRule/${rule.metadata.name}: its groups differ from monitoring/prometheus/alerts.yml`);
    }
  }
  for (const cm of objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard !== undefined)) {
    if (cm.metadata.labels.grafana_dashboard !== '1') fail(`ConfigMap/${cm.metadata.name}: grafana_dashboard label is not "1"`);
    if (cm.data?.['baton.json'] !== facts.dashboardText) fail(`ConfigMap/${cm.metadata.name}: baton.json differs from monitoring/grafana/baton.json`);
  }

  findings.push(...checkFilesAndRefs(workloads, objects, values).map((m) => `${where}: ${m}`));
  findings.push(...checkLinkSecurity(workloads, edges).map((m) => `${where}: ${m}`));
  return findings;
}

// Every string in the values (names of the user's Secrets, their keys, ...).
function valueStrings(values) {
  const out = new Set();
  const walk = (v) => {
    if (typeof v === 'string') out.add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(values);
  return out;
}

// Variables naming a file the process reads.
const isFileEnv = (name) => /^BATON_[A-Z0-9_]*_FILE$/.test(name) || name === 'PGSSLROOTCERT';

// 7. Files and references. Every file variable (BATON_*_FILE, PGSSLROOTCERT)
//    names a file under a read-only volume mount of its own container, and that
//    volume is a Secret or ConfigMap projecting the file (the root filesystem
//    is read-only: nothing else could put it there). Every Secret and
//    ConfigMap a pod uses (volumes, env, envFrom, imagePullSecrets), and every
//    key it reads from one the chart does not render, is rendered by the chart
//    or named in the values: the chart never makes up the name of an object
//    the user must create.
function checkFilesAndRefs(workloads, objects, values) {
  const findings = [];
  const fail = (msg) => findings.push(msg);
  const strings = valueStrings(values);
  const renderedObj = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  for (const w of workloads) {
    const volumes = new Map((w.spec.volumes ?? []).map((v) => [v.name, v]));
    // [kind, name, keys read, where]
    const refs = [];
    for (const v of volumes.values()) {
      if (v.secret) refs.push(['Secret', v.secret.secretName, (v.secret.items ?? []).map((i) => i.key), `volume ${v.name}`]);
      if (v.configMap) refs.push(['ConfigMap', v.configMap.name, (v.configMap.items ?? []).map((i) => i.key), `volume ${v.name}`]);
      for (const src of v.projected?.sources ?? []) {
        if (src.secret) refs.push(['Secret', src.secret.name, (src.secret.items ?? []).map((i) => i.key), `volume ${v.name}`]);
        if (src.configMap) refs.push(['ConfigMap', src.configMap.name, (src.configMap.items ?? []).map((i) => i.key), `volume ${v.name}`]);
      }
    }
    for (const s of w.spec.imagePullSecrets ?? []) refs.push(['Secret', s.name, [], 'imagePullSecrets']);
    for (const c of [...w.initContainers, ...w.containers]) {
      for (const e of c.env ?? []) {
        const sk = e.valueFrom?.secretKeyRef;
        const ck = e.valueFrom?.configMapKeyRef;
        if (sk) refs.push(['Secret', sk.name, [sk.key], `container ${c.name} env ${e.name}`]);
        if (ck) refs.push(['ConfigMap', ck.name, [ck.key], `container ${c.name} env ${e.name}`]);
      }
      for (const ef of c.envFrom ?? []) {
        if (ef.secretRef) refs.push(['Secret', ef.secretRef.name, [], `container ${c.name} envFrom`]);
        if (ef.configMapRef) refs.push(['ConfigMap', ef.configMapRef.name, [], `container ${c.name} envFrom`]);
      }
    }
    for (const [kind, name, keys, where] of refs) {
      const obj = renderedObj(kind, name);
      if (obj) {
        const data = { ...obj.data, ...obj.stringData, ...obj.binaryData };
        for (const k of keys) if (data[k] === undefined) fail(`${w.id}: ${where} reads key ${k}, absent from ${kind}/${name}`);
        continue;
      }
      if (!strings.has(name)) fail(`${w.id}: ${where} uses ${kind} ${name}, which the chart neither renders nor takes from the values`);
      for (const k of keys) if (!strings.has(k)) fail(`${w.id}: ${where} reads key ${k} of ${kind} ${name}, which is not from the values`);
    }

    for (const c of [...w.initContainers, ...w.containers]) {
      const mounts = c.volumeMounts ?? [];
      for (const e of (c.env ?? []).filter((x) => isFileEnv(x.name))) {
        const id = `${w.id} container ${c.name}: ${e.name}`;
        if (typeof e.value !== 'string' || !e.value.startsWith('/')) {
          fail(`${id} is not an absolute path (${e.value ?? 'valueFrom'})`);
          continue;
        }
        const under = (m) => e.value.startsWith(`${m.mountPath.replace(/\/+$/, '')}/`);
        const m = mounts.filter(under).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
        if (!m) {
          fail(`${id}=${e.value} is under no volume mount of the container (mounts: ${mounts.map((x) => x.mountPath).join(', ') || 'none'})`);
          continue;
        }
        const v = volumes.get(m.name);
        if (!v) {
          fail(`${id}: its mount ${m.mountPath} names volume ${m.name}, which the pod does not have`);
          continue;
        }
        if (m.readOnly !== true) fail(`${id}: volume ${m.name} is mounted writable at ${m.mountPath}`);
        const src = v.secret ?? v.configMap;
        if (!src) {
          fail(`${id}=${e.value} lies in volume ${m.name}, which is no Secret or ConfigMap: nothing puts the file there`);
          continue;
        }
        const rel = [m.subPath, e.value.slice(m.mountPath.replace(/\/+$/, '').length + 1)].filter(Boolean).join('/');
        const srcName = v.secret ? `Secret ${v.secret.secretName}` : `ConfigMap ${v.configMap.name}`;
        if (src.items) {
          if (!src.items.some((i) => i.path === rel)) fail(`${id}=${e.value}: volume ${m.name} (${srcName}) has no file ${rel} (it projects ${src.items.map((i) => i.path).join(', ')})`);
        } else if (rel.includes('/')) {
          fail(`${id}=${e.value}: volume ${m.name} (${srcName}) has no directory ${dirname(rel)}`);
        } else {
          // The whole object is mounted: the file is its key `rel`.
          const obj = renderedObj(v.secret ? 'Secret' : 'ConfigMap', v.secret ? v.secret.secretName : v.configMap.name);
          const data = obj && { ...obj.data, ...obj.stringData, ...obj.binaryData };
          if (obj ? data[rel] === undefined : !strings.has(rel)) fail(`${id}=${e.value}: ${rel} is no key of ${srcName} ${obj ? '' : 'named in the values'}`.trim());
        }
      }
    }
  }
  return findings;
}

const Z85_KEY = /^[0-9A-Za-z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

// How a Baton process on one end of a link authenticates, from its env (the
// rules of scheduler/src/main.cc, broker/src/main.cc and
// load_connection_settings()).
function serverAuth(target, c) {
  if (envValue(c, 'BATON_CURVE_SECRET_KEY_FILE')) return 'CurveZMQ';
  if (target === 'scheduler' && envValue(c, 'BATON_CLIENTS_FILE')) return 'an API key';
  return 'nothing';
}

function clientAuth(part, what, c) {
  if (part === 'scheduler' && what === 'BATON_BROKER_ADDRESS') {
    const key = envValue(c, 'BATON_BROKER_CURVE_SERVER_KEY');
    return key ? { mode: 'CurveZMQ', key: key.value, keyVar: 'BATON_BROKER_CURVE_SERVER_KEY' } : { mode: 'nothing' };
  }
  const key = envValue(c, 'BATON_CURVE_SERVER_KEY');
  if (key) return { mode: 'CurveZMQ', key: key.value, keyVar: 'BATON_CURVE_SERVER_KEY' };
  if (envValue(c, 'BATON_API_KEY')) return { mode: 'an API key' };
  return { mode: 'nothing' };
}

// 8. Link security: every process has a complete set of keys (what its binary
//    refuses to start without), every dialer speaks the mechanism its server
//    demands, and all dialers of one server trust the same server key.
function checkLinkSecurity(workloads, edges) {
  const findings = [];
  const fail = (msg) => findings.push(msg);
  const has = (c, n) => envValue(c, n) !== undefined;
  for (const w of workloads) {
    const part = COMPONENT_PART[w.component];
    for (const c of w.containers) {
      const cid = `${w.id} container ${c.name}`;
      if (part === 'broker' && has(c, 'BATON_CURVE_SECRET_KEY_FILE') !== has(c, 'BATON_CLIENTS_FILE')) {
        fail(`${cid}: the broker needs BATON_CURVE_SECRET_KEY_FILE and BATON_CLIENTS_FILE together`);
      }
      if (part === 'scheduler' && c.name !== 'migrate') {
        if (has(c, 'BATON_CURVE_SECRET_KEY_FILE') && !has(c, 'BATON_CLIENTS_FILE')) fail(`${cid}: BATON_CURVE_SECRET_KEY_FILE without BATON_CLIENTS_FILE refuses every client`);
        if (has(c, 'BATON_BROKER_CURVE_SERVER_KEY') && !has(c, 'BATON_BROKER_CURVE_KEY_FILE') && !has(c, 'BATON_CURVE_SECRET_KEY_FILE')) {
          fail(`${cid}: BATON_BROKER_CURVE_SERVER_KEY without a key pair (BATON_BROKER_CURVE_KEY_FILE or BATON_CURVE_SECRET_KEY_FILE)`);
        }
        if (has(c, 'BATON_BROKER_CURVE_KEY_FILE') && !has(c, 'BATON_BROKER_CURVE_SERVER_KEY')) fail(`${cid}: BATON_BROKER_CURVE_KEY_FILE without BATON_BROKER_CURVE_SERVER_KEY is unused`);
      }
      if (part === 'worker' || part === 'batonctl') {
        const pairs = ['BATON_CURVE_CLIENT_KEY_FILE', 'BATON_CURVE_CLIENT_KEY'].filter((n) => has(c, n));
        if (pairs.length > 1) fail(`${cid}: both BATON_CURVE_CLIENT_KEY_FILE and BATON_CURVE_CLIENT_KEY`);
        if (has(c, 'BATON_CURVE_SERVER_KEY') !== (pairs.length > 0)) fail(`${cid}: BATON_CURVE_SERVER_KEY and a client key pair (${pairs.join('') || 'BATON_CURVE_CLIENT_KEY_FILE'}) go together`);
      }
      for (const n of ['BATON_CURVE_SERVER_KEY', 'BATON_BROKER_CURVE_SERVER_KEY']) {
        const e = envValue(c, n);
        if (e && !Z85_KEY.test(e.value ?? '')) fail(`${cid}: ${n} is not a CurveZMQ public key (40 Z85 characters): ${e.value ?? 'valueFrom'}`);
      }
    }
  }
  const serverKeys = new Map();
  for (const edge of edges.filter((e) => e.target)) {
    const demands = serverAuth(edge.target, edge.toContainer);
    const offers = clientAuth(COMPONENT_PART[edge.from.component], edge.what, edge.fromContainer);
    if (demands !== offers.mode) {
      fail(`${edge.from.id}: dials the ${edge.target} (${edge.what}) with ${offers.mode === 'nothing' ? 'no credentials' : offers.mode}, but ${edge.to.id} demands ${demands === 'nothing' ? 'none (plain TCP)' : demands}`);
    }
    if (offers.key) {
      const seen = serverKeys.get(edge.to.id) ?? new Map();
      seen.set(offers.key, [...(seen.get(offers.key) ?? []), `${edge.from.id} ${offers.keyVar}`]);
      serverKeys.set(edge.to.id, seen);
    }
  }
  for (const [server, keys] of serverKeys) {
    if (keys.size > 1) fail(`the dialers of ${server} trust different server keys: ${[...keys].map(([k, who]) => `${who.join(', ')}: ${k}`).join('; ')}`);
  }
  return findings;
}

function imageRepo(image) {
  const noDigest = image.split('@')[0];
  const lastSlash = noDigest.lastIndexOf('/');
  const name = noDigest.slice(lastSlash + 1);
  return name.split(':')[0];
}

// ------------------------------------------------------------------ steps

// Every value of values.yaml is declared and described in values.schema.json;
// every object the schema declares property by property admits no others
// (so helm rejects a misspelt value instead of ignoring it).
function checkSchemaCoverage() {
  const findings = [];
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const deref = (node) => (node?.$ref ? { ...schema.definitions[node.$ref.split('/').pop()], ...node, $ref: undefined } : node);
  const walkSchema = (node, path) => {
    node = deref(node);
    if (node.properties) {
      if (node.additionalProperties !== false) findings.push(`values.schema.json: ${path || '(root)'} declares properties but admits others`);
      for (const [k, v] of Object.entries(node.properties)) {
        if (!deref(v).description) findings.push(`values.schema.json: ${path ? `${path}.` : ''}${k} has no description`);
        walkSchema(v, path ? `${path}.${k}` : k);
      }
    }
  };
  walkSchema(schema, '');
  const { YAML } = deployModules();
  const walkValues = (value, node, path) => {
    node = deref(node);
    if (!node) {
      findings.push(`values.schema.json: does not declare ${path}`);
      return;
    }
    if (value && typeof value === 'object' && !Array.isArray(value) && node.properties) {
      for (const [k, v] of Object.entries(value)) walkValues(v, node.properties[k], path ? `${path}.${k}` : k);
    }
  };
  walkValues(YAML.parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')), schema, '');
  return findings;
}

function stepLint() {
  const findings = checkSchemaCoverage();
  if (!findings.length) console.log('ok: values.schema.json declares and describes every value');
  for (const f of [null, ...valuesFiles()]) {
    const args = ['lint', '--strict', CHART];
    if (f) args.push('--values', f);
    const r = helm(args, { allowFailure: true });
    const label = f ? relative(ROOT, f) : 'defaults';
    if (r.status !== 0) findings.push(`helm lint --strict (${label}):\n${r.stdout}${r.stderr}`);
    else console.log(`ok: helm lint --strict (${label})`);
  }
  return findings;
}

function stepInvalid() {
  const findings = [];
  const dir = join(VALUES_DIR, 'invalid');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    const expect = /^# expect: (.+)$/m.exec(text)?.[1];
    if (!expect) {
      findings.push(`invalid/${f}: no "# expect:" line`);
      continue;
    }
    const r = helm(['template', 'baton', CHART, '--values', join(dir, f)], { allowFailure: true });
    if (r.status === 0) findings.push(`invalid/${f}: rendered without error, expected "${expect}"`);
    else if (!r.stderr.includes(expect)) findings.push(`invalid/${f}: failed, but without "${expect}":\n${r.stderr}`);
    else console.log(`ok: invalid/${f} rejected: ${expect}`);
  }
  return findings;
}

function stepValidate() {
  const findings = [];
  for (const f of valuesFiles()) {
    const objects = render(f);
    const found = validateObjects(objects, relative(ROOT, f));
    findings.push(...found);
    if (!found.length) console.log(`ok: ${relative(ROOT, f)}: ${objects.length} objects valid (${[...new Set(objects.map((o) => o.kind))].join(', ')})`);
  }
  return findings;
}

function stepCross() {
  const facts = repoFacts();
  const findings = [];
  for (const f of valuesFiles()) {
    const release = basename(f) === 'all-features.yaml' ? 'acme' : 'baton';
    const objects = render(f, { release });
    const found = crossCheck(objects, facts, chartValues(f), relative(ROOT, f));
    findings.push(...found);
    if (!found.length) console.log(`ok: ${relative(ROOT, f)}: ${objects.length} objects agree`);
  }
  return findings;
}

function checkMonitoringLinks(chart) {
  const findings = [];
  for (const [inChart, target] of Object.entries(MONITORING_LINKS)) {
    const p = join(chart, inChart);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      findings.push(`${inChart}: missing (must be a symbolic link to ${target})`);
      continue;
    }
    if (!st.isSymbolicLink()) {
      findings.push(`${inChart}: is a copy, not a symbolic link to ${target}`);
      continue;
    }
    if (!existsSync(p) || realpathSync(p) !== realpathSync(join(ROOT, target))) {
      findings.push(`${inChart}: links to ${readlinkSync(p)}, not ${target}`);
    }
  }
  return findings;
}

function stepMonitoring() {
  const findings = checkMonitoringLinks(CHART);
  // helm package stores the linked files' content: an installed chart needs
  // no repository checkout.
  const tmp = mkdtempSync(join(tmpdir(), 'baton-chart-'));
  try {
    helm(['package', CHART, '--destination', tmp]);
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    execFileSync('tar', ['-xzf', join(tmp, tgz), '-C', tmp]);
    for (const [inChart, target] of Object.entries(MONITORING_LINKS)) {
      const packaged = join(tmp, 'baton', inChart);
      if (!existsSync(packaged) || lstatSync(packaged).isSymbolicLink()) findings.push(`helm package: ${inChart} is not a regular file in the package`);
      else if (!readFileSync(packaged).equals(readFileSync(join(ROOT, target)))) findings.push(`helm package: ${inChart} differs from ${target}`);
    }
    const objects = render(join(VALUES_DIR, 'all-features.yaml'), { chart: join(tmp, 'baton') });
    if (!objects.some((o) => o.kind === 'PrometheusRule') || !objects.some((o) => o.kind === 'ConfigMap')) findings.push('helm package: the packaged chart renders no PrometheusRule or dashboard');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!findings.length) console.log(`ok: ${Object.keys(MONITORING_LINKS).join(', ')} link to monitoring/ and are packaged as their content`);
  return findings;
}

function checkVersion(cmakeText, chartText) {
  const project = /project\(\s*baton\s+VERSION\s+([0-9][0-9A-Za-z.+-]*)/i.exec(cmakeText)?.[1];
  const version = /^version:\s*"?([^"\s]+)"?\s*$/m.exec(chartText)?.[1];
  const appVersion = /^appVersion:\s*"?([^"\s]+)"?\s*$/m.exec(chartText)?.[1];
  const findings = [];
  if (!project) findings.push('CMakeLists.txt: no project(baton VERSION x.y.z)');
  if (version !== project) findings.push(`Chart.yaml: version ${version} is not the project version ${project}`);
  if (appVersion !== project) findings.push(`Chart.yaml: appVersion ${appVersion} is not the project version ${project}`);
  return findings;
}

function stepVersion() {
  const findings = checkVersion(read('CMakeLists.txt'), readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
  if (!findings.length) console.log('ok: Chart.yaml version and appVersion follow CMakeLists.txt');
  return findings;
}

function stepDocker() {
  const facts = repoFacts();
  const findings = checkDocker(read('docker/Dockerfile'), cmakeExecutables(), chartValues(null), facts);
  if (!existsSync(join(ROOT, 'docker/Dockerfile.dockerignore'))) findings.push('docker: no docker/Dockerfile.dockerignore (the build context would hold build trees)');
  if (!(statSync(join(ROOT, 'docker/runtime-packages.sh')).mode & 0o111)) findings.push('docker: docker/runtime-packages.sh is not executable');
  if (!findings.length) console.log(`ok: docker/Dockerfile targets ${Object.values(facts.docker.images).join(', ')} agree with CMake and the chart`);
  return findings;
}

function stepPackages(buildDir) {
  const build = buildDir ?? process.env.BATON_BUILD_DIR ?? join(ROOT, 'build');
  const binaries = ['scheduler/baton-scheduler', 'broker/baton-broker', 'client/batonctl', 'examples/examples_worker'].map((b) => join(build, b));
  const missing = binaries.filter((b) => !existsSync(b));
  if (missing.length) return [`packages: not built: ${missing.join(', ')}`];
  const out = mkdtempSync(join(tmpdir(), 'baton-packages-'));
  try {
    execFileSync(join(ROOT, 'docker/runtime-packages.sh'), [out, ...binaries], { stdio: ['ignore', 'inherit', 'inherit'] });
    const findings = [];
    const expect = { 'baton-scheduler': ['libpqxx-6.4', 'libzmq5'], 'baton-broker': ['libzmq5'], batonctl: ['libzmq5'], examples_worker: ['libzmq5'] };
    for (const [name, pkgs] of Object.entries(expect)) {
      const list = readFileSync(join(out, `${name}.packages`), 'utf8').split('\n');
      for (const p of pkgs) if (!list.includes(p)) findings.push(`packages: ${name} should need ${p}, got ${list.join(' ')}`);
      if (list.some((p) => /-dev$/.test(p))) findings.push(`packages: ${name} needs a -dev package at run time`);
    }
    if (!findings.length) console.log('ok: runtime packages resolved for every image');
    return findings;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// NOTES.txt as rendered for a values file: helm template skips NOTES.txt, so
// a scratch copy of the chart renders it inside a ConfigMap.
function renderNotes(valuesFile, release = 'baton') {
  const tmp = mkdtempSync(join(tmpdir(), 'baton-notes-'));
  try {
    const chart = join(tmp, 'baton');
    cpSync(CHART, chart, { recursive: true, dereference: true });
    const notes = readFileSync(join(chart, 'templates/NOTES.txt'), 'utf8');
    rmSync(join(chart, 'templates/NOTES.txt'));
    writeFileSync(join(chart, 'templates/_check_notes.tpl'), `{{- define "check.notes" }}${notes}{{- end }}\n`);
    writeFileSync(join(chart, 'templates/check-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "check.notes" . | toJson }}\n');
    const objects = render(valuesFile, { release, chart });
    return objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'notes').data.notes;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// The commands NOTES.txt tells users to run work: batonctl subcommands and
// flags exist, addresses and port-forwards reach the scheduler's Service, the
// sample orchestration and its output are the example's.
function checkNotes(text, facts, objects, values, release, where) {
  const findings = [];
  const fail = (msg) => findings.push(`${where}: NOTES.txt: ${msg}`);
  const cli = facts.cli.batonctl;
  const scheduler = objects.find((o) => o.kind === 'Service' && o.metadata.labels?.['app.kubernetes.io/component'] === 'scheduler' && !o.spec.clusterIP);
  const servicePorts = (scheduler?.spec.ports ?? []).map((p) => p.port);
  let commands = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /(?:^|\$\(|^-- )batonctl\s+(.*?)\)?$/.exec(line) ?? /^-- (start .*)$/.exec(line);
    if (m) {
      commands++;
      const tokens = m[1].split(/\s+/);
      if (!cli.subcommands.has(tokens[0])) fail(`"batonctl ${tokens[0]}" is no batonctl subcommand (${[...cli.subcommands].join(', ')})`);
      for (const t of tokens.slice(1)) if (/^--[a-z]/.test(t) && !cli.options.has(t.split('=')[0])) fail(`batonctl has no option ${t}`);
    }
    for (const a of line.matchAll(/BATON_ADDRESS=tcp:\/\/([^:\s]+):(\d+)/g)) {
      if (a[1] === '127.0.0.1') continue;
      if (a[1] !== scheduler?.metadata.name || !servicePorts.includes(Number(a[2]))) fail(`BATON_ADDRESS ${a[1]}:${a[2]} is not the scheduler's Service`);
    }
    const pf = /port-forward svc\/(\S+) (\d+):(\d+)/.exec(line);
    if (pf) {
      if (pf[1] !== scheduler?.metadata.name || !servicePorts.includes(Number(pf[3]))) fail(`port-forward to ${pf[1]}:${pf[3]}, not to the scheduler's Service`);
      if (!text.includes(`BATON_ADDRESS=tcp://127.0.0.1:${pf[2]}`)) fail(`no BATON_ADDRESS for the forwarded port ${pf[2]}`);
    }
  }
  if (commands < 2) fail('shows no batonctl command to run the sample orchestration');
  // The client credentials the scheduler demands: shown for batonctl on your
  // machine, and no in-cluster command without them.
  const schedulerMain = objects.filter((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'scheduler')
    .map((o) => podTemplate(o).spec.containers[0])[0];
  const demands = schedulerMain ? serverAuth('scheduler', schedulerMain) : 'nothing';
  const testPod = objects.find((o) => o.kind === 'Pod' && o.metadata.labels?.['app.kubernetes.io/component'] === 'test');
  const testEnv = (n) => testPod && envValue(testPod.spec.containers[0], n);
  if (demands === 'CurveZMQ') {
    const key = /BATON_CURVE_SERVER_KEY='([^']*)'/.exec(text)?.[1];
    if (!key) fail('the scheduler demands CurveZMQ, but no BATON_CURVE_SERVER_KEY=\'...\' is shown');
    else if (!Z85_KEY.test(key)) fail(`BATON_CURVE_SERVER_KEY '${key}' is not 40 Z85 characters`);
    else if (testEnv('BATON_CURVE_SERVER_KEY') && testEnv('BATON_CURVE_SERVER_KEY').value !== key) fail(`BATON_CURVE_SERVER_KEY '${key}' is not the one the helm test pod uses`);
    if (!/BATON_CURVE_CLIENT_KEY_FILE=\S/.test(text)) fail('the scheduler demands CurveZMQ, but no BATON_CURVE_CLIENT_KEY_FILE is shown');
  } else if (demands === 'an API key') {
    if (!/export BATON_API_KEY=\S/.test(text)) fail('the scheduler demands an API key, but NOTES.txt does not set BATON_API_KEY');
    const ref = testEnv('BATON_API_KEY')?.valueFrom?.secretKeyRef;
    const shown = /get secret (\S+) -o jsonpath='\{\.data\.((?:[^}\\]|\\.)+)\}'/.exec(text);
    if (ref && shown && (shown[1] !== ref.name || shown[2].replace(/\\\./g, '.') !== ref.key)) {
      fail(`reads the API key from Secret ${shown[1]} key ${shown[2]}, the helm test pod from ${ref.name} key ${ref.key}`);
    }
  } else if (/BATON_(API_KEY|CURVE_SERVER_KEY|CURVE_CLIENT_KEY_FILE)=/.test(text)) {
    fail('shows client credentials, but the scheduler demands none');
  }
  if (demands !== 'nothing') {
    for (const line of text.split('\n').filter((l) => /\brun batonctl\b/.test(l))) {
      const block = text.slice(text.indexOf(line)).split('\n\n')[0];
      if (!/BATON_(API_KEY|CURVE_SERVER_KEY)/.test(block)) fail(`"${line.trim()}" runs batonctl without the credentials the scheduler demands (${demands})`);
    }
  }
  if (values.helmTest.enabled && !text.includes(`helm test ${release} `)) fail('does not mention helm test');
  const example = read('examples/function_chaining.cc');
  if (!/function_chaining/.test(text) || !example.includes('"function_chaining"')) fail('the sample orchestration function_chaining is not an example');
  const output = /# -> (.*)$/m.exec(text)?.[1];
  if (output && !example.includes(output)) fail(`the promised output "${output}" is not what examples/function_chaining.cc returns`);
  return findings;
}

function stepNotes(mutate = (t) => t) {
  const facts = repoFacts();
  const findings = [];
  for (const f of valuesFiles()) {
    const release = basename(f) === 'all-features.yaml' ? 'acme' : 'baton';
    const text = mutate(renderNotes(f, release));
    const found = checkNotes(text, facts, render(f, { release }), chartValues(f), release, relative(ROOT, f));
    findings.push(...found);
    if (!found.length) console.log(`ok: ${relative(ROOT, f)}: NOTES.txt commands work`);
  }
  return findings;
}

// --------------------------------------------------------------- selftest
// Each case breaks one thing and names a fragment of the finding expected.

const find = (objects, kind, namePart) => objects.find((o) => o.kind === kind && o.metadata.name.endsWith(namePart));
const container = (objects, kind, namePart) => podTemplate(find(objects, kind, namePart)).spec.containers[0];
const setEnv = (c, name, value) => {
  const e = c.env.find((x) => x.name === name);
  if (e) e.value = value;
  else c.env.push({ name, value });
};

const CROSS_CASES = {
  service_target_port: [(o) => { find(o, 'Service', '-broker').spec.ports[0].targetPort = 7999; }, 'targetPort 7999 matches no containerPort'],
  dial_wrong_port: [(o) => { setEnv(container(o, 'Deployment', '-worker'), 'BATON_BROKER_ADDRESS', 'tcp://acme-baton-broker:7299'); }, 'BATON_BROKER_ADDRESS dials port 7299'],
  dial_unknown_host: [(o) => { setEnv(container(o, 'Deployment', '-scheduler'), 'BATON_BROKER_ADDRESS', 'tcp://broker:7234'); }, 'names broker, which is no Service'],
  unknown_env: [(o) => { setEnv(container(o, 'Deployment', '-scheduler'), 'BATON_FOO', '1'); }, 'env BATON_FOO is not read by scheduler'],
  env_of_another_part: [(o) => { setEnv(container(o, 'Deployment', '-scheduler'), 'BATON_TASK_QUEUES', 'default'); }, 'env BATON_TASK_QUEUES is not read by scheduler'],
  flag_overrides_env: [(o) => { container(o, 'Deployment', '-scheduler').args.push('--listen', 'tcp://0.0.0.0:9000'); }, 'flag --listen overrides BATON_LISTEN_ADDRESS'],
  unknown_flag: [(o) => { container(o, 'Deployment', '-broker').args.push('--max-queues', '5'); }, 'flag --max-queues is not an option'],
  probe_path: [(o) => { container(o, 'Deployment', '-scheduler').readinessProbe.httpGet.path = '/ready'; }, 'readinessProbe path /ready'],
  metrics_port: [(o) => { setEnv(container(o, 'Deployment', '-broker'), 'BATON_METRICS_ADDRESS', '0.0.0.0:9999'); }, 'metrics on port 9999'],
  migrate_command: [(o) => { container(o, 'Job', '-migrate').command = ['/usr/local/bin/baton-scheduler', 'migrations']; }, '"migrations" is not a subcommand'],
  migrate_not_hook: [(o) => { find(o, 'Job', '-migrate').metadata.annotations['helm.sh/hook'] = 'post-install'; }, 'not a pre-install,pre-upgrade hook'],
  drain_exceeds_grace: [(o) => { podTemplate(find(o, 'Deployment', '-worker')).spec.terminationGracePeriodSeconds = 60; }, 'does not exceed BATON_DRAIN_TIMEOUT_S'],
  writable_root: [(o) => { container(o, 'Deployment', '-broker').securityContext.readOnlyRootFilesystem = false; }, 'root filesystem is not read-only'],
  root_user: [(o) => { podTemplate(find(o, 'Deployment', '-worker')).spec.securityContext = { runAsUser: 0 }; }, 'runAsNonRoot is not set'],
  network_policy_blocks_workers: [(o) => { find(o, 'NetworkPolicy', '-broker').spec.ingress[0].from.pop(); }, 'is not admitted to Deployment/acme-baton-broker'],
  keda_wrong_queue: [(o) => {
    const t = find(o, 'ScaledObject', '-worker').spec.triggers[0];
    t.metadata.query = t.metadata.query.replace('default|payments', 'default');
  }, 'query does not count task queue payments'],
  servicemonitor_job: [(o) => { find(o, 'ServiceMonitor', '-scheduler').spec.endpoints[0].relabelings[0].replacement = 'scheduler'; }, 'expect job baton-scheduler'],
  alerts_edited: [(o) => { find(o, 'PrometheusRule', '').spec.groups[0].rules[0].for = '1h'; }, 'differ from monitoring/prometheus/alerts.yml'],
  dashboard_edited: [(o) => { const cm = find(o, 'ConfigMap', '-dashboard'); cm.data['baton.json'] = cm.data['baton.json'].replace('"Baton overview"', '"Edited"'); }, 'differs from monitoring/grafana/baton.json'],
  file_env_not_mounted: [(o) => {
    const c = container(o, 'Deployment', '-worker');
    c.volumeMounts = c.volumeMounts.filter((m) => m.mountPath !== '/etc/baton/curve');
  }, 'BATON_CURVE_CLIENT_KEY_FILE=/etc/baton/curve/keypair.toml is under no volume mount'],
  file_env_not_in_volume: [(o) => { setEnv(container(o, 'Deployment', '-broker'), 'BATON_CLIENTS_FILE', '/etc/baton/clients/broker-clients.toml'); }, 'has no file broker-clients.toml'],
  secret_not_from_values: [(o) => {
    podTemplate(find(o, 'Deployment', '-scheduler')).spec.volumes.find((v) => v.name === 'baton-curve-key').secret.secretName = 'acme-baton-scheduler-curve';
  }, 'uses Secret acme-baton-scheduler-curve, which the chart neither renders nor takes from the values'],
  worker_without_curve: [(o) => {
    const c = container(o, 'Deployment', '-worker');
    c.env = c.env.filter((e) => !e.name.startsWith('BATON_CURVE_'));
  }, 'dials the broker (BATON_BROKER_ADDRESS) with no credentials, but Deployment/acme-baton-broker demands CurveZMQ'],
  broker_key_mismatch: [(o) => { setEnv(container(o, 'Deployment', '-scheduler'), 'BATON_BROKER_CURVE_SERVER_KEY', 'unpBGm7!vlOI<o(AMn=S<HB+1aSr}jwOrY).vyGg'); }, 'trust different server keys'],
  test_without_api_key: [(o) => {
    const c = find(o, 'Pod', '-test-sample').spec.containers[0];
    c.env = c.env.filter((e) => e.name !== 'BATON_API_KEY');
  }, 'dials the scheduler (BATON_ADDRESS) with no credentials, but Deployment/acme-baton-scheduler demands an API key'],
};

function runSelftest(name) {
  if (CROSS_CASES[name]) {
    const [mutate, expect] = CROSS_CASES[name];
    const f = join(VALUES_DIR, 'all-features.yaml');
    const objects = render(f, { release: 'acme' });
    const facts = repoFacts();
    const values = chartValues(f);
    const before = crossCheck(objects, facts, values, 'all-features').filter((x) => x.includes(expect));
    if (before.length) return [`selftest ${name}: "${expect}" is reported before breaking anything: ${before[0]}`];
    mutate(objects);
    const after = crossCheck(objects, facts, values, 'all-features');
    return expectFinding(name, after, expect);
  }
  const facts = () => repoFacts();
  switch (name) {
    case 'notes_unknown_command':
      return expectFinding(name, stepNotes((t) => t.replace('batonctl wait', 'batonctl await')), '"batonctl await" is no batonctl subcommand');
    case 'notes_wrong_port':
      return expectFinding(name, stepNotes((t) => t.replace(/(port-forward svc\/\S+ \d+):\d+/, '$1:7000')), 'not to the scheduler\'s Service');
    case 'notes_without_credentials':
      return expectFinding(name, stepNotes((t) => t.replace(/^.*export BATON_API_KEY=.*$/m, '')), 'does not set BATON_API_KEY');
    case 'version_mismatch': {
      const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8').replace(/^appVersion:.*$/m, 'appVersion: "9.9.9"');
      return expectFinding(name, checkVersion(read('CMakeLists.txt'), chart), 'appVersion 9.9.9 is not the project version');
    }
    case 'docker_root_user': {
      const text = read('docker/Dockerfile').replace(/(FROM \S+ AS broker[\s\S]*?)USER 65532:65532/, '$1USER root');
      return expectFinding(name, checkDocker(text, cmakeExecutables(), chartValues(null), facts()), 'target broker must end as a numeric non-root USER');
    }
    case 'docker_unknown_binary': {
      const text = read('docker/Dockerfile').replaceAll('/out/batonctl ', '/out/baton-ctl ');
      return expectFinding(name, checkDocker(text, cmakeExecutables(), chartValues(null), facts()), 'copies baton-ctl, which is no CMake executable');
    }
    case 'docker_wrong_entrypoint': {
      const text = read('docker/Dockerfile').replace('COPY --from=build /out/examples_worker /usr/local/bin/examples_worker', 'COPY --from=build /out/examples_worker /usr/bin/examples_worker')
        .replace('ENTRYPOINT ["/usr/local/bin/examples_worker"]', 'ENTRYPOINT ["/usr/bin/examples_worker"]');
      return expectFinding(name, checkDocker(text, cmakeExecutables(), chartValues(null), facts()), 'runs /usr/bin/examples_worker but the chart runs /usr/local/bin/examples_worker');
    }
    case 'alerts_copied': {
      const tmp = mkdtempSync(join(tmpdir(), 'baton-chart-'));
      try {
        cpSync(CHART, join(tmp, 'baton'), { recursive: true, dereference: false, verbatimSymlinks: true });
        rmSync(join(tmp, 'baton/files/alerts.yml'));
        copyFileSync(join(ROOT, MONITORING_LINKS['files/alerts.yml']), join(tmp, 'baton/files/alerts.yml'));
        return expectFinding(name, checkMonitoringLinks(join(tmp, 'baton')), 'files/alerts.yml: is a copy, not a symbolic link');
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    default:
      return [`selftest: no case ${name} (see: selftest list)`];
  }
}

function expectFinding(name, findings, expect) {
  const hit = findings.find((x) => x.includes(expect));
  if (!hit) return [`selftest ${name}: the break went unnoticed; expected a finding with "${expect}", got:\n  ${findings.join('\n  ') || '(none)'}`];
  console.log(`ok: selftest ${name} caught: ${hit}`);
  return [];
}

export const SELFTESTS = [...Object.keys(CROSS_CASES), 'notes_unknown_command', 'notes_wrong_port', 'notes_without_credentials', 'version_mismatch', 'docker_root_user', 'docker_unknown_binary', 'docker_wrong_entrypoint', 'alerts_copied'];

// ------------------------------------------------------------------- main

function main() {
  const [step, arg] = process.argv.slice(2);
  const steps = {
    lint: stepLint, invalid: stepInvalid, validate: stepValidate, cross: stepCross, notes: () => stepNotes(), monitoring: stepMonitoring,
    version: stepVersion, docker: stepDocker, packages: () => stepPackages(arg),
    // The selftest names ctest registers (arguments) must be exactly SELFTESTS.
    'selftests-registered': () => {
      const registered = process.argv.slice(3);
      const missing = SELFTESTS.filter((n) => !registered.includes(n));
      const extra = registered.filter((n) => !SELFTESTS.includes(n));
      if (!missing.length && !extra.length) console.log(`ok: all ${SELFTESTS.length} selftests registered`);
      return [...missing.map((n) => `selftest ${n} is not registered in tests/deploy/deploy.cmake`), ...extra.map((n) => `deploy.cmake registers unknown selftest ${n}`)];
    },
    selftest: () => {
      if (arg === 'list') {
        console.log(SELFTESTS.join('\n'));
        return [];
      }
      return runSelftest(arg);
    },
  };
  if (!steps[step]) {
    console.error(`usage: node tests/deploy/check.mjs {${Object.keys(steps).join('|')}} [NAME]`);
    process.exit(2);
  }
  const findings = steps[step]();
  for (const f of findings) console.error(`FAIL ${f}`);
  process.exit(findings.length ? 1 : 0);
}

main();
