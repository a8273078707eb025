/**
 * The API's routes, each declared once beside its handler: `declare` registers the handler on
 * Hono and records what the OpenAPI document says of the route, in one call, so a route cannot
 * be served without its description. src/api/openapi.ts builds the document from the records.
 */
import { type Handler, Hono } from "hono";
import type { z } from "zod";
import type { AppEnv } from "../http/env";

/** Who may call a group of routes: a project's API token, or the ADMIN_TOKEN secret. */
export type Security = "bearer" | "adminBearer";

/** A successful answer: what it means, and the schema of its JSON body. */
export interface Answer {
  description: string;
  body: z.ZodType;
}

/** What one route takes and answers, as the OpenAPI document says it. */
export interface RouteDeclaration {
  method: "get" | "post" | "patch" | "delete";
  /** Below the group's base path, in Hono's syntax: `/`, `/:id/cancel`. */
  path: string;
  summary: string;
  description?: string;
  /** The schema of each `:name` in the path. */
  params?: Record<string, z.ZodType>;
  /** The query's object schema: each property is one query parameter. */
  query?: z.ZodType;
  /** The request headers the route reads, by name. */
  headers?: Record<string, z.ZodType>;
  /** The JSON body the route reads. */
  body?: z.ZodType;
  /** The successful answers, by status. */
  answers: Record<number, Answer>;
  /** The error answers, by status, each with when it is given; their body is the one error shape. */
  errors: Record<number, string>;
}

/** A declared route with what its group gives it: the full path, the tag and the security. */
export interface DeclaredRoute extends RouteDeclaration {
  tag: string;
  security: Security;
}

/**
 * A group of routes under one base path, with one tag in the document and one kind of
 * credential. `app` carries the base path in its routes: mount it at the root.
 */
export class ApiRoutes {
  readonly app: Hono<AppEnv>;
  readonly declared: DeclaredRoute[] = [];

  constructor(private readonly group: { basePath: string; tag: string; security: Security }) {
    this.app = new Hono<AppEnv>().basePath(group.basePath);
  }

  /** Serves `handler` at the route and records the route's declaration. */
  declare(route: RouteDeclaration, handler: Handler<AppEnv>): void {
    const undeclared = pathParamsOf(route.path).filter((name) => !route.params?.[name]);
    if (undeclared.length > 0) {
      throw new Error(`${route.method} ${route.path} declares no schema for :${undeclared.join(", :")}`);
    }
    this.app.on(route.method.toUpperCase(), route.path, handler);
    const { basePath, tag, security } = this.group;
    this.declared.push({ ...route, path: route.path === "/" ? basePath : basePath + route.path, tag, security });
  }
}

/** The names of a Hono path's parameters: `/:id/tokens/:tokenId` has `id` and `tokenId`. */
export function pathParamsOf(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((match) => match[1]);
}
