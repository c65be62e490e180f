// Wires the page: controls -> state (URL) -> network -> plots.
import * as api from "./api.js";
import { linspace, predict } from "./models.js";
import * as plots from "./plots.js";
import { describeRun, readState, runConfig, runSettings, surfaceKey, writeState } from "./state.js";
import { TrainingStream } from "./stream.js";

// DOM ids, in one place.
const ID = {
  form: "settings", dataset: "dataset", datasetDescription: "dataset-description",
  datasetOptions: "dataset-options", csvFile: "csv-file", csvError: "csv-error",
  model: "model", modelFormula: "model-formula", loss: "loss", optimizer: "optimizer",
  optimizerOptions: "optimizer-options", lrRange: "lr-range", lrNumber: "lr-number",
  batchRange: "batch-range", batchNumber: "batch-number", epochs: "epochs", seed: "seed",
  target: "target", tolerance: "tolerance", patience: "patience", startInputs: "start-inputs",
  startDefault: "start-default", speed: "speed", start: "btn-start", pause: "btn-pause",
  step: "btn-step", stop: "btn-stop", reset: "btn-reset", add: "btn-add", share: "btn-share",
  png: "btn-png", status: "status", statusText: "status-text", progress: "progress-bar",
  message: "message", messageText: "message-text", reconnect: "btn-reconnect",
  dismiss: "btn-dismiss", logScale: "log-scale", runList: "run-list", runsEmpty: "runs-empty",
  plotSurface: "plot-surface", plotContour: "plot-contour", plotLoss: "plot-loss",
  plotData: "plot-data",
};
const $ = (key) => document.getElementById(ID[key]);
const MAX_RUNS = 8;

let catalog = null;
let state = readState(window.location.search);
let surface = null;
let loadedSurfaceKey = null;
let points = null; // the dataset's points
const uploads = new Map(); // uploaded dataset name -> {n, features, target, task, label}
const runs = [];
let active = null; // the run streaming now
let phase = "idle"; // idle | starting | running | paused | done
let nextRunId = 1;
let uiFrame = null;
let surfaceRequest = 0;
let surfacePending = false;

// --- small helpers ----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

const fmt = (v, digits = 4) => (v === null || v === undefined ? "–" :
  Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(digits)).toString());

function showMessage(text, { reconnect = false } = {}) {
  $("messageText").textContent = text;
  $("reconnect").hidden = !reconnect;
  $("message").hidden = false;
}

function hideMessage() {
  $("message").hidden = true;
}

function datasetInfo(name = state.dataset) {
  const d = catalog.datasets.find((x) => x.name === name);
  if (d) return d;
  const u = uploads.get(name);
  if (!u) return null;
  return { name, task: u.task, features: u.features, description: u.label, n: u.n,
    options: catalog.datasets.length ? csvOptions() : [], models: modelsFor(u), uploaded: true };
}

function csvOptions() {
  return [
    { name: "validation_split", type: "float", default: 0, minimum: 0, maximum: 0.9,
      description: "fraction held back for validation" },
    { name: "seed", type: "int", default: 0, minimum: 0, description: "seed of the split" },
  ];
}

function modelsFor(u) {
  return catalog.models.filter((m) => m.n_features === u.features.length &&
    (m.output === "probability" ? u.task === "classification" : m.tasks.includes(u.task)))
    .map((m) => m.name);
}

const modelInfo = (name = state.model) => catalog.models.find((m) => m.name === name);
const optimizerInfo = (name = state.optimizer) => catalog.optimizers.find((o) => o.name === name);

function defaultStart() {
  const d = datasetInfo();
  if (d && d.default_start) return d.default_start;
  const m = modelInfo();
  return m ? m.default_start : [];
}

// --- controls ---------------------------------------------------------------------------------

function fillSelect(select, items, value) {
  select.replaceChildren(...items.map(([v, label]) => el("option", { value: v, text: label })));
  if (items.some(([v]) => v === value)) select.value = value;
  return select.value;
}

