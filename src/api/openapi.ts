/**
 * The OpenAPI 3.1 document, built from the routes' own declarations (src/api/routes.ts) and the
 * zod schemas the handlers validate with and answer by: nothing here restates a route or a
 * field. What every route shares is here: the error shape, the credentials, the named schemas.
 * Served at GET /openapi.json.
 */
import { z } from "zod";
import {
  attemptResponse,
  bulkRequest,
  createJobRequest,
  createJobsRequest,
  jobDetailResponse,
  jobResponse,
  updateJobRequest,
} from "../wire/jobs";
import {
  createScheduleRequest,
  scheduleDetailResponse,
  scheduleResponse,
  updateScheduleRequest,
} from "../wire/schedules";
import {
  createdTokenResponse,
  createProjectRequest,
  createTokenRequest,
  projectResponse,
  rotateSecretRequest,
  signingSecretResponse,
  tokenResponse,
} from "../wire/tokens";
import { type ApiRoutes, type DeclaredRoute, pathParamsOf } from "./routes";

/** The error answers most routes can give; a route lists those it gives, with its own words where they differ. */
export const COMMON_ERRORS = {
  400: "The body is not JSON, or the URL carries a token (`token_in_query`: send it in Authorization only)",
  401: "Missing, malformed, unknown or revoked token",
  422: "Invalid input; details name each problem",
  429:
    "Too many requests with this token (`rate_limited`), or too many failed authentications from this address " +
    "(`too_many_auth_failures`); Retry-After says when to retry",
} as const;

/**
 * What every route behind a token can answer whatever it declares: the refusal of a token in the
 * URL (src/app.ts, before any route), a token that fails, and the rate limits. A route's own
 * wording for a status wins.
 */
const TOKEN_ROUTE_ERRORS = {
  400: "The URL carries a token (`token_in_query`: send it in Authorization only)",
  401: COMMON_ERRORS[401],
  429: COMMON_ERRORS[429],
} as const;

const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

const SECURITY_SCHEMES = {
  bearer: { type: "http", scheme: "bearer", description: "A `fliq_sk_…` API token" },
  adminBearer: {
    type: "http",
    scheme: "bearer",
    description: "The ADMIN_TOKEN Worker secret (the admin API answers 404 when it is unset)",
  },
};

/**
 * Schemas the document names under components, by what they describe: a request is described
 * as clients send it (zod's input), an answer as Fliq sends it (zod's output). Wherever one of
 * them appears, in a route or inside another schema, the document refers to it by name.
 */
const NAMED = {
  input: new Map<z.core.$ZodType, string>([
    [createJobRequest, "CreateJob"],
    [createJobsRequest, "CreateJobs"],
    [updateJobRequest, "UpdateJob"],
    [bulkRequest, "Bulk"],
    [createTokenRequest, "CreateToken"],
    [createProjectRequest, "CreateProject"],
    [rotateSecretRequest, "RotateSecret"],
    [createScheduleRequest, "CreateSchedule"],
    [updateScheduleRequest, "UpdateSchedule"],
  ]),
  output: new Map<z.core.$ZodType, string>([
    [errorResponse, "Error"],
    [jobResponse, "Job"],
    [jobDetailResponse, "JobDetail"],
    [attemptResponse, "Attempt"],
    [tokenResponse, "Token"],
    [createdTokenResponse, "CreatedToken"],
    [projectResponse, "Project"],
    [signingSecretResponse, "SigningSecret"],
    [scheduleResponse, "Schedule"],
    [scheduleDetailResponse, "ScheduleDetail"],
  ]),
};

type Io = keyof typeof NAMED;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a schema, with the named schemas inside it by reference. */
function jsonSchema(schema: z.core.$ZodType, io: Io): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
    // A named schema inside another is referred to, not repeated (at the top, it is the one described).
    override: ({ zodSchema, jsonSchema, path }) => {
      const name = NAMED[io].get(zodSchema);
      if (name === undefined || path.length === 0) return;
      for (const key of Object.keys(jsonSchema)) delete jsonSchema[key as keyof typeof jsonSchema];
      Object.assign(jsonSchema, ref(name));
    },
  }) as Record<string, unknown>;
  return rest;
}

/** A schema where a route uses it: by reference when named, else in full. */
function schemaOf(schema: z.ZodType, io: Io) {
  const name = NAMED[io].get(schema);
  return name === undefined ? jsonSchema(schema, io) : ref(name);
}

const json = (schema: object) => ({ content: { "application/json": { schema } } });

/** A route's path, query and header parameters. */
function parametersOf(route: DeclaredRoute) {
  const parameter = (name: string, location: string, schema: z.ZodType) => ({
    name,
    in: location,
    required: !schema.safeParse(undefined).success,
    schema: jsonSchema(schema, "input"),
  });
  // ApiRoutes.declare refuses a route whose path parameters lack a schema.
  const inPath = pathParamsOf(route.path).map((name) => parameter(name, "path", route.params?.[name] as z.ZodType));
  const inHeaders = Object.entries(route.headers ?? {}).map(([name, schema]) => parameter(name, "header", schema));
  return [...inPath, ...queryParametersOf(route.query), ...inHeaders];
}

/** Query parameters from an object schema's properties; a list is sent as the parameter repeated. */
function queryParametersOf(query: z.ZodType | undefined) {
  if (!query) return [];
  const { properties = {}, required = [] } = jsonSchema(query, "input") as {
    properties?: Record<string, { type?: unknown }>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, schema]) => ({
    name,
    in: "query",
    required: required.includes(name),
    schema,
    ...(schema.type === "array" ? { style: "form", explode: true } : {}),
  }));
}

/** One route as an OpenAPI operation. */
function operationOf(route: DeclaredRoute) {
  const parameters = parametersOf(route);
  const answers = Object.entries(route.answers).map(([status, { description, body }]) => [
    status,
    { description, ...json(schemaOf(body, "output")) },
  ]);
  const errors = Object.entries({ ...TOKEN_ROUTE_ERRORS, ...route.errors }).map(([status, description]) => [
    status,
    { description, ...json(ref("Error")) },
  ]);
  return {
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: [{ [route.security]: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, ...json(schemaOf(route.body, "input")) } } : {}),
    responses: Object.fromEntries([...answers, ...errors]),
  };
}

/** OpenAPI's path template of a Hono path: `/jobs/:id` is `/jobs/{id}`. */
export const openApiPathOf = (path: string) => path.replace(/:(\w+)/g, "{$1}");

/** Builds the document of `routes`, all but its `servers`: where this Fliq answers is the request's to say. */
export function openApiDocument(routes: readonly ApiRoutes[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes.flatMap((group) => group.declared)) {
    paths[openApiPathOf(route.path)] ??= {};
    paths[openApiPathOf(route.path)][route.method] = operationOf(route);
  }
  const schemas = Object.entries(NAMED).flatMap(([io, named]) =>
    [...named].map(([schema, name]) => [name, jsonSchema(schema, io as Io)] as const),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "Fliq",
      version: "1",
      description:
        "Durable HTTP timers for Cloudflare Workers: schedule a callback, Fliq fires it on time, retries it, and records every attempt.",
    },
    security: [{ bearer: [] }],
    components: { securitySchemes: SECURITY_SCHEMES, schemas: Object.fromEntries(schemas) },
    paths,
  };
}
