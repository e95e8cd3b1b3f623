// The console's live parts: the ladder refreshes itself; "try it" shows the chain and
// streams the answer. Everything else works without this file.
"use strict";

function refreshLadder(box) {
  fetch(box.dataset.refresh, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
    .then((html) => { box.innerHTML = html; })
    .catch(() => {});
}

function trailList(trail) {
  const list = document.createElement("ol");
  list.className = "trail";
  for (const a of trail || []) {
    const item = document.createElement("li");
    item.className = "outcome-" + a.outcome;
    item.textContent = `${a.provider} (tier ${a.tier}, ${a.model}, key ${a.key}): ${a.outcome}` +
      (a.status ? ` ${a.status}` : "") + ` in ${a.ms} ms`;
    list.appendChild(item);
  }
  return list;
}

function showChain(form) {
  const model = form.querySelector("#model").value;
  const sendAs = form.querySelector("#as").value;
  const chain = form.querySelector("#chain");
  fetch(form.dataset.route + "?model=" + encodeURIComponent(model) + "&as=" + encodeURIComponent(sendAs),
    { credentials: "same-origin" })
    .then((r) => r.json())
    .then((steps) => {
      chain.textContent = "";
      for (const s of Array.isArray(steps) ? steps : []) {
        const item = document.createElement("li");
        item.textContent = `tier ${s.tier} ${s.provider} (${s.model}): ` +
          (s.skip ? `skipped, ${s.skip}` : `${s.keyless ? "no key" : s.usable + "/" + s.keys + " keys usable"}, circuit ${s.circuit}`);
        chain.appendChild(item);
      }
    });
}

async function send(form, event) {
  event.preventDefault();
  const answer = document.getElementById("answer");
  const trail = document.getElementById("trail");
  const served = document.getElementById("served");
  answer.textContent = ""; trail.textContent = ""; served.textContent = "";
  const response = await fetch(form.action, {
    method: "POST", body: new FormData(form), credentials: "same-origin",
    headers: { Accept: "text/event-stream", "X-CSRF-Token": form.csrf.value },
  });
  if (!response.ok || !response.body) {
    const failed = await response.json().catch(() => ({ error: "HTTP " + response.status }));
    answer.textContent = failed.error || ("HTTP " + response.status);
    trail.appendChild(trailList(failed.trail));
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
      if (name === "served") served.textContent = `from ${data.provider} (tier ${data.tier})`;
      if (name === "delta") answer.textContent += data.text;
      if (name === "trail" || name === "failed") trail.appendChild(trailList(data.trail));
      if (name === "failed") answer.textContent += "\n[" + data.message + "]";
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const ladder = document.getElementById("ladder");
  if (ladder) setInterval(() => refreshLadder(ladder), 3000);
  const form = document.getElementById("try");
  if (form) {
    document.getElementById("show-chain").addEventListener("click", () => showChain(form));
    form.addEventListener("submit", (event) => send(form, event));
  }
});
