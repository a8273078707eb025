/**
 * Which URLs Fliq may call: the SSRF policy, checked when a job is created or changed and
 * again before every attempt. Pure: no DNS, no clock, no network.
 *
 * A callback URL must be http(s), carry no credentials, and name a public host: never a
 * loopback, private, link-local, CGNAT, multicast, unspecified, reserved or documentation
 * address, a cloud metadata name, a name reserved for local networks (`localhost`,
 * `*.localhost`, `*.local`, `*.internal`, …), a single-label name, or Fliq itself (the origin
 * its API was called on, in every mode: see isOwnOrigin).
 * Addresses are checked in every spelling: the WHATWG URL parser turns decimal, hex, octal
 * and shortened IPv4 into dotted quads and IPv6 into its canonical form, and this module
 * parses what is left (trailing dots, embedded IPv4) itself rather than trusting it.
 *
 * What a public name resolves to is not checked here (Workers cannot resolve DNS); in
 * production the `global_fetch_strictly_public` compatibility flag makes every callback go
 * out through the public Internet, where private addresses are not reachable.
 *
 * A `service://<name>/<path>` URL targets another Worker through a service binding the
 * deployment lists in CALLBACK_SERVICES. It never touches the network, so the address rules
 * do not apply to it; only the names listed there can be reached, so none of Fliq's own
 * bindings can.
 */

export interface TargetPolicy {
  /**
   * Local development only: loopback targets (127.0.0.0/8, ::1, `localhost`) are allowed, so
   * a receiver on the developer's machine works. Every other private range stays refused.
   */
  allowLoopback: boolean;
  /**
   * The origin Fliq's API was called on (`https://fliq.example.com`, `http://127.0.0.1:8787`),
   * or null when unknown (delivery has no request); a job may not call Fliq itself.
   */
  ownOrigin: string | null;
  /** The names a `service://` URL may use: the Workers configured in CALLBACK_SERVICES. */
  services: readonly string[];
}

/** The scheme of a callback delivered through a service binding instead of the network. */
export const SERVICE_PROTOCOL = "service:";

/**
 * The policy a deployment's settings give. `ownOrigin`: the origin the API was called on, when
 * known; delivery, which has no request, checks the rest of the policy.
 */
export function targetPolicyOf(
  settings: { allowLoopbackTargets: boolean; callbackServices: ReadonlyMap<string, unknown> },
  ownOrigin: string | null = null,
): TargetPolicy {
  return { allowLoopback: settings.allowLoopbackTargets, ownOrigin, services: [...settings.callbackServices.keys()] };
}

/** A `service://` callback: the configured service it names, and the URL its request carries. */
export interface ServiceTarget {
  service: string;
  /** `https://<name>/<path>?<query>`: what the receiving Worker sees as `request.url`. */
  requestUrl: string;
}

/**
 * The service a `service://<name>/<path>` URL names, or null for any other URL. Says nothing
 * about whether the service is configured: callbackTargetRefusal decides that.
 */
export function serviceTargetOf(url: string): ServiceTarget | null {
  const parsed = URL.parse(url);
  if (parsed?.protocol !== SERVICE_PROTOCOL) return null;
  // The host of a service:// URL is opaque (not lowercased by the parser); names are compared in lower case.
  const service = parsed.hostname.toLowerCase();
  return { service, requestUrl: `https://${service}${parsed.pathname || "/"}${parsed.search}` };
}

/** Names that only mean something inside a network (RFC 6761, RFC 6762, RFC 8375, common practice). */
const LOCAL_SUFFIXES = [".local", ".internal", ".localdomain", ".home.arpa", ".intranet", ".corp", ".lan"];

/** Cloud metadata services reached by name (the addresses are covered by the ranges below). */
const METADATA_HOSTS = ["metadata.google.internal", "metadata.goog", "metadata", "instance-data"];

type Ipv4Range = readonly [first: number, prefixLength: number, kind: string];

