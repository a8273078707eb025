/**
 * The entry point of the bench's copy of the Worker (worker-snapshot.ts makes it wrangler.toml's
 * `main`; the sources stay as they are). It serves the Worker unchanged and adds two things the
 * bench needs from inside, under `/__bench/` on the Worker's own port:
 *
 * - Connection peaks. Production allows an invocation six simultaneous open connections, and
 *   one invocation's connections cannot be told apart from another's outside the Worker: the
 *   callbacks of every invocation share workerd's connections to a receiver. So each invocation
 *   (an API request, a tick, a delivery cell, a shard, a watchdog takeover) is followed with an
 *   AsyncLocalStorage, and the connections it holds are counted: its database WebSockets (the
 *   driver's `new WebSocket`) from opening to closing, and its fetches (SQL over HTTP to the
 *   bridge's `/sql`, callbacks) from the call until the answer's headers come back (the bench's
 *   receivers answer with empty bodies). Durable Object calls are not connections and are not counted.
 *   `GET /__bench/peaks` answers the highest count any one invocation of each kind reached since
 *   the last read, and starts over.
 * - Faults, armed by `POST /__bench/fault` for the next occurrence only:
 *   `{"cellFails": true}`: the next delivery cell (or shard) to receive a share throws instead of
 *   delivering it, as a failed invocation would; `{"tickCutAfterMs": n}`: the next tick's
 *   invocation ends n ms after it starts, as one the platform cuts short. Locally, work left
 *   running after a handler throws goes on, so the cut also ends everything the tick does outside
 *   itself: its callbacks in flight are aborted, its database WebSockets closed, and its later
 *   fetches, WebSockets and Durable Object calls (its reports to the watchdog) never answer.
 *   The cells it handed shares to are invocations of their own and go on.
 *   `GET /__bench/fault` answers what they hit.
 *
 * Local workerd runs the Worker and its Durable Objects in one isolate, so the counts and the
 * armed faults are shared by all of them.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import * as fliq from "../../src/index";

const invocation = new AsyncLocalStorage();

/** Per kind of invocation since the last read: the highest count, `{connections, database, other}`, and `invocations`. */
let peaks = {};
const armed = { cellFails: false, tickCutAfterMs: undefined };
const hit = { failedShareJobs: [], tickCutAt: undefined };

/**
 * Connections opened where no invocation is known: from a callback the runtime calls outside any
 * (an event listener's, such as the driver's reconnecting after a socket closed). Counted
 * together, as if one invocation held them all, so they show rather than go uncounted.
 */
const unattributed = { kind: "unattributed", database: 0, other: 0 };

/** Runs `work` as one invocation of `kind` (`held`: what it holds), counting the connections it opens. */
function asInvocation(kind, work, held = { kind, database: 0, other: 0 }) {
  peakOf(kind).invocations++;
  return invocation.run(held, work);
}

/** The record of `kind` since the last read: its highest connection count, and how many invocations ran. */
function peakOf(kind) {
  peaks[kind] ??= { connections: 0, database: 0, other: 0, invocations: 0 };
  return peaks[kind];
}

/** A promise that never settles: what an invocation that has ended gets for any I/O it still starts. */
const never = () => new Promise(() => {});

/** Ends everything a cut invocation has under way outside itself (see the top of the file). */
function cutOff(held) {
  held.cut = true;
  held.aborted.abort(new Error("the invocation ended"));
  for (const socket of held.sockets) socket.close(1000, "the invocation ended");
}

/**
 * What a cut-armed invocation's code holds instead of its WebSocket: the socket itself until
 * the cut; from then on the socket is closed (the bridge lets its server connection go) and the
 * code hears nothing more and sends nothing, as code that no longer runs. Were it told of the
 * close, the driver would open another socket, from a callback that runs outside the invocation.
 */
function silencedAtCut(held, socket) {
  return new Proxy(socket, {
    get(target, name) {
      if (name === "addEventListener") {
        return (type, listener, options) =>
          target.addEventListener(
            type,
            (event) => {
              if (!held.cut) listener(event);
            },
            options,
          );
      }
      // The socket's own send, not an own property the Worker may have put over it (Fliq's guard
      // against late writes), which would call back through this proxy without end.
      if (name === "send")
        return (data) => (held.cut ? undefined : OriginalWebSocket.prototype.send.call(target, data));
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
    set(target, name, value) {
      return Reflect.set(target, name, value);
    },
  });
}

/** A Durable Object namespace whose objects' methods never answer once `held` is cut. */
function cutWith(held, namespace) {
  if (!namespace) return namespace;
  const stubOf = (stub) =>
    new Proxy(stub, {
      get(target, name) {
        const value = Reflect.get(target, name);
        if (typeof value !== "function") return value;
        return (...args) => (held.cut ? never() : Reflect.apply(value, target, args));
      },
    });
  return new Proxy(namespace, {
    get(target, name) {
      const value = Reflect.get(target, name);
      if (typeof value !== "function") return value;
      if (name === "get") return (...args) => stubOf(Reflect.apply(value, target, args));
      return value.bind(target);
    },
  });
}

function opened(held, use) {
  held[use]++;
  const connections = held.database + held.other;
  const peak = peakOf(held.kind);
  if (connections > peak.connections) Object.assign(peak, { connections, database: held.database, other: held.other });
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    held[use]--;
  };
}

