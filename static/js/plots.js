// The only module that calls Plotly. It takes plain arrays and knows no maths.
//
// Incoming epochs are appended to the traces' arrays at once but drawn at most once per
// animation frame: in software WebGL every redraw of the 3-D scene costs ~150 ms, so a redraw
// per websocket message cannot keep up.

const Plotly = window.Plotly;

// Okabe–Ito: distinguishable by colour-blind readers.
export const RUN_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
  "#000000", "#F0E442"];

const CONFIG = { responsive: true, displaylogo: false, scrollZoom: false };
const FONT = { family: "system-ui, sans-serif", size: 12 };
const MARGIN = { l: 50, r: 10, t: 10, b: 40 };

const figs = {}; // name -> { el, data, layout }
const runTraces = new Map(); // run id -> traces by name
let dirty = new Set();
let frame = null;
let revision = 0;
let names = ["w", "b"];
let lift = 0; // the 3-D path is drawn a hair above the surface so that it is not hidden by it
let onDrawn = null;

function baseLayout(extra) {
  return { font: FONT, margin: MARGIN, uirevision: "keep", showlegend: false,
    paper_bgcolor: "rgba(0,0,0,0)", ...extra };
}

export function initPlots(elements, { onContourClick, drawn }) {
  onDrawn = drawn;
  for (const [name, el] of Object.entries(elements)) {
    figs[name] = { el, data: [], layout: baseLayout({}) };
  }
  figs.loss.layout = baseLayout({
    xaxis: { title: { text: "epoch" }, zeroline: false },
    yaxis: { title: { text: "loss" }, type: "linear" },
    showlegend: true, legend: { orientation: "h", y: 1.12, x: 0 },
  });
  for (const fig of Object.values(figs)) {
    Plotly.newPlot(fig.el, fig.data, fig.layout, CONFIG);
  }
  figs.contour.el.on("plotly_click", (ev) => {
    const p = ev && ev.points && ev.points[0];
    if (p && Number.isFinite(p.x) && Number.isFinite(p.y)) onContourClick(p.x, p.y);
  });
}

function schedule(...which) {
  for (const w of which) dirty.add(w);
  if (frame === null) frame = window.requestAnimationFrame(flush);
}

function flush() {
  frame = null;
  const todo = dirty;
  dirty = new Set();
  revision += 1;
  const pending = [];
  for (const name of todo) {
    const fig = figs[name];
    fig.layout.datarevision = revision;
    pending.push(Plotly.react(fig.el, fig.data, fig.layout, CONFIG));
  }
  Promise.all(pending).then(() => onDrawn && onDrawn());
}

// Wait until everything queued has been drawn.
export function settled() {
  return new Promise((resolve) => {
    const check = () => (frame === null && dirty.size === 0 ? resolve() : setTimeout(check, 20));
    check();
  });
}

function logLoss(z, min, max) {
  const floor = Math.max((max - min) * 1e-4, 1e-12);
  return z.map((row) => row.map((v) => Math.log10(v - min + floor)));
}

// A new surface: the 3-D plot and the contour map, with the runs' traces on top.
export function showSurface(surface, runs) {
  names = surface.param_names;
  const [xs, ys] = surface.axes;
  let min = Infinity;
  let max = -Infinity;
  for (const row of surface.loss) for (const v of row) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  lift = (max - min) * 0.01;
  const axis = (title) => ({ title: { text: title }, showspikes: false });
  figs.surface.data = [{
    type: "surface", x: xs, y: ys, z: surface.loss, colorscale: "Viridis", opacity: 0.85,
    showscale: false, name: "loss", hovertemplate:
      `${names[0]} = %{x:.4g}<br>${names[1]} = %{y:.4g}<br>loss = %{z:.5g}<extra></extra>`,
    contours: { z: { show: true, usecolormap: true, project: { z: true } } },
  }];
  figs.surface.layout = baseLayout({
    margin: { l: 0, r: 0, t: 0, b: 0 },
    scene: { xaxis: axis(names[0]), yaxis: axis(names[1]), zaxis: axis("loss"),
      camera: { eye: { x: -1.3, y: -1.3, z: 0.95 } }, uirevision: "keep",
      aspectmode: "manual", aspectratio: { x: 1, y: 1, z: 0.7 } },
    uirevision: surface.bounds.flat().join(","),
  });
  figs.contour.data = [{
    type: "contour", x: xs, y: ys, z: logLoss(surface.loss, min, max), colorscale: "Viridis",
    ncontours: 30, name: "loss", line: { width: 0.5 },
    colorbar: { title: { text: "log₁₀ loss", side: "right" }, thickness: 10 },
    hovertemplate: `${names[0]} = %{x:.4g}<br>${names[1]} = %{y:.4g}<extra>click: start here</extra>`,
  }, {
    type: "scatter", mode: "markers", x: [], y: [], name: "start", hoverinfo: "skip",
    marker: { symbol: "x-thin-open", size: 14, color: "#ffffff", line: { width: 3, color: "#ffffff" } },
  }];
  figs.contour.layout = baseLayout({
    xaxis: { title: { text: names[0] }, range: surface.bounds[0] },
    yaxis: { title: { text: names[1] }, range: surface.bounds[1] },
    uirevision: surface.bounds.flat().join(","),
  });
  runTraces.clear();
  figs.loss.data = [];
  for (const run of runs) addRun(run);
  schedule("surface", "contour", "loss");
}

