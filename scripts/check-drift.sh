#!/usr/bin/env bash
# Fails when generated files are stale: the Worker's runtime types (wrangler types) or the
# migrations (a schema change without `npm run db:generate`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false

wrangler types --check

before=$(ls migrations/*.sql | wc -l)
drizzle-kit generate --name drift_check >/dev/null
after=$(ls migrations/*.sql | wc -l)
if [ "$before" != "$after" ]; then
  git checkout -- migrations/meta 2>/dev/null || true
  rm -f migrations/*_drift_check.sql migrations/meta/*_snapshot.json.drift 2>/dev/null
  echo "migrations are stale: src/db/schema.ts changed; run 'npm run db:generate' and commit the result" >&2
  exit 1
fi
echo "generated files are up to date"
