// REST calls. With stream.js, the only modules that talk to the server; no DOM here.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, "network", "the server cannot be reached", null);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const err = body && body.error;
    throw new ApiError(response.status, err ? err.code : "http_error",
      err ? err.message : `the server answered ${response.status}`, err ? err.field : null);
  }
  return body;
}

function postJson(path, payload) {
  return request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
}

export const getCatalog = () => request("/api/catalog");
export const getSurface = (req) => postJson("/api/surface", req);
export const getData = (req) => postJson("/api/data", req);
export const createRun = (config) => postJson("/api/runs", config);

export function uploadCsv(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return request("/api/datasets", { method: "POST", body: form });
}
