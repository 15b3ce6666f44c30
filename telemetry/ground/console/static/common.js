/* regolith ground console: shared pieces (socket, formatting, renderers, live plots).
   No framework: plain DOM, uPlot for the plots. Everything arrives over one WebSocket. */
"use strict";

const RC = (() => {
  const body = document.body.dataset;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  const me = {
    user: body.user, role: body.role, rig: body.rig, page: body.page,
    commands: new Set((body.commands || "").split(" ").filter(Boolean)),
    canAck: body.canAck === "1",
  };

  // ------------------------------------------------------------ DOM + formatting
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const pad = (n) => String(n).padStart(2, "0");
  // every timestamp in UTC with its date (a shift crosses midnight; firmware seconds restart)
  function fmtTime(t) {
    if (t === null || t === undefined) return "—";
    const d = new Date(t * 1000);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
           `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
  }
  // Time-axis labels: UTC HH:MM:SS (the first with its month and day) for Unix seconds,
  // seconds with as many decimals as the tick step needs otherwise
  function axisTimes(ticks) {
    const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
    if (ticks.length && ticks[0] > 1e9) {
      return ticks.map((t, i) => {
        const d = new Date(t * 1000);
        const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
                    (step < 1 ? `.${String(Math.round((t % 1) * 10) % 10)}` : "");
        return i === 0 ? `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${hms}Z` : hms;
      });
    }
    const digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
    return ticks.map((t) => `${t.toFixed(digits)} s`);
  }
  // Axis labels with as many decimals as the tick step needs, so that neighbouring
  // labels never read the same ("0.084 / 0.084" on a small range).
  function axisLabels(ticks) {
    const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 0;
    let digits = 0;
    while (digits < 12 && step > 0 &&
           Math.abs(step * 10 ** digits - Math.round(step * 10 ** digits)) > 1e-6 * 10 ** digits * step) {
      digits++;
    }
    return ticks.map((t) => (Math.abs(t) >= 1e6 ? t.toExponential(Math.min(digits + 3, 12))
                                                : t.toFixed(digits)));
  }
  function fmtAgo(s) {
    if (s === null || s === undefined) return "never";
    if (s < 1) return "just now";
    if (s < 90) return `${s.toFixed(0)} s ago`;
    if (s < 5400) return `${(s / 60).toFixed(0)} min ago`;
    return `${(s / 3600).toFixed(1)} h ago`;
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    if (a >= 1e6) return v.toExponential(3);
    if (a >= 1000) return v.toFixed(0);
    return v.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : a >= 0.1 || a === 0 ? 3 : 4);
  }

  async function post(url, data) {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(data || {}),
    });
    let json = {};
    try { json = await res.json(); } catch (e) { json = { error: res.statusText }; }
    return { ok: res.ok, status: res.status, body: json };
  }

  // ------------------------------------------------------------ the socket
  const handlers = {};
  let socket = null, subscription = null, retry = 0, hello = null;
  const stats = { messages: 0, rows: 0, dropped: 0, connected: false, linkUp: null };
  // A handler for "hello" registered after it arrived (a page that awaits a fetch
  // first) still gets it: the site plan, the limits and the key are sent only once.
  function on(type, fn) {
    (handlers[type] = handlers[type] || []).push(fn);
    if (type === "hello" && hello) fn(hello);
  }
  function subscribe(sub) {
    subscription = sub;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(sub));
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.onopen = () => {
      retry = 0; stats.connected = true;
      if (subscription) socket.send(JSON.stringify(subscription));
    };
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      stats.messages++;
      if (msg.type === "dropped") stats.dropped = msg.count;
      // the rows of the last 30 s, sent as one message when the page subscribes
      const items = msg.type === "history" ? msg.items : [msg];
      if (msg.type === "hello") hello = msg;
      for (const item of items) for (const fn of handlers[item.type] || []) fn(item);
    };
    socket.onclose = (ev) => {
      stats.connected = false;
      linkStatus(null);
      // 4403: no session; 4401: the session ended (logout elsewhere, password changed,
      // user removed): back to the login, never a silent reconnect
      if (ev.code === 4403 || ev.code === 4401) { location.href = "/login"; return; }
      setTimeout(connect, Math.min(5000, 250 * 2 ** retry++));
    };
  }

  function linkStatus(fleet) {
    const node = document.getElementById("link-status");
    if (!node) return;
    node.replaceChildren();
    if (!stats.connected) {
      node.append(el("span", { class: "dot bad" }), "console: reconnecting…");
      return;
    }
    if (!fleet) return;
    const up = fleet.link.up;
    stats.linkUp = up;
    node.append(el("span", { class: `dot ${up ? "ok" : "bad"}` }),
      up ? `broker connected · ${fleet.link.messages.toLocaleString()} msgs · ` +
           `${fleet.link.gaps} gaps` : "broker link DOWN");
    const count = document.getElementById("alarm-count");
    if (count) count.textContent = fleet.alarms_unacked ? String(fleet.alarms_unacked) : "";
  }
  on("fleet", (msg) => { if (msg.source === "live") linkStatus(msg); });

  // ------------------------------------------------------------ renderers
  function modeBadge(mode) { return el("span", { class: `badge mode mode-${mode}`, text: mode }); }
  // the rig's signature: verified (its key is configured), UNVERIFIED (no key: anyone on
  // the broker may be speaking for it), nothing when the console checks no signatures
  function trustBadge(r) {
    if (r.verified === false) return el("span", { class: "badge unverified", text: "UNVERIFIED",
      title: "no public key configured for this rig (--rig-key): its data is not signed" });
    if (r.verified && r.forged) return el("span", { class: "badge forged",
      text: `${r.forged} forged dropped` });
    return r.verified ? el("span", { class: "badge signed", text: "signed" }) : null;
  }
  function onlineBadge(r) {
    // without the broker the console cannot know: "unknown", never a confident "offline"
    if (stats.linkUp === false) return el("span", { class: "badge unknown", text: "unknown",
      title: "the console's broker link is down: this rig's state is unknown" });
    if (r.online && r.silent) return el("span", { class: "badge silent", text: "silent" });
    if (r.online) return el("span", { class: "badge online", text: "online" });
    // stopped on purpose (its own goodbye) or gone: the latter also raises rig:offline
    return r.shutdown
      ? el("span", { class: "badge offline", text: "shut down", title: "the rover shut down cleanly" })
      : el("span", { class: "badge offline", text: "offline",
                     title: "gone without a clean shutdown (its broker connection died)" });
  }

  // Stale data must look stale: when the rig's states stop arriving at their usual rate
  // (the server says so within a second, snapshots come at 5 Hz), every value and plot
  // greys out and a banner says since when.
  function showStale(snap) {
    const stale = !!(snap.known && snap.stale);
    document.body.classList.toggle("stale", stale);
    let banner = document.getElementById("stale-banner");
    if (!stale) { if (banner) banner.remove(); return; }
    if (!banner) {
      banner = el("div", { id: "stale-banner", class: "stalebanner" });
      document.getElementById("main").prepend(banner);
    }
    banner.textContent = `NO DATA from ${snap.rig} for ${Math.round(snap.state_age_s)} s ` +
      "(expected several a second): every value and plot below is STALE";
  }

  // E-STOP and interlocks are stated at the top of every rig page, not only in a table row
  function showSafety(snap) {
    const interlocks = (snap.known && snap.interlocks) || [];
    const estop = snap.known && snap.mode === "estop";
    let banner = document.getElementById("safety-banner");
    if (!estop && !interlocks.length) { if (banner) banner.remove(); return; }
    if (!banner) {
      banner = el("div", { id: "safety-banner", class: "safetybanner" });
      document.getElementById("main").prepend(banner);
    }
    banner.textContent = (estop ? "E-STOP ACTIVE on " + snap.rig + " (reset_estop to leave it)" : "") +
      (estop && interlocks.length ? " · " : "") +
      (interlocks.length ? `INTERLOCK${interlocks.length > 1 ? "S" : ""}: ${interlocks.map((n) =>
        (snap.interlock_reasons || {})[n] || n.replace(/_/g, " ")).join(" · ")}` : "");
  }

  // The rover's clock as its command gate estimates it (offset = ground - rover) and its
  // outbox's storage: the fleet table's columns, coloured by the clock_offset limit and
  // red while the disk refuses writes.
  function clockCell(r) {
    const off = r.clock_offset_s;
    if (off === null || off === undefined) {
      return el("span", { class: "muted", text: "—",
        title: "no estimate: the rover takes no signed commands, or its state predates it" });
    }
    const side = off > 0 ? "behind" : off < 0 ? "ahead" : "in step";
    const synced = r.clock_sync_age_s === null || r.clock_sync_age_s === undefined
      ? "never synced" : `synced ${fmtAgo(r.clock_sync_age_s)}`;
    return [el("span", { class: `level-${r.clock_level}`,
                         text: off === 0 ? "in step" : `${Math.abs(off).toFixed(1)} s ${side}` }),
            el("div", { class: "muted", text: synced })];
  }
  function fmtBytes(n) {
    for (const [u, s] of [["GB", 1e9], ["MB", 1e6], ["kB", 1e3]]) if (n >= s) return `${(n / s).toFixed(1)} ${u}`;
    return `${n} B`;
  }
  function storageCell(r) {
    const s = r.storage;
    if (!s) return el("span", { class: "muted", text: "—", title: "the rover reports no storage" });
    const used = `${fmtBytes(s.used_bytes)} of ${fmtBytes(s.budget_bytes)}`;
    if (s.full) {
      return [el("span", { class: "level-red", text: `FULL${s.errno ? " (" + s.errno + ")" : ""}` }),
              el("div", { class: "muted", text: `${s.dropped} dropped · ${fmtBytes(s.unwritten_bytes)} unwritten` })];
    }
    return [el("span", { class: "level-ok", text: "ok" }),
            el("div", { class: "muted", text: used + (s.dropped ? ` · ${s.dropped} dropped` : "") })];
  }

  function renderRigBadges(snap) {
    if (snap.source === "live") { showStale(snap); showSafety(snap); }
    const node = document.getElementById("rig-badges");
    if (!node || !snap.known) return;
    node.replaceChildren(onlineBadge(snap),
      snap.stale ? el("span", { class: "badge stale", text: "STALE" }) : modeBadge(snap.mode),
      trustBadge(snap) || "",
      el("span", { class: "muted", text: `boot ${snap.boot ?? "—"} · last seen ` +
                                          `${fmtAgo(snap.last_seen_ago)}` }));
  }

  function renderState(table, snap) {
    table.replaceChildren(...snap.state.map((s) => el("tr", { "data-key": s.key },
      el("td", { text: s.label }),
      el("td", { class: `value level-${s.level}`,
                 text: `${fmtNum(s.value)}${s.unit ? " " + s.unit : ""}` }))));
    if (snap.interlocks && snap.interlocks.length) {
      table.append(el("tr", {}, el("td", { text: "interlocks" }),
        el("td", { class: "value level-red", text: snap.interlocks.join(", ") })));
    }
  }

  function renderMission(node, mission, resumed) {
    if (!changed(node, [mission, resumed])) return;
    node.replaceChildren();
    if (!mission) return;
    node.append(el("div", { class: "sites" },
      el("div", { class: "muted", text: `mission ${mission.mission}: ` +
        `${fmtNum(mission.delivered_kg)} / ${fmtNum(mission.target_kg)} kg` }),
      ...(resumed ? [el("div", { class: "muted", id: "resumed", text: resumed })] : []),
      ...mission.sites.map((s) => el("div", { class: "site" },
        el("div", {}, `site ${s.name}: ${fmtNum(s.delivered_kg)} / ${fmtNum(s.target_kg)} kg, ` +
                     `${s.cycles} cycles ${s.abandoned ? "(" + s.abandoned + ")" : ""}`),
        el("div", { class: "bar" }, el("div", {
          style: `width:${Math.min(100, 100 * s.delivered_kg / Math.max(s.target_kg, 1e-9))}%`,
        }))))));
  }

  // Re-render a panel only when its data changed: a list rebuilt five times a second
  // would swallow clicks and flicker under the mouse.
  function changed(node, data) {
    const key = JSON.stringify(data);
    if (node.dataset.rendered === key) return false;
    node.dataset.rendered = key;
    return true;
  }

  // Alarm cards are keyed by alarm id and kept while their content is unchanged, so a
  // card (and its Acknowledge button) survives repaints caused by other alarms.
  const alarmCards = new WeakMap();
  function renderAlarms(node, alarms, opts) {
    const { showRig = false, canAck = me.canAck } = opts || {};
    if (!changed(node, [alarms, showRig, canAck])) return;
    const old = alarmCards.get(node) || new Map();
    const cards = new Map();
    for (const a of alarms) {
      const key = JSON.stringify([a, showRig, canAck]);
      const kept = old.get(a.id);
      cards.set(a.id, kept && kept.key === key ? kept : { key, card: alarmCard(a, showRig, canAck) });
    }
    alarmCards.set(node, cards);
    if (!alarms.length) { node.replaceChildren(el("div", { class: "none", text: "No alarms." })); return; }
    node.replaceChildren(...[...cards.values()].map((c) => c.card));
  }

  function alarmCard(a, showRig, canAck) {
    const ack = a.acked_by
      ? el("div", { class: "acked", text: `✓ acknowledged by ${a.acked_by} at ${fmtTime(a.acked_at)}` })
      : canAck ? el("button", { class: "btn ack", "data-alarm": a.id, onclick: async (ev) => {
          ev.target.disabled = true;
          const r = await post(`/api/alarms/${a.id}/ack`);
          if (!r.ok) { ev.target.disabled = false; ev.target.textContent = r.body.error; }
        } }, "Acknowledge") : null;
    return el("div", { class: `alarm sev-${a.severity} st-${a.state}`, "data-alarm-id": a.id,
                       "data-cause": a.cause },
      el("div", { class: "head" }, el("span", { class: "text", text: a.text }),
        el("span", { class: `state ${a.state}`, text: a.state })),
      el("div", { class: "meta", text: `${showRig ? a.rig + " · " : ""}${a.cause} · ` +
        `${a.severity} · raised ${fmtTime(a.raised_at)}` + (a.count > 1 ? ` · ×${a.count}` : "") +
        (a.cleared_at ? ` · cleared ${fmtTime(a.cleared_at)}` : "") }),
      ack);
  }

  function renderEvents(node, events) {
    if (!changed(node, events)) return;
    node.replaceChildren(...events.map((e) => el("div", { class: `event${e.historical ? " hist" : ""}` },
      el("span", { class: "mono muted", text: fmtTime(e.t) }),  // ground UTC (offset known)
      el("span", { class: `sevdot ${e.severity}` }),
      el("span", { class: "mono", text: e.kind }),
      el("span", { text: e.text + (e.count > 1 ? ` (×${e.count})` : "") }))));
  }

  // ------------------------------------------------------------ live plots
  const WINDOW_S = 30, CAP = 4000;
  const DEFAULT_CHANNELS = ["drum_current", "drum_speed", "cut_depth", "arm_current",
                            "bucket_load", "pitch", "roll", "motor_temp"];

  class Plots {
    constructor(grid, picker, rate, limits) {
      this.grid = grid; this.picker = picker; this.rate = rate; this.limits = limits || {};
      this.series = {};   // channel -> {t: [], v: [], unit}
      this.cards = {};    // channel -> {card, plot, value, dirty}
      const saved = localStorage.getItem("rc.channels");
      this.chosen = new Set(saved ? JSON.parse(saved) : DEFAULT_CHANNELS);
      this.rowsSeen = 0; this.redraws = 0; this.lastRate = performance.now();
      this.ticks = 0; this.busyMs = 0;
      setInterval(() => this.redraw(), 50);   // at most 20 frames/s, only when data changed
      setInterval(() => this.showRate(), 1000);
    }
    reset() {
      this.series = {};
      for (const c of Object.values(this.cards)) { c.plot.destroy(); c.card.remove(); }
      this.cards = {}; this.picker.replaceChildren();
    }
    addRows(msg) {
      const n = msg.t.length;
      this.rowsSeen += n;
      msg.channels.forEach((name, i) => {
        let s = this.series[name];
        if (!s) { s = this.series[name] = { t: [], v: [], unit: msg.units[i] }; this.addPick(name); }
        const last = s.t.length ? s.t[s.t.length - 1] : null;
        if (last !== null && msg.t[0] <= last) {
          s.t = []; s.v = [];  // the rig's clock restarted (new session or boot): a new series
        } else if (last !== null && msg.t[0] - last > 1.0) {
          s.t.push(last + 1e-3); s.v.push(null);  // an outage: a gap, not a line across it
        }
        for (let k = 0; k < n; k++) { s.t.push(msg.t[k]); s.v.push(msg.cols[i][k]); }
        if (s.t.length > CAP * 1.5) { s.t.splice(0, s.t.length - CAP); s.v.splice(0, s.v.length - CAP); }
        const card = this.cards[name];
        if (card) card.dirty = true;
      });
    }
    addPick(name) {
      const input = el("input", { type: "checkbox", value: name });
      input.checked = this.chosen.has(name);
      const label = el("label", { class: input.checked ? "on" : "", "data-pick": name }, input, name);
      input.addEventListener("change", () => {
        label.classList.toggle("on", input.checked);
        if (input.checked) this.chosen.add(name); else this.chosen.delete(name);
        localStorage.setItem("rc.channels", JSON.stringify([...this.chosen]));
        this.sync();
      });
      this.picker.append(label);
      this.sync();
    }
    sync() {
      for (const name of Object.keys(this.series)) {
        const want = this.chosen.has(name);
        if (want && !this.cards[name]) this.makeCard(name);
        if (!want && this.cards[name]) {
          this.cards[name].plot.destroy(); this.cards[name].card.remove(); delete this.cards[name];
        }
      }
    }
    limitLines(name) {
      const lim = this.limits[name] || {};
      return Object.entries(lim).map(([k, v]) => ({ v, colour: k.startsWith("red") ? "#f85149" : "#e3b341" }));
    }
    makeCard(name) {
      const s = this.series[name];
      const value = el("span", { class: "value", text: "—" });
      const holder = el("div", {});
      const card = el("div", { class: "plotcard", "data-channel": name },
        el("div", { class: "phead" }, el("span", { class: "pname", text: `${name}` },
          el("span", { class: "muted", text: `  ${s.unit}` })), value), holder);
      const order = [...this.chosen];
      const after = Object.keys(this.cards).find((c) => order.indexOf(c) > order.indexOf(name));
      if (after) this.grid.insertBefore(card, this.cards[after].card); else this.grid.append(card);
      const lines = this.limitLines(name);
      const width = Math.max(300, holder.clientWidth || 360);
      const plot = new uPlot({
        width, height: 150, legend: { show: false }, cursor: { show: false },
        scales: { x: { time: false } },
        // rows come in UTC (Unix seconds, the server's SampleTimes): labelled in UTC, the
        // first tick with its date; plain seconds for anything else (a recording's own)
        axes: [{ stroke: "#8a9aab", grid: { stroke: "#223041" }, ticks: { stroke: "#223041" },
                 space: 80, values: (u, ticks) => axisTimes(ticks) },
               { stroke: "#8a9aab", grid: { stroke: "#223041" }, ticks: { stroke: "#223041" }, size: 64,
                 values: (u, ticks) => axisLabels(ticks) }],
        series: [{}, { stroke: "#4ea1ff", width: 1.25, points: { show: false } }],
        hooks: { draw: [(u) => {
          const ctx = u.ctx, [y0, y1] = [u.scales.y.min, u.scales.y.max];
          for (const l of lines) {
            if (l.v < y0 || l.v > y1) continue;
            const y = Math.round(u.valToPos(l.v, "y", true));
            ctx.save(); ctx.strokeStyle = l.colour; ctx.setLineDash([5, 4]); ctx.lineWidth = 1;
            ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke(); ctx.restore();
          }
        }] },
      }, [[], []], holder);
      this.cards[name] = { card, plot, value, dirty: true };
    }
    level(name, v) {
      const lim = this.limits[name];
      if (v === null || v === undefined) return "unknown";
      if (!lim) return "none";
      if ((lim.red_high !== undefined && v > lim.red_high) || (lim.red_low !== undefined && v < lim.red_low)) return "red";
      if ((lim.yellow_high !== undefined && v > lim.yellow_high) || (lim.yellow_low !== undefined && v < lim.yellow_low)) return "yellow";
      return "ok";
    }
    redraw() {
      const started = performance.now();
      this.ticks++;
      for (const [name, c] of Object.entries(this.cards)) {
        if (!c.dirty) continue;
        c.dirty = false;
        const s = this.series[name];
        if (!s.t.length) continue;
        const tEnd = s.t[s.t.length - 1];
        const width = c.card.clientWidth - 16;
        if (width > 0 && Math.abs(width - c.plot.width) > 4) c.plot.setSize({ width, height: 150 });
        // the whole buffer (no copy); the x scale shows the last WINDOW_S seconds and the
        // y scale fits what is in that window
        c.plot.batch(() => {
          c.plot.setData([s.t, s.v], false);
          c.plot.setScale("x", { min: tEnd - WINDOW_S, max: tEnd });
        });
        const v = s.v[s.v.length - 1];
        const level = this.level(name, v);
        c.value.textContent = `${fmtNum(v)} ${s.unit}`;
        c.value.className = `value level-${level}`;
        c.card.className = `plotcard level-${level}`;
        this.redraws++;
      }
      this.busyMs += performance.now() - started;
    }
    showRate() {
      const now = performance.now(), dt = (now - this.lastRate) / 1000;
      this.lastRate = now;
      const shown = Object.keys(this.cards).length;
      this.rate.textContent = `${shown} plots · ${(this.rowsSeen / dt).toFixed(0)} rows/s · ` +
        `${(this.redraws / dt / Math.max(shown, 1)).toFixed(1)} redraws/s per plot` +
        (stats.dropped ? ` · ${stats.dropped} messages dropped` : "");
      this.rate.dataset.rows = String(this.rowsSeen);
      // for benchmarks: timer ticks per second and the share of the second spent drawing
      this.rate.dataset.ticks = String(Math.round(this.ticks / dt));
      this.rate.dataset.busy = (this.busyMs / 1000 / dt).toFixed(3);
      this.rowsSeen = 0; this.redraws = 0; this.ticks = 0; this.busyMs = 0;
    }
  }

  // Not before every page script has run and registered its handlers: the scripts
  // after this one are fetched meanwhile, and a message arriving between two of them
  // (the "hello" with the site plan, on a loaded machine) would find no handler.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
  return { me, csrf, el, changed, fmtTime, fmtAgo, fmtNum, axisLabels, post, on, subscribe, stats, modeBadge,
           onlineBadge, trustBadge, clockCell, storageCell, renderRigBadges, renderState, renderMission, renderAlarms, renderEvents,
           Plots };
})();
