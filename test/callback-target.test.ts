/**
 * The callback target policy as a pure function: every spelling of every refused address
 * class, the names reserved for local networks, and public controls that must pass.
 */
import { describe, expect, it } from "vitest";
import { callbackTargetRefusal, parseIpv4, parseIpv6, type TargetPolicy } from "../src/jobs/callback-target";
import { LOOPBACK, PUBLIC, REFUSED_EVEN_IN_DEVELOPMENT } from "./support/target-spellings";

const production: TargetPolicy = { allowLoopback: false, ownHosts: ["fliq.example.com"] };
const development: TargetPolicy = { allowLoopback: true, ownHosts: [] };

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

  it("says what was refused", () => {
    expect(callbackTargetRefusal("http://2130706433/", production)).toBe(
      "must not target a loopback address (127.0.0.1)",
    );
    expect(callbackTargetRefusal("http://169.254.169.254/", production)).toContain("link-local (cloud metadata)");
    expect(callbackTargetRefusal("http://[::ffff:127.0.0.1]/", production)).toContain("is 127.0.0.1");
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
