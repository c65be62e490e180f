// The models' forward passes, for drawing the current fit beside the data.
// (The same formulas as app/core/models.py; the catalog names them.)

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

export const PREDICT = {
  linear: ([w, b], [x]) => w * x + b,
  logistic: ([w, b], [x]) => sigmoid(w * x + b),
  "tanh-net": ([u, v], [x]) => v * Math.tanh(u * x),
  neuron2: ([w1, w2], [x1, x2]) => sigmoid(w1 * x1 + w2 * x2),
  neuron: ([w1, w2, b], [x1, x2]) => sigmoid(w1 * x1 + w2 * x2 + b),
};

export function predict(model, params, features) {
  const f = PREDICT[model];
  return f ? f(params, features) : null;
}

export function linspace(lo, hi, n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + ((hi - lo) * i) / (n - 1);
  return out;
}
