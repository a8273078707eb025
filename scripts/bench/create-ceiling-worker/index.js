/**
 * The bench's creation ceiling: the bare cost of a create on this machine's workerd, with none
 * of Fliq around it. `POST /` with a job's JSON (as `POST /jobs` takes it) parses the body,
 * inserts it as one row with one statement over Neon's SQL-over-HTTP protocol (to the bench's
 * bridge, as Fliq's creates go) and answers 201 with the row's id; `{ "jobs": [...] }` (as
 * `POST /jobs/batch` takes them) inserts them all with one statement and answers their ids. No
 * token, no validation, no limits, no clock told: what Fliq's create adds is the difference.
 */
const ONE = "INSERT INTO create_ceiling (job) VALUES ($1) RETURNING id";
const MANY = "INSERT INTO create_ceiling (job) SELECT value FROM jsonb_array_elements($1::jsonb) RETURNING id";

export default {
  async fetch(request, env) {
    const payload = await request.json();
    const jobs = Array.isArray(payload.jobs) ? payload.jobs : undefined;
    const response = await fetch(env.SQL_ENDPOINT, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "Neon-Connection-String": env.DATABASE_URL,
        "Neon-Raw-Text-Output": "true",
        "Neon-Array-Mode": "true",
      },
      body: JSON.stringify({ query: jobs ? MANY : ONE, params: [JSON.stringify(jobs ?? payload)] }),
    });
    if (!response.ok) return new Response(await response.text(), { status: 502 });
    const { rows } = await response.json();
    const body = jobs ? { jobs: rows.map(([id]) => ({ id })) } : { id: rows[0][0] };
    return Response.json(body, { status: 201 });
  },
};
