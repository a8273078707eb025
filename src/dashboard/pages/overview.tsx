import type { JobRow } from "../../db/schema";
import type { AttemptActivity, LatestAttempt } from "../../db/stats";
import { JOB_STATUSES, type JobStatus } from "../../jobs/states";
import { AttemptsChart, LatenessChart } from "../charts";
import { formatDuration, formatShare } from "../format";
import { Layout, LiveRegion, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";
import { JobTable } from "./jobs";

/** One span of recent activity as the overview shows it. */
export interface ActivitySpan {
  /** "last hour", "last day". */
  name: string;
  since: Date;
  bucketMs: number;
  bucketCount: number;
  axis: [string, string];
  activity: AttemptActivity;
}

function Activity(props: { span: ActivitySpan }) {
  const { span } = props;
  const { total } = span.activity;
  const id = span.name.replace(/\W+/g, "-");
  return (
    <section aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>Callbacks, {span.name}</h2>
      <dl class="kv" id={`${id}-summary`}>
        <dt>Attempts</dt>
        <dd>{total.attempts}</dd>
        <dt>Succeeded</dt>
        <dd>{formatShare(total.succeeded, total.attempts)}</dd>
        <dt>Lateness p50</dt>
        <dd>{total.latenessP50Ms === null ? "–" : formatDuration(total.latenessP50Ms)}</dd>
        <dt>Lateness p99</dt>
        <dd>{total.latenessP99Ms === null ? "–" : formatDuration(total.latenessP99Ms)}</dd>
      </dl>
      <p class="legend">
        Lateness: fired time minus planned time, over every attempt, retries and failure notifications included (a
        notification is planned at the failure it reports).
      </p>
      <div class="grid2">
        <figure>
          <figcaption>Attempts</figcaption>
          <AttemptsChart
            title={`Attempts per ${formatDuration(span.bucketMs)}, ${span.name}: succeeded below, others above`}
            buckets={span.activity.buckets}
            since={span.since}
            bucketMs={span.bucketMs}
            count={span.bucketCount}
            axis={span.axis}
          />
          <p class="legend">Green: succeeded. Red: failed or retried.</p>
        </figure>
        <figure>
          <figcaption>Lateness</figcaption>
          <LatenessChart
            title={`Lateness per ${formatDuration(span.bucketMs)}, ${span.name}: p50 solid, p99 dashed`}
            buckets={span.activity.buckets}
            since={span.since}
            bucketMs={span.bucketMs}
            count={span.bucketCount}
            axis={span.axis}
          />
          <p class="legend">Solid: p50. Dashed: p99. Drawn only where attempts were measured: a gap is no data.</p>
        </figure>
      </div>
    </section>
  );
}

/** The project at a glance: jobs by status, recent callbacks, what fires next, what failed. */
export function OverviewPage(props: {
  viewer: Viewer;
  counts: Partial<Record<JobStatus, number>>;
  spans: ActivitySpan[];
  upcoming: JobRow[];
  failures: JobRow[];
  latest: Map<string, LatestAttempt>;
  now: Date;
}) {
  return (
    <Layout title="Overview" viewer={props.viewer} current="overview" live now={props.now}>
      <h1>Overview</h1>
      <LiveRegion id="overview">
        <section aria-labelledby="counts-heading">
          <h2 id="counts-heading">Jobs by status</h2>
          <ul class="cards">
            {JOB_STATUSES.map((status) => (
              <li>
                <a href={`${DASHBOARD_PATH}/jobs?status=${status}`}>
                  <span class="n" id={`count-${status}`}>
                    {props.counts[status] ?? 0}
                  </span>
                  {status}
                </a>
              </li>
            ))}
          </ul>
        </section>
        {props.spans.map((span) => (
          <Activity span={span} />
        ))}
        <section aria-labelledby="upcoming-heading">
          <h2 id="upcoming-heading">Upcoming</h2>
          <JobTable
            jobs={props.upcoming}
            latest={props.latest}
            now={props.now}
            time="next_run"
            caption="The next jobs to fire"
            empty="Nothing scheduled."
          />
        </section>
        <section aria-labelledby="failures-heading">
          <h2 id="failures-heading">Recent failures</h2>
          <JobTable
            jobs={props.failures}
            latest={props.latest}
            now={props.now}
            time="finished"
            caption="The most recently failed jobs"
            empty="No failed jobs."
          />
        </section>
      </LiveRegion>
    </Layout>
  );
}
