import type { FlowKeyWithBacklog } from "../../db/flow-keys";
import type { DestinationRow } from "../../db/schema";
import { DESTINATION_PAUSE_AFTER } from "../../jobs/destination-health";
import { PostButton, ReadOnlyNote, Time } from "../controls";
import { Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";

/** What each action did, for the notice after its redirect. */
export const DELIVERY_CONTROL_NOTICES = {
  paused: "The flow key was paused: its jobs wait, without spending retries, until it is resumed.",
  resumed: "The flow key was resumed: the jobs it held are due now.",
  "destination-resumed": "The destination was resumed: the jobs it held are due now.",
} as const;

export type DeliveryControlNotice = keyof typeof DELIVERY_CONTROL_NOTICES;

function Notice(props: { notice?: DeliveryControlNotice }) {
  if (!props.notice) return null;
  return (
    <p class="notice" role="status">
      {DELIVERY_CONTROL_NOTICES[props.notice]}
    </p>
  );
}

const flowKeyPath = (key: string) => `${DASHBOARD_PATH}/flow-keys/${encodeURIComponent(key)}`;

function rateOf(key: FlowKeyWithBacklog): string {
  if (key.rateLimit === null || key.ratePeriodMs === null) return "none";
  return `${key.rateLimit} per ${key.ratePeriodMs / 1000} s`;
}

function flowStateOf(key: FlowKeyWithBacklog): string {
  if (!key.paused) return "running";
  return key.pausedReason === "head_failed" ? "paused: its head failed for good" : "paused by hand";
}

/**
 * The project's flow keys: each key's limits, state and backlog, paused and resumed here. A
 * key is created by the first job that names it; its limits change through the API
 * (`PATCH /flow-keys/:key`) or the client.
 */
export function FlowKeysPage(props: {
  viewer: Viewer;
  keys: FlowKeyWithBacklog[];
  more: boolean;
  notice?: DeliveryControlNotice;
}) {
  const { viewer, keys } = props;
  return (
    <Layout title="Flow keys" viewer={viewer} current="flow-keys">
      <h1>Flow keys</h1>
      <Notice notice={props.notice} />
      <p>
        Jobs that name the same flow key share its rate, parallelism and order, across every invocation that delivers. A
        key is created by the first job that names it; change its limits with <code>PATCH /flow-keys/:key</code>.
      </p>
      <ReadOnlyNote viewer={viewer} what="flow keys" />
      {keys.length === 0 ? (
        <p class="muted">No flow keys yet.</p>
      ) : (
        <div>
          <table>
            <caption class="vh">Flow keys</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Rate</th>
                <th scope="col">Parallelism</th>
                <th scope="col">Order</th>
                <th scope="col">State</th>
                <th scope="col">In flight</th>
                <th scope="col">Waiting</th>
                <th scope="col">Held</th>
                <th scope="col">Oldest due</th>
                <th scope="col">
                  <span class="vh">Pause or resume</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr>
                  <td data-label="Key" class="mono">
                    {key.key}
                  </td>
                  <td data-label="Rate">{rateOf(key)}</td>
                  <td data-label="Parallelism">{key.parallelism ?? "none"}</td>
                  <td data-label="Order">{key.ordered ? `ordered, on head failure: ${key.onHeadFailure}` : "any"}</td>
                  <td data-label="State">{flowStateOf(key)}</td>
                  <td data-label="In flight">{key.inFlight}</td>
                  <td data-label="Waiting">{key.waiting}</td>
                  <td data-label="Held">{key.held}</td>
                  <td data-label="Oldest due">{key.oldestDueAt ? <Time at={key.oldestDueAt} /> : "–"}</td>
                  <td data-label="Pause or resume">
                    <PostButton
                      viewer={viewer}
                      action={`${flowKeyPath(key.key)}/${key.paused ? "resume" : "pause"}`}
                      label={key.paused ? "Resume" : "Pause"}
                      accessibleName={`${key.paused ? "Resume" : "Pause"} ${key.key}`}
                      danger={!key.paused}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.more && <p class="muted">Only the first {keys.length} keys by name are shown.</p>}
    </Layout>
  );
}

const percent = (rate: number | null) => (rate === null ? "–" : `${Math.round(rate * 100)} %`);
const milliseconds = (ms: number | null) => (ms === null ? "–" : `${Math.round(ms)} ms`);

/**
 * The destinations the project's callbacks go to and their health: success rate and latency
 * over about the last 20 attempts, failures in a row, and whether it is paused (after
 * DESTINATION_PAUSE_AFTER failures in a row), with its next probe; a paused one is resumed here.
 */
export function DestinationsPage(props: {
  viewer: Viewer;
  destinations: DestinationRow[];
  notice?: DeliveryControlNotice;
}) {
  const { viewer, destinations } = props;
  return (
    <Layout title="Destinations" viewer={viewer} current="destinations">
      <h1>Destinations</h1>
      <Notice notice={props.notice} />
      <p>
        A destination that fails {DESTINATION_PAUSE_AFTER} times in a row, across jobs, is paused: its jobs wait without
        spending retries, and one probe goes at growing intervals. An answer resumes it.
      </p>
      <ReadOnlyNote viewer={viewer} what="destinations" />
      {destinations.length === 0 ? (
        <p class="muted">No callbacks made yet.</p>
      ) : (
        <div>
          <table>
            <caption class="vh">Destinations</caption>
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col">State</th>
                <th scope="col">Success</th>
                <th scope="col">Latency</th>
                <th scope="col">Failures in a row</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last attempt</th>
                <th scope="col">Next probe</th>
                <th scope="col">
                  <span class="vh">Resume</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {destinations.map((destination) => (
                <tr>
                  <td data-label="Destination" class="url">
                    {destination.destination}
                  </td>
                  <td data-label="State">{destination.pausedAt ? "paused" : "healthy"}</td>
                  <td data-label="Success">{percent(destination.successRate)}</td>
                  <td data-label="Latency">{milliseconds(destination.latencyMs)}</td>
                  <td data-label="Failures in a row">{destination.consecutiveFailures}</td>
                  <td data-label="Attempts">{destination.attempts}</td>
                  <td data-label="Last attempt">
                    {destination.lastAttemptAt ? <Time at={destination.lastAttemptAt} /> : "–"}
                  </td>
                  <td data-label="Next probe">
                    {destination.pausedAt && destination.nextProbeAt ? <Time at={destination.nextProbeAt} /> : "–"}
                  </td>
                  <td data-label="Resume">
                    {destination.pausedAt && (
                      <PostButton
                        viewer={viewer}
                        action={`${DASHBOARD_PATH}/destinations/${destination.id}/resume`}
                        label="Resume"
                        accessibleName={`Resume ${destination.destination}`}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
}
