/**
 * A project's signing secrets through its own admin token: `GET /signing-secrets` lists the
 * live ones with their lifetimes, `POST /signing-secrets/rotate` starts a rotation through the
 * same function as the admin API. Other scopes are refused; other projects are never seen or changed.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { callApi, createProject, insertJobRow, receivedAt, tickNow, useTestProject } from "./support/fliq";

const { db } = await useTestProject();

async function adminProject() {
  return createProject(db, ["read", "write", "admin"]);
}

describe("GET /signing-secrets", () => {
  it("lists the project's live secret with its creation time, for the admin scope only", async () => {
    const { token, signingSecret } = await adminProject();
    const response = await callApi("GET", "/signing-secrets", { token });
    expect(response.status).toBe(200);
    expect(response.body.signing_secrets).toHaveLength(1);
    expect(response.body.signing_secrets[0]).toMatchObject({ secret: signingSecret, expires_at: null });
    expect(Date.parse(response.body.signing_secrets[0].created_at)).toBeGreaterThan(Date.now() - 60_000);

    for (const scopes of [["read"], ["read", "write"]]) {
      const { token: weaker } = await createProject(db, scopes);
      for (const [method, path] of [
        ["GET", "/signing-secrets"],
        ["POST", "/signing-secrets/rotate"],
      ]) {
        const refused = await callApi(method, path, { token: weaker, json: method === "POST" ? {} : undefined });
        expect(refused.status).toBe(403);
        expect(refused.body.error.code).toBe("insufficient_scope");
      }
    }
    expect((await callApi("GET", "/signing-secrets")).status).toBe(401);
  });
});

describe("POST /signing-secrets/rotate", () => {
  it("adds a current secret and keeps the older one until the grace period ends, in this project only", async () => {
    const mine = await adminProject();
    const theirs = await adminProject();
    const response = await callApi("POST", "/signing-secrets/rotate", { token: mine.token, json: { grace_hours: 2 } });
    expect(response.status).toBe(201);
    expect(response.body.signing_secret).toMatch(/^whsec_/);
    expect(response.body.signing_secret).not.toBe(mine.signingSecret);
    const expiresAt = Date.parse(response.body.previous_secrets_expire_at);
    expect(Math.abs(expiresAt - (Date.now() + 2 * 3_600_000))).toBeLessThan(10_000);

    const listed = (await callApi("GET", "/signing-secrets", { token: mine.token })).body.signing_secrets;
    expect(listed.map((s: { secret: string }) => s.secret)).toEqual([response.body.signing_secret, mine.signingSecret]);
    expect(listed[0].expires_at).toBeNull();
    expect(listed[1].expires_at).toBe(response.body.previous_secrets_expire_at);

    // The other project's secret is neither listed here nor touched.
    expect(JSON.stringify(listed)).not.toContain(theirs.signingSecret);
    const untouched = (await callApi("GET", "/signing-secrets", { token: theirs.token })).body.signing_secrets;
    expect(untouched).toEqual([expect.objectContaining({ secret: theirs.signingSecret, expires_at: null })]);
  });

  it("signs callbacks with the new and the old secret during the grace period", async () => {
    const { project, token, signingSecret } = await adminProject();
    const rotated = await callApi("POST", "/signing-secrets/rotate", { token, json: { grace_hours: 1 } });
    expect(rotated.status).toBe(201);
    const job = await insertJobRow(db, project.id, { body: '{"n":1}' });
    await tickNow();
    const [received] = await receivedAt(job.url);
    expect(received.headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const secret of [signingSecret, rotated.body.signing_secret]) {
      expect(new Webhook(secret).verify(received.body, received.headers)).toEqual({ n: 1 });
    }
  });

  it("retires the older secrets at once with grace_hours 0, and defaults to 24 hours", async () => {
    const { token, signingSecret } = await adminProject();
    const immediate = await callApi("POST", "/signing-secrets/rotate", { token, json: { grace_hours: 0 } });
    expect(immediate.status).toBe(201);
    const listed = (await callApi("GET", "/signing-secrets", { token })).body.signing_secrets;
    expect(listed.map((s: { secret: string }) => s.secret)).toEqual([immediate.body.signing_secret]);
    expect(JSON.stringify(listed)).not.toContain(signingSecret);

    const byDefault = await callApi("POST", "/signing-secrets/rotate", { token, json: {} });
    expect(byDefault.status).toBe(201);
    const graceMs = Date.parse(byDefault.body.previous_secrets_expire_at) - Date.now();
    expect(Math.abs(graceMs - 24 * 3_600_000)).toBeLessThan(10_000);
  });

  it("refuses a bad grace period with 422 and changes nothing", async () => {
    const { token, signingSecret } = await adminProject();
    for (const json of [{ grace_hours: -1 }, { grace_hours: 24 * 30 + 1 }, { grace_hours: "2" }, { extra: 1 }]) {
      const response = await callApi("POST", "/signing-secrets/rotate", { token, json });
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe("validation_failed");
    }
    const listed = (await callApi("GET", "/signing-secrets", { token })).body.signing_secrets;
    expect(listed).toEqual([expect.objectContaining({ secret: signingSecret, expires_at: null })]);
  });
});
