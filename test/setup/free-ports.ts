import { createServer } from "node:net";

/**
 * Ports are picked below the kernel's ephemeral range (32768 to 60999 on Linux), from which every
 * outgoing connection and every `listen(0)` takes its port: a port found free inside that range
 * could be taken by one of the tests' many connections before the runtime bound it (seen once:
 * a test file's runtime failed to start with "Address already in use", and its tests never ran).
 */
const LOWEST_PORT = 20_000;
const PORTS_BELOW = 32_000;

/** `count` distinct loopback ports free right now, each checked by listening on it. */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (PORTS_BELOW - LOWEST_PORT));
    if (!ports.includes(port) && (await canListen(port))) ports.push(port);
  }
  return ports;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
