/* regolith ground console: the alarm and event log page (/log).
   The filters are the query of GET /api/log; the table is fetched again on every live
   fleet message (once a second) and whenever a filter changes. Times are UTC with date:
   the "from"/"to" inputs are read as UTC. */
"use strict";

(() => {
  const { me, el, fmtTime, on, subscribe } = RC;
  if (me.page !== "log") return;

  const form = document.getElementById("log-filters");
  const rigSelect = document.getElementById("log-rig");
  const tbody = document.querySelector("#log-table tbody");
  const summary = document.getElementById("log-summary");
  const empty = document.getElementById("log-empty");
  let inFlight = false;
  let again = false;

  // the filters survive a reload: they live in the page's address (?rig=...&state=...)
  const start = new URLSearchParams(location.search);
  for (const [k, v] of start) {
    const field = form.elements[k];
    if (!field) continue;
    if (field.type === "checkbox") field.checked = v === "1";
    else {
      if (field.tagName === "SELECT" && ![...field.options].some((o) => o.value === v)) {
        field.append(el("option", { value: v, text: v }));
      }
      field.value = v;
    }
  }

  function query() {
    const q = new URLSearchParams();
    for (const field of form.elements) {
      if (!field.name) continue;
      if (field.type === "checkbox") { if (field.checked) q.set(field.name, "1"); }
      else if (field.value) q.set(field.name, field.value);
    }
    return q;
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    const q = query();
    try {
      const res = await fetch(`/api/log?${q}`, { credentials: "same-origin" });
      const body = await res.json();
      if (!res.ok) { summary.textContent = `Filter not applied: ${body.error}`; return; }
      render(body);
    } catch (err) {
      summary.textContent = `Log not loaded: ${err}`;
    } finally {
      inFlight = false;
      if (again) { again = false; refresh(); }
    }
  }

  function rigOptions(rigs) {
    const have = new Set([...rigSelect.options].map((o) => o.value));
    for (const r of rigs) if (!have.has(r)) rigSelect.append(el("option", { value: r, text: r }));
  }

  function stateCell(e) {
    if (e.type !== "alarm") return el("span", { class: "muted", text: e.historical ? "backlog" : "—" });
    return el("span", { class: `state ${e.state}`, text: e.state });
  }

  function ackCell(e) {
    if (e.type !== "alarm") return "";
    return e.acked_by ? `${e.acked_by} at ${fmtTime(e.acked_at)}`
                      : el("span", { class: "unacked", text: "not acknowledged" });
  }

  function trustCell(e) {
    if (e.verified === true) return el("span", { class: "badge signed", text: "verified" });
    if (e.verified === false) return el("span", { class: "badge unverified", text: "UNVERIFIED" });
    return el("span", { class: "muted", text: "not checked" });
  }

  function row(e) {
    const when = e.type === "alarm" && e.cleared_at
      ? [fmtTime(e.at), el("div", { class: "muted", text: `cleared ${fmtTime(e.cleared_at)}` })]
      : fmtTime(e.at);
    return el("tr", { class: `logrow sev-${e.severity} type-${e.type}`, "data-type": e.type,
                      "data-kind": e.kind, "data-state": e.state || "" },
      el("td", { class: "mono" }, when), el("td", { text: e.rig }), el("td", { text: e.type }),
      el("td", {}, el("span", { class: `logdot d-${e.severity}` }), e.severity),
      el("td", { class: "mono", text: e.kind }),
      el("td", { text: e.text + (e.count > 1 ? ` (×${e.count})` : "") }),
      el("td", {}, stateCell(e)), el("td", {}, ackCell(e)), el("td", {}, trustCell(e)));
  }

  function render(body) {
    rigOptions(body.rigs);
    const dropped = body.dropped
      ? ` · ${body.dropped} older entries dropped (the log keeps ${body.capacity})` : "";
    summary.textContent = `${body.entries.length} shown of ${body.matched} matching · ` +
      `${body.kept} in the log${dropped}`;
    empty.style.display = body.entries.length ? "none" : "";
    if (!RC.changed(tbody, body.entries)) return;
    tbody.replaceChildren(...body.entries.map(row));
  }

  let timer = null;
  function changedFilters() {
    history.replaceState(null, "", `/log?${query()}`);
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  }
  form.addEventListener("input", changedFilters);
  form.addEventListener("change", changedFilters);
  form.addEventListener("reset", () => setTimeout(changedFilters, 0));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });

  subscribe({ source: "live" });
  on("fleet", (msg) => { if (msg.source === "live") refresh(); });
  refresh();
})();