function optionInput(prefix, opt, value) {
  const id = `${prefix}-${opt.name}`;
  const wrap = el("div", { class: "option" });
  const label = el("label", { for: id, text: opt.name.replace(/_/g, " "), title: opt.description });
  if (opt.type === "bool") {
    const box = el("input", { type: "checkbox", id, "data-option": opt.name });
    box.checked = Boolean(value);
    wrap.append(el("label", { class: "inline", for: id, title: opt.description }, box,
      ` ${opt.name.replace(/_/g, " ")}`));
    return wrap;
  }
  const attrs = { type: "number", step: opt.type === "int" ? "1" : "any",
    min: opt.minimum ?? opt.exclusive_minimum, max: opt.maximum ?? opt.exclusive_maximum };
  if (opt.type === "pair") {
    const pair = el("div", { class: "pair" });
    value.forEach((v, i) => {
      const input = el("input", { ...attrs, id: i === 0 ? id : `${id}-${i}`,
        "data-option": opt.name, "data-index": i, "aria-label": `${opt.name} ${i + 1}` });
      input.value = v;
      pair.append(input);
    });
    wrap.append(label, pair);
    return wrap;
  }
  const input = el("input", { ...attrs, id, "data-option": opt.name });
  input.value = value;
  wrap.append(label, input);
  return wrap;
}

function buildOptions(container, prefix, options, values) {
  container.replaceChildren(...options.map((o) =>
    optionInput(prefix, o, o.name in values ? values[o.name] : o.default)));
}

function readOptions(container, options) {
  const out = {};
  for (const o of options) {
    const inputs = container.querySelectorAll(`[data-option="${o.name}"]`);
    if (!inputs.length) continue;
    let value;
    if (o.type === "bool") value = inputs[0].checked;
    else if (o.type === "pair") value = [...inputs].map((i) => Number(i.value));
    else value = inputs[0].value === "" ? o.default : Number(inputs[0].value);
    if (JSON.stringify(value) !== JSON.stringify(o.default)) out[o.name] = value;
  }
  return out;
}

function buildDatasetSelect() {
  const items = catalog.datasets.map((d) => [d.name, d.name]);
  for (const [name, u] of uploads) items.push([name, `uploaded: ${u.label}`]);
  fillSelect($("dataset"), items, state.dataset);
}

function buildModelControls() {
  const d = datasetInfo();
  const fits = d ? d.models : [];
  const models = catalog.models.filter((m) => fits.includes(m.name));
  if (!fits.includes(state.model) && models.length) state.model = models[0].name;
  fillSelect($("model"), models.map((m) => [m.name, `${m.name} — ${m.title}`]), state.model);
  const m = modelInfo();
  $("modelFormula").textContent = m ? m.formula : "";
  const losses = m ? m.losses : [];
  if (state.loss && !losses.includes(state.loss)) state.loss = "";
  fillSelect($("loss"), losses.map((l, i) => [i === 0 ? "" : l, i === 0 ? `${l} (default)` : l]),
    state.loss);
  $("datasetDescription").textContent = d ? d.description : "";
  buildOptions($("datasetOptions"), "data", d ? d.options : [], state.data);
  buildStartInputs();
}

function buildStartInputs() {
  const m = modelInfo();
  const names = m ? m.param_names : [];
  const dflt = defaultStart();
  $("startInputs").replaceChildren(...names.map((name, i) => {
    const id = `start-${i}`;
    const input = el("input", { type: "number", step: "any", id, "data-index": i,
      placeholder: dflt[i] ?? "" });
    if (state.start.length === names.length) input.value = state.start[i];
    return el("div", { class: "option" }, el("label", { for: id, text: name }), input);
  }));
}

function buildOptimizerControls() {
  const o = optimizerInfo();
  buildOptions($("optimizerOptions"), "opt", o ? o.options : [], state.opt);
}

function writeControls() {
  buildDatasetSelect();
  buildModelControls();
  fillSelect($("optimizer"), catalog.optimizers.map((o) => [o.name, o.title]), state.optimizer);
  buildOptimizerControls();
  $("lrNumber").value = state.lr;
  $("lrRange").value = Math.log10(state.lr);
  $("batchNumber").value = state.batch;
  $("epochs").value = state.epochs;
  $("epochs").max = catalog.limits.max_epochs;
  $("seed").value = state.seed;
  $("target").value = state.target;
  $("tolerance").value = state.tolerance;
  $("patience").value = state.patience;
  const speeds = [...$("speed").options].map((o) => o.value);
  $("speed").value = speeds.includes(state.speed) ? state.speed : "30";
  $("logScale").checked = state.log;
  plots.setLogScale(state.log);
}

