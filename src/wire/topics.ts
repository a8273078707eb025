/**
 * The topics API's wire format: fan-out topics, their endpoints, and publishing a message to
 * one. Imports zod and the jobs' wire format only.
 */
import { z } from "zod";
import { JOB_LIMITS } from "../jobs/limits";
import { isoDateTime, jobFields, jobResponse, topicName } from "./jobs";

export { topicName };

const endpointUrl = jobFields.url.meta({
  description:
    "Where the topic's messages go: an http(s) URL to a public host, or service://<name>/<path>, like a job's url.",
});

/** `POST /topics`: a name unique in the project, and the endpoints to start with. */
export const createTopicRequest = z.strictObject({
  name: topicName,
  endpoints: z.array(endpointUrl).max(JOB_LIMITS.topicEndpointsMax).default([]),
});

/** `POST /topics/:name/endpoints`. */
export const addEndpointRequest = z.strictObject({ url: endpointUrl });

export const endpointIdParam = z.uuid();

export const endpointResponse = z.object({
  id: z.uuid(),
  url: z.string(),
  created_at: isoDateTime,
});

export const topicResponse = z.object({
  name: z.string(),
  /** Oldest first; those added together, by URL. */
  endpoints: z.array(endpointResponse),
  created_at: isoDateTime,
});

export const topicListResponse = z.object({ topics: z.array(topicResponse) });

/** What publishing a message made: one job per endpoint, in the endpoints' order, sharing `message_id`. */
export const publishResponse = z.object({
  message_id: z.uuid(),
  jobs: z.array(jobResponse),
});
