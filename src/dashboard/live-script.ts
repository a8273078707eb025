/**
 * The dashboard's one script, served as /dashboard/live.js to pages that follow live changes
 * (the overview, the jobs list, a job). Pages work without it: they are whole when served, and
 * a job about to run reloads itself through a <noscript> refresh. With it, the page fetches
 * itself again every `data-live-interval` seconds while it is visible, with a `Fliq-Live`
 * header (so the poll does not count as activity against the session's idle timeout), and
 * swaps in each `data-live` region, except one holding the keyboard focus. It keeps
 * `time[data-relative]` texts current against the server's clock (`data-server-now`), and
 * stops when the session has ended. Plain ES2020 in a string: the Worker serves it as it is.
 */
export const LIVE_SCRIPT = `"use strict";
(() => {
  const body = document.body;
  const status = document.getElementById("live-status");
  const serverNow = Number(body.dataset.serverNow);
  // The server's clock minus this browser's: relative times count from the server's "now".
  const skewMs = Number.isFinite(serverNow) ? serverNow - Date.now() : 0;
  let intervalMs = Number(body.dataset.liveInterval || 5) * 1000;
  let timer = 0;
  let stopped = false;

  // Keep in step with formatRelative in src/dashboard/format.ts.
  const relative = (deltaMs) => {
    const abs = Math.abs(deltaMs);
    if (abs < 1000) return "now";
    const amount =
      abs < 60000 ? Math.floor(abs / 1000) + " s"
      : abs < 3600000 ? Math.floor(abs / 60000) + " min"
      : abs < 48 * 3600000 ? Math.floor(abs / 3600000) + " h"
      : Math.floor(abs / 86400000) + " d";
    return deltaMs > 0 ? "in " + amount : amount + " ago";
  };
  const updateRelativeTimes = (root) => {
    const now = Date.now() + skewMs;
    for (const time of root.querySelectorAll("time[data-relative]")) {
      time.textContent = relative(Date.parse(time.dateTime) - now);
    }
  };
  const say = (text) => {
    if (status) status.textContent = text;
  };

  const refresh = async () => {
    if (stopped || document.hidden) return;
    try {
      const response = await fetch(location.href, {
        headers: { "Fliq-Live": "1" },
        credentials: "same-origin",
        redirect: "manual",
        cache: "no-store",
      });
      if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
        stopped = true;
        say("Your session has ended: this page no longer updates. Reload it to sign in again.");
        return;
      }
      if (!response.ok) {
        say("Could not look for changes (HTTP " + response.status + "); trying again.");
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      updateRelativeTimes(fresh);
      for (const region of document.querySelectorAll("[data-live]")) {
        const replacement = fresh.getElementById(region.id);
        if (!replacement || region.innerHTML === replacement.innerHTML) continue;
        // Never pull a field or button from under the keyboard.
        if (region.contains(document.activeElement)) continue;
        region.innerHTML = replacement.innerHTML;
      }
      const next = Number(fresh.body.dataset.liveInterval);
      if (next > 0) intervalMs = next * 1000;
      say("Live: updated " + new Date(Date.now() + skewMs).toISOString().slice(11, 19) + " UTC");
    } catch {
      say("Could not look for changes (offline?); trying again.");
    } finally {
      schedule();
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(refresh, intervalMs);
  };

  say("Live: this page follows changes as they happen.");
  updateRelativeTimes(document);
  setInterval(() => updateRelativeTimes(document), 1000);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) void refresh();
  });
  schedule();
})();
`;