function readControls() {
  state.dataset = $("dataset").value;
  const d = datasetInfo();
  state.data = readOptions($("datasetOptions"), d ? d.options : []);
  state.model = $("model").value;
  state.loss = $("loss").value;
  state.optimizer = $("optimizer").value;
  const o = optimizerInfo();
  state.opt = readOptions($("optimizerOptions"), o ? o.options : []);
  const lr = Number($("lrNumber").value);
  // Any number goes to the server, which names what is wrong with it (e.g. "must be > 0").
  if ($("lrNumber").value.trim() !== "" && Number.isFinite(lr)) state.lr = lr;
  const batch = $("batchNumber").value.trim();
  state.batch = batch === "" ? "" : Number(batch);
  const epochs = Number($("epochs").value);
  if ($("epochs").value.trim() !== "" && Number.isFinite(epochs)) state.epochs = epochs;
  state.seed = Number($("seed").value) || 0;
  state.target = $("target").value.trim();
  state.tolerance = $("tolerance").value.trim();
  state.patience = $("patience").value.trim();
  const starts = [...$("startInputs").querySelectorAll("input")].map((i) => i.value.trim());
  state.start = starts.every((s) => s !== "") && starts.length ? starts.map(Number) : [];
  state.speed = $("speed").value;
  state.log = $("logScale").checked;
}

function syncBatchRange() {
  const n = points ? points.train.y.length : 100;
  $("batchRange").max = Math.max(n, 1);
  $("batchNumber").max = Math.max(n, 1);
  $("batchRange").value = state.batch === "" ? n : state.batch;
  $("batchRange").disabled = n === 0;
  $("batchNumber").disabled = n === 0;
}

function onSettingsChanged(event) {
  const target = event ? event.target : null;
  if (target === $("dataset")) {
    state.dataset = $("dataset").value;
    state.data = {};
    state.start = [];
    buildModelControls();
  } else if (target === $("model")) {
    state.model = $("model").value;
    state.start = [];
    state.loss = "";
    buildModelControls();
  } else if (target === $("optimizer")) {
    state.optimizer = $("optimizer").value;
    state.opt = {};
    buildOptimizerControls();
  } else if (target === $("lrRange")) {
    $("lrNumber").value = Number((10 ** Number($("lrRange").value)).toPrecision(3));
  } else if (target === $("batchRange")) {
    const n = points ? points.train.y.length : 0;
    $("batchNumber").value = Number($("batchRange").value) >= n ? "" : $("batchRange").value;
  }
  readControls();
  if (target === $("lrNumber") && state.lr > 0) $("lrRange").value = Math.log10(state.lr);
  if (target === $("lrNumber") || target === $("lrRange")) maybeSetLearningRate();
  if (target === $("speed") && active && (phase === "running" || phase === "paused")) {
    stream.send({ type: "speed", epochs_per_second: speedValue() });
  }
  if (target === $("logScale")) plots.setLogScale(state.log);
  const key = surfaceKey(state);
  if (key !== loadedSurfaceKey) {
    clearRuns();
    loadSurface();
  } else if (target && target.closest(`#${ID.startInputs}`)) {
    plots.showStart(state.start);
    maybeReloadForStart();
  }
  writeState({ ...state, runs: runs.map((r) => r.settings) });
}

function speedValue() {
  return state.speed === "max" ? "max" : Number(state.speed);
}

function maybeSetLearningRate() {
  if (!active || (phase !== "running" && phase !== "paused")) return;
  const changes = active.settings.lrChanges || [];
  const current = changes.length ? changes[changes.length - 1][1] : active.settings.lr;
  if (state.lr !== current) stream.send({ type: "set", learning_rate: state.lr });
}

function maybeReloadForStart() {
  if (!surface || !state.start.length) return;
  const [[x0, x1], [y0, y1]] = surface.bounds;
  const [a, b] = projectFor(surface)(state.start);
  if (a < x0 || a > x1 || b < y0 || b > y1) loadSurface({ keepRuns: true });
}

// --- surface and data -----------------------------------------------------------------------

function projectFor(s) {
  if (!s || !s.plane) return (p) => [p[0], p[1]];
  const { origin, d1, d2 } = s.plane;
  const dot = (u, v) => u.reduce((acc, x, i) => acc + x * v[i], 0);
  const a11 = dot(d1, d1);
  const a12 = dot(d1, d2);
  const a22 = dot(d2, d2);
  const det = a11 * a22 - a12 * a12;
  return (p) => {
    const r = p.map((x, i) => x - origin[i]);
    const b1 = dot(r, d1);
    const b2 = dot(r, d2);
    return [(b1 * a22 - b2 * a12) / det, (a11 * b2 - a12 * b1) / det];
  };
}

