/**
 * Fan-out topics: what a caller can do with them. A topic is a named list of endpoints; a
 * message published to it becomes one ordinary job per endpoint, created together in one
 * statement (all or none, under the project's cap), each with its own attempts, retries,
 * signature and history, and all sharing one `message_id` so they can be read together.
 */

import type { z } from "zod";
import type { JobRow } from "../db/schema";
import type { TopicWithEndpoints } from "../db/topics";
import {
  countTopics,
  deleteEndpoint,
  deleteTopic,
  findTopic,
  insertEndpoint,
  insertTopic,
  listTopics,
} from "../db/topics";
import { JOB_LIMITS } from "../jobs/limits";
import { ApiError, notFound, validationFailed } from "../wire/errors";
import type { PublishRequest } from "../wire/jobs";
import type { addEndpointRequest, createTopicRequest } from "../wire/topics";
import type { ActionContext } from "./context";
import { createCallersJobBatch, type PresentingCaller, prepareJobBatch, targetViolations } from "./jobs";

/** Refuses endpoint URLs this deployment may not call (the same policy as a job's url), as a 422. */
function assertEndpointUrls(ctx: ActionContext, urls: Array<{ url: string; path: string }>): void {
  const violations = urls.flatMap(({ url, path }) =>
    targetViolations(ctx, { url }).map((violation) => ({ ...violation, path })),
  );
  if (violations.length > 0) throw validationFailed(violations);
}

/** The caller's topic `name`, with its endpoints; another project's topic is not found. */
export async function readCallersTopic(ctx: ActionContext, name: string): Promise<TopicWithEndpoints> {
  const topic = await findTopic(ctx.db, ctx.caller.projectId, name);
  if (!topic) throw notFound("Topic");
  return topic;
}

export function listCallersTopics(ctx: ActionContext): Promise<TopicWithEndpoints[]> {
  return listTopics(ctx.db, ctx.caller.projectId);
}

/** Creates a topic with its first endpoints; 409 `topic_exists` when the name is taken. */
export async function createCallersTopic(
  ctx: ActionContext,
  request: z.output<typeof createTopicRequest>,
): Promise<TopicWithEndpoints> {
  assertEndpointUrls(
    ctx,
    request.endpoints.map((url, index) => ({ url, path: `endpoints.${index}` })),
  );
  if ((await countTopics(ctx.db, ctx.caller.projectId)) >= JOB_LIMITS.topicsPerProjectMax) {
    throw validationFailed([
      { path: "name", message: `a project may have at most ${JOB_LIMITS.topicsPerProjectMax} topics` },
    ]);
  }
  const created = await insertTopic(ctx.db, {
    projectId: ctx.caller.projectId,
    name: request.name,
    urls: request.endpoints,
    now: ctx.now,
  });
  if (!created) throw new ApiError("topic_exists", `This project already has a topic named "${request.name}".`);
  return created;
}

/** Deletes a topic and its endpoints; the jobs published to it stay, and keep its name. */
export async function deleteCallersTopic(ctx: ActionContext, name: string): Promise<TopicWithEndpoints> {
  const topic = await readCallersTopic(ctx, name);
  if (!(await deleteTopic(ctx.db, ctx.caller.projectId, name))) throw notFound("Topic");
  return topic;
}

/** Adds an endpoint; a URL the topic already has answers that endpoint (`created: false`). */
export async function addCallersEndpoint(
  ctx: ActionContext,
  name: string,
  request: z.output<typeof addEndpointRequest>,
): Promise<{ topic: TopicWithEndpoints; created: boolean }> {
  assertEndpointUrls(ctx, [{ url: request.url, path: "url" }]);
  const topic = await readCallersTopic(ctx, name);
  const known = topic.endpoints.some((endpoint) => endpoint.url === request.url);
  if (!known && topic.endpoints.length >= JOB_LIMITS.topicEndpointsMax) {
    throw validationFailed([
      { path: "url", message: `a topic may have at most ${JOB_LIMITS.topicEndpointsMax} endpoints` },
    ]);
  }
  const { created } = await insertEndpoint(ctx.db, { topicId: topic.topic.id, url: request.url, now: ctx.now });
  return { topic: await readCallersTopic(ctx, name), created };
}

/** Removes an endpoint (its id, from the topic's answer); jobs already published to it are left as they are. */
export async function removeCallersEndpoint(
  ctx: ActionContext,
  name: string,
  endpointId: string,
): Promise<TopicWithEndpoints> {
  const topic = await readCallersTopic(ctx, name);
  if (!(await deleteEndpoint(ctx.db, topic.topic.id, endpointId))) throw notFound("Endpoint");
  return readCallersTopic(ctx, name);
}

/**
 * Publishes a message: one job per endpoint the topic has now, with the request's fields and
 * the endpoint's url, created in one statement with the token's checks and the project's cap
 * (see createCallersJobBatch), and fired from here when due within seconds like any job.
 */
export async function publishToCallersTopic(
  ctx: ActionContext,
  presenting: PresentingCaller,
  name: string,
  request: PublishRequest,
): Promise<{ messageId: string; jobs: JobRow[] }> {
  const { topic, endpoints } = await readCallersTopic(ctx, name);
  if (endpoints.length === 0) {
    throw new ApiError(
      "topic_without_endpoints",
      `Topic "${name}" has no endpoints; add one (POST /topics/${name}/endpoints) before publishing.`,
    );
  }
  const messageId = crypto.randomUUID();
  const batch = prepareJobBatch(
    ctx,
    endpoints.map((endpoint) => ({ ...request, url: endpoint.url })),
    () => "",
  );
  const { jobs } = await createCallersJobBatch(ctx, presenting, {
    ...batch,
    jobs: batch.jobs.map(({ row, claim }) => ({ row: { ...row, topic: topic.name, messageId }, claim })),
  });
  return { messageId, jobs };
}
