import type { JobAttemptRow, JobRow } from "../../db/schema";
import { redactHeaders } from "../../jobs/redaction";
import { guardedStatuses, isFinished } from "../../jobs/states";
import { CANCEL_CLOSES_BEFORE_MS } from "../../jobs/timing";
import { PostButton, ReadOnlyNote, RelativeTime, Time } from "../controls";
import { formatClockMs, formatDuration, formatRelative, formatTimeMs, toDateTimeLocalValue } from "../format";
import { CsrfField, Layout, LiveRegion, type Viewer } from "../layout";
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
  created: "The job was created.",
} as const;

export type ActionNotice = keyof typeof ACTION_NOTICES;

/** A job running, or due within this long, is about to change: its page reloads itself. */
const ABOUT_TO_CHANGE_MS = 30_000;
const RELOAD_SECONDS = 3;
/** How often the page looks for changes with script: every second while the job is about to change. */
const LIVE_SECONDS_ABOUT_TO_CHANGE = 1;
const LIVE_SECONDS = 5;

function Actions(props: { viewer: Viewer; job: JobRow }) {
  const { viewer, job } = props;
  // Run now and reschedule change a job that has not started, as the API does.
  const scheduled = guardedStatuses("updateScheduledJob").includes(job.status);
  // A running job's callback may be on its way: it cannot be canceled (the API answers 409).
  const cancelable = guardedStatuses("cancel").includes(job.status);
  const finished = isFinished(job.status);
  if (!cancelable && !finished) return null;
  const path = `${DASHBOARD_PATH}/jobs/${job.id}`;
  return (
    <section aria-labelledby="actions-heading">
      <h2 id="actions-heading">Actions</h2>
      <ReadOnlyNote viewer={viewer} what="jobs" />
      <div class="actions">
        {scheduled && <PostButton viewer={viewer} action={`${path}/run`} label="Run now" />}
        {finished && <PostButton viewer={viewer} action={`${path}/replay`} label="Replay" />}
        {cancelable && (
          // Cancel asks first: this opens a page that says what canceling does, with the real button.
          <form method="get" action={`${path}/cancel`}>
            <button
              type="submit"
              class="danger"
              disabled={!viewer.canAct}
              aria-describedby={viewer.canAct ? undefined : "read-only-note"}
            >
              Cancel job…
            </button>
          </form>
        )}
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

/** When an attempt ended: fired plus its duration. */
const endOf = (attempt: JobAttemptRow) => attempt.firedAt.getTime() + attempt.durationMs;

/** What the wait before an attempt was: a retry's backoff, a replay, or a rescue after a lost attempt. */
function waitBefore(previous: JobAttemptRow): string {
  if (previous.outcome === "retry") return "backoff";
  if (previous.outcome === "unknown") return "until the lost attempt was tried again";
  return "until it was replayed";
}

/** The wait between one attempt's end and the next one's planned time, as a row of the timeline. */
function Gap(props: { from: JobAttemptRow; toMs: number; next: string }) {
  const waitedMs = Math.max(0, props.toMs - endOf(props.from));
  return (
    <li class="gap">
      {formatDuration(waitedMs)} {waitBefore(props.from)} before {props.next}
    </li>
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
          <TimeMs at={attempt.plannedAt} />
        </dd>
        <dt>Fired</dt>
        <dd>
          <TimeMs at={attempt.firedAt} />
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

function TimeMs(props: { at: Date }) {
  return <time datetime={props.at.toISOString()}>{formatTimeMs(props.at)}</time>;
}

/** The next attempt of a scheduled job: its number and planned time, or none. */
function nextAttemptOf(job: JobRow): { number: number; at: Date } | undefined {
  return job.status === "scheduled" ? { number: job.attempt + 1, at: job.runAt } : undefined;
}

/** The attempts, the waits between them and the next attempt, in order, with millisecond times. */
function Timeline(props: { job: JobRow; attempts: JobAttemptRow[]; now: Date }) {
  const { attempts } = props;
  const next = nextAttemptOf(props.job);
  const last = attempts.at(-1);
  if (attempts.length === 0 && !next) return <p class="muted">No attempt yet.</p>;
  return (
    <>
      <AttemptAxis attempts={attempts} next={next} />
      <ol class="timeline">
        {attempts.map((attempt, i) => (
          <>
            {i > 0 && (
              <Gap from={attempts[i - 1]} toMs={attempt.plannedAt.getTime()} next={`attempt ${attempt.attempt}`} />
            )}
            <Attempt attempt={attempt} />
          </>
        ))}
        {next && (
          <>
            {last && <Gap from={last} toMs={next.at.getTime()} next={`attempt ${next.number}`} />}
            <li class="next-attempt" id="next-attempt">
              <h3>Attempt {next.number}: next</h3>
              <dl class="kv">
                <dt>Planned</dt>
                <dd>
                  <TimeMs at={next.at} /> (
                  <time datetime={next.at.toISOString()} data-relative="">
                    {formatRelative(next.at, props.now)}
                  </time>
                  )
                </dd>
              </dl>
            </li>
          </>
        )}
      </ol>
    </>
  );
}

const AXIS_WIDTH = 640;
const AXIS_HEIGHT = 64;
const AXIS_Y = 36;
const AXIS_PAD = 12;
/** Attempt numbers closer than this on the axis are not labelled, so labels never overlap. */
const LABEL_SPACING = 18;

/**
 * The attempts on a linear time axis from the first planned time to the last end (or the next
 * attempt): for each, lateness (planned to fired) and duration, then the wait to the next
 * attempt, dashed; the next attempt as an open circle. The list under it has the exact figures.
 */
function AttemptAxis(props: { attempts: JobAttemptRow[]; next?: { number: number; at: Date } }) {
  const { attempts, next } = props;
  const times = attempts.flatMap((a) => [a.plannedAt.getTime(), a.firedAt.getTime(), endOf(a)]);
  if (next) times.push(next.at.getTime());
  const start = Math.min(...times);
  const end = Math.max(...times, start + 1);
  const x = (ms: number) => AXIS_PAD + ((ms - start) / (end - start)) * (AXIS_WIDTH - 2 * AXIS_PAD);
  const fixed = (n: number) => n.toFixed(1);
  let lastLabelX = Number.NEGATIVE_INFINITY;
  const label = (at: number, text: string) => {
    if (at - lastLabelX < LABEL_SPACING) return null;
    lastLabelX = at;
    return (
      <text x={fixed(at)} y={AXIS_Y - 12} text-anchor="middle">
        {text}
      </text>
    );
  };
  const title = `Attempts on a time axis from ${formatTimeMs(new Date(start))} to ${formatTimeMs(new Date(end))}`;
  return (
    <svg class="axis-chart" viewBox={`0 0 ${AXIS_WIDTH} ${AXIS_HEIGHT}`} role="img" aria-label={title}>
      <title>{title}</title>
      <line class="axis" x1={AXIS_PAD} y1={AXIS_Y} x2={AXIS_WIDTH - AXIS_PAD} y2={AXIS_Y} />
      {attempts.map((attempt, i) => {
        const following = attempts[i + 1]?.plannedAt.getTime() ?? (next ? next.at.getTime() : undefined);
        return (
          <g>
            <title>{`Attempt ${attempt.attempt}: ${attempt.outcome}, fired ${formatTimeMs(attempt.firedAt)}`}</title>
            {following !== undefined && (
              <line class="wait" x1={fixed(x(endOf(attempt)))} y1={AXIS_Y} x2={fixed(x(following))} y2={AXIS_Y} />
            )}
            <line
              class="late"
              x1={fixed(x(attempt.plannedAt.getTime()))}
              y1={AXIS_Y}
              x2={fixed(x(attempt.firedAt.getTime()))}
              y2={AXIS_Y}
            />
            <line
              class="dur"
              x1={fixed(x(attempt.firedAt.getTime()))}
              y1={AXIS_Y}
              x2={fixed(x(endOf(attempt)))}
              y2={AXIS_Y}
            />
            <circle class={`o-${attempt.outcome}`} cx={fixed(x(attempt.firedAt.getTime()))} cy={AXIS_Y} r="6" />
            {label(x(attempt.firedAt.getTime()), String(attempt.attempt))}
          </g>
        );
      })}
      {next && (
        <g>
          <title>{`Attempt ${next.number}, next: ${formatTimeMs(next.at)}`}</title>
          <circle class="next" cx={fixed(x(next.at.getTime()))} cy={AXIS_Y} r="6" />
          {label(x(next.at.getTime()), String(next.number))}
        </g>
      )}
      <text x={AXIS_PAD} y={AXIS_HEIGHT - 4}>
        {formatClockMs(new Date(start))}
      </text>
      <text x={AXIS_WIDTH - AXIS_PAD} y={AXIS_HEIGHT - 4} text-anchor="end">
        {formatClockMs(new Date(end))}
      </text>
    </svg>
  );
}

/** One job: its request (secrets redacted), schedule and policy, actions, and every attempt. */
export function JobPage(props: {
  viewer: Viewer;
  job: JobRow;
  attempts: JobAttemptRow[];
  now: Date;
  notice?: ActionNotice;
  /** For a job published to a topic: every delivery of its message, this one included. */
  siblings?: JobRow[];
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
      live
      liveIntervalSeconds={aboutToChange ? LIVE_SECONDS_ABOUT_TO_CHANGE : LIVE_SECONDS}
      now={props.now}
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
      <LiveRegion id="job-state">
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
          <noscript>
            <p class="muted" id="refresh-note">
              This job is about to run; the page reloads itself every {RELOAD_SECONDS} seconds.
            </p>
          </noscript>
        )}
        <Actions viewer={viewer} job={job} />
      </LiveRegion>
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
                <dt>On failure or expiry</dt>
                <dd class="url mono">{job.failureUrl}</dd>
              </>
            )}
            {job.successUrl && (
              <>
                <dt>On success</dt>
                <dd class="url mono">{job.successUrl}</dd>
              </>
            )}
            {job.topic && (
              <>
                <dt>Topic</dt>
                <dd>
                  <a class="mono" href={`${DASHBOARD_PATH}/topics#topic-name-${encodeURIComponent(job.topic)}`}>
                    {job.topic}
                  </a>
                </dd>
              </>
            )}
            {job.messageId && props.siblings && (
              <>
                <dt>Message</dt>
                <dd>
                  <span class="mono">{job.messageId}</span>, delivered to {props.siblings.length} endpoints:
                  <ul id="message-deliveries">
                    {props.siblings.map((sibling) => (
                      <li>
                        <StatusText status={sibling.status} />{" "}
                        {sibling.id === job.id ? (
                          <span class="url mono">{sibling.url}</span>
                        ) : (
                          <a class="url mono" href={`${DASHBOARD_PATH}/jobs/${sibling.id}`}>
                            {sibling.url}
                          </a>
                        )}
                      </li>
                    ))}
                  </ul>
                </dd>
              </>
            )}
          </dl>
        </section>
        <LiveRegion id="job-schedule">
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
              {job.expiresAt && (
                <>
                  <dt>Expires at</dt>
                  <dd>
                    <Time at={job.expiresAt} /> <span class="muted">(no attempt starts after it)</span>
                  </dd>
                </>
              )}
              <dt>Retries</dt>
              <dd>
                up to {job.maxRetries}, backoff {formatDuration(job.backoffInitialMs)} doubling to at most{" "}
                {formatDuration(job.backoffMaxMs)}
                {job.maxRetryDurationMs !== null && (
                  <>, none later than {formatDuration(job.maxRetryDurationMs)} after the first attempt</>
                )}
              </dd>
              <dt>Timeout</dt>
              <dd>{formatDuration(job.timeoutMs)} per attempt</dd>
            </dl>
          </section>
        </LiveRegion>
      </div>
      <section aria-labelledby="attempts-heading">
        <h2 id="attempts-heading">Attempts</h2>
        <LiveRegion id="job-attempts">
          <Timeline job={job} attempts={attempts} now={props.now} />
        </LiveRegion>
      </section>
    </Layout>
  );
}

