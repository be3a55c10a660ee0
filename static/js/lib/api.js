// The server, as the pages see it: one call that analyses (text or ink), one loader for the
// model list. An error's message comes back as an Error; an aborted call as an AbortError.

async function post(path, body, signal) {
  const r = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  const answer = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(answer.detail || `HTTP ${r.status}`);
  return answer;
}

// kind: "text" ({text, model}) or "ink" ({strokes, model})
export function analyse(kind, body, { signal } = {}) {
  if (kind !== "text" && kind !== "ink") throw new Error(`nothing analyses ${kind}`);
  return post(`/api/${kind}`, body, signal);
}

export const postText = (text, model, options) => analyse("text", { text, model }, options);

let modelList = null;       // GET /api/models once per page

// {default, models}: the checkpoints of one task ("text" or "ink"), with their metrics
export async function loadModels(task) {
  if (!modelList) {
    modelList = fetch("/api/models").then((r) => {
      if (!r.ok) throw new Error(`the model list could not be loaded (HTTP ${r.status})`);
      return r.json();
    });
  }
  const info = await modelList;
  const models = info.models.filter((m) => m.task === task);
  const fallback = models.length ? models[0].name : "";
  return { default: models.some((m) => m.name === info.default) ? info.default : fallback, models };
}

export async function inkExample(text, seed) {
  const r = await fetch(`/api/ink/example?text=${encodeURIComponent(text)}&seed=${seed}`);
  if (!r.ok) throw new Error(`no example (HTTP ${r.status})`);
  return r.json();
}