// A path that left the surface's box (a far start, a slow valley): widen the box to hold it.
function maybeWidenForPath(run) {
  if (!surface || run.stopReason === "diverged" || !run.records.length) return;
  const [[x0, x1], [y0, y1]] = surface.bounds;
  const pts = run.records.map((r) => run.project(r.params));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const lo = [Math.min(x0, ...xs), Math.min(y0, ...ys)];
  const hi = [Math.max(x1, ...xs), Math.max(y1, ...ys)];
  // With more than two weights the surface is a slice along two of them: move it through the
  // run's last point (the other weights at their final values; the axes keep true values).
  const { plane: old } = surface;
  const plane = old ? { ...old, origin: run.records[run.records.length - 1].params
    .map((v, i) => (old.d1[i] !== 0 || old.d2[i] !== 0 ? 0 : v)) } : null;
  const inside = lo[0] === x0 && lo[1] === y0 && hi[0] === x1 && hi[1] === y1;
  if (inside && !plane) return;
  const pad = inside ? [0, 0] : [0.1 * (hi[0] - lo[0]), 0.1 * (hi[1] - lo[1])];
  const bounds = [[lo[0] - pad[0], hi[0] + pad[0]], [lo[1] - pad[1], hi[1] + pad[1]]];
  if (bounds.flat().some((v) => !Number.isFinite(v) || Math.abs(v) > 1e6)) return;
  loadSurface({ keepRuns: true, bounds, plane });
}

async function loadSurface({ keepRuns = false, bounds = null, plane = null } = {}) {
  const key = surfaceKey(state);
  const ticket = ++surfaceRequest;
  performance.mark("surface-requested");
  setStatus("Computing the loss surface…");
  const req = { dataset: state.dataset, dataset_options: state.data, model: state.model,
    resolution: 100 };
  if (state.loss) req.loss = state.loss;
  if (state.start.length) req.start = state.start;
  if (bounds) req.bounds = bounds;
  if (plane) req.plane = plane;
  else if (keepRuns && surface && surface.plane) req.plane = surface.plane;
  try {
    const [s, data] = await Promise.all([api.getSurface(req),
      api.getData({ dataset: state.dataset, dataset_options: state.data })]);
    if (ticket !== surfaceRequest) return;
    surface = s;
    points = data;
    loadedSurfaceKey = key;
    const project = projectFor(s);
    for (const run of runs) run.project = project;
    surfacePending = true;
    plots.showSurface(s, keepRuns ? runs : []);
    if (!keepRuns) clearRuns();
    plots.showStart(state.start);
    syncBatchRange();
    drawData(null);
    document.body.dataset.surface = "ready";
    setStatus(phase === "idle" ? "Ready. Press Start." : $("statusText").textContent);
  } catch (e) {
    if (ticket !== surfaceRequest) return;
    showMessage(`Could not compute the surface: ${e.field ? e.field + ": " : ""}${e.message}`);
    setStatus("No surface.");
  }
}

