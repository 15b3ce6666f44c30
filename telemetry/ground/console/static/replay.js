/* regolith ground console: the replay page's seek bar and its REPLAY marker.
   The seek bar jumps to a time in the recording (POST /api/replays/{id} {"action": "seek",
   "at_s"}); the server restarts the replayed stream there, with the state of that instant,
   and counts the jump ("seeks"), so the page drops the rows it drew before it. */
"use strict";

const RCR = (() => {
  const { fmtTime, post } = RC;

  // source: {id, rig} of the page's replay; restart(): reset the plots and resubscribe
  function seekBar(source, restart) {
    const bar = document.getElementById("replay-seek");
    const at = document.getElementById("replay-seek-at");
    const banner = document.getElementById("replay-banner-file");
    let dragging = false, seeks = null, first = null;
    bar.addEventListener("input", () => {
      dragging = true;
      if (first !== null) at.textContent = fmtTime(first + Number(bar.value));
    });
    bar.addEventListener("change", async () => {
      dragging = false;
      if (!source.id) return;
      const r = await post(`/api/replays/${source.id}`, { action: "seek", at_s: Number(bar.value) });
      if (!r.ok) at.textContent = r.body.error || "seek refused";
    });
    function update(msg) {
      banner.textContent = `${msg.file} · ${fmtTime(msg.position)}`;
      if (msg.seeks !== seeks) {       // a jump (or a new replay): start the plots over
        if (seeks !== null) restart();
        seeks = msg.seeks;
      }
      first = msg.first;
      const span = (msg.last || 0) - (msg.first || 0);
      bar.disabled = !(span > 0) || !!msg.error;
      bar.max = String(Math.max(0, span));
      if (!dragging) {
        bar.value = String(Math.max(0, (msg.position || 0) - (msg.first || 0)));
        at.textContent = fmtTime(msg.position);
      }
      bar.dataset.position = String(msg.position);
      bar.dataset.seeks = String(msg.seeks);
    }
    return { update };
  }

  return { seekBar };
})();
