import type { ScheduleRow } from "../../db/schema";
import { SCHEDULE_STATUSES, type ScheduleStatus } from "../../jobs/schedule-policy";
import { Time } from "../controls";
import { Layout, type Viewer } from "../layout";
import { DASHBOARD_PATH } from "../session";
import { StatusText } from "./jobs";

/** The link to a list page with this status filter (and a cursor). */
function scheduleListHref(status: ScheduleStatus | undefined, cursor?: string): string {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return `${DASHBOARD_PATH}/schedules${text ? `?${text}` : ""}`;
}

/** The recurring schedules, newest first, a page at a time. */
export function SchedulesPage(props: {
  viewer: Viewer;
  schedules: ScheduleRow[];
  status?: ScheduleStatus;
  nextCursor: string | null;
  paged: boolean;
}) {
  const { schedules, status } = props;
  return (
    <Layout title="Schedules" viewer={props.viewer} current="schedules">
      <h1>Schedules</h1>
      {props.viewer.canAct && (
        <p>
          <a href={`${DASHBOARD_PATH}/schedules/new`}>New schedule</a>
        </p>
      )}
      <form method="get" action={`${DASHBOARD_PATH}/schedules`} class="filters" aria-label="Filter schedules">
        <div>
          <label for="filter-status">Status</label>
          <select id="filter-status" name="status">
            <option value="" selected={!status}>
              any
            </option>
            {SCHEDULE_STATUSES.map((value) => (
              <option value={value} selected={status === value}>
                {value}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      {schedules.length === 0 ? (
        <p class="muted">No schedules match.</p>
      ) : (
        <div>
          <table>
            <caption class="vh">Schedules, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Schedule</th>
                <th scope="col">Cron</th>
                <th scope="col">Request</th>
                <th scope="col">Next occurrence</th>
              </tr>
            </thead>
            <tbody>
              {schedules.map((schedule) => (
                <tr>
                  <td data-label="Status">
                    <StatusText status={schedule.status} />
                  </td>
                  <td data-label="Schedule">
                    <a
                      class="mono"
                      href={`${DASHBOARD_PATH}/schedules/${schedule.id}`}
                      aria-label={`Schedule ${schedule.id}`}
                    >
                      {schedule.id.slice(0, 8)}
                    </a>
                  </td>
                  <td data-label="Cron">
                    <code>{schedule.cron}</code> <span class="muted">{schedule.timezone}</span>
                  </td>
                  <td data-label="Request" class="url">
                    <span class="mono">{schedule.httpMethod}</span> {schedule.url}
                  </td>
                  <td data-label="Next occurrence">
                    {schedule.status === "active" ? <Time at={schedule.nextRunAt} /> : <span class="muted">–</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {props.paged && <a href={scheduleListHref(status)}>First page</a>}
        {props.nextCursor && (
          <a href={scheduleListHref(status, props.nextCursor)} rel="next">
            Next page
          </a>
        )}
      </nav>
    </Layout>
  );
}
