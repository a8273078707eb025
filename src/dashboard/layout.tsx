/**
 * The page frame every dashboard page shares: landmarks, navigation, sign-out, and the one
 * small stylesheet (inline, so a page is a single response; light and dark by the system's choice).
 */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { API_REFERENCE_PATH } from "../http/paths";
import { CSRF_FIELD, DASHBOARD_PATH } from "./session";

const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1a1a1a;--muted:#555;--line:#d0d0d0;--panel:#f5f5f5;--link:#0645ad;
--accent:#0b57d0;--ok:#146c2e;--bad:#b3261e;--warn:#8a5300;--focus:#0b57d0;--late:#7a3fb0}
@media (prefers-color-scheme:dark){:root{--bg:#121212;--fg:#ececec;--muted:#b0b0b0;--line:#3a3a3a;--panel:#1e1e1e;
--link:#8ab4f8;--accent:#8ab4f8;--ok:#6dd58c;--bad:#ffb4ab;--warn:#f5c26b;--focus:#8ab4f8;--late:#d0a6ff}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px;z-index:1}
header{border-bottom:1px solid var(--line);padding:8px 16px;display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center}
header nav ul{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;margin:0;padding:0}
header .brand{font-weight:700;text-decoration:none;color:var(--fg)}
header form{margin-left:auto}
main{padding:16px;max-width:1100px;margin:0 auto}
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
pre{background:var(--panel);padding:8px;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;margin:0}
.url{overflow-wrap:anywhere;min-width:12em}
.when .abs{display:block;font-size:.8rem}.num{font-variant-numeric:tabular-nums;white-space:nowrap}
button,input,select,textarea{font:inherit;color:inherit}
input,select,textarea{background:var(--bg);border:1px solid var(--muted);border-radius:4px;padding:6px 8px;min-height:44px;max-width:100%}
textarea{width:100%;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
button{background:var(--accent);color:var(--bg);border:0;border-radius:4px;padding:8px 14px;min-height:44px;cursor:pointer;font-weight:600}
button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
button.danger{background:var(--bad)}
button:disabled{opacity:.5;cursor:not-allowed}
label{display:block;font-weight:600;margin-bottom:4px}
.field{margin-bottom:12px}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-end;margin-bottom:16px}
.filters fieldset{border:1px solid var(--line);border-radius:4px;margin:0;padding:4px 8px}
.filters fieldset label{display:inline-flex;gap:4px;font-weight:400;margin-right:8px;align-items:center}
.filters fieldset input{min-height:auto}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px;list-style:none;padding:0;margin:0}
.cards li{background:var(--panel);border-radius:6px;padding:8px 12px}
.cards .n{display:block;font-size:1.6rem;font-weight:700}
.status{font-weight:600;white-space:nowrap}
.s-succeeded{color:var(--ok)}.s-failed{color:var(--bad)}.s-running{color:var(--accent)}.s-canceled{color:var(--muted)}.s-expired{color:var(--warn)}.s-retry{color:var(--warn)}
.notice{border-left:4px solid var(--ok);background:var(--panel);padding:8px 12px;margin:0 0 16px}
.error{border-left:4px solid var(--bad);background:var(--panel);padding:8px 12px;margin:0 0 16px}
.actions{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end}
.actions form{margin:0}.actions+.actions{margin-top:12px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-word}
ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid var(--line)}
ol.timeline>li{padding:4px 0 12px 16px;position:relative}
ol.timeline>li::before{content:"";position:absolute;left:-8px;top:10px;width:13px;height:13px;border-radius:50%;background:var(--muted)}
ol.timeline>li.o-succeeded::before{background:var(--ok)}ol.timeline>li.o-failed::before{background:var(--bad)}ol.timeline>li.o-retry::before{background:var(--warn)}ol.timeline>li.o-unknown::before{background:var(--muted)}
ol.timeline h3{font-size:1rem;margin:0 0 4px}
.muted{color:var(--muted)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
svg .bar-ok{fill:var(--ok)}svg .bar-bad{fill:var(--bad)}svg .axis{stroke:var(--line)}svg text{fill:var(--muted);font-size:10px}
svg .p50{stroke:var(--accent);fill:none;stroke-width:2}svg .p99{stroke:var(--late);fill:none;stroke-width:2;stroke-dasharray:4 3}svg .dot50{fill:var(--accent)}svg .dot99{fill:var(--late)}
.legend{font-size:.85rem;color:var(--muted)}
.pager{display:flex;gap:16px;margin-top:12px}
.live-status{font-size:.85rem;color:var(--muted);margin:0 0 8px}
svg.axis-chart{width:100%;height:auto;display:block;margin:8px 0}
svg .wait{stroke:var(--warn);stroke-width:2;stroke-dasharray:3 3}svg .late{stroke:var(--late);stroke-width:4}
svg .dur{stroke:var(--fg);stroke-width:4}svg .next{fill:none;stroke:var(--accent);stroke-width:2}
svg .o-succeeded{fill:var(--ok)}svg .o-failed{fill:var(--bad)}svg .o-retry{fill:var(--warn)}svg .o-unknown{fill:var(--muted)}
li.gap{list-style:none;padding:0 0 12px 16px;color:var(--muted);font-size:.9rem}
li.gap::before{display:none}ol.timeline>li.next-attempt::before{background:transparent;border:2px solid var(--accent)}
fieldset{min-width:0}fieldset.form{border:1px solid var(--line);border-radius:6px;margin:0 0 16px;padding:8px 12px}
.field .hint{font-weight:400;color:var(--muted);font-size:.85rem;margin:2px 0 0}
.field-error{color:var(--bad);font-weight:600;margin:4px 0 0}
[aria-invalid="true"]{border-color:var(--bad);border-width:2px}
.inline{display:flex;flex-wrap:wrap;gap:8px 16px}.inline label{font-weight:400;display:inline-flex;gap:6px;align-items:center}
/* A phone: tables become one card per row, every cell labelled, nothing scrolls sideways. */
@media (max-width:720px){
main{padding:12px}
table thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table,table tbody,table tr,table td{display:block;width:100%}
table tr{border:1px solid var(--line);border-radius:6px;margin:0 0 8px;padding:4px 8px}
table td{border:0;padding:3px 0 3px 7em;position:relative;min-height:2em}
table td::before{content:attr(data-label);position:absolute;left:0;top:4px;width:6.5em;color:var(--muted);font-size:.85rem}
table td.url{padding-left:0;min-width:0}table td.url::before{position:static;display:block}
dl.kv{grid-template-columns:minmax(0,1fr)}dl.kv dd{margin-bottom:6px}
.filters>div,.filters fieldset{width:100%}.filters input,.filters select{width:100%}
}
`;

/** The dashboard's icon (also what browsers ask /favicon.ico for): a small SVG, served by the app. */
export const FAVICON_PATH = "/favicon.svg";

/** How often a live page looks for changes, unless it asks for sooner. */
const LIVE_INTERVAL_SECONDS = 5;

/** A part of a live page that its script replaces with the same part of the page fetched again. */
export function LiveRegion(props: { id: string; children: Child }) {
  return (
    <div id={props.id} data-live="">
      {props.children}
    </div>
  );
}

export interface Viewer {
  /** The session's CSRF token, for the forms on the page. */
  csrfToken: string;
  /** Whether the signed-in token may act (write scope); a read-only one only looks. */
  canAct: boolean;
  /** Whether it may manage the project's tokens and signing secrets (admin scope). */
  isAdmin: boolean;
}

/** A hidden field carrying the session's CSRF token; every POST form includes one. */
export function CsrfField(props: { viewer: Viewer }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.viewer.csrfToken} />;
}

/** The page frame; `viewer` is absent on the sign-in page and on errors before sign-in. */
export function Layout(props: {
  title: string;
  viewer?: Viewer;
  current?: "overview" | "jobs" | "schedules" | "topics" | "flow-keys" | "destinations" | "tokens";
  /**
   * Without script, reload the page after this many seconds (for a job about to change); with
   * script, the page follows changes itself and never reloads.
   */
  refreshSeconds?: number;
  /**
   * The page follows live changes: its script fetches it again every `liveIntervalSeconds` and
   * swaps in its LiveRegions, and keeps relative times current against the server's `now`.
   */
  live?: boolean;
  liveIntervalSeconds?: number;
  now?: Date;
  children: Child;
}) {
  const { viewer, current } = props;
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="color-scheme" content="light dark" />
          {/* same-origin, not no-referrer: under no-referrer, browsers send `Origin: null` on form posts. */}
          <meta name="referrer" content="same-origin" />
          {props.refreshSeconds && (
            <noscript>
              <meta http-equiv="refresh" content={String(props.refreshSeconds)} />
            </noscript>
          )}
          {props.live && <script src={`${DASHBOARD_PATH}/live.js`} defer />}
          <title>{`${props.title} · Fliq`}</title>
          <link rel="icon" href={FAVICON_PATH} type="image/svg+xml" />
          <style dangerouslySetInnerHTML={{ __html: CSS }} />
        </head>
        <body
          data-live-interval={props.live ? String(props.liveIntervalSeconds ?? LIVE_INTERVAL_SECONDS) : undefined}
          data-server-now={props.now ? String(props.now.getTime()) : undefined}
        >
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header>
            <a class="brand" href={DASHBOARD_PATH}>
              Fliq
            </a>
            {viewer && (
              <nav aria-label="Dashboard">
                <ul>
                  <li>
                    <a href={DASHBOARD_PATH} aria-current={current === "overview" ? "page" : undefined}>
                      Overview
                    </a>
                  </li>
                  <li>
                    <a href={`${DASHBOARD_PATH}/jobs`} aria-current={current === "jobs" ? "page" : undefined}>
                      Jobs
                    </a>
                  </li>
                  <li>
                    <a href={`${DASHBOARD_PATH}/schedules`} aria-current={current === "schedules" ? "page" : undefined}>
                      Schedules
                    </a>
                  </li>
                  <li>
                    <a href={`${DASHBOARD_PATH}/topics`} aria-current={current === "topics" ? "page" : undefined}>
                      Topics
                    </a>
                  </li>
                  <li>
                    <a href={`${DASHBOARD_PATH}/flow-keys`} aria-current={current === "flow-keys" ? "page" : undefined}>
                      Flow keys
                    </a>
                  </li>
                  <li>
                    <a
                      href={`${DASHBOARD_PATH}/destinations`}
                      aria-current={current === "destinations" ? "page" : undefined}
                    >
                      Destinations
                    </a>
                  </li>
                  {viewer.isAdmin && (
                    <li>
                      <a href={`${DASHBOARD_PATH}/tokens`} aria-current={current === "tokens" ? "page" : undefined}>
                        Tokens and secrets
                      </a>
                    </li>
                  )}
                  <li>
                    <a href={API_REFERENCE_PATH}>API reference</a>
                  </li>
                </ul>
              </nav>
            )}
            {viewer && (
              <form method="post" action={`${DASHBOARD_PATH}/logout`}>
                <CsrfField viewer={viewer} />
                <button type="submit" class="secondary">
                  Sign out
                </button>
              </form>
            )}
          </header>
          <main id="main">
            {props.live && (
              <p class="live-status" id="live-status">
                <noscript>This page shows the state when it was loaded: reload it to see changes.</noscript>
              </p>
            )}
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}
