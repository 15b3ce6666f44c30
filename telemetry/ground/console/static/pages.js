/* regolith ground console: one controller per page (data-page on <body>). */
"use strict";

(() => {
  const { me, el, fmtTime, fmtAgo, fmtNum, post, on, subscribe } = RC;
  let hello = { limits: {}, plan: null, key_id: null };
  on("hello", (msg) => { hello = msg; });

  // ------------------------------------------------------------ fleet
  function fleetPage() {
    subscribe({ source: "live" });
    const tbody = document.querySelector("#fleet-table tbody");
    const rows = new Map();
    const empty = document.getElementById("fleet-empty");
    on("fleet", (msg) => {
      if (msg.source !== "live") return;
      empty.style.display = msg.rigs.length ? "none" : "";
      const online = msg.rigs.filter((r) => r.reachable).length;
      document.getElementById("fleet-summary").textContent =
        `${msg.rigs.length} rig${msg.rigs.length === 1 ? "" : "s"} seen, ${online} online · ` +
        `${msg.alarms_active} active alarm${msg.alarms_active === 1 ? "" : "s"}, ` +
        `${msg.alarms_unacked} unacknowledged · ${msg.link.gaps} sequence gaps, ` +
        `${msg.link.duplicates} duplicates, ${msg.link.malformed} malformed messages` +
        (msg.link.rigs_refused ? ` · ${msg.link.rigs_refused} messages of rigs beyond the ` +
                                 `first ${msg.link.max_rigs} refused` : "") +
        (msg.link.streams_untracked ? ` · ${msg.link.streams_untracked} messages of streams ` +
                                      "beyond the accounting's bound ignored" : "");
      // rows are kept per rig and only changed cells repainted: a table rebuilt every
      // second swallowed clicks on its links (a link replaced under the mouse)
      const seen = new Set();
      msg.rigs.forEach((r, i) => {
        let row = rows.get(r.rig);
        if (!row) { row = fleetRow(r.rig); rows.set(r.rig, row); }
        seen.add(r.rig);
        updateFleetRow(row, r);
        if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      });
      for (const [rig, row] of rows) if (!seen.has(rig)) { row.tr.remove(); rows.delete(rig); }
    });
  }

  function fleetRow(rig) {
    const href = `/rigs/${encodeURIComponent(rig)}`;
    const cells = {};
    for (const k of ["status", "mode", "alarms", "seen", "clock", "storage", "boot", "messages",
                     "gaps"]) {
      cells[k] = el("td", { class: ["boot", "messages", "gaps"].includes(k) ? "num" : "" });
    }
    const tr = el("tr", { "data-rig": rig }, el("td", {}, el("a", { href, text: rig })),
      cells.status, cells.mode, cells.alarms, cells.seen, cells.clock, cells.storage, cells.boot,
      cells.messages, cells.gaps);
    return { tr, cells, href };
  }

  function updateFleetRow(row, r) {
    const c = row.cells;
    const set = (cell, key, render) => { if (RC.changed(cell, key)) cell.replaceChildren(...[render()].flat()); };
    set(c.status, [r.online, r.silent, r.shutdown, r.verified, r.forged, RC.stats.linkUp],
      () => [RC.onlineBadge(r), " ", RC.trustBadge(r) || ""]);
    set(c.mode, r.mode, () => RC.modeBadge(r.mode));
    set(c.alarms, [r.alarms_active, r.alarms_unacked], () => r.alarms_active || r.alarms_unacked
      ? el("a", { href: row.href, class: "count",
                  text: `${r.alarms_active} active / ${r.alarms_unacked} unacked` })
      : el("span", { class: "muted", text: "none" }));
    set(c.seen, fmtAgo(r.last_seen_ago), () => fmtAgo(r.last_seen_ago));
    set(c.clock, [r.clock_offset_s, r.clock_sync_age_s, r.clock_level], () => RC.clockCell(r));
    set(c.storage, [r.storage, r.storage_level], () => RC.storageCell(r));
    set(c.boot, r.boot, () => String(r.boot ?? "—"));
    set(c.messages, r.messages, () => r.messages.toLocaleString());
    set(c.gaps, r.gaps, () => String(r.gaps));
  }

  // ------------------------------------------------------------ alarms, every rig
  function alarmsPage() {
    subscribe({ source: "live" });
    const list = document.getElementById("alarm-list");
    const rigs = new Set();
    const byRig = {};
    on("fleet", (msg) => {
      if (msg.source !== "live") return;
      for (const r of msg.rigs) rigs.add(r.rig);
      // the rig snapshots are per page; fetch each rig's alarms from the API once a second
      Promise.all([...rigs].map((r) => fetch(`/api/rigs/${encodeURIComponent(r)}`)
        .then((res) => (res.ok ? res.json() : null)).catch(() => null)))
        .then((snaps) => {
          for (const s of snaps) if (s) byRig[s.rig] = s.alarms;
          RC.renderAlarms(list, Object.values(byRig).flat(), { showRig: true });
        });
    });
  }

  // ------------------------------------------------------------ rig: live view (also replay)
  function rigView(source, rig) {
    const table = document.getElementById("state-table");
    const mission = document.getElementById("mission");
    const alarms = document.getElementById("alarm-list");
    const events = document.getElementById("event-list");
    const plots = new RC.Plots(document.getElementById("plot-grid"),
      document.getElementById("channel-picker"), document.getElementById("rows-rate"),
      hello.limits);
    on("hello", (msg) => { plots.limits = msg.limits || {}; });
    on("rows", (msg) => { if (msg.source === source.id && msg.rig === source.rig) plots.addRows(msg); });
    on("rig", (snap) => {
      if (snap.source !== source.id || snap.rig !== source.rig) return;
      if (source.id === "live") RC.renderRigBadges(snap);
      if (!snap.known) {
        table.replaceChildren(el("tr", {}, el("td", { text: "no data from this rig yet" })));
        return;
      }
      RC.renderState(table, snap);
      RC.renderMission(mission, snap.mission, snap.resumed);
      RC.renderAlarms(alarms, snap.alarms, { canAck: me.canAck && source.id === "live" });
      RC.renderEvents(events, snap.events);
    });
    return plots;
  }

  function rigPage() {
    const source = { id: "live", rig: me.rig };
    rigView(source);
    subscribe({ source: "live", rig: me.rig });
  }

  // ------------------------------------------------------------ commands
  const BUTTONS = [["arm", ""], ["start", ""], ["stop", "stop"], ["disarm", ""], ["dump", ""],
                   ["status", ""], ["clear_fault", ""], ["reset_estop", ""], ["new_mission", ""]];

  function commandsPage() {
    subscribe({ source: "live", rig: me.rig });
    const panel = document.getElementById("command-panel");
    const buttons = document.getElementById("cmd-buttons");
    const result = document.getElementById("cmd-result");
    const keyName = document.getElementById("station-key");
    on("hello", (msg) => { keyName.textContent = msg.key_id || "(none: serve --key)"; });
    if (!me.commands.size) {
      panel.replaceChildren(el("h2", { text: "Send a command" }), el("div", { class: "notice",
        id: "observer-notice",
        text: `Signed in as ${me.user} (${me.role}): observers see everything and send no ` +
              "commands. Ask an operator." }));
    } else {
      // commands that move the machine ask first; stop and E-STOP never wait for a click
      const CONFIRM = { arm: "Arm the rig? Motors will be enabled.",
                        start: "Start the mission? The rig will drive and dig.",
                        disarm: "Disarm the rig? Motors will be disabled." };
      const send = async (command, args) => {
        if (CONFIRM[command] && !window.confirm(`${me.rig}: ${CONFIRM[command]}`)) {
          result.className = "cmdresult"; result.textContent = `${command}: not sent (cancelled)`;
          return;
        }
        result.className = "cmdresult pending";
        result.dataset.command = command;
        result.dataset.status = "pending";  // never the previous command's outcome meanwhile
        result.textContent = `${command}: sent, waiting for the ack…`;
        const r = await post(`/api/rigs/${encodeURIComponent(me.rig)}/commands`, { command, args });
        const b = r.body;
        result.className = `cmdresult ${b.status || "error"}`;
        result.dataset.command = command;
        result.dataset.status = b.status || "error";
        result.textContent = b.status === "accepted" || b.status === "rejected"
          ? `${command} (${b.command_id}): ${b.status}${b.reason ? ": " + b.reason : ""} ` +
            `in ${b.latency_s} s`
          : `${command}: ${b.status || "error"}: ${b.reason || b.error}`;
      };
      for (const [name, cls] of BUTTONS) {
        if (!me.commands.has(name)) continue;
        buttons.append(el("button", { class: `btn ${cls}`, "data-command": name,
                                      onclick: () => send(name, {}) }, name));
      }
      if (me.commands.has("estop")) {
        buttons.append(el("button", { class: "btn estop", "data-command": "estop",
                                      onclick: () => send("estop", {}) }, "E-STOP"));
      }
      RCC.bindParamForm(send);  // the rig's parameter table, range checked (commands.js)
    }
    const tbody = document.querySelector("#history-table tbody");
    on("rig", (snap) => {
      if (snap.source !== "live" || snap.rig !== me.rig) return;
      RC.renderRigBadges(snap);
      RCC.renderLive(snap);
      if (snap.known) { RCC.renderParams(snap); RCC.renderOthers(snap); }
      if (!snap.known || !RC.changed(tbody, snap.commands)) return;
      tbody.replaceChildren(...snap.commands.map((c) => el("tr", { "data-command-id": c.command_id },
        el("td", { class: "mono", text: fmtTime(c.sent_at) }),
        el("td", { text: c.sent_by || "—" }),
        el("td", { class: "mono", text: c.key_id || "—" }),
        el("td", { class: "mono", text: c.command }),
        el("td", { class: "mono", text: Object.keys(c.args).length ? JSON.stringify(c.args) : "" }),
        el("td", {}, el("span", { class: `badge ${c.status}`, text: c.status }),
          c.forged_acks ? el("div", { class: "forged", "data-forged": c.forged_acks,
            text: `⚠ ${c.forged_acks} UNVERIFIED ack${c.forged_acks > 1 ? "s" : ""} ignored ` +
                  `(claimed ${c.forged_claim})` }) : null),
        el("td", { text: c.reason }),
        el("td", { class: "num", text: c.acked_at && c.sent_at
          ? `${(c.acked_at - c.sent_at).toFixed(2)} s` : "" }))));
    });
  }

  // ------------------------------------------------------------ ledger
  function ledgerPage() {
    subscribe({ source: "live", rig: me.rig, ledger: true });
    const status = document.getElementById("ledger-status");
    const totals = document.getElementById("ledger-totals");
    const tbody = document.querySelector("#ledger-table tbody");
    on("rig", (snap) => {
      if (snap.source !== "live" || snap.rig !== me.rig) return;
      RC.renderRigBadges(snap);
      const led = snap.ledger;
      if (!led || !RC.changed(status, led)) return;
      const v = led.verification;
      status.className = `banner ${v.status}`;
      const title = { intact: "✓ verified", partial: "✓ verified (partial)", broken: "✗ BROKEN",
                      over_quota: "✗ over quota", unverified: "not verified", empty: "no entries" };
      status.textContent = `${title[v.status] || v.status}: ${v.detail}`;
      totals.replaceChildren(...led.totals.map((t) => {
        const frac = t.quota_kg ? t.kg / t.quota_kg : 0;
        return el("div", { class: "total", "data-site": t.site },
          el("div", { class: "muted", text: `site ${t.site}` }),
          el("div", { class: "big", text: `${fmtNum(t.kg)} kg` +
            (t.quota_kg !== null ? ` of ${fmtNum(t.quota_kg)} kg` : " (no quota)") }),
          t.quota_kg !== null ? el("div", { class: "bar progress" }, el("div", {
            class: frac > 1 ? "over" : "", style: `width:${Math.min(100, 100 * frac)}%` })) : null);
      }));
      tbody.replaceChildren(...led.entries.map((e) => el("tr", {},
        el("td", { class: "num", text: e.index }),
        el("td", { class: "mono", text: e.t_ms ? fmtTime(e.t_ms / 1000) : "—" }),
        el("td", { text: e.site || "—" }),
        el("td", { class: "num", text: fmtNum(e.mass_kg) }),
        el("td", { class: "num", text: e.energy_j !== null ? fmtNum(e.energy_j / 1000) : "—" }),
        el("td", { class: "num", text: e.cycle }),
        el("td", { class: "num", text: `${fmtNum(e.x_m)}, ${fmtNum(e.y_m)}` }),
        el("td", { class: "mono muted", text: e.hash }),
        el("td", {}, e.verified ? el("span", { class: "ok-mark", text: "✓" })
                                : el("span", { class: "bad-mark", text: "✗" })))));
      if (!led.entries.length) {
        tbody.append(el("tr", {}, el("td", { colspan: 9, class: "muted",
          text: "No ledger entries received yet (one per dump)." })));
      }
    });
  }

  // ------------------------------------------------------------ site map
  const SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  }

  function mapPage() {
    subscribe({ source: "live", rig: me.rig });
    const holder = document.getElementById("site-map");
    const legend = document.getElementById("map-legend");
    const info = document.getElementById("map-info");
    const items = [["#3fb950", "dig site (radius, quota)"], ["#f85149", "keep-out zone + margin"],
                   ["#ff9f1a", "public safety zone"], ["#d2a8ff", "dump site (from the rig's mission)"],
                   ["#4ea1ff", "rig position and track"]];
    legend.replaceChildren(...items.map(([c, t]) => el("li", {},
      el("span", { class: "sw", style: `background:${c}` }), t)));
    on("rig", (snap) => {
      if (snap.source !== "live" || snap.rig !== me.rig) return;
      RC.renderRigBadges(snap);
      holder.replaceChildren(drawMap(hello.plan, snap));
      const [x, y] = snap.position || [null, null];
      const zone = snap.safety_zone;
      info.replaceChildren(el("table", { class: "kv" },
        el("tr", {}, el("td", { text: "position" }), el("td", { class: "value", text: `${fmtNum(x)}, ${fmtNum(y)} m` })),
        el("tr", {}, el("td", { text: "mode" }), el("td", { class: "value", text: snap.mode })),
        el("tr", {}, el("td", { text: "safety zone" }), el("td", { class: "value", text: zone
          ? `${fmtNum(zone.radius_m)} m around ${zone.centre.map(fmtNum).join(", ")}${zone.site ? " (site " + zone.site + ")" : ""}`
          : "not published" })),
        el("tr", {}, el("td", { text: "dump site" }), el("td", { class: "value", id: "map-dump",
          text: snap.mission && snap.mission.dump
            ? `${fmtNum(snap.mission.dump.x_m)}, ${fmtNum(snap.mission.dump.y_m)} m`
            : "not reported (no mission loaded)" })),
        el("tr", {}, el("td", { text: "site plan" }), el("td", { class: "value",
          text: hello.plan ? hello.plan.name : "none (serve --site-plan)" }))));
    });
  }

  function drawMap(plan, snap) {
    const pts = [];
    const [rx, ry] = snap.position || [null, null];
    if (plan) {
      for (const s of plan.sites) pts.push([s.x - s.radius_m, s.y - s.radius_m], [s.x + s.radius_m, s.y + s.radius_m]);
      for (const z of plan.keep_out) for (const p of z.polygon) pts.push(
        [p[0] - z.reach_m, p[1] - z.reach_m], [p[0] + z.reach_m, p[1] + z.reach_m]);
    }
    if (rx !== null && ry !== null) pts.push([rx, ry]);
    for (const p of snap.trail || []) pts.push(p);
    const dump = snap.mission && snap.mission.dump;  // where the rig says it dumps
    if (dump) pts.push([dump.x_m - 0.5, dump.y_m - 0.5], [dump.x_m + 0.5, dump.y_m + 0.5]);
    const z = snap.safety_zone;
    if (z) pts.push([z.centre[0] - z.radius_m, z.centre[1] - z.radius_m], [z.centre[0] + z.radius_m, z.centre[1] + z.radius_m]);
    if (!pts.length) pts.push([-5, -5], [5, 5]);
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of pts) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
    const padM = Math.max(1, 0.08 * Math.max(x1 - x0, y1 - y0));
    x0 -= padM; y0 -= padM; x1 += padM; y1 += padM;
    const w = x1 - x0, h = y1 - y0;
    // y up: flip by drawing in a group with scale(1,-1)
    const root = svg("svg", { viewBox: `${x0} ${-y1} ${w} ${h}`, preserveAspectRatio: "xMidYMid meet",
                              "data-rig-x": rx ?? "", "data-rig-y": ry ?? "" });
    const g = svg("g", { transform: "scale(1,-1)" });
    const unit = Math.max(w, h) / 100;   // one "pixel-ish" unit for strokes and text
    const step = [1, 2, 5, 10, 20, 50, 100].find((s) => Math.max(w, h) / s <= 16) || 200;
    const grid = svg("g", { stroke: "#1d2a38", "stroke-width": unit * 0.15 });
    for (let gx = Math.ceil(x0 / step) * step; gx <= x1; gx += step) grid.append(svg("line", { x1: gx, y1: y0, x2: gx, y2: y1 }));
    for (let gy = Math.ceil(y0 / step) * step; gy <= y1; gy += step) grid.append(svg("line", { x1: x0, y1: gy, x2: x1, y2: gy }));
    g.append(grid);
    const labels = [];
    const label = (x, y, text, colour) => labels.push(svg("text", { x, y: -y, fill: colour,
      "font-size": unit * 2.4, "font-family": "DejaVu Sans, sans-serif" }, document.createTextNode(text)));
    for (let gx = Math.ceil(x0 / step) * step; gx <= x1; gx += step) label(gx + unit * 0.4, y0 + unit * 0.8, `${gx} m`, "#5d6f82");
    for (let gy = Math.ceil(y0 / step) * step; gy <= y1; gy += step) label(x0 + unit * 0.4, gy + unit * 0.5, `${gy} m`, "#5d6f82");
    if (plan) {
      for (const k of plan.keep_out) {
        const d = k.polygon.map((p) => p.join(",")).join(" ");
        g.append(svg("polygon", { points: d, fill: "none", stroke: "#f85149", "stroke-opacity": 0.18,
                                  "stroke-width": 2 * k.reach_m, "stroke-linejoin": "round" }));
        g.append(svg("polygon", { points: d, fill: "#f85149", "fill-opacity": 0.28, stroke: "#f85149",
                                  "stroke-width": unit * 0.35, "data-keep-out": k.name }));
        const c = k.polygon.reduce((a, p) => [a[0] + p[0] / k.polygon.length, a[1] + p[1] / k.polygon.length], [0, 0]);
        label(c[0] - unit * 4, c[1], `${k.name} (${k.kind})`, "#ffb4ae");
      }
      for (const s of plan.sites) {
        g.append(svg("circle", { cx: s.x, cy: s.y, r: s.radius_m, fill: "#3fb950", "fill-opacity": 0.12,
                                 stroke: "#3fb950", "stroke-width": unit * 0.35, "stroke-dasharray": `${unit} ${unit * 0.6}`,
                                 "data-site": s.name }));
        label(s.x - s.radius_m, s.y + s.radius_m + unit * 0.8, `site ${s.name} · quota ${s.quota_kg} kg`, "#8ee59b");
      }
    }
    if (z) {
      g.append(svg("circle", { cx: z.centre[0], cy: z.centre[1], r: z.radius_m, fill: "#ff9f1a", "fill-opacity": 0.06,
                               stroke: "#ff9f1a", "stroke-width": unit * 0.35, "stroke-dasharray": `${unit * 1.5} ${unit}`,
                               "data-safety-zone": "1" }));
      label(z.centre[0] - z.radius_m * 0.7, z.centre[1] - z.radius_m - unit * 2.6, "public safety zone", "#ffc375");
    }
    if (dump) {
      const d = unit * 2.2;
      g.append(svg("rect", { x: dump.x_m - d, y: dump.y_m - d, width: 2 * d, height: 2 * d,
                             fill: "#d2a8ff", "fill-opacity": 0.25, stroke: "#d2a8ff",
                             "stroke-width": unit * 0.35, "data-dump": `${dump.x_m},${dump.y_m}` }));
      label(dump.x_m - d, dump.y_m - d - unit * 2.6, "dump site", "#e2c8ff");
    }
    const trail = (snap.trail || []).filter((p) => p[0] !== null && p[1] !== null);
    if (trail.length > 1) g.append(svg("polyline", { points: trail.map((p) => p.join(",")).join(" "), fill: "none",
                                                     stroke: "#4ea1ff", "stroke-opacity": 0.55, "stroke-width": unit * 0.3 }));
    if (rx !== null && ry !== null) {
      g.append(svg("circle", { cx: rx, cy: ry, r: unit * 1.4, fill: "#4ea1ff", stroke: "#fff",
                               "stroke-width": unit * 0.3, "data-rig-marker": "1" }));
      label(rx + unit * 2, ry + unit * 0.8, `${snap.rig} (${snap.mode})`, "#cfe5ff");
    }
    root.append(g, ...labels);
    return root;
  }

  // ------------------------------------------------------------ replay
  async function replayPage() {
    const files = document.getElementById("replay-file");
    const speeds = document.getElementById("replay-speed");
    const rigs = document.getElementById("replay-rig");
    const status = document.getElementById("replay-status");
    const progress = document.getElementById("replay-progress");
    const source = { id: null, rig: null };
    let plots = null;
    const info = await (await fetch("/api/recordings")).json();
    files.replaceChildren(...info.files.map((f) => el("option", { value: f, text: f })));
    speeds.replaceChildren(...info.speeds.map((s) => el("option", { value: s, text: `${s}×`, selected: s === 5 })));
    if (!info.configured) status.textContent = "No recordings directory: start the console with --recordings DIR.";
    else if (!info.files.length) status.textContent = "No recordings (*.db) in the recordings directory yet.";
    const resubscribe = () => subscribe({ source: source.id, rig: source.rig });
    document.getElementById("replay-play").addEventListener("click", async () => {
      if (source.id && status.dataset.paused === "1") {
        await post(`/api/replays/${source.id}`, { action: "resume" });
        return;
      }
      const r = await post("/api/replays", { file: files.value, speed: Number(speeds.value) });
      if (!r.ok) { status.textContent = r.body.error; return; }
      source.id = r.body.id; source.rig = null;
      if (plots) plots.reset();
      resubscribe();
    });
    document.getElementById("replay-pause").addEventListener("click", () => {
      if (source.id) post(`/api/replays/${source.id}`, { action: "pause" });
    });
    speeds.addEventListener("change", () => {
      if (source.id) post(`/api/replays/${source.id}`, { action: "speed", speed: Number(speeds.value) });
    });
    rigs.addEventListener("change", () => { source.rig = rigs.value; if (plots) plots.reset(); resubscribe(); });
    plots = rigView(source);
    document.querySelector(".plotbar h2").textContent = "Replayed channels";
    const seekBar = RCR.seekBar(source, () => { if (plots) plots.reset(); resubscribe(); });
    on("replay", (msg) => {
      if (msg.id !== source.id) return;
      seekBar.update(msg);
      status.dataset.paused = msg.paused ? "1" : "";
      status.dataset.played = String(msg.played);
      const span = (msg.last || 0) - (msg.first || 0);
      const at = (msg.position || 0) - (msg.first || 0);
      progress.style.width = `${span > 0 ? Math.min(100, 100 * at / span) : 0}%`;
      status.textContent = msg.error ? `error: ${msg.error}` :
        `${msg.file} · ${msg.speed}× · ${at.toFixed(1)} / ${span.toFixed(1)} s · ` +
        `${msg.played} / ${msg.total} messages${msg.paused ? " · paused" : ""}${msg.done ? " · done" : ""}`;
      const known = [...rigs.options].map((o) => o.value);
      if (msg.rigs.join() !== known.join()) {
        rigs.replaceChildren(...msg.rigs.map((r) => el("option", { value: r, text: r })));
        if (source.rig) rigs.value = source.rig;
      }
      if (!source.rig && msg.rigs.length) { source.rig = msg.rigs[0]; resubscribe(); }
    });
  }

  const pages = { fleet: fleetPage, alarms: alarmsPage, rig: rigPage, commands: commandsPage,
                  ledger: ledgerPage, map: mapPage, replay: replayPage };
  (pages[me.page] || (() => {}))();
})();
