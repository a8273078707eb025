import type { JobRow, ScheduleRow } from "../../db/schema";
import { redactHeaders } from "../../jobs/redaction";
import { PostButton, ReadOnlyNote, Time } from "../controls";
import { formatDuration } from "../format";
import { Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";
import { LabelList, StatusText } from "./jobs";

/** What each action did, for the notice after its redirect. */
export const SCHEDULE_NOTICES = {
  paused: "The schedule is paused: nothing fires until it is resumed.",
  resumed: "The schedule is active again.",
  triggered: "One run was started now; it shows among the recent runs.",
  created: "The schedule was created.",
} as const;

export type ScheduleNotice = keyof typeof SCHEDULE_NOTICES;

/** One schedule: its timing and request, its next fire times, its recent runs, and pause/resume/trigger. */
export function SchedulePage(props: {
  viewer: Viewer;
  schedule: ScheduleRow;
  nextFireTimes: Date[];
  runs: JobRow[];
  notice?: ScheduleNotice;
}) {
  const { viewer, schedule, runs } = props;
  const path = `${DASHBOARD_PATH}/schedules/${schedule.id}`;
  const headers = Object.entries(redactHeaders(schedule.headers));
  return (
    <Layout title={`Schedule ${schedule.id.slice(0, 8)}`} viewer={viewer} current="schedules">
      <p>
        <a href={`${DASHBOARD_PATH}/schedules`}>All schedules</a>
      </p>
      <h1>
        Schedule <span class="mono">{schedule.id}</span>
      </h1>
      {props.notice && (
        <p class="notice" role="status">
          {SCHEDULE_NOTICES[props.notice]}
        </p>
      )}
      <p>
        <StatusText status={schedule.status} /> · <code>{schedule.cron}</code> in {schedule.timezone}
      </p>
      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        <ReadOnlyNote viewer={viewer} what="schedules" />
        <div class="actions">
          {schedule.status === "active" ? (
            <PostButton viewer={viewer} action={`${path}/pause`} label="Pause" />
          ) : (
            <PostButton viewer={viewer} action={`${path}/resume`} label="Resume" />
          )}
          <PostButton viewer={viewer} action={`${path}/trigger`} label="Run once now" />
        </div>
      </section>
      <div class="grid2">
        <section aria-labelledby="timing-heading">
          <h2 id="timing-heading">Timing</h2>
          <dl class="kv">
            <dt>Next fire times</dt>
            <dd>
              {props.nextFireTimes.length === 0 ? (
                <span class="muted">{schedule.status === "paused" ? "none while paused" : "none left"}</span>
              ) : (
                <ol>
                  {props.nextFireTimes.map((at) => (
                    <li>
                      <Time at={at} />
                    </li>
                  ))}
                </ol>
              )}
            </dd>
            <dt>Starts</dt>
            <dd>
              <Time at={schedule.startsAt} />
            </dd>
            <dt>Ends</dt>
            <dd>
              <Time at={schedule.endsAt} />
            </dd>
            <dt>Missed occurrences</dt>
            <dd>{schedule.missedPolicy === "skip" ? "skipped" : "the latest one runs"}</dd>
            <dt>Overlapping runs</dt>
            <dd>{schedule.overlapPolicy === "allow" ? "allowed" : "skipped while one is under way"}</dd>
            <dt>Last occurrence</dt>
            <dd>
              <Time at={schedule.lastOccurrenceAt} />
            </dd>
          </dl>
        </section>
        <section aria-labelledby="request-heading">
          <h2 id="request-heading">Request of each run</h2>
          <dl class="kv">
            <dt>Method and URL</dt>
            <dd class="url">
              <span class="mono">{schedule.httpMethod}</span> {schedule.url}
            </dd>
            <dt>Headers</dt>
            <dd>
              {headers.length === 0 ? (
                <span class="muted">–</span>
              ) : (
                <pre>{headers.map(([name, value]) => `${name}: ${value}`).join("\n")}</pre>
              )}
            </dd>
            <dt>Body</dt>
            <dd>{schedule.body === null ? <span class="muted">–</span> : <pre>{schedule.body}</pre>}</dd>
            <dt>Labels</dt>
            <dd>
              <LabelList labels={schedule.labels} />
            </dd>
            <dt>Retries</dt>
            <dd>
              up to {schedule.maxRetries}, timeout {formatDuration(schedule.timeoutMs)} per attempt
            </dd>
          </dl>
        </section>
      </div>
      <section aria-labelledby="runs-heading">
        <h2 id="runs-heading">Recent runs</h2>
        {runs.length === 0 ? (
          <p class="muted">No run yet.</p>
        ) : (
          <div>
            <table>
              <caption class="vh">Recent runs, newest first</caption>
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
                {runs.map((job) => (
                  <tr>
                    <td data-label="Status">
                      <StatusText status={job.status} />
                    </td>
                    <td data-label="Job">
                      <a class="mono" href={`${DASHBOARD_PATH}/jobs/${job.id}`} aria-label={`Job ${job.id}`}>
                        {job.id.slice(0, 8)}
                      </a>
                    </td>
                    <td data-label="Occurrence">
                      {job.occurrenceAt ? <Time at={job.occurrenceAt} /> : <span class="muted">run by hand</span>}
                    </td>
                    <td data-label="Attempts">
                      {job.attempt}
                      {job.lastStatusCode !== null && <span class="muted"> (last {job.lastStatusCode})</span>}
                    </td>
                    <td data-label="Finished">
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
