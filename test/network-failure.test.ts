/**
 * A callback that gets no answer is recorded with the reason named: a refused connection, a
 * name that does not resolve, a failed TLS handshake, or a connection dropped before the
 * answer; each against a real target (a closed port, a reserved `.invalid` name, the plain-HTTP
 * test receiver spoken to over https, a receiver that resets the connection).
 */
import { describe, expect, it } from "vitest";
import { listAttempts } from "../src/db/jobs";
import { nameNetworkFailure, probeTargetOf } from "../src/dispatch/network-failure";
import { insertJobRow, receiverUrl, testEnv, tickNow, useTestProject } from "./support/fliq";

const { db, project } = await useTestProject();

/** The first attempt of a job to `url`, fired by a tick. */
async function firstAttemptAt(url: string) {
  const job = await insertJobRow(db, project.id, { url, maxRetries: 0 });
  await tickNow();
  const [attempt] = await listAttempts(db, job.id);
  return attempt;
}

describe("a callback without an answer", () => {
  it("names a refused connection, with the address nothing listens on", async () => {
    const attempt = await firstAttemptAt("http://127.0.0.1:1/nothing-here");
    expect(attempt).toMatchObject({ outcome: "failed", errorClass: "connection_refused", statusCode: null });
    expect(attempt.errorMessage).toBe("connection refused: nothing accepts connections at 127.0.0.1:1");
  });

  it("names a host name that does not resolve", async () => {
    const attempt = await firstAttemptAt("http://no-such-host.invalid/callback");
    expect(attempt).toMatchObject({ errorClass: "dns_failure" });
    expect(attempt.errorMessage).toBe("DNS lookup failed: no-such-host.invalid did not resolve");
  });

  it("names a failed TLS handshake: https to a server that speaks plain HTTP", async () => {
    const plain = new URL(testEnv.RECEIVER_URL);
    const attempt = await firstAttemptAt(`https://${plain.host}/ok/tls`);
    expect(attempt).toMatchObject({ errorClass: "tls_failure" });
    expect(attempt.errorMessage).toMatch(new RegExp(`^TLS handshake failed: ${plain.host} accepts connections`));
  });

  it("tells a connection dropped before the answer apart from a refused one", async () => {
    const attempt = await firstAttemptAt(receiverUrl("hangup"));
    const { host } = new URL(testEnv.RECEIVER_URL);
    expect(attempt).toMatchObject({ errorClass: "network_error" });
    expect(attempt.errorMessage).toBe(
      `connection lost: ${host} accepted the connection, then closed it before answering`,
    );
  });
});

describe("naming a failure from the runtime's message and the probe", () => {
  const http = probeTargetOf("http://example.com/x");
  const https = probeTargetOf("https://example.com/x");

  it("keeps the runtime's message when the probe could not tell (no answer either way in time)", () => {
    expect(nameNetworkFailure(http, "connection_lost", undefined, "Error: Network connection lost.")).toEqual({
      errorClass: "network_error",
      errorMessage: "Error: Network connection lost.",
    });
  });

  it("never calls an IP address a DNS failure, nor a plain-HTTP failure a TLS one", () => {
    const ip = probeTargetOf("http://192.0.2.1:8080/");
    expect(nameNetworkFailure(ip, "opaque", false, "internal error").errorClass).toBe("network_error");
    expect(nameNetworkFailure(http, "opaque", true, "internal error").errorClass).toBe("network_error");
    expect(nameNetworkFailure(https, "opaque", true, "internal error").errorClass).toBe("tls_failure");
    expect(https).toEqual({ host: "example.com", port: 443, secure: true });
  });
});
