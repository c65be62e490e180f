// Page state <-> URL query string: every view is a shareable link.
// The state is plain data; nothing here touches the DOM or the network.

export const DEFAULTS = Object.freeze({
  dataset: "line",
  data: {}, // dataset options that differ from the catalog defaults
  model: "linear",
  loss: "", // "" = the model's natural loss
  optimizer: "sgd",
  opt: {}, // optimizer hyper-parameters that differ from the defaults
  lr: 0.1,
  batch: "", // "" = full batch
  epochs: 100,
  seed: 0,
  start: [], // [] = the model's default start
  target: "",
  tolerance: "",
  patience: "",
  speed: "30", // epochs per second, or "max"
  log: false, // log scale on the loss curve
  runs: [], // settings of the runs shown side by side
});

const NUMBER_KEYS = ["lr", "epochs", "seed"];
const JSON_KEYS = ["data", "opt", "start", "runs"];

export function readState(search) {
  const params = new URLSearchParams(search);
  const state = structuredClone(DEFAULTS);
  for (const [key, value] of params) {
    if (!(key in DEFAULTS)) continue;
    if (JSON_KEYS.includes(key)) {
      try {
        const parsed = JSON.parse(value);
        if (typeof parsed === typeof DEFAULTS[key] && parsed !== null) state[key] = parsed;
      } catch {
        // a hand-edited link: keep the default
      }
    } else if (NUMBER_KEYS.includes(key)) {
      const n = Number(value);
      if (Number.isFinite(n)) state[key] = n;
    } else if (key === "log") {
      state.log = value === "1";
    } else {
      state[key] = value;
    }
  }
  return state;
}

export function toSearch(state) {
  const params = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS)) {
    const value = state[key];
    const plain = JSON_KEYS.includes(key) ? JSON.stringify(value) : String(value);
    const dflt = JSON_KEYS.includes(key) ? JSON.stringify(DEFAULTS[key]) : String(DEFAULTS[key]);
    if (key === "log") {
      if (value) params.set("log", "1");
    } else if (plain !== dflt || key === "dataset" || key === "model") {
      params.set(key, plain);
    }
  }
  return "?" + params.toString();
}

export function writeState(state) {
  const search = toSearch(state);
  if (search !== window.location.search) {
    window.history.replaceState(null, "", window.location.pathname + search);
  }
  return window.location.href;
}

// The part of the state that fixes the loss surface (changing it clears the runs).
export function surfaceKey(state) {
  return JSON.stringify([state.dataset, state.data, state.model, state.loss]);
}

// The settings of one run (what differs between compared runs).
export function runSettings(state) {
  return {
    optimizer: state.optimizer, opt: state.opt, lr: state.lr, batch: state.batch,
    epochs: state.epochs, seed: state.seed, start: state.start,
    target: state.target, tolerance: state.tolerance, patience: state.patience,
  };
}

// A run config (the JSON shape the server takes) from the shared state and a run's settings.
export function runConfig(state, settings = runSettings(state)) {
  const stop = {};
  if (settings.target !== "") stop.target_loss = Number(settings.target);
  if (settings.tolerance !== "") stop.tolerance = Number(settings.tolerance);
  if (settings.patience !== "") stop.patience = Number(settings.patience);
  const config = {
    dataset: state.dataset,
    dataset_options: state.data,
    model: state.model,
    optimizer: settings.optimizer,
    optimizer_options: settings.opt,
    learning_rate: Number(settings.lr),
    epochs: Number(settings.epochs),
    seed: Number(settings.seed),
    stop,
  };
  if (state.loss) config.loss = state.loss;
  if (settings.batch !== "" && settings.batch !== "full") {
    config.batch_size = Number(settings.batch);
    config.record_batches = true;
  }
  if (settings.start.length) config.start = settings.start.map(Number);
  if (settings.lrChanges && settings.lrChanges.length) {
    config.learning_rate_changes = settings.lrChanges;
  }
  return config;
}

export function describeRun(settings) {
  const changes = (settings.lrChanges || []).map(([e, lr]) => ` → ${lr} at epoch ${e}`);
  const parts = [settings.optimizer, `lr ${settings.lr}${changes.join("")}`];
  for (const [k, v] of Object.entries(settings.opt || {})) parts.push(`${k} ${v}`);
  parts.push(settings.batch === "" ? "full batch" : `batch ${settings.batch}`);
  return parts.join(", ");
}
