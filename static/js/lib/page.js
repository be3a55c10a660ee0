// What every page needs: a status line, downloads and image export.
export const $ = (id) => document.getElementById(id);

export function status(msg, error = false) {
  $("status").textContent = msg;
  $("status").classList.toggle("error", error);
}

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function downloadJson(name, value) {
  download(name, new Blob([JSON.stringify(value, null, 1)], { type: "application/json" }));
}

export function exportImages(ids, format, prefix) {
  for (const id of ids) Plotly.downloadImage($(id), { format, filename: `${prefix}-${id}`, width: 1400 });
}