export function showStart(params) {
  const marker = figs.contour.data[1];
  if (!marker) return;
  marker.x = params.length ? [params[0]] : [];
  marker.y = params.length ? [params[1]] : [];
  schedule("contour");
}

// Traces for one run: its path on the surface and the map, its mini-batch steps, its losses.
export function addRun(run) {
  const c = run.color;
  const hover = `epoch %{customdata}<br>${names[0]} = %{x:.5g}<br>${names[1]} = %{y:.5g}`;
  const t = {
    path3d: { type: "scatter3d", mode: "lines+markers", x: [], y: [], z: [], customdata: [],
      name: run.label, line: { color: c, width: 5 }, marker: { color: c, size: 3 },
      hovertemplate: `epoch %{customdata[0]}<br>${names[0]} = %{x:.5g}<br>${names[1]} = ` +
        `%{y:.5g}<br>loss = %{customdata[1]:.5g}<extra>${run.name}</extra>` },
    cur3d: { type: "scatter3d", mode: "markers", x: [], y: [], z: [], name: "current",
      marker: { color: c, size: 7, line: { color: "#ffffff", width: 2 } }, hoverinfo: "skip" },
    steps2d: { type: "scatter", mode: "lines", x: [], y: [], name: "mini-batch steps",
      line: { color: c, width: 1 }, opacity: 0.35, hoverinfo: "skip" },
    path2d: { type: "scatter", mode: "lines+markers", x: [], y: [], customdata: [],
      name: run.label, line: { color: c, width: 2 }, marker: { color: c, size: 4 },
      hovertemplate: `${hover}<extra>${run.name}</extra>` },
    marks2d: { type: "scatter", mode: "markers+text", x: [], y: [], text: [],
      textposition: "top center", textfont: { color: "#ffffff", size: 11 }, name: "lr change",
      marker: { symbol: "diamond", size: 10, color: c, line: { color: "#ffffff", width: 1 } },
      hoverinfo: "text" },
    cur2d: { type: "scatter", mode: "markers", x: [], y: [], name: "current", hoverinfo: "skip",
      marker: { color: c, size: 11, line: { color: "#ffffff", width: 2 } } },
    lossTrain: { type: "scatter", mode: "lines", x: [], y: [], name: `${run.name} training`,
      line: { color: c, width: 2 } },
    lossVal: { type: "scatter", mode: "lines", x: [], y: [], name: `${run.name} validation`,
      line: { color: c, width: 2, dash: "dot" } },
  };
  runTraces.set(run.id, t);
  figs.surface.data.push(t.path3d, t.cur3d);
  figs.contour.data.push(t.steps2d, t.path2d, t.marks2d, t.cur2d);
  figs.loss.data.push(t.lossTrain, t.lossVal);
  setRunVisible(run, run.visible !== false);
  if (run.records.length) appendRecords(run, run.records);
  schedule("surface", "contour", "loss");
}

export function removeRun(run) {
  const t = runTraces.get(run.id);
  if (!t) return;
  const gone = new Set(Object.values(t));
  for (const fig of Object.values(figs)) fig.data = fig.data.filter((trace) => !gone.has(trace));
  runTraces.delete(run.id);
  schedule("surface", "contour", "loss");
}

export function setRunVisible(run, visible) {
  const t = runTraces.get(run.id);
  if (!t) return;
  for (const trace of Object.values(t)) trace.visible = visible;
  schedule("surface", "contour", "loss");
}

