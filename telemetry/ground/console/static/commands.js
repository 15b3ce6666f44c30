/* regolith ground console: the commands page's panels besides the buttons
   (views: telemetry/ground/console/commands_view.py).
   - set_param: the rover's own parameter table (unit, range, current value, whether the
     active strategy reads it); out-of-range values are refused here, naming the range,
     before anything is sent (the rover checks again).
   - "Rig now": the key values of the latest state, greyed with the page when stale.
   - "Who else is commanding this rig": commands of other stations and users, last minutes. */
"use strict";

const RCC = (() => {
  const { me, el, fmtTime, fmtNum, changed } = RC;
  let params = [];        // the latest table from the rig snapshot
  let chosen = null;      // the operator's pick (kept across table updates)

  const byName = (name) => params.find((p) => p.name === name) || null;
  // bounds and values as the rover gave them ("0.01", "12"), not padded to a fixed width
  const plain = (v) => (v === null || v === undefined ? "—" : String(Number(v.toPrecision(6))));
  const unitOf = (p) => (p.unit ? ` ${p.unit}` : "");
  const rangeText = (p) => `${plain(p.lo)} to ${plain(p.hi)}${unitOf(p)}` +
    (p.integer ? " (whole numbers)" : "");

  function describe(p, strategy) {
    if (!p) return "";
    const now = p.value === null || p.value === undefined ? "not reported yet"
      : `${plain(p.value)}${unitOf(p)}`;
    return `${p.doc ? p.doc + " · " : ""}range ${rangeText(p)} · now ${now}` +
      (p.used ? "" : ` · not used by the active strategy (${strategy || "?"})`);
  }

  function renderParams(snap) {
    const select = document.getElementById("param-name");
    const info = document.getElementById("param-info");
    if (!select || !info) return;   // observers: no form
    params = snap.params || [];
    const submit = document.querySelector("#param-form button[type=submit]");
    if (!params.length) {
      select.replaceChildren();
      if (submit) submit.disabled = true;
      info.textContent = "This rig has not published its parameter table (an older rover): " +
        "set_param is not offered here.";
      return;
    }
    if (submit) submit.disabled = false;
    const shape = params.map((p) => [p.name, p.unit, p.lo, p.hi, p.used, p.integer]);
    if (changed(select, shape)) {
      select.replaceChildren(...params.map((p) => el("option", {
        value: p.name, "data-unit": p.unit, "data-lo": p.lo, "data-hi": p.hi,
        text: `${p.name}${p.unit ? " (" + p.unit + ")" : ""}${p.used ? "" : " · unused"}`,
      })));
      // default: the first parameter the active strategy uses, never one it ignores
      const first = params.find((p) => p.used) || params[0];
      select.value = chosen && byName(chosen) ? chosen : first.name;
      select.onchange = () => { chosen = select.value; showInfo(snap.strategy); };
    }
    showInfo(snap.strategy);
  }

  function showInfo(strategy) {
    const select = document.getElementById("param-name");
    const info = document.getElementById("param-info");
    const input = document.getElementById("param-value");
    const p = byName(select.value);
    info.textContent = describe(p, strategy);
    info.dataset.param = p ? p.name : "";
    if (p) {
      input.min = String(p.lo); input.max = String(p.hi); input.step = p.integer ? "1" : "any";
      input.placeholder = p.value === null || p.value === undefined ? "" : String(p.value);
    }
  }

  // The value as the rover will accept it, or the reason it refuses it (said here first).
  function checkParam(name, text) {
    const p = byName(name);
    if (!p) return { error: `${name}: not in the rig's parameter table` };
    const value = Number(text);
    if (text === "" || !Number.isFinite(value)) {
      return { error: `${name}: expected a number within ${rangeText(p)}, got "${text}"` };
    }
    if (value < p.lo || value > p.hi) {
      return { error: `${name}: ${text}${unitOf(p)} is outside its range ${rangeText(p)}; not sent` };
    }
    if (p.integer && !Number.isInteger(value)) {
      return { error: `${name}: expected a whole number within ${rangeText(p)}, got ${text}` };
    }
    return { value };
  }

  function bindParamForm(send) {
    const form = document.getElementById("param-form");
    if (!form) return;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = document.getElementById("param-name").value;
      const checked = checkParam(name, document.getElementById("param-value").value.trim());
      if (checked.error) {
        const result = document.getElementById("cmd-result");
        result.className = "cmdresult error";
        result.dataset.command = "set_param";
        result.dataset.status = "refused";
        result.textContent = checked.error;
        return;
      }
      send("set_param", { name, value: checked.value });
    });
  }

  function renderLive(snap) {
    const table = document.getElementById("live-table");
    if (!table) return;
    if (!snap.known) {
      table.replaceChildren(el("tr", {}, el("td", { text: "no data from this rig yet" })));
      return;
    }
    const keys = snap.key_values || [];
    const rows = keys.map((k) => snap.state.find((s) => s.key === k)).filter(Boolean);
    // the fast channels the state does not carry (arm position...), latest filtered value
    for (const name of snap.key_channels || []) {
      const c = (snap.channels || {})[name];
      if (c) rows.push({ key: name, label: name.replace(/_/g, " "), value: c.value,
                         unit: c.unit, level: c.level });
    }
    const data = [rows, snap.interlocks];
    if (!changed(table, data)) return;
    table.replaceChildren(...rows.map((s) => el("tr", { "data-key": s.key },
      el("td", { text: s.label }),
      el("td", { class: `value level-${s.level}`,
                 text: s.value === "" ? "—" : `${fmtNum(s.value)}${s.unit ? " " + s.unit : ""}` }))),
      el("tr", { "data-key": "interlocks" }, el("td", { text: "interlocks" }),
        el("td", { class: `value ${snap.interlocks.length ? "level-red" : "level-ok"}`,
                   text: snap.interlocks.length ? snap.interlocks.join(", ") : "none" })));
  }

  // Commands of other stations (another key: rig-ground send, another console) and of
  // other users of this console; this user's own are in the history below.
  function renderOthers(snap) {
    const tbody = document.querySelector("#others-table tbody");
    const windowNote = document.getElementById("others-window");
    if (!tbody || !snap.known) return;
    const minutes = Math.round((snap.recent_window_s || 600) / 60);
    windowNote.textContent = `(last ${minutes} min)`;
    const others = (snap.recent_commands || []).filter((c) => c.sent_by !== me.user);
    if (!changed(tbody, others)) return;
    if (!others.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted",
        text: `Nobody else sent a command to ${snap.rig} in the last ${minutes} min.` })));
      return;
    }
    tbody.replaceChildren(...others.map((c) => el("tr", { "data-command-id": c.command_id,
                                                          "data-key-id": c.key_id },
      el("td", { class: "mono", text: fmtTime(c.sent_at) }),
      el("td", { class: "mono", text: c.key_id || "—" }),
      el("td", { text: c.sent_by || "(another station)" }),
      el("td", { class: "mono", text: c.command }),
      el("td", { class: "mono", text: Object.keys(c.args).length ? JSON.stringify(c.args) : "" }),
      el("td", {}, el("span", { class: `badge ${c.status}`, text: c.status }),
        c.reason ? el("span", { class: "muted", text: ` ${c.reason}` }) : null))));
  }

  return { renderParams, bindParamForm, checkParam, renderLive, renderOthers };
})();
