import type { JobRow } from "../../db/schema";
import { JOB_STATUSES, type JobStatus } from "../../jobs/states";
import { formatTime } from "../format";
import { Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** The list's filters as the form shows them (the query string's values). */
export interface JobListFilters {
  status: JobStatus[];
  label: string;
  url_prefix: string;
  /** Page size, when not the default. */
  limit?: string;
}

/** The link to a list page with these filters (and a cursor). */
export function jobListHref(filters: JobListFilters, cursor?: string): string {
  const query = new URLSearchParams();
  for (const status of filters.status) query.append("status", status);
  if (filters.label) query.set("label", filters.label);
  if (filters.url_prefix) query.set("url_prefix", filters.url_prefix);
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

/** A compact table of jobs, shared by the list and the overview. */
export function JobTable(props: { jobs: JobRow[]; caption: string; empty: string }) {
  if (props.jobs.length === 0) return <p class="muted">{props.empty}</p>;
  return (
    <div class="scroll">
      <table>
        <caption class="vh">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">Job</th>
            <th scope="col">Request</th>
            <th scope="col">Next / last run</th>
            <th scope="col">Attempts</th>
            <th scope="col">Labels</th>
          </tr>
        </thead>
        <tbody>
          {props.jobs.map((job) => (
            <tr>
              <td>
                <StatusText status={job.status} />
              </td>
              <td>
                <a class="mono" href={`${DASHBOARD_PATH}/jobs/${job.id}`} aria-label={`Job ${job.id}`}>
                  {job.id.slice(0, 8)}
                </a>
              </td>
              <td class="url">
                <span class="mono">{job.httpMethod}</span> {job.url}
              </td>
              <td>
                <time datetime={job.runAt.toISOString()}>{formatTime(job.runAt)}</time>
              </td>
              <td>
                {job.attempt}
                {job.lastStatusCode !== null && <span class="muted"> (last {job.lastStatusCode})</span>}
              </td>
              <td>
                <LabelList labels={job.labels} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The jobs list: filters, search by id, and one page of jobs, newest first. */
export function JobsPage(props: {
  viewer: Viewer;
  jobs: JobRow[];
  filters: JobListFilters;
  nextCursor: string | null;
  paged: boolean;
  searchMessage?: string;
}) {
  const { filters } = props;
  return (
    <Layout title="Jobs" viewer={props.viewer} current="jobs">
      <h1>Jobs</h1>
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
          <button type="submit">Filter</button>
          <a href={`${DASHBOARD_PATH}/jobs`}>Clear</a>
        </form>
      </search>
      <JobTable jobs={props.jobs} caption="Jobs, newest first" empty="No jobs match." />
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