export function appendRecords(run, records) {
  const t = runTraces.get(run.id);
  if (!t || !records.length) return;
  for (const r of records) {
    const [a, b] = run.project(r.params);
    t.path3d.x.push(a);
    t.path3d.y.push(b);
    t.path3d.z.push(r.loss + lift);
    t.path3d.customdata.push([r.epoch, r.loss]);
    t.path2d.x.push(a);
    t.path2d.y.push(b);
    t.path2d.customdata.push(r.epoch);
    if (r.batch_params) {
      for (const p of r.batch_params) {
        const [pa, pb] = run.project(p);
        t.steps2d.x.push(pa);
        t.steps2d.y.push(pb);
      }
    }
    t.lossTrain.x.push(r.epoch);
    t.lossTrain.y.push(r.loss);
    if (r.val_loss !== null && r.val_loss !== undefined) {
      t.lossVal.x.push(r.epoch);
      t.lossVal.y.push(r.val_loss);
    }
  }
  if (t.steps2d.x.length === 0 && records[0].epoch === 0) {
    const [a, b] = run.project(records[0].params);
    t.steps2d.x.push(a);
    t.steps2d.y.push(b);
  }
  const last = records[records.length - 1];
  const [a, b] = run.project(last.params);
  t.cur3d.x = [a];
  t.cur3d.y = [b];
  t.cur3d.z = [last.loss + lift];
  t.cur2d.x = [a];
  t.cur2d.y = [b];
  schedule("surface", "contour", "loss");
}

export function markLearningRate(run, record, lr) {
  const t = runTraces.get(run.id);
  if (!t) return;
  const [a, b] = run.project(record.params);
  t.marks2d.x.push(a);
  t.marks2d.y.push(b);
  t.marks2d.text.push(`lr → ${lr}`);
  schedule("contour");
}

export function pathLength(run) {
  const t = runTraces.get(run.id);
  return t ? t.path3d.x.length : 0;
}

export function setLogScale(on) {
  figs.loss.layout.yaxis.type = on ? "log" : "linear";
  schedule("loss");
}

// The data and the model: plain traces computed by the caller.
// view: { xTitle, yTitle, heatmap?: {x, y, z, title}, curve?: {x, y, name},
//         points: [{x, y, name, color, symbol, text}] , note?: string }
export function showData(view) {
  const data = [];
  if (view.heatmap) {
    data.push({ type: "heatmap", x: view.heatmap.x, y: view.heatmap.y, z: view.heatmap.z,
      zmin: 0, zmax: 1, colorscale: "Viridis", opacity: 0.75, hoverinfo: "skip",
      colorbar: { title: { text: view.heatmap.title, side: "right" }, thickness: 10 } });
  }
  for (const p of view.points) {
    data.push({ type: p.x.length > 5000 ? "scattergl" : "scatter", mode: "markers", x: p.x,
      y: p.y, name: p.name, text: p.text, hovertemplate: p.text ? "%{text}<extra></extra>" : undefined,
      marker: { color: p.color, size: p.size || 7, symbol: p.symbol || "circle",
        line: { color: "#ffffff", width: 0.5 } } });
  }
  if (view.curve) {
    data.push({ type: "scatter", mode: "lines", x: view.curve.x, y: view.curve.y,
      name: view.curve.name, line: { color: "#d62728", width: 3 }, hoverinfo: "skip" });
  }
  figs.data.data = data;
  figs.data.layout = baseLayout({
    xaxis: { title: { text: view.xTitle }, zeroline: false, range: view.xRange },
    yaxis: { title: { text: view.yTitle }, zeroline: false, range: view.yRange },
    showlegend: true, legend: { orientation: "h", y: 1.12, x: 0 },
    annotations: view.note ? [{ text: view.note, showarrow: false, xref: "paper",
      yref: "paper", x: 0.5, y: 0.5, font: { size: 14 } }] : [],
  });
  schedule("data");
}

export function savePng() {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  return Promise.all(Object.entries(figs).map(([name, fig]) =>
    Plotly.downloadImage(fig.el, { format: "png", filename: `descent-lab-${name}-${stamp}`,
      width: fig.el.clientWidth || 700, height: fig.el.clientHeight || 450 })));
}

export function resize() {
  for (const fig of Object.values(figs)) Plotly.Plots.resize(fig.el);
}
