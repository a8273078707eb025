-- createJobsAsCaller's one statement (src/db/jobs.ts, which documents its guards: the token,
-- its scopes, the cap on waiting jobs over the count's stripes, idempotency), as a function.
-- Sent as text, the statement cost PostgreSQL more to plan (about 0.9 ms) than to run, on every
-- create: Neon's SQL-over-HTTP endpoint runs unnamed statements, planned on each call. PL/pgSQL
-- keeps a function's plan for the life of the server connection, which the pooler behind Neon's
-- endpoint (or Hyperdrive) keeps across requests. The statement is the same, in one snapshot;
-- its values are the parameters (p_): the jobs as 24 arrays, one per column, and the flow keys to
-- create as 6 (empty for a batch without flow keys). A column added to jobs is added here too.
CREATE OR REPLACE FUNCTION create_jobs_as_caller(
  p_prefix text, p_hash text, p_now timestamptz, p_stale_before timestamptz, p_granting_scopes text[],
  p_exact boolean, p_stripe int, p_count int, p_cap int, p_key text,
  p_id uuid[], p_url text[], p_http_method text[], p_headers jsonb[], p_body text[], p_labels jsonb[],
  p_failure_url text[], p_success_url text[], p_scheduled_at timestamptz[], p_run_at timestamptz[],
  p_max_retries int[], p_timeout_ms int[], p_backoff_initial_ms int[], p_backoff_max_ms int[],
  p_expires_at timestamptz[], p_max_retry_duration_ms bigint[], p_created_at timestamptz[], p_claimed_by uuid[],
  p_locked_until timestamptz[], p_idempotency_key text[], p_idempotency_fingerprint text[], p_topic text[],
  p_message_id uuid[], p_flow_key text[],
  p_flow_key_names text[], p_flow_rate_limit int[], p_flow_rate_period_ms int[], p_flow_parallelism int[],
  p_flow_ordered boolean[], p_flow_on_head_failure text[]
) RETURNS TABLE (token_id uuid, project_id uuid, scopes text[], permitted boolean, fast boolean, fast_won boolean,
                 waiting int, counted_stripes int, inserted json, repeated json)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    WITH caller AS (
      SELECT t.id, t.project_id, t.scopes FROM api_tokens t
      WHERE t.prefix = p_prefix AND t.token_hash = p_hash AND t.revoked_at IS NULL
    ), touched AS (
      UPDATE api_tokens SET last_used_at = p_now
      WHERE id = (SELECT id FROM caller)
        AND (last_used_at IS NULL OR last_used_at < p_stale_before)
    ), permitted AS (
      SELECT project_id FROM caller WHERE scopes && p_granting_scopes
    ), fast AS MATERIALIZED (
      SELECT NOT p_exact AND EXISTS (
        SELECT FROM project_job_count_stripes s
        WHERE s.project_id = (SELECT project_id FROM permitted) AND s.stripe = p_stripe
          AND s.room >= p_count AND s.room_cap = p_cap
      ) AS chosen
    ), fast_lock AS MATERIALIZED (
      SELECT s.stripe FROM project_job_count_stripes s
      WHERE s.project_id = (SELECT project_id FROM permitted) AND s.stripe = p_stripe
        AND s.room >= p_count AND s.room_cap = p_cap AND (SELECT chosen FROM fast)
      FOR NO KEY UPDATE
    ), exact_lock AS MATERIALIZED (
      SELECT s.stripe, s.unfinished FROM project_job_count_stripes s
      WHERE s.project_id = (SELECT project_id FROM permitted) AND NOT (SELECT chosen FROM fast)
      ORDER BY s.stripe
      FOR NO KEY UPDATE
    ), decision AS MATERIALIZED (
      SELECT (SELECT chosen FROM fast) AS fast, EXISTS (SELECT FROM fast_lock) AS fast_won,
             (SELECT sum(unfinished) FROM exact_lock)::int AS waiting
    ), admitted AS (
      SELECT FROM decision d WHERE d.fast_won OR (NOT d.fast AND d.waiting + p_count <= p_cap)
    ), ins AS (
      INSERT INTO jobs (id, project_id, url, http_method, headers, body, labels, failure_url, success_url, scheduled_at, run_at,
                        max_retries, timeout_ms, backoff_initial_ms, backoff_max_ms, expires_at, max_retry_duration_ms,
                        created_at, updated_at, claimed_by, locked_until, idempotency_key, idempotency_fingerprint,
                        topic, message_id, flow_key, status, attempt)
      SELECT v.id, permitted.project_id, v.url, v.http_method, v.headers, v.body, v.labels, v.failure_url, v.success_url,
             v.scheduled_at, v.run_at, v.max_retries, v.timeout_ms, v.backoff_initial_ms, v.backoff_max_ms,
             v.expires_at, v.max_retry_duration_ms, v.created_at, v.created_at, v.claimed_by, v.locked_until,
             v.idempotency_key, v.idempotency_fingerprint, v.topic, v.message_id, v.flow_key, 'scheduled', 0
      FROM permitted, admitted, unnest(
        p_id, p_url, p_http_method, p_headers, p_body, p_labels, p_failure_url, p_success_url, p_scheduled_at, p_run_at,
        p_max_retries, p_timeout_ms, p_backoff_initial_ms, p_backoff_max_ms, p_expires_at, p_max_retry_duration_ms,
        p_created_at, p_claimed_by, p_locked_until, p_idempotency_key, p_idempotency_fingerprint, p_topic,
        p_message_id, p_flow_key
      ) AS v(id, url, http_method, headers, body, labels, failure_url, success_url, scheduled_at, run_at, max_retries, timeout_ms,
             backoff_initial_ms, backoff_max_ms, expires_at, max_retry_duration_ms, created_at, claimed_by, locked_until,
             idempotency_key, idempotency_fingerprint, topic, message_id, flow_key)
      ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING jobs.*
    ), flow_keys_created AS (
      INSERT INTO flow_keys (project_id, key, rate_limit, rate_period_ms, parallelism, ordered, on_head_failure,
                             created_at, updated_at)
      SELECT permitted.project_id, k.key, k.rate_limit, k.rate_period_ms, k.parallelism, k.ordered, k.on_head_failure,
             p_now, p_now
      FROM permitted, admitted, unnest(
        p_flow_key_names, p_flow_rate_limit, p_flow_rate_period_ms, p_flow_parallelism, p_flow_ordered, p_flow_on_head_failure
      ) AS k(key, rate_limit, rate_period_ms, parallelism, ordered, on_head_failure)
      ON CONFLICT (project_id, key) DO NOTHING
    ), free AS (
      SELECT greatest(0, p_cap - d.waiting - (SELECT count(*) FROM ins))::int AS places FROM decision d
    ), counted AS (
      UPDATE project_job_count_stripes c
      SET unfinished = c.unfinished + CASE WHEN c.stripe = p_stripe THEN (SELECT count(*) FROM ins) ELSE 0 END,
          room = CASE
            WHEN d.fast THEN c.room - (SELECT count(*) FROM ins)
            WHEN c.stripe = 0 THEN 0
            -- Stripes 1 to 15 share the free places evenly (JOB_COUNT_STRIPES - 1 in src/db/schema.ts).
            ELSE free.places / 15 + (c.stripe <= free.places % 15)::int
          END,
          room_cap = p_cap
      FROM decision d, free
      WHERE c.project_id = (SELECT project_id FROM permitted) AND ((d.fast_won AND c.stripe = p_stripe) OR NOT d.fast)
      RETURNING set_config('fliq.jobs_counted', 'on', true) AS mark
    )
    SELECT caller.id, caller.project_id, caller.scopes,
           EXISTS (SELECT 1 FROM permitted),
           (SELECT d.fast FROM decision d), (SELECT d.fast_won FROM decision d),
           (SELECT d.waiting FROM decision d), (SELECT count(*) FROM counted)::int,
           (SELECT json_agg(ins) FROM ins),
           (SELECT to_json(repeated) FROM jobs AS repeated
            WHERE repeated.project_id = (SELECT project_id FROM permitted) AND repeated.idempotency_key = p_key)
    FROM (VALUES (1)) AS one (x) LEFT JOIN caller ON true;
END
$fn$;
