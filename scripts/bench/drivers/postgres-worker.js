import postgres from "postgres";
export default {
  async fetch(request, env) {
    const { queries, rows } = await request.json();
    const t0 = Date.now();
    const sql = postgres(env.HYPERDRIVE.connectionString, { max: 1, fetch_types: false, prepare: true });
    await sql`SELECT 1`;
    const t1 = Date.now();
    for (let i = 0; i < queries; i++) await sql`SELECT ${i}::int + 1 AS n, now() AS at`;
    const t2 = Date.now();
    let got = 0;
    for (let i = 0; i < 10; i++)
      got += (await sql`SELECT g AS id, now() AS at, md5(g::text) AS body FROM generate_series(1, ${rows}::int) g`)
        .length;
    const t3 = Date.now();
    await sql.end();
    return Response.json({ connectMs: t1 - t0, smallMs: t2 - t1, bigMs: t3 - t2, got });
  },
};