const originalFetch = globalThis.fetch;
globalThis.fetch = function fetch(input, init) {
  const held = invocation.getStore() ?? unattributed;
  if (held.cut) return never();
  if (held.aborted) init = { ...init, signal: held.aborted.signal };
  const url = new URL(input instanceof Request ? input.url : String(input));
  const close = opened(held, url.pathname === "/sql" ? "database" : "other");
  const answered = originalFetch(input, init);
  answered.then(close, close);
  return answered;
};

const OriginalWebSocket = globalThis.WebSocket;
globalThis.WebSocket = function WebSocket(url, protocols) {
  const held = invocation.getStore() ?? unattributed;
  // One that never opens: the driver waits for it forever.
  if (held.cut) return new EventTarget();
  const socket = new OriginalWebSocket(url, protocols);
  const close = opened(held, "database");
  socket.addEventListener("close", close);
  socket.addEventListener("error", close);
  if (!held.sockets) return socket;
  held.sockets.add(socket);
  return silencedAtCut(held, socket);
};

async function answerBench(request, url) {
  if (url.pathname === "/__bench/peaks") {
    const answer = peaks;
    peaks = {};
    return Response.json(answer);
  }
  if (url.pathname === "/__bench/fault" && request.method === "POST") {
    const fault = await request.json();
    if (fault.cellFails) armed.cellFails = true;
    if (fault.tickCutAfterMs !== undefined) armed.tickCutAfterMs = fault.tickCutAfterMs;
    hit.failedShareJobs = [];
    hit.tickCutAt = undefined;
    return Response.json(armed);
  }
  if (url.pathname === "/__bench/fault") return Response.json(hit);
  return new Response("not found", { status: 404 });
}

/** Throws, once armed, as the invocation of a failing cell or shard would, after receiving its share. */
function failIfArmed(shard) {
  if (!armed.cellFails) return;
  armed.cellFails = false;
  hit.failedShareJobs = shard.jobs.map((job) => job.id);
  console.log(JSON.stringify({ event: "bench.share_failed", jobs: shard.jobs.length }));
  throw new Error("the bench failed this share's invocation");
}

export default {
  fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/__bench/")) return answerBench(request, url);
    return asInvocation("api", () => fliq.default.fetch(request, env, ctx));
  },

  async scheduled(controller, env, ctx) {
    const cutAfterMs = armed.tickCutAfterMs;
    armed.tickCutAfterMs = undefined;
    if (cutAfterMs === undefined) return asInvocation("tick", () => fliq.default.scheduled(controller, env, ctx));
    const held = {
      kind: "tick",
      database: 0,
      other: 0,
      cut: false,
      aborted: new AbortController(),
      sockets: new Set(),
    };
    const cutEnv = {
      ...env,
      TICK_WATCHDOG: cutWith(held, env.TICK_WATCHDOG),
      DELIVERY_CELLS: cutWith(held, env.DELIVERY_CELLS),
    };
    const tick = asInvocation("tick", () => fliq.default.scheduled(controller, cutEnv, ctx), held);
    const cut = new Promise((resolve) => setTimeout(() => resolve("cut"), cutAfterMs));
    // A tick that ends before its cut was not cut.
    if ((await Promise.race([tick.then(() => "done"), cut])) === "done") return;
    cutOff(held);
    hit.tickCutAt = Date.now();
    console.log(JSON.stringify({ event: "bench.tick_cut", afterMs: cutAfterMs }));
    throw new Error("the bench cut this tick's invocation");
  },
};

export class ShardRunner extends fliq.ShardRunner {
  async deliver(shard) {
    failIfArmed(shard);
    return asInvocation("shard", () => super.deliver(shard));
  }
}

export class DeliveryCell extends fliq.DeliveryCell {
  async deliver(shard) {
    failIfArmed(shard);
    return asInvocation("cell", () => super.deliver(shard));
  }
}

export class TickWatchdog extends fliq.TickWatchdog {
  async alarm() {
    return asInvocation("watchdog", () => super.alarm());
  }
}