function drawData(params) {
  if (!points) return;
  const m = modelInfo();
  if (points.task === "function") {
    plots.showData({ xTitle: "", yTitle: "", points: [], note:
      "A test function: there is no data — the surface is f(x, y) itself." });
    return;
  }
  const limit = 2000;
  const sample = (X, y) => {
    const step = Math.max(1, Math.ceil(y.length / limit));
    const idx = [];
    for (let i = 0; i < y.length; i += step) idx.push(i);
    return { X: idx.map((i) => X[i]), y: idx.map((i) => y[i]) };
  };
  const tr = sample(points.train.X, points.train.y);
  const va = sample(points.validation.X, points.validation.y);
  const p = params && m ? (x) => predict(m.name, params, x) : null;
  const fnames = points.feature_names;
  const prob = m && m.output === "probability";
  const label = prob ? `P(${points.target_name})` : points.target_name;
  const text = (X) => (p ? X.map((x) => `${label} = ${fmt(p(x), 3)}`) : undefined);
  if (fnames.length === 1) {
    const xs = [...tr.X, ...va.X].map((r) => r[0]);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const pad = 0.05 * (hi - lo || 1);
    const view = { xTitle: fnames[0], yTitle: label, xRange: [lo - pad, hi + pad], points: [
      { x: tr.X.map((r) => r[0]), y: tr.y, name: "training", color: "#0072B2", text: text(tr.X) },
    ] };
    if (va.y.length) view.points.push({ x: va.X.map((r) => r[0]), y: va.y, name: "validation",
      color: "#E69F00", symbol: "diamond", text: text(va.X) });
    if (p) {
      const gx = linspace(lo - pad, hi + pad, 200);
      view.curve = { x: gx, y: gx.map((x) => p([x])), name: prob ? label : "model" };
    }
    if (prob) view.yRange = [-0.1, 1.1];
    plots.showData(view);
    return;
  }
  const all = [...tr.X, ...va.X];
  const range = (j) => {
    const v = all.map((r) => r[j]);
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const pad = 0.25 * (hi - lo || 1);
    return [lo - pad, hi + pad];
  };
  const rx = range(0);
  const ry = range(1);
  const view = { xTitle: fnames[0], yTitle: fnames[1], xRange: rx, yRange: ry, points: [] };
  const colours = { 0: "#440154", 1: "#fde725" };
  for (const cls of [0, 1]) {
    const idx = tr.y.map((y, i) => (y === cls ? i : -1)).filter((i) => i >= 0);
    view.points.push({ x: idx.map((i) => tr.X[i][0]), y: idx.map((i) => tr.X[i][1]),
      name: `${points.target_name} = ${cls}`, color: colours[cls], size: 12,
      symbol: cls ? "circle" : "square", text: p ? idx.map((i) => text([tr.X[i]])[0]) : undefined });
  }
  if (p) {
    const gx = linspace(rx[0], rx[1], 40);
    const gy = linspace(ry[0], ry[1], 40);
    view.heatmap = { x: gx, y: gy, z: gy.map((y) => gx.map((x) => p([x, y]))), title: label };
  }
  plots.showData(view);
}

// --- runs -------------------------------------------------------------------------------------

function newRun(settings) {
  const id = nextRunId++;
  return { id, name: `Run ${id}`, color: plots.RUN_COLORS[(id - 1) % plots.RUN_COLORS.length],
    settings, label: `Run ${id}: ${describeRun(settings)}`, records: [], stopReason: null,
    visible: true, config: null, paramNames: [], lrMarks: [], project: projectFor(surface) };
}

function clearRuns() {
  if (active && (phase === "running" || phase === "paused" || phase === "starting")) {
    stream.send({ type: "stop" });
  }
  active = null;
  for (const run of runs.splice(0)) plots.removeRun(run);
  if (phase !== "idle") phase = "idle";
  renderRuns();
  updateButtons();
}

