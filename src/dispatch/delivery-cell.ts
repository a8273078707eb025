/**
 * Delivery cells: Durable Objects that carry a tick's shares when a burst needs more
 * invocations than one request may reach through service bindings (32, so 16 self-invoked
 * shards of 5 callbacks each). Each RPC call to a cell is a request of its own, with its own
 * six connections, subrequests and CPU, and it is not a service-binding call; so a tick fans
 * out to as many cells as its burst needs (at most MAX_CELLS), each running the same shard
 * delivery as a self-invoked shard does, under the tick's claim.
 *
 * A cell holds no state and stores nothing: the jobs' rows are the state. What a failing cell
 * costs is the tick's to settle (it releases the cell's unstarted jobs at once and claims them
 * back; see `handOff` in tick.ts), and a cut tick's window is the watchdog's, as for shards.
 */
import { DurableObject } from "cloudflare:workers";
import { openDatabase } from "../db/client";
import { type Bindings, readSettings } from "../settings";
import { outboundOf } from "./deliver";
import type { DeliveryReport } from "./delivery-run";
import { cellName } from "./shard-plan";
import { runShard, type Shard } from "./tick";
import { windowOwnersOf } from "./tick-watchdog";

/** Delivers one share of a tick's jobs in the invocation at hand, on a database connection of its own. */
export async function deliverShard(env: Bindings, shard: Shard, waitUntil: (work: Promise<unknown>) => void) {
  const settings = readSettings(env);
  const database = openDatabase(settings);
  try {
    return await runShard(database.db, shard, {
      subrequestBudget: settings.subrequestBudget,
      outbound: outboundOf(settings),
      owners: windowOwnersOf(settings.tickWatchdog),
    });
  } finally {
    waitUntil(database.close());
  }
}

export class DeliveryCell extends DurableObject<Bindings> {
  /**
   * Whether a share is being delivered. Concurrent requests to one object share its I/O context,
   * so two shares in one cell would hold ten callbacks and two database connections together:
   * a second share is refused, and the tick that sent it releases and delivers its jobs itself.
   */
  private delivering = false;

  /** Delivers one share of a tick's jobs (see Shard); throws, at once, if this cell is already delivering one. */
  async deliver(shard: Shard): Promise<DeliveryReport> {
    if (this.delivering) throw new Error("this delivery cell is already delivering a share");
    this.delivering = true;
    try {
      return await deliverShard(this.env, shard, (work) => this.ctx.waitUntil(work));
    } finally {
      this.delivering = false;
    }
  }
}

/** How a tick hands share `index` of its minute to a cell: one RPC call to the cell named for it. */
export function cellRunnerOf(namespace: DurableObjectNamespace<DeliveryCell>, minute: Date) {
  return (shard: Shard, index: number): Promise<DeliveryReport> =>
    namespace.get(namespace.idFromName(cellName(minute, index))).deliver(shard);
}
