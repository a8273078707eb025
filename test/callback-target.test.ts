/**
 * The callback target policy as a pure function: every spelling of every refused address
 * class, the names reserved for local networks, public controls that must pass, and
 * service:// targets allowed by configured name only.
 */
import { describe, expect, it } from "vitest";
import {
  callbackTargetRefusal,
  parseIpv4,
  parseIpv6,
  serviceTargetOf,
  type TargetPolicy,
} from "../src/jobs/callback-target";
import { LOOPBACK, PUBLIC, REFUSED_EVEN_IN_DEVELOPMENT } from "./support/target-spellings";

const production: TargetPolicy = { allowLoopback: false, ownOrigin: "https://fliq.example.com", services: [] };
const development: TargetPolicy = { allowLoopback: true, ownOrigin: null, services: [] };

describe("callbackTargetRefusal", () => {
  it.each(LOOPBACK)("refuses the loopback target %s in production, and allows it in development", (url) => {
    expect(callbackTargetRefusal(url, production)).toMatch(/must/);
    expect(callbackTargetRefusal(url, development)).toBeNull();
  });

  it.each(REFUSED_EVEN_IN_DEVELOPMENT)("refuses %s, also in development", (url) => {
    expect(callbackTargetRefusal(url, production)).toMatch(/must/);
    expect(callbackTargetRefusal(url, development)).toMatch(/must/);
  });

  it.each(PUBLIC)("accepts the public target %s", (url) => {
    expect(callbackTargetRefusal(url, production)).toBeNull();
  });

  it("refuses Fliq's own host in any case, with or without a trailing dot", () => {
    for (const url of [
      "https://fliq.example.com/jobs",
      "https://FLIQ.example.com./x",
      "http://fliq.example.com:8080/",
    ]) {
      expect(callbackTargetRefusal(url, production)).toBe("must not target Fliq itself");
    }
  });

  it("refuses Fliq's own loopback origin in development, in every loopback spelling, and no other port", () => {
    const local: TargetPolicy = { ...development, ownOrigin: "http://127.0.0.1:8787" };
    for (const url of [
      "http://127.0.0.1:8787/jobs",
      "http://127.1:8787/",
      "http://2130706433:8787/",
      "http://127.0.0.2:8787/",
      "http://localhost:8787/jobs",
      "http://LOCALHOST.:8787/",
      "http://api.localhost:8787/",
      "http://[::1]:8787/jobs",
      "http://[0:0:0:0:0:0:0:1]:8787/",
    ]) {
      expect(callbackTargetRefusal(url, local), url).toBe("must not target Fliq itself");
    }
    for (const url of [
      "http://127.0.0.1:8788/hook",
      "http://localhost:9000/",
      "http://[::1]:43210/",
      "http://127.0.0.1/",
    ]) {
      expect(callbackTargetRefusal(url, local), url).toBeNull();
    }
    // Called as localhost on the scheme's default port, Fliq is 127.0.0.1:80 too.
    const onDefaultPort: TargetPolicy = { ...development, ownOrigin: "http://localhost" };
    expect(callbackTargetRefusal("http://127.0.0.1:80/x", onDefaultPort)).toBe("must not target Fliq itself");
    expect(callbackTargetRefusal("http://127.0.0.1:8080/x", onDefaultPort)).toBeNull();
  });

  it("says what was refused", () => {
    expect(callbackTargetRefusal("http://2130706433/", production)).toBe(
      "must not target a loopback address (127.0.0.1)",
    );
    expect(callbackTargetRefusal("http://169.254.169.254/", production)).toContain("link-local (cloud metadata)");
    expect(callbackTargetRefusal("http://[::ffff:127.0.0.1]/", production)).toContain("is 127.0.0.1");
  });
});

describe("service:// targets", () => {
  const withServices: TargetPolicy = { ...production, services: ["welcome", "billing"] };

  it("accepts a configured service by name, in any case, where the address rules would refuse the name", () => {
    for (const url of ["service://welcome/api/send", "service://WELCOME", "service://billing/x?y=1#z"]) {
      expect(callbackTargetRefusal(url, withServices)).toBeNull();
    }
  });

  it("refuses a name that is not configured, and every name when none is", () => {
    expect(callbackTargetRefusal("service://other/x", withServices)).toBe(
      'must name a service configured in CALLBACK_SERVICES; "other" is not one (configured: welcome, billing)',
    );
    expect(callbackTargetRefusal("service://welcome/x", production)).toContain("none is configured");
    expect(callbackTargetRefusal("service://we%6Ccome/x", withServices)).toContain('"we%6ccome" is not one');
  });

  it("refuses a missing name, a port and credentials", () => {
    expect(callbackTargetRefusal("service:///x", withServices)).toBe("must name a service: service://<name>/<path>");
    expect(callbackTargetRefusal("service:welcome/x", withServices)).toBe(
      "must name a service: service://<name>/<path>",
    );
    expect(callbackTargetRefusal("service://welcome:8080/x", withServices)).toContain("must not give a port");
    expect(callbackTargetRefusal("service://user:pass@welcome/x", withServices)).toContain("credentials");
  });

  it("turns the URL into the request the Worker receives", () => {
    expect(serviceTargetOf("service://Welcome/api/send?a=1&b=2#frag")).toEqual({
      service: "welcome",
      requestUrl: "https://welcome/api/send?a=1&b=2",
    });
    expect(serviceTargetOf("service://welcome")).toEqual({ service: "welcome", requestUrl: "https://welcome/" });
    expect(serviceTargetOf("https://welcome.example.com/")).toBeNull();
    expect(serviceTargetOf("not a url")).toBeNull();
  });
});

describe("address parsers", () => {
  it("read IPv4 in every inet_aton spelling, and nothing else", () => {
    expect(parseIpv4("127.0.0.1")).toBe(0x7f000001);
    expect(parseIpv4("0x7f.1")).toBe(0x7f000001);
    expect(parseIpv4("0177.0.1")).toBe(0x7f000001);
    expect(parseIpv4("2130706433")).toBe(0x7f000001);
    expect(parseIpv4("0x")).toBe(0);
    expect(parseIpv4("256.0.0.1")).toBeUndefined();
    expect(parseIpv4("1.2.3.4.5")).toBeUndefined();
    expect(parseIpv4("4294967296")).toBeUndefined();
    expect(parseIpv4("08.0.0.1")).toBeUndefined();
    expect(parseIpv4("example.com")).toBeUndefined();
  });

  it("read IPv6 with compression and an embedded IPv4 tail", () => {
    expect(parseIpv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("::ffff:127.0.0.1")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    expect(parseIpv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIpv6("1::8")).toEqual([1, 0, 0, 0, 0, 0, 0, 8]);
    expect(parseIpv6("1:2:3")).toBeUndefined();
    expect(parseIpv6("1::2::3")).toBeUndefined();
    expect(parseIpv6("12345::")).toBeUndefined();
  });
});
