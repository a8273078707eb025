import { HTTP_METHODS, JOB_LIMITS } from "../../jobs/limits";
import type { ErrorDetail } from "../../wire/errors";
import { CsrfField, Layout, type Viewer } from "../layout";
import type { FormFields } from "../request-form";
import { WHEN_CHOICES, type WhenChoice } from "../request-form";
import { DASHBOARD_PATH } from "../session";

/** What the API refused in a submitted form: its message, and its details by field. */
export interface FormRefusal {
  message: string;
  details: ErrorDetail[];
}

/** The form field a detail's path belongs to: `headers.X-Foo` to headers, `(body)` to none. */
function fieldOf(path: string): string | undefined {
  if (path.startsWith("headers")) return "headers";
  if (path.startsWith("(")) return undefined;
  return path;
}

interface FieldProps {
  name: string;
  label: string;
  values: FormFields;
  refusal?: FormRefusal;
  hint?: string;
}

/** The refusal's messages for one field, exactly as the API words them. */
function errorsFor(refusal: FormRefusal | undefined, name: string): ErrorDetail[] {
  return refusal?.details.filter((detail) => fieldOf(detail.path) === name) ?? [];
}

const idOf = (name: string) => `f-${name.replace(/\W/g, "-")}`;

/** A label, a control, its hint and its errors, tied together for assistive technology. */
function Field(props: FieldProps & { control: (aria: Record<string, string | undefined>) => unknown }) {
  const errors = errorsFor(props.refusal, props.name);
  const id = idOf(props.name);
  const described = [props.hint ? `${id}-hint` : "", errors.length > 0 ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.control({
        id,
        name: props.name,
        "aria-invalid": errors.length > 0 ? "true" : undefined,
        "aria-describedby": described || undefined,
      })}
      {props.hint && (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {errors.length > 0 && (
        <p class="field-error" id={`${id}-error`}>
          {errors.map((detail) => `${detail.path} ${detail.message}`).join("; ")}
        </p>
      )}
    </div>
  );
}

function TextField(props: FieldProps & { type?: string; placeholder?: string; required?: boolean }) {
  return (
    <Field
      {...props}
      control={(aria) => (
        <input
          {...aria}
          type={props.type ?? "text"}
          value={props.values[props.name] ?? ""}
          placeholder={props.placeholder}
          required={props.required}
          step={props.type === "datetime-local" ? 1 : undefined}
          size={props.type === "url" ? 60 : undefined}
        />
      )}
    />
  );
}

function TextArea(props: FieldProps & { rows: number; placeholder?: string }) {
  return (
    <Field
      {...props}
      control={(aria) => (
        <textarea {...aria} rows={props.rows} placeholder={props.placeholder} spellcheck={false}>
          {props.values[props.name] ?? ""}
        </textarea>
      )}
    />
  );
}

/** Every problem at the top of the form, as the API's 422 lists them, linked to their fields. */
function RefusalSummary(props: { refusal?: FormRefusal }) {
  if (!props.refusal) return null;
  return (
    <div class="error" role="alert" id="form-errors">
      <p>{props.refusal.message}</p>
      {props.refusal.details.length > 0 && (
        <ul>
          {props.refusal.details.map((detail) => {
            const field = fieldOf(detail.path);
            return (
              <li>
                {field ? <a href={`#${idOf(field)}`}>{detail.path}</a> : <code>{detail.path}</code>}: {detail.message}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

/** The request each job (or each run of a schedule) makes, and its retry policy. */
function RequestFields(props: { values: FormFields; refusal?: FormRefusal }) {
  const common = { values: props.values, refusal: props.refusal };
  const method = props.values.http_method ?? "POST";
  return (
    <>
      <fieldset class="form">
        <legend>Request</legend>
        <Field
          {...common}
          name="http_method"
          label="Method"
          control={(aria) => (
            <select {...aria}>
              {HTTP_METHODS.map((value) => (
                <option value={value} selected={method.toUpperCase() === value}>
                  {value}
                </option>
              ))}
            </select>
          )}
        />
        <TextField {...common} name="url" label="URL" type="url" required placeholder="https://example.com/hook" />
        <TextArea
          {...common}
          name="headers"
          label="Headers"
          rows={3}
          placeholder="Content-Type: application/json"
          hint="One per line, as Name: value. Values other than Content-Type, Accept, User-Agent and a few others are stored as given and shown as [redacted]."
        />
        <TextArea
          {...common}
          name="body"
          label="Body"
          rows={5}
          placeholder='{"hello": "world"}'
          hint="Sent as it is; empty means no body (required for GET and HEAD)."
        />
      </fieldset>
      <fieldset class="form">
        <legend>Retries</legend>
        <TextField
          {...common}
          name="max_retries"
          label="Retries after the first attempt"
          type="number"
          placeholder={String(JOB_LIMITS.maxRetriesDefault)}
          hint={`0 to ${JOB_LIMITS.maxRetriesMax}; empty: ${JOB_LIMITS.maxRetriesDefault}.`}
        />
        <TextField
          {...common}
          name="timeout_ms"
          label="Timeout per attempt (ms)"
          type="number"
          placeholder={String(JOB_LIMITS.timeoutMsDefault)}
        />
        <TextField
          {...common}
          name="retry_backoff.initial_delay_ms"
          label="First retry after (ms)"
          type="number"
          placeholder={String(JOB_LIMITS.backoffInitialMsDefault)}
          hint="Each later retry waits twice as long, with jitter, up to the most below."
        />
        <TextField
          {...common}
          name="retry_backoff.max_delay_ms"
          label="Longest wait between retries (ms)"
          type="number"
          placeholder={String(JOB_LIMITS.backoffMaxMsDefault)}
        />
      </fieldset>
    </>
  );
}

/** Where a form posts, its submit label, and the part only it has. */
function RequestForm(props: {
  viewer: Viewer;
  action: string;
  submit: string;
  values: FormFields;
  idempotencyKey: string;
  refusal?: FormRefusal;
  children: unknown;
}) {
  return (
    <form method="post" action={props.action} novalidate>
      <CsrfField viewer={props.viewer} />
      {/* A form sent twice (a double click, a reload) creates one job or schedule. */}
      <input type="hidden" name="idempotency_key" value={props.idempotencyKey} />
      <RefusalSummary refusal={props.refusal} />
      {props.children}
      <RequestFields values={props.values} refusal={props.refusal} />
      <button type="submit">{props.submit}</button>
    </form>
  );
}

/** The form that creates a job, as POST /jobs: its request, when it runs, and its retries. */
export function NewJobPage(props: {
  viewer: Viewer;
  values: FormFields;
  idempotencyKey: string;
  refusal?: FormRefusal;
}) {
  const { values, refusal } = props;
  const when = (values.when as WhenChoice | undefined) ?? "now";
  const common = { values, refusal };
  return (
    <Layout title="New job" viewer={props.viewer} current="jobs">
      <p>
        <a href={`${DASHBOARD_PATH}/jobs`}>All jobs</a>
      </p>
      <h1>New job</h1>
      <p class="muted">Checked by the same rules as POST /jobs, with the same messages.</p>
      <RequestForm
        viewer={props.viewer}
        action={`${DASHBOARD_PATH}/jobs/new`}
        submit="Create job"
        values={values}
        idempotencyKey={props.idempotencyKey}
        refusal={refusal}
      >
        <fieldset class="form">
          <legend>When</legend>
          <div class="inline field">
            {Object.entries(WHEN_CHOICES).map(([value, text]) => (
              <label>
                <input type="radio" name="when" value={value} checked={when === value} />
                {text}
              </label>
            ))}
          </div>
          <TextField
            {...common}
            name="delay"
            label="Delay"
            placeholder="30s, 15m, 1h30m, 2d or seconds"
            hint="With “After a delay”: from when the form is sent."
          />
          <TextField
            {...common}
            name="scheduled_at"
            label="Time (UTC)"
            type="datetime-local"
            hint="With “At a time”: in UTC, as every time on the dashboard."
          />
        </fieldset>
      </RequestForm>
    </Layout>
  );
}

/** The form that creates a recurring schedule, as POST /schedules. */
export function NewSchedulePage(props: {
  viewer: Viewer;
  values: FormFields;
  idempotencyKey: string;
  refusal?: FormRefusal;
}) {
  const { values, refusal } = props;
  const common = { values, refusal };
  return (
    <Layout title="New schedule" viewer={props.viewer} current="schedules">
      <p>
        <a href={`${DASHBOARD_PATH}/schedules`}>All schedules</a>
      </p>
      <h1>New schedule</h1>
      <p class="muted">Checked by the same rules as POST /schedules, with the same messages.</p>
      <RequestForm
        viewer={props.viewer}
        action={`${DASHBOARD_PATH}/schedules/new`}
        submit="Create schedule"
        values={values}
        idempotencyKey={props.idempotencyKey}
        refusal={refusal}
      >
        <fieldset class="form">
          <legend>When</legend>
          <TextField
            {...common}
            name="cron"
            label="Cron expression"
            required
            placeholder="0 9 * * MON-FRI"
            hint="Minute, hour, day of month, month, day of week; L, W, #, names and @daily too."
          />
          <TextField
            {...common}
            name="timezone"
            label="Time zone"
            placeholder="UTC"
            hint="An IANA name such as Europe/Berlin; empty: UTC."
          />
          <TextField {...common} name="starts_at" label="Starts (UTC, optional)" type="datetime-local" />
          <TextField {...common} name="ends_at" label="Ends (UTC, optional)" type="datetime-local" />
        </fieldset>
      </RequestForm>
    </Layout>
  );
}
