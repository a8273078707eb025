/**
 * Validates the OpenAPI document the Worker serves at /openapi.json against the OpenAPI 3.1
 * schema (run in CI). The document is built from the routes' declarations beside their
 * handlers, which import the Worker's runtime, so it is read from the Worker running locally
 * (wrangler, without a database: the document needs none). The validation runs here, in Node,
 * because the validator compiles JSON Schemas to code, which workerd forbids.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { unstable_startWorker } from "wrangler";

const SERVER_URL = "https://fliq.example.com";

// No request leaves this machine: wrangler would otherwise fetch a sample `request.cf` object.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
const worker = await unstable_startWorker({
  config: "wrangler.toml",
  dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, watch: false, logLevel: "warn" },
});
let document: Record<string, unknown>;
try {
  await worker.ready;
  const response = await worker.fetch(`${SERVER_URL}/openapi.json`);
  if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}: ${await response.text()}`);
  document = (await response.json()) as Record<string, unknown>;
} finally {
  await worker.dispose();
}

const validator = new Validator();
const result = await validator.validate(document);
if (validator.version !== "3.1") {
  console.error(`expected an OpenAPI 3.1 document, the validator read ${validator.version}`);
  process.exit(1);
}
if (!result.valid) {
  console.error("the OpenAPI document is invalid:", JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
console.log("OpenAPI 3.1 document served at /openapi.json is valid");
