import type { JobAttemptRow, JobRow } from "../../db/schema";
import { redactHeaders } from "../../jobs/redaction";
import { PostButton, ReadOnlyNote, Time } from "../controls";
import { formatDuration, toDateTimeLocalValue } from "../format";
import { CsrfField, Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";
import { LabelList, StatusText } from "./jobs";

/** Bodies longer than this are cut on the page (the API returns them whole). */
const BODY_SHOWN_MAX_CHARS = 4_000;

/** What each action did, for the notice after its redirect. */
export const ACTION_NOTICES = {
  canceled: "The job was canceled; it will not fire.",
  run: "The job will fire now.",
  replayed: "The job was replayed: it runs again as a new run.",
  rescheduled: "The job was rescheduled.",
} as const;

export type ActionNotice = keyof typeof ACTION_NOTICES;

const FINISHED = ["succeeded", "failed", "canceled"];
/** A job running, or due within this long, is about to change: its page reloads itself. */
const ABOUT_TO_CHANGE_MS = 30_000;
const RELOAD_SECONDS = 3;

function Actions(props: { viewer: Viewer; job: JobRow }) {
  const { viewer, job } = props;
  const scheduled = job.status === "scheduled";
  // A running job's callback may be on its way: it cannot be canceled (the API answers 409).
  const cancelable = scheduled;
  const finished = FINISHED.includes(job.status);
  if (!cancelable && !finished) return null;
  const path = `${DASHBOARD_PATH}/jobs/${job.id}`;
  return (
    <section aria-labelledby="actions-heading">
      <h2 id="actions-heading">Actions</h2>
      <ReadOnlyNote viewer={viewer} what="jobs" />
      <div class="actions">
        {scheduled && <PostButton viewer={viewer} action={`${path}/run`} label="Run now" />}
        {finished && <PostButton viewer={viewer} action={`${path}/replay`} label="Replay" />}
        {cancelable && <PostButton viewer={viewer} action={`${path}/cancel`} label="Cancel job" danger />}
      </div>
      {scheduled && (
        <form method="post" action={`${DASHBOARD_PATH}/jobs/${job.id}/schedule`} class="actions">
          <CsrfField viewer={viewer} />
          <div>
            <label for="scheduled-at">Scheduled at (UTC)</label>
            <input
              id="scheduled-at"
              name="scheduled_at"
              type="datetime-local"
              step={1}
              required
              value={toDateTimeLocalValue(job.scheduledAt)}
              disabled={!viewer.canAct}
            />
          </div>
          <button type="submit" class="secondary" disabled={!viewer.canAct}>
            Reschedule
          </button>
        </form>
      )}
    </section>
  );
}

function Attempt(props: { attempt: JobAttemptRow }) {
  const { attempt } = props;
  return (
    <li class={`o-${attempt.outcome}`}>
      <h3>
        Attempt {attempt.attempt}: <StatusText status={attempt.outcome} />
        {attempt.statusCode !== null && ` (HTTP ${attempt.statusCode})`}
      </h3>
      <dl class="kv">
        <dt>Planned</dt>
        <dd>
          <Time at={attempt.plannedAt} />
        </dd>
        <dt>Fired</dt>
        <dd>
          <Time at={attempt.firedAt} />
        </dd>
        <dt>Lateness</dt>
        <dd>{formatDuration(attempt.latenessMs)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(attempt.durationMs)}</dd>
        {attempt.errorClass && (
          <>
            <dt>Error</dt>
            <dd>
              <code>{attempt.errorClass}</code>
              {attempt.errorMessage && `: ${attempt.errorMessage}`}
            </dd>
          </>
        )}
        {attempt.responseExcerpt !== null && (
          <>
            <dt>Response</dt>
            <dd>
              <pre>{attempt.responseExcerpt}</pre>
            </dd>
          </>
        )}
      </dl>
    </li>
  );
}

/** One job: its request (secrets redacted), schedule and policy, actions, and every attempt. */
export function JobPage(props: {
  viewer: Viewer;
  job: JobRow;
  attempts: JobAttemptRow[];
  now: Date;
  notice?: ActionNotice;
}) {
  const { job, attempts, viewer } = props;
  const aboutToChange =
    job.status === "running" ||
    (job.status === "scheduled" && job.runAt.getTime() - props.now.getTime() < ABOUT_TO_CHANGE_MS);
  const headers = Object.entries(redactHeaders(job.headers));
  const body = job.body ?? "";
  return (
    <Layout
      title={`Job ${job.id.slice(0, 8)}`}
      viewer={viewer}
      current="jobs"
      refreshSeconds={aboutToChange ? RELOAD_SECONDS : undefined}
    >
      <p>
        <a href={`${DASHBOARD_PATH}/jobs`}>All jobs</a>
      </p>
      <h1>
        Job <span class="mono">{job.id}</span>
      </h1>
      {props.notice && (
        <p class="notice" role="status">
          {ACTION_NOTICES[props.notice]}
        </p>
      )}
      <dl class="kv">
        <dt>Status</dt>
        <dd>
          <StatusText status={job.status} />
        </dd>
        <dt>Attempts</dt>
        <dd>{job.attempt}</dd>
        {job.lastError && (
          <>
            <dt>Last error</dt>
            <dd>{job.lastError}</dd>
          </>
        )}
        <dt>Labels</dt>
        <dd>
          <LabelList labels={job.labels} />
        </dd>
        <dt>Webhook id</dt>
        <dd class="mono">{job.webhookId}</dd>
      </dl>
      {aboutToChange && (
        <p class="muted" id="refresh-note">
          This job is about to run; the page reloads itself every {RELOAD_SECONDS} seconds.
        </p>
      )}
      <Actions viewer={viewer} job={job} />
      <div class="grid2">
        <section aria-labelledby="request-heading">
          <h2 id="request-heading">Request</h2>
          <dl class="kv">
            <dt>Method</dt>
            <dd class="mono">{job.httpMethod}</dd>
            <dt>URL</dt>
            <dd class="url mono">{job.url}</dd>
            <dt>Headers</dt>
            <dd>
              {headers.length === 0 ? (
                <span class="muted">none</span>
              ) : (
                <pre id="request-headers">{headers.map(([name, value]) => `${name}: ${value}`).join("\n")}</pre>
              )}
            </dd>
            <dt>Body</dt>
            <dd>
              {job.body === null ? (
                <span class="muted">none</span>
              ) : (
                <pre>
                  {body.slice(0, BODY_SHOWN_MAX_CHARS)}
                  {body.length > BODY_SHOWN_MAX_CHARS && `\n… (${body.length - BODY_SHOWN_MAX_CHARS} more characters)`}
                </pre>
              )}
            </dd>
            {job.failureUrl && (
              <>
                <dt>On failure</dt>
                <dd class="url mono">{job.failureUrl}</dd>
              </>
            )}
          </dl>
        </section>
        <section aria-labelledby="schedule-heading">
          <h2 id="schedule-heading">Schedule</h2>
          <dl class="kv">
            {job.scheduleId && (
              <>
                <dt>Recurring schedule</dt>
                <dd>
                  <a class="mono" href={`${DASHBOARD_PATH}/schedules/${job.scheduleId}`}>
                    {job.scheduleId.slice(0, 8)}
                  </a>
                  {job.occurrenceAt && (
                    <>
                      {" "}
                      (occurrence of <Time at={job.occurrenceAt} />)
                    </>
                  )}
                </dd>
              </>
            )}
            <dt>Scheduled at</dt>
            <dd>
              <Time at={job.scheduledAt} />
            </dd>
            <dt>Next run at</dt>
            <dd>
              <Time at={job.runAt} />
            </dd>
            <dt>Created</dt>
            <dd>
              <Time at={job.createdAt} />
            </dd>
            <dt>Finished</dt>
            <dd>
              <Time at={job.finishedAt} />
            </dd>
            <dt>Retries</dt>
            <dd>
              up to {job.maxRetries}, backoff {formatDuration(job.backoffInitialMs)} doubling to at most{" "}
              {formatDuration(job.backoffMaxMs)}
            </dd>
            <dt>Timeout</dt>
            <dd>{formatDuration(job.timeoutMs)} per attempt</dd>
          </dl>
        </section>
      </div>
      <section aria-labelledby="attempts-heading">
        <h2 id="attempts-heading">Attempts</h2>
        {attempts.length === 0 ? (
          <p class="muted">No attempt yet.</p>
        ) : (
          <ol class="timeline">
            {attempts.map((attempt) => (
              <Attempt attempt={attempt} />
            ))}
          </ol>
        )}
      </section>
    </Layout>
  );
}
