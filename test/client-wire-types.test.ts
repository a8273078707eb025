/**
 * The client package writes the wire format out by hand (it ships without zod or server code);
 * this file keeps it from drifting from the API's zod schemas. The checks are types: `npm run
 * typecheck` fails when a response field differs in name or type, or when a request field is
 * missing on either side or the client would let a caller send what the API's types refuse.
 * The tests below compare the same against real answers of the API.
 */
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import type {
  Attempt,
  BulkFilter,
  CreateJobRequest,
  CreateScheduleRequest,
  CreateTopicRequest,
  Destination,
  FlowKey,
  Job,
  JobFlow,
  ListJobsOptions,
  Schedule,
  ScheduleRun,
  ScheduleWithRuns,
  Topic,
  UpdateFlowKeyRequest,
  UpdateJobRequest,
  UpdateScheduleRequest,
} from "../src/client/index";
import { createFliqClient } from "../src/client/index";
import type { destinationResponse } from "../src/wire/destinations";
import type { flowKeyResponse, jobFlowField, updateFlowKeyRequest } from "../src/wire/flow-keys";
import type {
  attemptResponse,
  bulkRequest,
  createJobRequest,
  jobResponse,
  listJobsQuery,
  updateJobRequest,
} from "../src/wire/jobs";
import type {
  createScheduleRequest,
  scheduleDetailResponse,
  scheduleResponse,
  scheduleRunResponse,
  updateScheduleRequest,
} from "../src/wire/schedules";
import type { createTopicRequest, topicResponse } from "../src/wire/topics";
import { receiverUrl, useTestProject } from "./support/fliq";
import { fliqServiceFetch } from "./support/in-process-fliq";

/** True only when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
/** The same field names, and everything the client's type allows is allowed by the API's. */
type SendableAs<Client, Api> =
  Equal<keyof Client, keyof Api> extends true ? (Client extends Api ? true : false) : false;
type Flat<T> = { [K in keyof T]: T[K] };

// Answers: exactly the same shape.
// biome-ignore lint/correctness/noUnusedVariables: never used; its constraints are the check.
type WireTypeChecks = [
  Assert<Equal<Job, Flat<z.output<typeof jobResponse>>>>,
  Assert<Equal<Attempt, Flat<z.output<typeof attemptResponse>>>>,
  Assert<Equal<Schedule, Flat<z.output<typeof scheduleResponse>>>>,
  Assert<Equal<ScheduleRun, Flat<z.output<typeof scheduleRunResponse>>>>,
  Assert<Equal<Flat<Omit<ScheduleWithRuns, "etag">>, Flat<z.output<typeof scheduleDetailResponse>>>>,
  Assert<Equal<Topic, Flat<z.output<typeof topicResponse>>>>,
  Assert<Equal<FlowKey, Flat<z.output<typeof flowKeyResponse>>>>,
  Assert<Equal<Destination, Flat<z.output<typeof destinationResponse>>>>,
  // Requests: the same fields, and nothing the API's types refuse.
  Assert<SendableAs<CreateJobRequest, z.input<typeof createJobRequest>>>,
  Assert<SendableAs<UpdateJobRequest, z.input<typeof updateJobRequest>>>,
  Assert<SendableAs<CreateScheduleRequest, z.input<typeof createScheduleRequest>>>,
  Assert<SendableAs<UpdateScheduleRequest, z.input<typeof updateScheduleRequest>>>,
  Assert<SendableAs<CreateTopicRequest, z.input<typeof createTopicRequest>>>,
  Assert<SendableAs<JobFlow, z.input<typeof jobFlowField>>>,
  Assert<SendableAs<UpdateFlowKeyRequest, z.input<typeof updateFlowKeyRequest>>>,
  Assert<SendableAs<BulkFilter, NonNullable<z.input<typeof bulkRequest>["filter"]>>>,
  // Listing: every filter of the API's query has its option (labels and status under their client names).
  Assert<
    Equal<
      Exclude<keyof z.input<typeof listJobsQuery>, "label">,
      | Exclude<keyof ListJobsOptions, "labels" | "scheduled_after" | "scheduled_before">
      | "scheduled_after"
      | "scheduled_before"
    >
  >,
];

const { token } = await useTestProject();
const fliq = createFliqClient({ baseUrl: "https://fliq.internal", token, fetch: fliqServiceFetch });

/** The field names the client's types declare, listed once per type and checked complete by `satisfies`. */
const JOB_FIELDS = Object.keys({
  id: 1,
  status: 1,
  url: 1,
  http_method: 1,
  headers: 1,
  body: 1,
  scheduled_at: 1,
  run_at: 1,
  max_retries: 1,
  timeout_ms: 1,
  retry_backoff: 1,
  labels: 1,
  failure_url: 1,
  success_url: 1,
  expires_at: 1,
  max_retry_duration: 1,
  webhook_id: 1,
  attempt: 1,
  last_status_code: 1,
  last_error: 1,
  created_at: 1,
  updated_at: 1,
  finished_at: 1,
  schedule_id: 1,
  topic: 1,
  message_id: 1,
  flow_key: 1,
} satisfies Record<keyof Job, 1>);

describe("the client's wire types", () => {
  it("name every field of a job the API answers, and no other", async () => {
    const job = await fliq.createJob({ url: receiverUrl("ok"), delay: "1h" });
    const { etag: _etag, ...wire } = job;
    expect(Object.keys(wire).sort()).toEqual([...JOB_FIELDS].sort());
  });

  it("publish to a topic: one job per endpoint, read back together by message id", async () => {
    const name = `signups-${crypto.randomUUID().slice(0, 8)}`;
    const topic = await fliq.createTopic({ name, endpoints: [receiverUrl("ok"), receiverUrl("ok")] });
    expect(topic.endpoints).toHaveLength(2);
    const { message_id, jobs } = await fliq.publish(name, { delay: "1h", json: { id: 7 } });
    expect(jobs.map((job) => job.url).sort()).toEqual(topic.endpoints.map((endpoint) => endpoint.url).sort());
    expect(jobs.every((job) => job.headers["Content-Type"] === "application/json")).toBe(true);
    const together = (await fliq.listJobsPage({ message_id })).jobs;
    expect(together.map((job) => job.id).sort()).toEqual(jobs.map((job) => job.id).sort());
    const [, second] = topic.endpoints;
    expect((await fliq.removeTopicEndpoint(name, second.id)).endpoints).toHaveLength(1);
    expect((await fliq.listTopics()).map((each) => each.name)).toContain(name);
    await fliq.deleteTopic(name);
  });
});
