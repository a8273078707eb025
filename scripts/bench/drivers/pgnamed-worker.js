import pg from "pg";
export default {
  async fetch(request, env) {
    const { queries, rows } = await request.json();
    const t0 = Date.now();
    const client = new pg.Client({ connectionString: env.HYPERDRIVE.connectionString });
    await client.connect();
    const t1 = Date.now();
    for (let i = 0; i < queries; i++)
      await client.query({ name: "small", text: "SELECT $1::int + 1 AS n, now() AS at", values: [i] });
    const t2 = Date.now();
    let got = 0;
    for (let i = 0; i < 10; i++)
      got += (
        await client.query("SELECT g AS id, now() AS at, md5(g::text) AS body FROM generate_series(1, $1::int) g", [
          rows,
        ])
      ).rows.length;
    const t3 = Date.now();
    await client.end();
    return Response.json({ connectMs: t1 - t0, smallMs: t2 - t1, bigMs: t3 - t2, got });
  },
};
