/**
 * Inline SVG charts: no script, no library, a few hundred bytes each. Colours come from the
 * page's stylesheet, so they follow light and dark mode. Each chart has a text equivalent
 * (its <title> and the figures beside it) for screen readers.
 */
import type { AttemptBucket } from "../db/stats";
import { formatDuration, formatTime } from "./format";

const WIDTH = 320;
const HEIGHT = 120;
const PAD_BOTTOM = 16;
const PAD_LEFT = 4;

/** Every bucket of the span, with the stored ones filled in and the others empty. */
function slots(buckets: AttemptBucket[], since: Date, bucketMs: number, count: number) {
  const byStart = new Map(buckets.map((bucket) => [bucket.start.getTime(), bucket]));
  return Array.from({ length: count }, (_, i) => {
    const start = since.getTime() + i * bucketMs;
    return { start: new Date(start), bucket: byStart.get(start) };
  });
}

interface ChartProps {
  buckets: AttemptBucket[];
  since: Date;
  bucketMs: number;
  count: number;
  /** Labels under the first and last bucket, e.g. "-1 h" and "now". */
  axis: [string, string];
}

/** Attempts per bucket, succeeded stacked under the others. */
export function AttemptsChart(props: ChartProps & { title: string }) {
  const rows = slots(props.buckets, props.since, props.bucketMs, props.count);
  const peak = Math.max(1, ...rows.map((row) => row.bucket?.attempts ?? 0));
  const plotHeight = HEIGHT - PAD_BOTTOM;
  const slot = (WIDTH - PAD_LEFT) / rows.length;
  const barWidth = Math.max(1, slot - 2);
  return (
    <svg class="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={props.title}>
      <title>{props.title}</title>
      {rows.map((row, i) => {
        const attempts = row.bucket?.attempts ?? 0;
        const succeeded = row.bucket?.succeeded ?? 0;
        const x = PAD_LEFT + i * slot;
        const okHeight = (succeeded / peak) * plotHeight;
        const badHeight = ((attempts - succeeded) / peak) * plotHeight;
        return (
          <g>
            <title>{`${formatTime(row.start)}: ${attempts} attempts, ${succeeded} succeeded`}</title>
            <rect class="bar-ok" x={x} y={plotHeight - okHeight} width={barWidth} height={okHeight} />
            <rect class="bar-bad" x={x} y={plotHeight - okHeight - badHeight} width={barWidth} height={badHeight} />
          </g>
        );
      })}
      <line class="axis" x1={PAD_LEFT} y1={plotHeight} x2={WIDTH} y2={plotHeight} />
      <text x={PAD_LEFT} y={HEIGHT - 3}>
        {props.axis[0]}
      </text>
      <text x={WIDTH} y={HEIGHT - 3} text-anchor="end">
        {props.axis[1]}
      </text>
      <text x={PAD_LEFT + 2} y={10}>{`max ${peak}`}</text>
    </svg>
  );
}

/** Lateness p50 (solid) and p99 (dashed) per bucket; a bucket without attempts breaks the line, never bridged. */
export function LatenessChart(props: ChartProps & { title: string }) {
  const rows = slots(props.buckets, props.since, props.bucketMs, props.count);
  const peak = Math.max(1, ...rows.map((row) => row.bucket?.latenessP99Ms ?? 0));
  const plotHeight = HEIGHT - PAD_BOTTOM;
  const slot = (WIDTH - PAD_LEFT) / rows.length;
  /**
   * The measured points as runs of adjacent buckets: a line joins two points only when their
   * buckets are neighbours, so a bucket without attempts breaks it instead of being bridged.
   */
  const runs = (pick: (bucket: AttemptBucket) => number | null) => {
    const result: Array<Array<{ x: string; y: string }>> = [];
    let current: Array<{ x: string; y: string }> = [];
    rows.forEach((row, i) => {
      const value = row.bucket ? pick(row.bucket) : null;
      if (value === null) {
        if (current.length > 0) result.push(current);
        current = [];
        return;
      }
      const x = PAD_LEFT + i * slot + slot / 2;
      const y = plotHeight - (Math.max(0, value) / peak) * plotHeight;
      current.push({ x: x.toFixed(1), y: y.toFixed(1) });
    });
    if (current.length > 0) result.push(current);
    return result;
  };
  const p50 = runs((bucket) => bucket.latenessP50Ms);
  const p99 = runs((bucket) => bucket.latenessP99Ms);
  const line = (xy: Array<{ x: string; y: string }>) => xy.map(({ x, y }) => `${x},${y}`).join(" ");
  return (
    <svg class="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={props.title}>
      <title>{props.title}</title>
      {p99
        .filter((run) => run.length > 1)
        .map((run) => (
          <polyline class="p99" points={line(run)} />
        ))}
      {p50
        .filter((run) => run.length > 1)
        .map((run) => (
          <polyline class="p50" points={line(run)} />
        ))}
      {/* Dots too, so a bucket with attempts between two without still shows. */}
      {p99.flat().map(({ x, y }) => (
        <circle class="dot99" cx={x} cy={y} r="2.5" />
      ))}
      {p50.flat().map(({ x, y }) => (
        <circle class="dot50" cx={x} cy={y} r="2.5" />
      ))}
      <line class="axis" x1={PAD_LEFT} y1={plotHeight} x2={WIDTH} y2={plotHeight} />
      <text x={PAD_LEFT} y={HEIGHT - 3}>
        {props.axis[0]}
      </text>
      <text x={WIDTH} y={HEIGHT - 3} text-anchor="end">
        {props.axis[1]}
      </text>
      <text x={PAD_LEFT + 2} y={10}>{`max ${formatDuration(peak)}`}</text>
    </svg>
  );
}
