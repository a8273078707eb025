/**
 * Fan-out topics: a topic names endpoints; a message published to it becomes one job per
 * endpoint, each delivered, signed, retried and recorded on its own, all sharing a message id.
 * Real receivers, the real API, the real database.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import { callApi, createProject, moveRunAt, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";

const { db, project, token, signingSecret } = await useTestProject();

/** A topic name no other test uses. */
const freshName = () => `orders.${crypto.randomUUID().slice(0, 8)}`;

async function createTopic(name: string, endpoints: string[]) {
  const answer = await callApi("POST", "/topics", { token, json: { name, endpoints } });
  expect(answer.status).toBe(201);
  return answer.body;
}

const jobsOfMessage = async (messageId: string) =>
  (await callApi("GET", `/jobs?message_id=${messageId}&order=soonest`, { token })).body.jobs;

describe("topics through the API", () => {
  it("are created, read, listed, given and relieved of endpoints, and deleted", async () => {
    const name = freshName();
    const [first, second, third] = [receiverUrl("ok"), receiverUrl("ok"), receiverUrl("ok")];
    const created = await createTopic(name, [second, first].sort());
    // Endpoints added together are listed by URL.
    expect(created).toMatchObject({ name, endpoints: [first, second].sort().map((url) => ({ url })) });
    expect((await callApi("GET", `/topics/${name}`, { token })).body).toEqual(created);
    const listed = (await callApi("GET", "/topics", { token })).body.topics;
    expect(listed.map((topic: { name: string }) => topic.name)).toContain(name);

    const added = await callApi("POST", `/topics/${name}/endpoints`, { token, json: { url: third } });
    expect(added.status).toBe(201);
    const urls = (topic: { endpoints: Array<{ url: string }> }) => topic.endpoints.map((endpoint) => endpoint.url);
    expect(urls(added.body)).toEqual([...[first, second].sort(), third]);
    // Adding a URL the topic has is safe to repeat: the same topic, no second endpoint.
    const again = await callApi("POST", `/topics/${name}/endpoints`, { token, json: { url: third } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(added.body);

    const secondId = added.body.endpoints.find((endpoint: { url: string }) => endpoint.url === second).id;
    const removed = await callApi("DELETE", `/topics/${name}/endpoints/${secondId}`, { token });
    expect(removed.status).toBe(200);
    expect(urls(removed.body)).toEqual([first, third]);
    expect((await callApi("DELETE", `/topics/${name}/endpoints/${secondId}`, { token })).status).toBe(404);

    const published = await callApi("POST", `/topics/${name}/jobs`, { token, json: { delay: "1h" } });
    expect(published.status).toBe(201);
    const deleted = await callApi("DELETE", `/topics/${name}`, { token });
    expect(deleted.status).toBe(200);
    expect((await callApi("GET", `/topics/${name}`, { token })).status).toBe(404);
    // The jobs published to it stay, with its name.
    const kept = await jobsOfMessage(published.body.message_id);
    expect(kept).toHaveLength(2);
    expect(kept.every((job: { topic: string }) => job.topic === name)).toBe(true);
  });

  it.each([
    ["a name with a space", { name: "new orders", endpoints: [] }, "name"],
    ["an endpoint on a private address", { name: "ok-name", endpoints: ["http://10.0.0.7/hook"] }, "endpoints.0"],
    ["an endpoint that is not a URL", { name: "ok-name", endpoints: ["hook"] }, "endpoints.0"],
    ["an unknown field", { name: "ok-name", endpoints: [], fanout: true }, "fanout"],
  ])("refuses %s with 422 naming it, and stores nothing", async (_what, json, path) => {
    const answer = await callApi("POST", "/topics", { token, json });
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe("validation_failed");
    expect(answer.body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
    expect((await callApi("GET", "/topics/ok-name", { token })).status).toBe(404);
  });

  it("refuses a second topic of the same name with 409, leaving the first as it was", async () => {
    const name = freshName();
    const first = await createTopic(name, [receiverUrl("ok")]);
    const answer = await callApi("POST", "/topics", { token, json: { name, endpoints: [receiverUrl("ok")] } });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("topic_exists");
    expect((await callApi("GET", `/topics/${name}`, { token })).body).toEqual(first);
  });

  it("refuses to publish to a topic without endpoints (409) or to no topic (404), creating no job", async () => {
    const name = freshName();
    await createTopic(name, []);
    const empty = await callApi("POST", `/topics/${name}/jobs`, { token, json: {} });
    expect(empty.status).toBe(409);
    expect(empty.body.error.code).toBe("topic_without_endpoints");
    const missing = await callApi("POST", `/topics/${freshName()}/jobs`, { token, json: {} });
    expect(missing.status).toBe(404);
    // A message carries no url of its own: the endpoints are the urls.
    await callApi("POST", `/topics/${name}/endpoints`, { token, json: { url: receiverUrl("ok") } });
    const withUrl = await callApi("POST", `/topics/${name}/jobs`, { token, json: { url: receiverUrl("ok") } });
    expect(withUrl.status).toBe(422);
    expect((await callApi("GET", "/jobs", { token })).body.jobs).toEqual([]);
  });

  it("keeps a project's topics from another project's token", async () => {
    const name = freshName();
    await createTopic(name, [receiverUrl("ok")]);
    const other = await createProject(db);
    expect((await callApi("GET", `/topics/${name}`, { token: other.token })).status).toBe(404);
    expect((await callApi("POST", `/topics/${name}/jobs`, { token: other.token, json: {} })).status).toBe(404);
    expect((await callApi("GET", "/topics", { token: other.token })).body.topics).toEqual([]);
    // The other project may use the same name for a topic of its own.
    const own = await callApi("POST", "/topics", { token: other.token, json: { name, endpoints: [] } });
    expect(own.status).toBe(201);
  });
});

describe("publishing", () => {
  it("makes one job per endpoint, each delivered once to its own endpoint, signed, all sharing the message id", async () => {
    const endpoints = [receiverUrl("ok"), receiverUrl("ok"), receiverUrl("ok")].sort();
    const name = freshName();
    await createTopic(name, endpoints);
    const body = JSON.stringify({ order: 42 });
    // Due now: the publishing request fires its jobs itself, as POST /jobs does.
    const published = await callApi("POST", `/topics/${name}/jobs`, {
      token,
      json: { body, headers: { "Content-Type": "application/json" }, labels: { flow: "orders" } },
    });
    expect(published.status).toBe(201);
    const { message_id: messageId, jobs } = published.body;
    expect(jobs.map((job: { url: string }) => job.url)).toEqual(endpoints);
    expect(new Set(jobs.map((job: { id: string }) => job.id)).size).toBe(3);
    for (const job of jobs)
      expect(job).toMatchObject({ topic: name, message_id: messageId, labels: { flow: "orders" } });

    for (const [index, endpoint] of endpoints.entries()) {
      const received = await receivedAt(endpoint);
      expect(received).toHaveLength(1);
      expect(received[0].body).toBe(body);
      // Each delivery is signed as a job of its own: its own webhook-id.
      new Webhook(signingSecret).verify(received[0].body, received[0].headers);
      expect(received[0].headers["webhook-id"]).toBe(jobs[index].webhook_id);
    }
    const delivered = await jobsOfMessage(messageId);
    expect(delivered.map((job: { status: string }) => job.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    const byTopic = (await callApi("GET", `/jobs?topic=${name}`, { token })).body.jobs;
    expect(byTopic).toHaveLength(3);
  });

  it("retries a failing endpoint alone while the healthy ones succeed once, on time", async () => {
    const healthy = [receiverUrl("ok"), receiverUrl("ok")];
    const failing = receiverUrl("status/500");
    const name = freshName();
    await createTopic(name, [...healthy, failing]);
    // A retry a minute away: past the publishing request's own window, so the tick makes it.
    const published = await callApi("POST", `/topics/${name}/jobs`, {
      token,
      json: { max_retries: 2, retry_backoff: { initial_delay_ms: 60_000, max_delay_ms: 60_000 } },
    });
    expect(published.status).toBe(201);
    const failed = published.body.jobs.find((job: { url: string }) => job.url === failing);
    const [first, second] = published.body.jobs.filter((job: { url: string }) => job.url !== failing);

    for (const job of [first, second]) {
      const stored = await findJob(db, project.id, job.id);
      expect(stored).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    const waiting = await findJob(db, project.id, failed.id);
    expect(waiting).toMatchObject({ status: "scheduled", attempt: 1, lastStatusCode: 500 });

    // Its retry, made by the tick: only the failing endpoint is called again.
    await moveRunAt(db, failed.id, new Date());
    await tickNow();
    expect(await findJob(db, project.id, failed.id)).toMatchObject({ attempt: 2 });
    expect(await receivedAt(failing)).toHaveLength(2);
    for (const endpoint of healthy) expect(await receivedAt(endpoint)).toHaveLength(1);
  });

  it("sends a message to the endpoints the topic has when it is published, and to no other", async () => {
    const [kept, removedLater] = [receiverUrl("ok"), receiverUrl("ok")];
    const name = freshName();
    const topic = await createTopic(name, [kept, removedLater]);
    const removedId = topic.endpoints.find((endpoint: { url: string }) => endpoint.url === removedLater).id;
    const before = await callApi("POST", `/topics/${name}/jobs`, { token, json: { delay: "1h" } });
    expect(before.body.jobs).toHaveLength(2);

    await callApi("DELETE", `/topics/${name}/endpoints/${removedId}`, { token });
    const after = await callApi("POST", `/topics/${name}/jobs`, { token, json: { delay: "1h" } });
    expect(after.body.jobs.map((job: { url: string }) => job.url)).toEqual([kept]);
    // The message published before still goes to both.
    const earlier = await jobsOfMessage(before.body.message_id);
    expect(earlier.map((job: { url: string }) => job.url).sort()).toEqual([kept, removedLater].sort());
  });
});

describe("topics on the dashboard", () => {
  it("are created, given and relieved of endpoints, and deleted from the topics page, as through the API", async () => {
    const { cookie, csrf } = await openSession(token);
    const name = freshName();
    const [first, second] = [receiverUrl("ok"), receiverUrl("ok")].sort();
    const created = await callDashboard("POST", "/dashboard/topics", {
      cookie,
      form: { _csrf: csrf, name, endpoints: `${first}\r\n\r\n${second}\r\n` },
    });
    expect(created.status).toBe(303);
    const page = await callDashboard("GET", "/dashboard/topics?done=created", { cookie });
    expect(page.status).toBe(200);
    expect(textOf(page.html)).toContain("The topic was created.");
    expect(page.html).toContain(first);
    expect(page.html).toContain('aria-current="page">Topics');
    const topic = (await callApi("GET", `/topics/${name}`, { token })).body;
    expect(topic.endpoints.map((endpoint: { url: string }) => endpoint.url)).toEqual([first, second]);

    const third = receiverUrl("ok");
    await callDashboard("POST", `/dashboard/topics/${name}/endpoints`, { cookie, form: { _csrf: csrf, url: third } });
    await callDashboard("POST", `/dashboard/topics/${name}/endpoints/${topic.endpoints[0].id}/remove`, {
      cookie,
      form: { _csrf: csrf },
    });
    const changed = (await callApi("GET", `/topics/${name}`, { token })).body;
    expect(changed.endpoints.map((endpoint: { url: string }) => endpoint.url)).toEqual([second, third]);

    // A bad endpoint is refused with the API's message, and changes nothing.
    const refused = await callDashboard("POST", `/dashboard/topics/${name}/endpoints`, {
      cookie,
      form: { _csrf: csrf, url: "http://10.0.0.7/hook" },
    });
    expect(refused.status).toBe(422);
    expect((await callApi("GET", `/topics/${name}`, { token })).body).toEqual(changed);

    await callDashboard("POST", `/dashboard/topics/${name}/delete`, { cookie, form: { _csrf: csrf } });
    expect((await callApi("GET", `/topics/${name}`, { token })).status).toBe(404);
  });

  it("shows a published message's deliveries together on each of its job pages", async () => {
    const endpoints = [receiverUrl("ok"), receiverUrl("status/500")];
    const name = freshName();
    await createTopic(name, endpoints);
    const { jobs } = (await callApi("POST", `/topics/${name}/jobs`, { token, json: { delay: "1h" } })).body;
    const { cookie } = await openSession(token);
    const page = await callDashboard("GET", `/dashboard/jobs/${jobs[0].id}`, { cookie });
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain(name);
    expect(text).toContain(jobs[0].message_id);
    expect(text).toContain("delivered to 2 endpoints");
    expect(page.html).toContain(`href="/dashboard/jobs/${jobs[1].id}"`);
    const listed = await callDashboard("GET", `/dashboard/jobs?topic=${name}`, { cookie });
    for (const job of jobs) expect(listed.html).toContain(job.id.slice(0, 8));
  });
});
