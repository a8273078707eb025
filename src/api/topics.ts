/**
 * The topics API: fan-out topics, their endpoints, and publishing to one, over the topic
 * actions (src/actions/topics.ts), each route declared beside its handler.
 */
import type { Context } from "hono";
import {
  addCallersEndpoint,
  createCallersTopic,
  deleteCallersTopic,
  listCallersTopics,
  publishToCallersTopic,
  readCallersTopic,
  removeCallersEndpoint,
} from "../actions/topics";
import { actionContextOf } from "../http/action-context";
import type { AppEnv } from "../http/env";
import { notFound } from "../wire/errors";
import { publishRequest } from "../wire/jobs";
import {
  addEndpointRequest,
  createTopicRequest,
  endpointIdParam,
  publishResponse,
  topicListResponse,
  topicName,
  topicResponse,
} from "../wire/topics";
import { presentingCallerOf } from "./jobs";
import { COMMON_ERRORS } from "./openapi";
import { toJobJson, toTopicJson } from "./render";
import { ApiRoutes } from "./routes";
import { parseJsonBody } from "./validation";

/** The topics API, mounted behind requireToken. */
export const topicRoutes = new ApiRoutes({ basePath: "/topics", tag: "Topics", security: "bearer" });

const topicParams = { name: topicName };
const notFoundAnswer = "No such topic in this project";
const topicAnswer = (description: string) => ({ description, body: topicResponse });

/** The topic name in the path; one that is not a valid name names no topic. */
function topicNameOf(c: Context<AppEnv>): string {
  const name = topicName.safeParse(c.req.param("name"));
  if (!name.success) throw notFound("Topic");
  return name.data;
}

topicRoutes.declare(
  {
    method: "post",
    path: "/",
    summary: "Create a fan-out topic",
    body: createTopicRequest,
    answers: { 201: topicAnswer("The topic") },
    errors: { ...COMMON_ERRORS, 409: "The project already has a topic of this name (`topic_exists`)" },
  },
  async (c) => {
    const request = await parseJsonBody(c, createTopicRequest);
    return c.json(toTopicJson(await createCallersTopic(actionContextOf(c), request)), 201);
  },
);

topicRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "List topics",
    answers: { 200: { description: "Every topic of the project, by name", body: topicListResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => c.json({ topics: (await listCallersTopics(actionContextOf(c))).map(toTopicJson) }),
);

topicRoutes.declare(
  {
    method: "get",
    path: "/:name",
    summary: "A topic and its endpoints",
    params: topicParams,
    answers: { 200: topicAnswer("The topic") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toTopicJson(await readCallersTopic(actionContextOf(c), topicNameOf(c)))),
);

topicRoutes.declare(
  {
    method: "delete",
    path: "/:name",
    summary: "Delete a topic; the jobs published to it stay",
    params: topicParams,
    answers: { 200: topicAnswer("The deleted topic") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toTopicJson(await deleteCallersTopic(actionContextOf(c), topicNameOf(c)))),
);

topicRoutes.declare(
  {
    method: "post",
    path: "/:name/endpoints",
    summary: "Add an endpoint to a topic",
    params: topicParams,
    body: addEndpointRequest,
    answers: {
      201: topicAnswer("The topic with its new endpoint"),
      200: topicAnswer("The topic, which already had this URL"),
    },
    errors: { ...COMMON_ERRORS, 404: notFoundAnswer },
  },
  async (c) => {
    const request = await parseJsonBody(c, addEndpointRequest);
    const { topic, created } = await addCallersEndpoint(actionContextOf(c), topicNameOf(c), request);
    return c.json(toTopicJson(topic), created ? 201 : 200);
  },
);

topicRoutes.declare(
  {
    method: "delete",
    path: "/:name/endpoints/:id",
    summary: "Remove an endpoint from a topic; jobs already published to it stay",
    params: { ...topicParams, id: endpointIdParam },
    answers: { 200: topicAnswer("The topic without the endpoint") },
    errors: { 401: COMMON_ERRORS[401], 404: "No such topic, or no such endpoint in it" },
  },
  async (c) => {
    const id = endpointIdParam.safeParse(c.req.param("id"));
    if (!id.success) throw notFound("Endpoint");
    return c.json(toTopicJson(await removeCallersEndpoint(actionContextOf(c), topicNameOf(c), id.data)));
  },
);

topicRoutes.declare(
  {
    method: "post",
    path: "/:name/jobs",
    summary: "Publish a message: one job per endpoint, all or none",
    params: topicParams,
    body: publishRequest,
    answers: { 201: { description: "The message's id and its jobs, in the endpoints' order", body: publishResponse } },
    errors: {
      ...COMMON_ERRORS,
      404: notFoundAnswer,
      409: "The topic has no endpoints (`topic_without_endpoints`)",
      429: "Too many requests with this token (`rate_limited`), or the jobs would take the project past its cap on waiting jobs (`scheduled_jobs_limit`)",
    },
  },
  async (c) => {
    const request = await parseJsonBody(c, publishRequest);
    const presenting = await presentingCallerOf(c);
    const { messageId, jobs } = await publishToCallersTopic(actionContextOf(c), presenting, topicNameOf(c), request);
    return c.json({ message_id: messageId, jobs: jobs.map(toJobJson) }, 201);
  },
);
