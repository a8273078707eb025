/** One entry of an error's `details`: which input, and what is wrong with it. */
export interface FliqErrorDetail {
  path: string;
  message: string;
}

/**
 * Every failure of a client call. An answer from Fliq carries its HTTP status and the API's
 * error code (`validation_failed`, `not_found`, `precondition_failed`, …); a request that got
 * no answer has status 0 and code `network_error` or `timeout`.
 */
export class FliqError extends Error {
  override readonly name = "FliqError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FliqErrorDetail[] = [],
    options?: { cause?: unknown; retryAfter?: string | null },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfter = options?.retryAfter ?? null;
  }

  /** The answer's `Retry-After` header, if it had one. */
  readonly retryAfter: string | null;

  /** Whether no answer came back at all (connection failed or timed out). */
  get isNetworkError(): boolean {
    return this.status === 0;
  }
}

/** Builds the error for a non-2xx answer from its body, in the API's one error shape when it is one. */
export async function errorFromResponse(response: Response): Promise<FliqError> {
  const text = await response.text().catch(() => "");
  const retryAfter = response.headers.get("retry-after");
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const error = parsed.error;
    if (error && typeof error.code === "string" && typeof error.message === "string") {
      const details = Array.isArray(error.details) ? (error.details as FliqErrorDetail[]) : [];
      return new FliqError(response.status, error.code, withFirstDetail(error.message, details), details, {
        retryAfter,
      });
    }
  } catch {}
  // Not Fliq's error shape: a proxy or load balancer answered.
  const excerpt = text.slice(0, 200);
  return new FliqError(response.status, "http_error", `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ""}`, [], {
    retryAfter,
  });
}

/**
 * The answer's message, carrying its first detail when it does not already, so that logging
 * the error alone says what to fix (`url: is required`).
 */
function withFirstDetail(message: string, details: FliqErrorDetail[]): string {
  const [first] = details;
  if (!first || message.includes(first.message)) return message;
  return `${message} (${first.path}: ${first.message})`;
}
