/** Small pieces several dashboard pages share. */
import { formatRelative, formatTime } from "./format";
import { CsrfField, type Viewer } from "./layout";

/** A time, readable, with its machine value; "–" when there is none. */
export function Time(props: { at: Date | null }) {
  if (!props.at) return <span class="muted">–</span>;
  return <time datetime={props.at.toISOString()}>{formatTime(props.at)}</time>;
}

/**
 * A time as how far it is from now ("in 4 s", "3 min ago"), which the page's script keeps
 * current, with the time itself beside it; "–" when there is none.
 */
export function RelativeTime(props: { at: Date | null; now: Date }) {
  if (!props.at) return <span class="muted">–</span>;
  return (
    <span class="when">
      <time datetime={props.at.toISOString()} data-relative="">
        {formatRelative(props.at, props.now)}
      </time>{" "}
      <span class="muted abs">{formatTime(props.at)}</span>
    </span>
  );
}

/** A POST form of one button, disabled (with the reason) when the token cannot act. */
export function PostButton(props: {
  viewer: Viewer;
  action: string;
  label: string;
  /** A fuller name for assistive technology, where the visible label is kept short (a phone's width). */
  accessibleName?: string;
  danger?: boolean;
}) {
  return (
    <form method="post" action={props.action}>
      <CsrfField viewer={props.viewer} />
      <button
        type="submit"
        class={props.danger ? "danger" : undefined}
        aria-label={props.accessibleName}
        disabled={!props.viewer.canAct}
        aria-describedby={props.viewer.canAct ? undefined : "read-only-note"}
      >
        {props.label}
      </button>
    </form>
  );
}

/** Why the buttons are disabled, for a token with the read scope only. */
export function ReadOnlyNote(props: { viewer: Viewer; what: string }) {
  if (props.viewer.canAct) return null;
  return (
    <p id="read-only-note" class="muted">
      This token has the read scope only; sign in with a write token to act on {props.what}.
    </p>
  );
}