const ipv4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** Every IPv4 range that is not the public Internet (IANA special-purpose registry). */
const IPV4_REFUSED: readonly Ipv4Range[] = [
  [ipv4(0, 0, 0, 0), 8, "unspecified"],
  [ipv4(10, 0, 0, 0), 8, "private"],
  [ipv4(100, 64, 0, 0), 10, "carrier-grade NAT (shared)"],
  [ipv4(127, 0, 0, 0), 8, "loopback"],
  [ipv4(169, 254, 0, 0), 16, "link-local (cloud metadata)"],
  [ipv4(172, 16, 0, 0), 12, "private"],
  [ipv4(192, 0, 0, 0), 24, "reserved"],
  [ipv4(192, 0, 2, 0), 24, "documentation"],
  [ipv4(192, 88, 99, 0), 24, "reserved"],
  [ipv4(192, 168, 0, 0), 16, "private"],
  [ipv4(198, 18, 0, 0), 15, "benchmarking"],
  [ipv4(198, 51, 100, 0), 24, "documentation"],
  [ipv4(203, 0, 113, 0), 24, "documentation"],
  [ipv4(224, 0, 0, 0), 4, "multicast"],
  [ipv4(240, 0, 0, 0), 4, "reserved (or broadcast)"],
];

/** Why `url` may not be a callback target, or null when Fliq may call it. */
export function callbackTargetRefusal(url: string, policy: TargetPolicy): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "must be an absolute http(s) URL";
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return "must not carry credentials; send them in a header (it is redacted from every response)";
  }
  if (parsed.protocol === SERVICE_PROTOCOL) return refuseService(parsed, policy);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "must be an http, https or service:// URL";
  const host = parsed.hostname.toLowerCase();
  const refusal = host.startsWith("[") ? refuseIpv6(host.slice(1, -1), policy) : refuseHost(host, policy);
  if (refusal !== null) return refusal;
  return isOwnOrigin(parsed, policy.ownOrigin) ? "must not target Fliq itself" : null;
}

/** A host that is not an IPv6 literal: an IPv4 address in any spelling, or a name. */
function refuseHost(host: string, policy: TargetPolicy): string | null {
  const name = withoutTrailingDots(host);
  const address = parseIpv4(name);
  if (address !== undefined) return refuseIpv4(address, policy);
  return refuseName(name, policy);
}

const withoutTrailingDots = (host: string) => host.toLowerCase().replace(/\.+$/, "");

/** The port a URL reaches, its scheme's default when it names none. */
const portOf = (url: URL) => url.port || (url.protocol === "https:" ? "443" : "80");

/** Whether a host (lower case, no trailing dots, IPv6 in brackets) is this machine's loopback. */
function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (host.startsWith("[")) return parseIpv6(host.slice(1, -1))?.join(":") === "0:0:0:0:0:0:0:1";
  const address = parseIpv4(host);
  return address !== undefined && ipv4Kind(address) === "loopback";
}

/**
 * Whether `target` is Fliq itself. A public name is Fliq on every port (Cloudflare serves the
 * Worker on each port it proxies). On loopback, where only `ALLOW_LOOPBACK_TARGETS` lets a
 * target through, every loopback spelling (127.0.0.1, 127.1, localhost, [::1]) is one host, and
 * only Fliq's own port is Fliq: the developer's receivers listen on the other ports.
 */
function isOwnOrigin(target: URL, ownOrigin: string | null): boolean {
  const own = ownOrigin === null ? null : URL.parse(ownOrigin);
  if (!own) return false;
  const targetHost = withoutTrailingDots(target.hostname);
  const ownHost = withoutTrailingDots(own.hostname);
  if (isLoopbackHost(ownHost) && isLoopbackHost(targetHost)) return portOf(target) === portOf(own);
  return targetHost === ownHost;
}

/** A service target is allowed only by name, and only when the deployment configured that name. */
function refuseService(parsed: URL, policy: TargetPolicy): string | null {
  if (parsed.hostname === "") return "must name a service: service://<name>/<path>";
  if (parsed.port !== "") return "must not give a port: service://<name> names a Worker, not a host";
  const service = parsed.hostname.toLowerCase();
  if (policy.services.includes(service)) return null;
  const known = policy.services.length === 0 ? "none is configured" : `configured: ${policy.services.join(", ")}`;
  return `must name a service configured in CALLBACK_SERVICES; "${service}" is not one (${known})`;
}

function refuseName(name: string, policy: TargetPolicy): string | null {
  if (name === "") return "must name a host";
  if (name === "localhost" || name.endsWith(".localhost")) {
    return policy.allowLoopback ? null : "must not target localhost (a loopback name)";
  }
  if (METADATA_HOSTS.includes(name)) return "must not target a cloud metadata service";
  const suffix = LOCAL_SUFFIXES.find((local) => name.endsWith(local) || name === local.slice(1));
  if (suffix) return `must not target a local-network name (*${suffix})`;
  if (!name.includes(".")) return "must name a public host (a fully qualified domain name or a public address)";
  return null;
}

