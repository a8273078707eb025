#!/usr/bin/env bash
# Loads pg_stat_statements into the local PostgreSQL cluster listening on PORT, so the bench can
# count the SQL statements Fliq runs. The module must be preloaded at server start, so this adds
# it to shared_preload_libraries (keeping any library already listed) and restarts the cluster.
# The restart drops every open connection to that cluster, other local runs' included.
# Needs root (it runs psql as the postgres superuser and pg_ctlcluster). Does nothing when the
# module is already loaded. Usage: enable-pg-stat-statements.sh [PORT]   (default 5432)
set -euo pipefail

port=${1:-5432}
as_postgres() { su postgres -c "$1"; }
current=$(as_postgres "psql -X -p $port -Atc 'SHOW shared_preload_libraries'")

if [[ ",${current// /}," == *",pg_stat_statements,"* ]]; then
  echo "pg_stat_statements is already loaded on port $port"
  exit 0
fi

# The Debian cluster (version and name) that owns this port; pg_ctlcluster needs both.
read -r version cluster < <(pg_lsclusters -h | awk -v port="$port" '$3 == port { print $1, $2; exit }')
if [[ -z "${version:-}" ]]; then
  echo "no local PostgreSQL cluster listens on port $port" >&2
  exit 1
fi

libraries="pg_stat_statements"
[[ -n "$current" ]] && libraries="$current,pg_stat_statements"
echo "setting shared_preload_libraries = '$libraries' on cluster $version/$cluster, then restarting it"
as_postgres "psql -X -p $port -v ON_ERROR_STOP=1 -qc \"ALTER SYSTEM SET shared_preload_libraries = '$libraries'\""
pg_ctlcluster "$version" "$cluster" restart

# pg_ctlcluster returns once the server is up; wait until it also accepts connections.
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$port" && exit 0
  sleep 0.2
done
echo "PostgreSQL on port $port did not come back after the restart" >&2
exit 1