/** Cancel asks first: what canceling this job means, and the button that does it. */
export function CancelJobPage(props: { viewer: Viewer; job: JobRow; now: Date }) {
  const { job, viewer } = props;
  const path = `${DASHBOARD_PATH}/jobs/${job.id}`;
  return (
    <Layout title={`Cancel job ${job.id.slice(0, 8)}?`} viewer={viewer} current="jobs">
      <h1>Cancel this job?</h1>
      <dl class="kv">
        <dt>Job</dt>
        <dd class="mono">{job.id}</dd>
        <dt>Request</dt>
        <dd class="url">
          <span class="mono">{job.httpMethod}</span> {job.url}
        </dd>
        <dt>Next attempt</dt>
        <dd>
          <RelativeTime at={job.runAt} now={props.now} />
        </dd>
      </dl>
      <p>
        Once canceled, the job does not fire and cannot be resumed: only replayed later, as a new run. It can be
        canceled until {CANCEL_CLOSES_BEFORE_MS} ms before its time.
      </p>
      <ReadOnlyNote viewer={viewer} what="jobs" />
      <div class="actions">
        <PostButton viewer={viewer} action={`${path}/cancel`} label="Yes, cancel the job" danger />
        <a href={path}>No, keep it</a>
      </div>
    </Layout>
  );
}
