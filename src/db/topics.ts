/**
 * Every SQL statement on fan-out topics and their endpoints. A topic belongs to one project;
 * every statement is scoped to it, so another project's topic is never found. `now` always
 * comes from the caller.
 */
import { and, asc, count, eq } from "drizzle-orm";
import type { Database } from "./client";
import { type TopicEndpointRow, type TopicRow, topicEndpoints, topics } from "./schema";

/** Endpoints in the order a topic lists them: oldest first, and those added together by URL. */
function inEndpointOrder(a: TopicEndpointRow, b: TopicEndpointRow): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.url < b.url ? -1 : a.url > b.url ? 1 : 0);
}

/** A topic with its endpoints, in their order (inEndpointOrder). */
export interface TopicWithEndpoints {
  topic: TopicRow;
  endpoints: TopicEndpointRow[];
}

/**
 * Creates a topic and its first endpoints in one transaction; `undefined` when the project
 * already has a topic of that name (the unique index decides between concurrent creates).
 */
export async function insertTopic(
  db: Database,
  topic: { projectId: string; name: string; urls: string[]; now: Date },
): Promise<TopicWithEndpoints | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(topics)
      .values({ projectId: topic.projectId, name: topic.name, createdAt: topic.now })
      .onConflictDoNothing()
      .returning();
    if (!row) return undefined;
    const urls = [...new Set(topic.urls)];
    const endpoints =
      urls.length === 0
        ? []
        : await tx
            .insert(topicEndpoints)
            .values(urls.map((url) => ({ topicId: row.id, url, createdAt: topic.now })))
            .returning();
    return { topic: row, endpoints: endpoints.sort(inEndpointOrder) };
  });
}

/** How many topics a project has. */
export async function countTopics(db: Database, projectId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(topics).where(eq(topics.projectId, projectId));
  return row?.n ?? 0;
}

/** A project's topic by name, with its endpoints. */
export async function findTopic(
  db: Database,
  projectId: string,
  name: string,
): Promise<TopicWithEndpoints | undefined> {
  const rows = await db
    .select({ topic: topics, endpoint: topicEndpoints })
    .from(topics)
    .leftJoin(topicEndpoints, eq(topicEndpoints.topicId, topics.id))
    .where(and(eq(topics.projectId, projectId), eq(topics.name, name)))
    .orderBy(asc(topicEndpoints.createdAt), asc(topicEndpoints.url));
  if (rows.length === 0) return undefined;
  return { topic: rows[0].topic, endpoints: rows.flatMap((row) => (row.endpoint ? [row.endpoint] : [])) };
}

/** Every topic of a project, by name, with its endpoints. */
export async function listTopics(db: Database, projectId: string): Promise<TopicWithEndpoints[]> {
  const rows = await db
    .select({ topic: topics, endpoint: topicEndpoints })
    .from(topics)
    .leftJoin(topicEndpoints, eq(topicEndpoints.topicId, topics.id))
    .where(eq(topics.projectId, projectId))
    .orderBy(asc(topics.name), asc(topicEndpoints.createdAt), asc(topicEndpoints.url));
  const byId = new Map<string, TopicWithEndpoints>();
  for (const row of rows) {
    const entry = byId.get(row.topic.id) ?? { topic: row.topic, endpoints: [] };
    byId.set(row.topic.id, entry);
    if (row.endpoint) entry.endpoints.push(row.endpoint);
  }
  return [...byId.values()];
}

/** Deletes a project's topic and its endpoints; the jobs published to it stay, with its name. */
export async function deleteTopic(db: Database, projectId: string, name: string): Promise<TopicRow | undefined> {
  const [row] = await db
    .delete(topics)
    .where(and(eq(topics.projectId, projectId), eq(topics.name, name)))
    .returning();
  return row;
}

/**
 * Adds an endpoint to a topic; adding a URL the topic already has answers that endpoint
 * (`created: false`), so repeating the call is safe.
 */
export async function insertEndpoint(
  db: Database,
  endpoint: { topicId: string; url: string; now: Date },
): Promise<{ endpoint: TopicEndpointRow; created: boolean }> {
  const [row] = await db
    .insert(topicEndpoints)
    .values({ topicId: endpoint.topicId, url: endpoint.url, createdAt: endpoint.now })
    .onConflictDoNothing()
    .returning();
  if (row) return { endpoint: row, created: true };
  const [existing] = await db
    .select()
    .from(topicEndpoints)
    .where(and(eq(topicEndpoints.topicId, endpoint.topicId), eq(topicEndpoints.url, endpoint.url)));
  return { endpoint: existing, created: false };
}

/** Removes an endpoint from a topic; jobs already published to it are left as they are. */
export async function deleteEndpoint(
  db: Database,
  topicId: string,
  endpointId: string,
): Promise<TopicEndpointRow | undefined> {
  const [row] = await db
    .delete(topicEndpoints)
    .where(and(eq(topicEndpoints.topicId, topicId), eq(topicEndpoints.id, endpointId)))
    .returning();
  return row;
}