function removeRun(run) {
  if (run === active) {
    if (phase === "running" || phase === "paused") stream.send({ type: "stop" });
    active = null;
    phase = "idle";
  }
  runs.splice(runs.indexOf(run), 1);
  plots.removeRun(run);
  renderRuns();
  updateButtons();
  writeState({ ...state, runs: runs.map((r) => r.settings) });
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function runCsv(run) {
  const names = run.paramNames;
  const header = ["epoch", ...names, "loss", "val_loss", ...names.map((n) => `grad_${n}`),
    "grad_norm", "learning_rate", "stop_reason"];
  const rows = run.records.map((r) => [r.epoch, ...r.params, r.loss, r.val_loss ?? "", ...r.grad,
    r.grad_norm, r.learning_rate, r.stop_reason ?? ""].join(","));
  return [header.join(","), ...rows].join("\n") + "\n";
}

function runJson(run) {
  return JSON.stringify({ config: run.config, param_names: run.paramNames, records: run.records,
    stop_reason: run.stopReason }, null, 1);
}

function runResult(run) {
  const last = run.records[run.records.length - 1];
  return last ? `epoch ${last.epoch} · loss ${fmt(last.loss)}` +
    (run.stopReason ? ` · ${run.stopReason.replace("_", " ")}` : "") : "starting…";
}

function renderRuns() {
  const list = $("runList");
  list.replaceChildren(...runs.map((run) => {
    const box = el("input", { type: "checkbox", id: `run-visible-${run.id}` });
    box.checked = run.visible;
    box.addEventListener("change", () => {
      run.visible = box.checked;
      plots.setRunVisible(run, run.visible);
    });
    const csv = el("button", { type: "button", class: "small", text: "CSV",
      "aria-label": `Download ${run.name} as CSV` });
    csv.addEventListener("click", () => download(`descent-lab-run-${run.id}.csv`, "text/csv", runCsv(run)));
    const json = el("button", { type: "button", class: "small", text: "JSON",
      "aria-label": `Download ${run.name} as JSON` });
    json.addEventListener("click", () => download(`descent-lab-run-${run.id}.json`,
      "application/json", runJson(run)));
    const remove = el("button", { type: "button", class: "small", text: "✕",
      "aria-label": `Remove ${run.name}` });
    remove.addEventListener("click", () => removeRun(run));
    const result = runResult(run);
    return el("li", { "data-run-id": run.id, class: "run" },
      el("span", { class: "swatch", style: `background:${run.color}` }),
      el("label", { for: box.id }, box, ` ${run.label}`),
      el("span", { class: "result", text: result }), csv, json, remove);
  }));
  $("runsEmpty").hidden = runs.length > 0;
}

function startRun({ keep, paused = false }) {
  hideMessage();
  readControls();
  if (!loadedSurfaceKey || surfaceKey(state) !== loadedSurfaceKey) {
    showMessage("The surface is still loading; try again in a moment.");
    return;
  }
  if (active && (phase === "running" || phase === "paused" || phase === "starting")) {
    stream.send({ type: "stop" });
    active.stopped = true;
  }
  if (!keep) {
    for (const run of runs.splice(0)) plots.removeRun(run);
  } else if (runs.length >= MAX_RUNS) {
    const oldest = runs.shift();
    plots.removeRun(oldest);
  }
  const settings = structuredClone(runSettings(state));
  const run = newRun(settings);
  active = run;
  phase = "starting";
  runs.push(run);
  renderRuns();
  updateButtons();
  stream.send({ type: "start", config: runConfig(state, settings),
    epochs_per_second: speedValue(), paused });
}

function onStarted(msg) {
  const run = active;
  if (!run) return;
  run.config = msg.config;
  run.paramNames = msg.param_names;
  run.epochs = msg.epochs;
  plots.addRun(run);
  phase = msg.paused ? "paused" : "running";
  updateButtons();
  writeState({ ...state, runs: runs.map((r) => r.settings) });
}

function onEpochs(msg) {
  const run = active;
  if (!run || !run.config) return;
  run.records.push(...msg.records);
  plots.appendRecords(run, msg.records);
  for (const mark of run.lrMarks) {
    if (!mark.drawn) {
      const rec = msg.records.find((r) => r.epoch === mark.from);
      if (rec) {
        plots.markLearningRate(run, rec, mark.lr);
        mark.drawn = true;
      }
    }
  }
  scheduleUi();
}

// A run that ended early by hand is shared as the epochs it ran, so its link replays it.
function truncateSettings(run) {
  const last = run.records[run.records.length - 1];
  if (last && last.epoch >= 1 && last.epoch < run.settings.epochs) {
    run.settings.epochs = last.epoch;
    if (run.settings.lrChanges) {
      run.settings.lrChanges = run.settings.lrChanges.filter(([e]) => e <= last.epoch);
    }
  }
}

function onDone(msg) {
  performance.mark("records-done");
  const run = active;
  if (!run) return;
  run.stopReason = msg.stop_reason;
  if (msg.stop_reason === "stopped") truncateSettings(run);
  phase = "done";
  active = null;
  renderRuns();
  updateButtons();
  scheduleUi(run);
  if (msg.stop_reason === "diverged") {
    showMessage(`${run.name} ${catalog.stop_reasons.diverged}.`);
  } else {
    maybeWidenForPath(run);
  }
  writeState({ ...state, runs: runs.map((r) => r.settings) });
}

function onServerMessage(msg) {
  switch (msg.type) {
    case "started": return onStarted(msg);
    case "epochs": return onEpochs(msg);
    case "paused": phase = "paused"; return updateButtons();
    case "resumed": phase = "running"; return updateButtons();
    case "done": return onDone(msg);
    case "set":
      if (active) {
        active.lrMarks.push({ from: msg.from_epoch, lr: msg.learning_rate });
        // kept with the run's settings, so that a shared link replays the change exactly
        const changes = (active.settings.lrChanges || []).filter(([e]) => e < msg.from_epoch);
        active.settings.lrChanges = [...changes, [msg.from_epoch, msg.learning_rate]];
        active.label = `${active.name}: ${describeRun(active.settings)}`;
        renderRuns();
        writeState({ ...state, runs: runs.map((r) => r.settings) });
      }
      return undefined;
    case "speed": return undefined;
    case "error": {
      const where = msg.field ? `${msg.field}: ` : "";
      showMessage(`${where}${msg.message}`);
      if (phase === "starting" && active && !active.config) {
        runs.splice(runs.indexOf(active), 1);
        active = null;
        phase = "idle";
        renderRuns();
        updateButtons();
      }
      return undefined;
    }
    default: return undefined;
  }
}

function onLost(reason) {
  if (active && !active.stopReason) {
    active.stopReason = "interrupted";
    truncateSettings(active);
    renderRuns();
  }
  active = null;
  phase = "idle";
  updateButtons();
  showMessage(`Lost the connection to the server (${reason}).`, { reconnect: true });
}

const stream = new TrainingStream({ message: onServerMessage, lost: onLost,
  open: () => document.body.dataset.connected = "yes" });

// --- status and buttons -----------------------------------------------------------------------

function setStatus(text) {
  $("statusText").textContent = text;
}

function scheduleUi(finished = null) {
  if (uiFrame !== null) return;
  uiFrame = window.requestAnimationFrame(() => {
    uiFrame = null;
    renderStatus(finished);
  });
}

function renderStatus(finishedRun) {
  const run = active || finishedRun || runs[runs.length - 1];
  const status = $("status");
  status.dataset.state = phase;
  if (!run || !run.records.length) return;
  const last = run.records[run.records.length - 1];
  const total = run.epochs || run.settings.epochs;
  $("progress").style.width = `${Math.min(100, (100 * last.epoch) / total)}%`;
  const weights = run.paramNames.map((n, i) => `${n} = ${fmt(last.params[i])}`).join(", ");
  let text = `${run.name} · epoch ${last.epoch} / ${total} · loss ${fmt(last.loss)}` +
    (last.val_loss !== null ? ` (validation ${fmt(last.val_loss)})` : "") +
    ` · ${weights} · ‖∇L‖ = ${fmt(last.grad_norm)}`;
  if (run.stopReason) {
    text += ` — ${catalog.stop_reasons[run.stopReason] || run.stopReason}`;
  } else if (phase === "paused") {
    text += " — paused";
  }
  setStatus(text);
  status.dataset.epoch = last.epoch;
  drawData(last.params);
  const row = $("runList").querySelector(`li[data-run-id="${run.id}"] .result`);
  if (row) row.textContent = runResult(run); // per frame: only the text that changed
}

function updateButtons() {
  const live = phase === "running" || phase === "paused";
  $("pause").disabled = !live;
  $("pause").textContent = phase === "paused" ? "Resume" : "Pause";
  $("stop").disabled = !live && phase !== "starting";
  $("status").dataset.state = phase;
}

// --- wiring -----------------------------------------------------------------------------------

function togglePause() {
  if (phase === "running") stream.send({ type: "pause" });
  else if (phase === "paused") stream.send({ type: "resume" });
}

function step() {
  if (phase === "paused" || phase === "running") stream.send({ type: "step", epochs: 1 });
  else startRun({ keep: false, paused: true });
}

async function uploadCsv(file) {
  $("csvError").textContent = "";
  try {
    const info = await api.uploadCsv(file);
    uploads.set(info.dataset, { ...info, label: `${file.name} (${info.n} rows)` });
    state.dataset = info.dataset;
    state.data = {};
    state.start = [];
    buildDatasetSelect();
    buildModelControls();
    readControls();
    onSettingsChanged(null);
  } catch (e) {
    $("csvError").textContent = e.message;
  } finally {
    $("csvFile").value = "";
  }
}

async function replayRuns(list) {
  for (const settings of list.slice(0, MAX_RUNS)) {
    const run = newRun(settings);
    runs.push(run);
    try {
      const result = await api.createRun(runConfig(state, settings));
      run.config = result.config;
      run.paramNames = result.param_names;
      run.records = result.records;
      run.stopReason = result.stop_reason;
      run.epochs = result.config.epochs;
      plots.addRun(run);
      for (const [from, lr] of settings.lrChanges || []) {
        const rec = run.records.find((r) => r.epoch === from);
        if (rec) plots.markLearningRate(run, rec, lr);
      }
    } catch (e) {
      runs.splice(runs.indexOf(run), 1);
      showMessage(`Could not replay a run from the link: ${e.field ? e.field + ": " : ""}${e.message}`);
    }
  }
  renderRuns();
  scheduleUi(runs[runs.length - 1]);
}

function wire() {
  const form = $("form");
  form.addEventListener("change", onSettingsChanged);
  form.addEventListener("submit", (e) => e.preventDefault());
  $("lrRange").addEventListener("input", onSettingsChanged);
  $("csvFile").addEventListener("change", () => {
    const file = $("csvFile").files[0];
    if (file) uploadCsv(file);
  });
  $("startDefault").addEventListener("click", () => {
    for (const input of $("startInputs").querySelectorAll("input")) input.value = "";
    onSettingsChanged({ target: $("startInputs").querySelector("input") || $("startInputs") });
  });
  $("start").addEventListener("click", () => startRun({ keep: false }));
  $("add").addEventListener("click", () => startRun({ keep: true }));
  $("pause").addEventListener("click", togglePause);
  $("step").addEventListener("click", step);
  $("stop").addEventListener("click", () => stream.send({ type: "stop" }));
  $("reset").addEventListener("click", () => {
    clearRuns();
    hideMessage();
    $("progress").style.width = "0";
    setStatus("Ready. Press Start.");
    writeState({ ...state, runs: [] });
  });
  $("share").addEventListener("click", async () => {
    const url = writeState({ ...state, runs: runs.map((r) => r.settings) });
    try {
      await navigator.clipboard.writeText(url);
      setStatus("Link copied: it reproduces this page, runs included.");
    } catch {
      showMessage(`Copy this link: ${url}`);
    }
  });
  $("png").addEventListener("click", () => plots.savePng());
  $("dismiss").addEventListener("click", hideMessage);
  $("reconnect").addEventListener("click", () => {
    hideMessage();
    stream.connect();
  });
  document.addEventListener("keydown", (e) => {
    const tag = e.target && e.target.tagName;
    if (["INPUT", "SELECT", "TEXTAREA"].includes(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " " && tag !== "BUTTON") { // a focused button takes space as its own click
      e.preventDefault();
      if (phase === "running" || phase === "paused") togglePause();
      else startRun({ keep: false });
    } else if (e.key === "ArrowRight") {
      e.preventDefault();
      step();
    }
  });
}

async function init() {
  plots.initPlots({ surface: $("plotSurface"), contour: $("plotContour"), loss: $("plotLoss"),
    data: $("plotData") }, {
    onContourClick: (x, y) => {
      const m = modelInfo();
      if (!m || !surface) return;
      let start = [x, y];
      if (surface.plane) {
        const { origin, d1, d2 } = surface.plane;
        start = origin.map((o, i) => o + x * d1[i] + y * d2[i]);
      }
      state.start = start.map((v) => Number(v.toPrecision(4)));
      buildStartInputs();
      plots.showStart(state.start);
      writeState({ ...state, runs: runs.map((r) => r.settings) });
    },
    drawn: () => {
      // performance marks let bench/bench_browser.py time what the user waits for
      performance.mark("drawn");
      if (surfacePending) {
        surfacePending = false;
        performance.mark("surface-drawn");
      }
    },
  });
  try {
    catalog = await api.getCatalog();
  } catch (e) {
    showMessage(`Could not load the catalog: ${e.message}`, { reconnect: false });
    return;
  }
  if (state.dataset.startsWith("csv-")) {
    uploads.set(state.dataset, { n: 0, features: [], target: "", task: "", label: state.dataset });
  }
  if (!datasetInfo()) state.dataset = "line";
  writeControls();
  wire();
  const initialRuns = state.runs;
  if (state.dataset.startsWith("csv-")) {
    try {
      const data = await api.getData({ dataset: state.dataset, dataset_options: state.data });
      uploads.set(state.dataset, { n: data.train.y.length, features: data.feature_names,
        target: data.target_name, task: data.task, label: `${state.dataset}` });
      writeControls();
    } catch (e) {
      showMessage(`The uploaded dataset in this link is gone: ${e.message}`);
      state.dataset = "line";
      writeControls();
    }
  }
  await loadSurface();
  if (initialRuns.length) await replayRuns(initialRuns);
  stream.connect();
  document.body.dataset.ready = "yes";
}

init();
