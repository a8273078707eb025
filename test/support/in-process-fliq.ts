/**
 * A `fetch` that hands each request to the Fliq Worker under test, as a service binding
 * would: the SDK's `fetch` option, pointed at this, talks to the real app and database.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import fliqWorker from "../../src/index";
import { testEnv } from "./fliq";

/** Calls the Fliq Worker with `request`, and waits for the work it left in waitUntil (a delivery) before answering. */
export async function fliqServiceFetch(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await fliqWorker.fetch(request as Parameters<typeof fliqWorker.fetch>[0], testEnv, ctx);
  const body = await response.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(body, { status: response.status, headers: response.headers });
}
