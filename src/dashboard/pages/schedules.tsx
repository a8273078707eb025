import type { JobRow, ScheduleRow } from "../../db/schema";
import { redactHeaders } from "../../jobs/redaction";
import { SCHEDULE_STATUSES, type ScheduleStatus } from "../../jobs/schedule-policy";
import { formatDuration } from "../format";
import { CsrfField, Layout, Notice, Time, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";
import { LabelList, StatusText } from "./jobs";

/** What each schedule action did, for the notice after its redirect. */
export const SCHEDULE_NOTICES = {
  paused: "The schedule is paused: nothing fires until it is resumed.",
  resumed: "The schedule is active again.",
  triggered: "The schedule was triggered: one run fires now, listed below.",
} as const;

export type ScheduleNotice = keyof typeof SCHEDULE_NOTICES;

/** The list's filters as the form shows them (the query string's values). */
export interface ScheduleListFilters {
  status: ScheduleStatus[];
  limit?: string;
}

/** The link to a list page with these filters (and a cursor). */
function scheduleListHref(filters: ScheduleListFilters, cursor?: string): string {
  const query = new URLSearchParams();
  for (const status of filters.status) query.append("status", status);
  if (filters.limit) query.set("limit", filters.limit);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return `${DASHBOARD_PATH}/schedules${text ? `?${text}` : ""}`;
}

/** The schedules list: a status filter and one page of schedules, newest first. */
export function SchedulesPage(props: {
  viewer: Viewer;
  schedules: ScheduleRow[];
  filters: ScheduleListFilters;
  nextCursor: string | null;
  paged: boolean;
}) {
  const { filters } = props;
  return (
    <Layout title="Schedules" viewer={props.viewer} current="schedules">
      <h1>Schedules</h1>
      <search>
        <form method="get" action={`${DASHBOARD_PATH}/schedules`} class="filters" aria-label="Filter schedules">
          <fieldset>
            <legend>Status</legend>
            {SCHEDULE_STATUSES.map((status) => (
              <label>
                <input type="checkbox" name="status" value={status} checked={filters.status.includes(status)} />
                {status}
              </label>
            ))}
          </fieldset>
          <button type="submit">Filter</button>
          <a href={`${DASHBOARD_PATH}/schedules`}>Clear</a>
        </form>
      </search>
      {props.schedules.length === 0 ? (
        <p class="muted">No schedules match.</p>
      ) : (
        <div class="scroll">
          <table>
            <caption class="vh">Schedules, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Schedule</th>
                <th scope="col">Cron</th>
                <th scope="col">Time zone</th>
                <th scope="col">Request</th>
                <th scope="col">Next fire</th>
                <th scope="col">Labels</th>
              </tr>
            </thead>
            <tbody>
              {props.schedules.map((schedule) => (
                <tr>
                  <td>
                    <StatusText status={schedule.status} />
                  </td>
                  <td>
                    <a
                      class="mono"
                      href={`${DASHBOARD_PATH}/schedules/${schedule.id}`}
                      aria-label={`Schedule ${schedule.id}`}
                    >
                      {schedule.id.slice(0, 8)}
                    </a>
                  </td>
                  <td class="mono">{schedule.cron}</td>
                  <td>{schedule.timezone}</td>
                  <td class="url">
                    <span class="mono">{schedule.httpMethod}</span> {schedule.url}
                  </td>
                  <td>{schedule.status === "active" ? <Time at={schedule.nextRunAt} /> : "paused"}</td>
                  <td>
                    <LabelList labels={schedule.labels} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {props.paged && <a href={scheduleListHref(filters)}>First page</a>}
        {props.nextCursor && (
          <a href={scheduleListHref(filters, props.nextCursor)} rel="next">
            Next page
          </a>
        )}
      </nav>
    </Layout>
  );
}

/** A POST button for one schedule action, disabled (with the reason) when the token cannot act. */
function ScheduleAction(props: {
  viewer: Viewer;
  scheduleId: string;
  action: string;
  label: string;
  secondary?: boolean;
}) {
  return (
    <form method="post" action={`${DASHBOARD_PATH}/schedules/${props.scheduleId}/${props.action}`}>
      <CsrfField viewer={props.viewer} />
      <button
        type="submit"
        class={props.secondary ? "secondary" : undefined}
        disabled={!props.viewer.canAct}
        aria-describedby={props.viewer.canAct ? undefined : "read-only-note"}
      >
        {props.label}
      </button>
    </form>
  );
}

/** One schedule: its timing and request, actions, its next fire times and its latest runs. */
export function SchedulePage(props: {
  viewer: Viewer;
  schedule: ScheduleRow;
  nextFireTimes: Date[];
  recentRuns: JobRow[];
  notice?: ScheduleNotice;
}) {
  const { schedule, viewer } = props;
  const headers = Object.entries(redactHeaders(schedule.headers));
  return (
    <Layout title={`Schedule ${schedule.id.slice(0, 8)}`} viewer={viewer} current="schedules">
      <p>
        <a href={`${DASHBOARD_PATH}/schedules`}>All schedules</a>
      </p>
      <h1>
        Schedule <span class="mono">{schedule.id}</span>
      </h1>
      <Notice text={props.notice && SCHEDULE_NOTICES[props.notice]} />
      <dl class="kv">
        <dt>Status</dt>
        <dd>
          <StatusText status={schedule.status} />
        </dd>
        <dt>Cron</dt>
        <dd class="mono">{schedule.cron}</dd>
        <dt>Time zone</dt>
        <dd>{schedule.timezone}</dd>
        <dt>Labels</dt>
        <dd>
          <LabelList labels={schedule.labels} />
        </dd>
      </dl>
      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        {!viewer.canAct && (
          <p id="read-only-note" class="muted">
            This token has the read scope only; sign in with a write token to act on schedules.
          </p>
        )}
        <div class="actions">
          {schedule.status === "active" ? (
            <ScheduleAction viewer={viewer} scheduleId={schedule.id} action="pause" label="Pause schedule" />
          ) : (
            <ScheduleAction viewer={viewer} scheduleId={schedule.id} action="resume" label="Resume schedule" />
          )}
          <ScheduleAction viewer={viewer} scheduleId={schedule.id} action="trigger" label="Trigger now" secondary />
        </div>
      </section>
      <div class="grid2">
        <section aria-labelledby="fire-times-heading">
          <h2 id="fire-times-heading">Next fire times</h2>
          {props.nextFireTimes.length === 0 ? (
            <p class="muted">
              {schedule.status === "paused" ? "None while paused." : "None: the schedule has no occurrence left."}
            </p>
          ) : (
            <ol id="next-fire-times">
              {props.nextFireTimes.map((at) => (
                <li>
                  <Time at={at} />
                </li>
              ))}
            </ol>
          )}
          <dl class="kv">
            <dt>Starts</dt>
            <dd>
              <Time at={schedule.startsAt} />
            </dd>
            <dt>Ends</dt>
            <dd>
              <Time at={schedule.endsAt} />
            </dd>
            <dt>Last occurrence</dt>
            <dd>
              <Time at={schedule.lastOccurrenceAt} />
            </dd>
            <dt>Missed</dt>
            <dd>{schedule.missedPolicy}</dd>
            <dt>Overlap</dt>
            <dd>{schedule.overlapPolicy}</dd>
          </dl>
        </section>
        <section aria-labelledby="request-heading">
          <h2 id="request-heading">Request</h2>
          <dl class="kv">
            <dt>Method</dt>
            <dd class="mono">{schedule.httpMethod}</dd>
            <dt>URL</dt>
            <dd class="url mono">{schedule.url}</dd>
            <dt>Headers</dt>
            <dd>
              {headers.length === 0 ? (
                <span class="muted">none</span>
              ) : (
                <pre id="request-headers">{headers.map(([name, value]) => `${name}: ${value}`).join("\n")}</pre>
              )}
            </dd>
            <dt>Retries</dt>
            <dd>
              up to {schedule.maxRetries}, backoff {formatDuration(schedule.backoffInitialMs)} doubling to at most{" "}
              {formatDuration(schedule.backoffMaxMs)}
            </dd>
            <dt>Timeout</dt>
            <dd>{formatDuration(schedule.timeoutMs)} per attempt</dd>
            {schedule.failureUrl && (
              <>
                <dt>On failure</dt>
                <dd class="url mono">{schedule.failureUrl}</dd>
              </>
            )}
          </dl>
        </section>
      </div>
      <section aria-labelledby="runs-heading">
        <h2 id="runs-heading">Recent runs</h2>
        {props.recentRuns.length === 0 ? (
          <p class="muted">No run yet.</p>
        ) : (
          <div class="scroll">
            <table>
              <caption class="vh">The schedule's latest runs, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Job</th>
                  <th scope="col">Occurrence</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Finished</th>
                </tr>
              </thead>
              <tbody>
                {props.recentRuns.map((job) => (
                  <tr>
                    <td>
                      <StatusText status={job.status} />
                    </td>
                    <td>
                      <a class="mono" href={`${DASHBOARD_PATH}/jobs/${job.id}`} aria-label={`Job ${job.id}`}>
                        {job.id.slice(0, 8)}
                      </a>
                    </td>
                    <td>{job.occurrenceAt ? <Time at={job.occurrenceAt} /> : "triggered by hand"}</td>
                    <td>
                      {job.attempt}
                      {job.lastStatusCode !== null && <span class="muted"> (last {job.lastStatusCode})</span>}
                    </td>
                    <td>
                      <Time at={job.finishedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Layout>
  );
}
