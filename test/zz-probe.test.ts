import { it } from "vitest";
import { callApi, useTestProject } from "./support/fliq";
const { token } = await useTestProject();
it("probe", async () => {
  const cases: Array<[string, string, unknown]> = [
    ["POST", "/jobs", {}],
    ["POST", "/jobs", { url: "https://example.com", scheduledAt: "2027-01-01T00:00:00Z" }],
    ["POST", "/jobs", { url: "https://example.com", scheduled_at: "tomorrow" }],
    ["POST", "/jobs", { url: "https://example.com", scheduled_at: "0000-01-01T00:00:00Z" }],
    ["POST", "/jobs", { url: "https://example.com", headers: { Host: "x", "Webhook-Id": "y", Connection: "z" } }],
    ["POST", "/jobs", { url: "ftp://example.com", max_retries: "3", timeout_ms: 5, http_method: "FETCH", delay: "soon" }],
    ["POST", "/jobs", { url: 5, body: 3, labels: { a: 1 } }],
    ["POST", "/jobs", []],
    ["POST", "/jobs/batch", { jobs: [{}] }],
    ["POST", "/schedules", { url: "https://example.com" }],
    ["POST", "/schedules", { url: "https://example.com", cron: "nope", timeZone: "x" }],
    ["POST", "/tokens", { name: "", scopes: ["root"] }],
    ["PATCH", "/jobs/00000000-0000-0000-0000-000000000000", { retry_backof: {} }],
  ];
  for (const [m, p, json] of cases) {
    const r = await callApi(m, p, { token, json });
    console.log(m, p, JSON.stringify(json), "\n  =>", r.status, JSON.stringify(r.body));
  }
  for (const q of ["/jobs?limit=0", "/jobs?status=done", "/jobs?sort=x", "/jobs?scheduled_after=yesterday", "/jobs?cursor=zzz", "/jobs/00000000-0000-0000-0000-000000000000/attempts?after=-1", "/schedules?limit=abc"]) {
    const r = await callApi("GET", q, { token });
    console.log("GET", q, "\n  =>", r.status, JSON.stringify(r.body));
  }
});
