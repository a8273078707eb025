/**
 * The interactive API reference at /docs: Swagger UI (through Hono's middleware) reading
 * /openapi.json, the document generated from the handlers' own zod schemas. Swagger UI's two
 * files are served by this Worker from its static assets (wrangler.toml `[assets]`, the
 * swagger-ui-dist package), never from a CDN, so the page works offline and its Content
 * Security Policy allows scripts from this origin only, plus the one inline script that
 * starts Swagger UI, by its hash.
 */
import { SwaggerUI } from "@hono/swagger-ui";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../http/env";
import { API_REFERENCE_PATH } from "../http/paths";
import { notFound } from "../wire/errors";

const ASSETS_PATH = `${API_REFERENCE_PATH}/assets`;
/** The only files of swagger-ui-dist the page needs; nothing else of the package is reachable. */
const SERVED_FILES = new Set(["swagger-ui-bundle.js", "swagger-ui.css"]);

// `baseUrl` is where Swagger UI's files come from: here, this Worker (see the route below).
const body = SwaggerUI({
  url: "/openapi.json",
  baseUrl: ASSETS_PATH,
  title: "Fliq API reference",
  // Swagger UI otherwise sends the document to validator.swagger.io for a badge.
  validatorUrl: "none",
  tryItOutEnabled: true,
  persistAuthorization: false,
});

/** The HTML, with the asset paths Swagger UI expects (`<baseUrl>/swagger-ui-dist/<file>`). */
const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Fliq API reference</title>
  </head>
  <body>
    <p style="font:14px system-ui,sans-serif;margin:8px 16px"><a href="/dashboard">Back to the dashboard</a> · <a href="/openapi.json">openapi.json</a></p>
    ${body}
  </body>
</html>`;

/** The inline script's SHA-256 for the Content Security Policy, computed once from the page itself. */
let inlineScriptHash: Promise<string> | undefined;
function scriptHash(): Promise<string> {
  inlineScriptHash ??= (async () => {
    const inline = /<script>([\s\S]*?)<\/script>/.exec(PAGE)?.[1] ?? "";
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(inline));
    return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
  })();
  return inlineScriptHash;
}

export const apiReference = new Hono<AppEnv>();

apiReference.get("/", async (c) => {
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; script-src 'self' ${await scriptHash()}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`,
  );
  c.header("X-Content-Type-Options", "nosniff");
  return c.html(PAGE);
});

/** Swagger UI's script and stylesheet, from the Worker's static assets. */
async function swaggerUiFile(c: Context<AppEnv>) {
  const file = c.req.param("file") ?? "";
  const assets = c.env.API_REFERENCE_ASSETS;
  if (!SERVED_FILES.has(file) || !assets) throw notFound("File");
  const response = await assets.fetch(new URL(`/${file}`, c.req.url));
  if (!response.ok) throw notFound("File");
  const served = new Response(response.body, response);
  served.headers.set("Cache-Control", "public, max-age=86400");
  served.headers.set("X-Content-Type-Options", "nosniff");
  return served;
}

apiReference.get("/assets/swagger-ui-dist/:file", swaggerUiFile);
