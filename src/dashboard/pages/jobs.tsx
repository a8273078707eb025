import type { JobRow } from "../../db/schema";
import type { LatestAttempt } from "../../db/stats";
import { JOB_STATUSES, type JobStatus } from "../../jobs/states";
import { RelativeTime } from "../controls";
import { formatDuration } from "../format";
import { Layout, LiveRegion, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** The list's orders, as GET /jobs names them, and what each sorts by. */
export const JOB_ORDERS = {
  newest: "Newest first (by creation)",
  soonest: "Soonest first (by next run)",
} as const;

export type JobListOrder = keyof typeof JOB_ORDERS;

/** The list's filters as the form shows them (the query string's values). */
export interface JobListFilters {
  status: JobStatus[];
  label: string;
  url_prefix: string;
  /** Jobs published to this topic. */
  topic: string;
  /** The date range on scheduled_at, as datetime-local values in UTC. */
  scheduled_after: string;
  scheduled_before: string;
  order: JobListOrder;
  /** Page size, when not the default. */
  limit?: string;
}

/** The link to a list page with these filters (and a cursor). */
export function jobListHref(filters: JobListFilters, cursor?: string): string {
  const query = new URLSearchParams();
  for (const status of filters.status) query.append("status", status);
  if (filters.label) query.set("label", filters.label);
  if (filters.url_prefix) query.set("url_prefix", filters.url_prefix);
  if (filters.topic) query.set("topic", filters.topic);
  if (filters.scheduled_after) query.set("scheduled_after", filters.scheduled_after);
  if (filters.scheduled_before) query.set("scheduled_before", filters.scheduled_before);
  if (filters.order !== "newest") query.set("order", filters.order);
  if (filters.limit) query.set("limit", filters.limit);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return `${DASHBOARD_PATH}/jobs${text ? `?${text}` : ""}`;
}

export function StatusText(props: { status: string }) {
  return <span class={`status s-${props.status}`}>{props.status}</span>;
}

/** Labels as `key:value` chips of text. */
export function LabelList(props: { labels: Record<string, string> }) {
  const entries = Object.entries(props.labels);
  if (entries.length === 0) return <span class="muted">–</span>;
  return <span class="mono">{entries.map(([key, value]) => `${key}:${value}`).join(" ")}</span>;
}

/**
 * Which time a table of jobs shows: the one it is sorted by, so its times read in order.
 * Created for the newest first, the next run for the soonest first, the failure for failures.
 */
export const TIME_COLUMNS = {
  created: { heading: "Created", of: (job: JobRow) => job.createdAt },
  next_run: { heading: "Next run", of: (job: JobRow) => job.runAt },
  finished: { heading: "Finished", of: (job: JobRow) => job.finishedAt },
} as const;

export type TimeColumn = keyof typeof TIME_COLUMNS;

/** The lateness of a job's latest attempt, or "–" before its first. */
function Lateness(props: { latest?: LatestAttempt }) {
  const { latest } = props;
  // A lost attempt's firing time is not known, so neither is its lateness.
  if (!latest || latest.outcome === "unknown") return <span class="muted">–</span>;
  return <span class="num">{formatDuration(latest.latenessMs)}</span>;
}

/** A compact table of jobs, shared by the list and the overview; on a phone each row is a card. */
export function JobTable(props: {
  jobs: JobRow[];
  caption: string;
  empty: string;
  now: Date;
  time: TimeColumn;
  latest: Map<string, LatestAttempt>;
}) {
  if (props.jobs.length === 0) return <p class="muted">{props.empty}</p>;
  const time = TIME_COLUMNS[props.time];
  return (
    <table class="jobs">
      <caption class="vh">{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">Job</th>
          <th scope="col">Request</th>
          <th scope="col">{time.heading}</th>
          <th scope="col">Attempts</th>
          <th scope="col">
            Lateness<span class="vh"> of the latest attempt</span>
          </th>
          <th scope="col">Labels</th>
        </tr>
      </thead>
      <tbody>
        {props.jobs.map((job) => (
          <tr>
            <td data-label="Status">
              <StatusText status={job.status} />
            </td>
            <td data-label="Job">
              <a class="mono" href={`${DASHBOARD_PATH}/jobs/${job.id}`} aria-label={`Job ${job.id}`}>
                {job.id.slice(0, 8)}
              </a>
            </td>
            <td data-label="Request" class="url">
              <span class="mono">{job.httpMethod}</span> {job.url}
            </td>
            <td data-label={time.heading} class="time">
              <RelativeTime at={time.of(job)} now={props.now} />
            </td>
            <td data-label="Attempts">
              {job.attempt}
              {job.lastStatusCode !== null && <span class="muted"> (last {job.lastStatusCode})</span>}
            </td>
            <td data-label="Lateness">
              <Lateness latest={props.latest.get(job.id)} />
            </td>
            <td data-label="Labels">
              <LabelList labels={job.labels} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The jobs list: filters, date range, order, search by id, and one page of jobs. */
export function JobsPage(props: {
  viewer: Viewer;
  jobs: JobRow[];
  latest: Map<string, LatestAttempt>;
  now: Date;
  filters: JobListFilters;
  nextCursor: string | null;
  paged: boolean;
  searchMessage?: string;
}) {
  const { filters } = props;
  return (
    <Layout title="Jobs" viewer={props.viewer} current="jobs" live now={props.now}>
      <h1>Jobs</h1>
      {props.viewer.canAct && (
        <p>
          <a href={`${DASHBOARD_PATH}/jobs/new`}>New job</a>
        </p>
      )}
      <search>
        <form method="get" action={`${DASHBOARD_PATH}/jobs`} class="filters" aria-label="Find a job by id">
          <div>
            <label for="search-id">Job id</label>
            <input id="search-id" name="id" type="search" size={38} placeholder="00000000-0000-…" />
          </div>
          <button type="submit" class="secondary">
            Open job
          </button>
        </form>
        {props.searchMessage && (
          <p class="error" role="alert">
            {props.searchMessage}
          </p>
        )}
        <form method="get" action={`${DASHBOARD_PATH}/jobs`} class="filters" aria-label="Filter jobs">
          <fieldset>
            <legend>Status</legend>
            {JOB_STATUSES.map((status) => (
              <label>
                <input type="checkbox" name="status" value={status} checked={filters.status.includes(status)} />
                {status}
              </label>
            ))}
          </fieldset>
          <div>
            <label for="filter-label">Label</label>
            <input id="filter-label" name="label" value={filters.label} placeholder="key:value" />
          </div>
          <div>
            <label for="filter-url">URL starts with</label>
            <input id="filter-url" name="url_prefix" value={filters.url_prefix} placeholder="https://" />
          </div>
          <div>
            <label for="filter-topic">Topic</label>
            <input id="filter-topic" name="topic" value={filters.topic} placeholder="user.signed-up" />
          </div>
          <div>
            <label for="filter-after">Scheduled from (UTC)</label>
            <input
              id="filter-after"
              name="scheduled_after"
              type="datetime-local"
              step={1}
              value={filters.scheduled_after}
            />
          </div>
          <div>
            <label for="filter-before">Scheduled before (UTC)</label>
            <input
              id="filter-before"
              name="scheduled_before"
              type="datetime-local"
              step={1}
              value={filters.scheduled_before}
            />
          </div>
          <div>
            <label for="filter-order">Order</label>
            <select id="filter-order" name="order">
              {Object.entries(JOB_ORDERS).map(([value, text]) => (
                <option value={value} selected={filters.order === value}>
                  {text}
                </option>
              ))}
            </select>
          </div>
          <button type="submit">Filter</button>
          <a href={`${DASHBOARD_PATH}/jobs`}>Clear</a>
        </form>
      </search>
      <LiveRegion id="jobs-list">
        <JobTable
          jobs={props.jobs}
          latest={props.latest}
          now={props.now}
          time={filters.order === "newest" ? "created" : "next_run"}
          caption={`Jobs, ${JOB_ORDERS[filters.order].toLowerCase()}`}
          empty="No jobs match."
        />
      </LiveRegion>
      <nav class="pager" aria-label="Pages">
        {props.paged && <a href={jobListHref(filters)}>First page</a>}
        {props.nextCursor && (
          <a href={jobListHref(filters, props.nextCursor)} rel="next">
            Next page
          </a>
        )}
      </nav>
    </Layout>
  );
}
