// The one call the pages make: POST /api/text, an error's message as an Error.

export async function postText(text, model) {
  const r = await fetch("/api/text", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text, model }),
  });
  const body = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.detail || `HTTP ${r.status}`);
  return body;
}