/**
 * An IPv4 address in any spelling inet_aton accepts (1 to 4 parts, each decimal, 0x-hex or
 * 0-octal), as a 32-bit number; undefined when `name` is not one. The URL parser already
 * normalises these; parsing them again here keeps the policy independent of that.
 */
export function parseIpv4(name: string): number | undefined {
  const parts = name.split(".");
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
    else if (/^0[0-7]+$/.test(part)) value = Number.parseInt(part.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(part)) value = Number(part);
    else return undefined;
    values.push(value);
  }
  const last = values.pop() as number;
  if (values.some((value) => value > 255) || last >= 256 ** (4 - values.length)) return undefined;
  return values.reduce((sum, value, index) => sum + value * 256 ** (3 - index), 0) + last;
}

function ipv4Kind(address: number): string | null {
  for (const [first, prefixLength, kind] of IPV4_REFUSED) {
    const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0;
    if ((address & mask) >>> 0 === first) return kind;
  }
  return null;
}

function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join(".");
}

function refuseIpv4(address: number, policy: TargetPolicy): string | null {
  const kind = ipv4Kind(address);
  if (kind === null) return null;
  if (kind === "loopback" && policy.allowLoopback) return null;
  const article = /^[aeiou]/.test(kind) ? "an" : "a";
  return `must not target ${article} ${kind} address (${formatIpv4(address)})`;
}

/** The eight 16-bit groups of an IPv6 address (with or without an embedded IPv4 tail), or undefined. */
export function parseIpv6(text: string): number[] | undefined {
  let head = text;
  const tail: number[] = [];
  const dotted = /(?:^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(head);
  if (dotted) {
    const v4 = parseIpv4(dotted[1]);
    if (v4 === undefined || dotted[1].split(".").length !== 4) return undefined;
    tail.push(v4 >>> 16, v4 & 0xffff);
    head = head.slice(0, head.length - dotted[1].length);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  if ([...left, ...right].some((group) => !/^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  const known = left.length + right.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined;
  const zeros = new Array(8 - known).fill(0);
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(String(group), 16)).concat(tail);
}

function refuseIpv6(text: string, policy: TargetPolicy): string | null {
  const groups = parseIpv6(text);
  if (!groups) return "must name a valid host";
  const refuse = (kind: string) => `must not target ${kind} IPv6 address ([${text}])`;
  const embeddedIpv4 = (high: number, low: number) => ((high << 16) | low) >>> 0;
  const [g0, g1] = groups;
  if (groups.slice(0, 7).every((group) => group === 0)) {
    if (groups[7] === 0) return refuse("the unspecified");
    if (groups[7] === 1) return policy.allowLoopback ? null : refuse("a loopback");
  }
  // ::/8 holds IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses; they
  // reach IPv4 hosts, so they are refused outright: a caller can write the IPv4 address.
  if (groups.slice(0, 5).every((group) => group === 0) && (groups[5] === 0 || groups[5] === 0xffff)) {
    const v4 = formatIpv4(embeddedIpv4(groups[6], groups[7]));
    return `must not target an IPv4-mapped or IPv4-compatible IPv6 address ([${text}] is ${v4}); use the IPv4 address`;
  }
  if ((g0 & 0xff00) === 0xff00) return refuse("a multicast");
  if ((g0 & 0xffc0) === 0xfe80) return refuse("a link-local");
  if ((g0 & 0xffc0) === 0xfec0) return refuse("a site-local");
  if ((g0 & 0xfe00) === 0xfc00) return refuse("a private (unique local)");
  // Only global unicast (2000::/3) is the public IPv6 Internet; NAT64 (64:ff9b::/96), discard
  // (100::/64) and the rest of the space are refused with it.
  if ((g0 & 0xe000) !== 0x2000) return refuse("a reserved or translated (NAT64)");
  if (g0 === 0x2001 && g1 === 0x0db8) return refuse("a documentation");
  if (g0 === 0x2001 && g1 < 0x0200) return refuse("a special-purpose (Teredo, benchmarking, ORCHID)");
  if (g0 === 0x2002) {
    // 6to4 embeds an IPv4 address that the relay would reach.
    const kind = ipv4Kind(embeddedIpv4(g1, groups[2]));
    if (kind !== null) return refuse(`a 6to4 (embedding a ${kind} IPv4 address)`);
  }
  return null;
}
