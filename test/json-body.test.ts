/**
 * Any JSON body, however it is shaped, answers a 4xx in the one error shape on every endpoint
 * that reads one, never a 500: JSON nested thousands of levels deep among them.
 */
import { describe, expect, it } from "vitest";
import { callApi, createProject, insertJobRow, type TestBindings, useTestProject } from "./support/fliq";

const { db, project } = await useTestProject();
const { token } = await createProject(db, ["read", "write", "admin"]);
const ADMIN_TOKEN = `admin-${crypto.randomUUID()}`;
const job = await insertJobRow(db, project.id, { runAt: new Date("2027-01-01T00:00:00Z") });

/** `{"a":{"a":…}}` and `[[…]]`, `levels` deep: about 6 bytes a level, as in the report (8,000 levels, 48 KB). */
const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
const deepArray = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

const endpoints: Array<[string, string, Partial<TestBindings>?]> = [
  ["POST", "/jobs"],
  ["POST", "/jobs/batch"],
  ["POST", "/jobs/cancel"],
  ["POST", "/jobs/replay"],
  ["PATCH", `/jobs/${job.id}`],
  ["POST", "/schedules"],
  ["POST", "/tokens"],
  ["POST", "/signing-secrets/rotate"],
  ["POST", "/admin/projects", { ADMIN_TOKEN }],
];

describe("deeply nested JSON", () => {
  it.each(endpoints)("%s %s answers 422 in the error shape, never a 500", async (method, path, env) => {
    const authorization = `Bearer ${env ? ADMIN_TOKEN : token}`;
    for (const rawBody of [
      deepObject(8_000),
      deepArray(8_000),
      `{"url":"https://example.com","labels":${deepObject(100_000)}}`,
    ]) {
      const response = await callApi(method, path, {
        rawBody,
        env,
        headers: { authorization, "content-type": "application/json" },
      });
      expect(response.status).toBe(422);
      expect(response.body.error).toMatchObject({ code: "validation_failed" });
      expect(response.body.error.message).toMatch(/nested/);
      expect(response.body.error.details[0].message).toMatch(/nested more than 32 levels/);
    }
  });

  it("accepts JSON nested as deep as the limit allows, where the schema allows it", async () => {
    // 32 levels: the body, then a label value that is not a string: refused by the schema, not the depth check.
    const response = await callApi("POST", "/jobs", {
      token,
      rawBody: `{"url":"https://example.com","labels":{"k":${deepArray(30)}}}`,
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(422);
    expect(response.body.error.details[0].path).toBe("labels.k");
  });

  it("counts only brackets outside strings: a body full of brackets is stored as it is", async () => {
    const body = `${"[{".repeat(500)}\\"\\${"]".repeat(500)}`;
    const response = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/hook", scheduled_at: "2027-01-01T00:00:00Z", body },
    });
    expect(response.status).toBe(201);
    expect(response.body.body).toBe(body);
  });
});
