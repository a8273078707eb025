/** How a failed authentication is answered, by the API and by the dashboard's create path alike. */
import type { Context } from "hono";
import { AUTH_FAILURE_PERIOD_SECONDS, countAuthFailure } from "../actions/caller";
import { ApiError, unauthorized } from "../wire/errors";
import type { SharedEnv } from "./env";

/** The answer to a failed authentication: the usual 401, or 429 with Retry-After once the client has failed too often. */
export async function authFailure<E extends SharedEnv>(c: Context<E>): Promise<ApiError> {
  if (!(await countAuthFailure(c.env, c.req.raw))) return unauthorized();
  c.header("Retry-After", String(AUTH_FAILURE_PERIOD_SECONDS));
  return new ApiError(
    "too_many_auth_failures",
    `Too many failed authentications from your address; try again in ${AUTH_FAILURE_PERIOD_SECONDS} seconds.`,
  );
}
