#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that dealstream is configured for (DATABASE_URL, REDIS_URL)
# answer: uses running ones as-is, else starts local ones, else (root + apt-get) installs them.
# Idempotent; every message goes to stderr.
set -euo pipefail

log() { echo "ensure-services: $*" >&2; }
die() { log "$*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# "host port" from scheme://[user[:pass]@]host[:port][/path][?query]; $2 is the default port.
host_port() {
  local rest=${1#*://}
  rest=${rest%%[/?]*}
  rest=${rest##*@}
  if [[ $rest =~ ^\[([^]]+)\](:([0-9]+))?$ || $rest =~ ^([^:]*)(:([0-9]+))?$ ]]; then
    echo "${BASH_REMATCH[1]:-127.0.0.1} ${BASH_REMATCH[3]:-$2}"
  else
    die "cannot parse host:port from '$1'"
  fi
}

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/dealstream}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
pg_hp=$(host_port "$DATABASE_URL" 5432)
redis_hp=$(host_port "$REDIS_URL" 6379)
read -r PG_HOST PG_PORT <<<"$pg_hp"
read -r REDIS_HOST REDIS_PORT <<<"$redis_hp"
WAIT_SECONDS=${WAIT_SECONDS:-30}

is_local() { [[ $1 == localhost || $1 == 127.* || $1 == ::1 ]]; }
# shellcheck disable=SC2016 # $0/$1 are expanded by the inner bash
tcp_up() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }
can_apt() { [[ $EUID -eq 0 ]] && have apt-get; }

apt_install() {
  log "installing Debian package $1 (apt-get)..."
  if [[ -z ${APT_UPDATED:-} ]]; then
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2 </dev/null || die "apt-get install $1 failed"
}

wait_for() { # check-function
  local i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if "$1"; then return 0; fi
    sleep 1
  done
  return 1
}

# ---------------------------------------------------------------- PostgreSQL
pg_up() {
  if have pg_isready; then pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; else tcp_up "$PG_HOST" "$PG_PORT"; fi
}
# Newest PostgreSQL server version installed the Debian way (/usr/lib/postgresql/<ver>/bin/postgres).
pg_version() {
  local bins=(/usr/lib/postgresql/*/bin/postgres)
  [[ -x ${bins[0]} ]] || return 1
  printf '%s\n' "${bins[@]}" | awk -F/ '{print $5}' | sort -V | tail -n 1
}
pg_installed() { have pg_ctlcluster && pg_version >/dev/null; }

PG_FRESH=0 PG_VER='' PG_CLUSTER=''
start_postgres() {
  local line status=down
  # The Debian cluster configured for our port (pg_lsclusters -h: ver name port status ...).
  line=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2, $4; exit }')
  if [[ -n $line ]]; then
    read -r PG_VER PG_CLUSTER status <<<"$line"
  else
    PG_VER=$(pg_version) PG_CLUSTER=main
    [[ -e /etc/postgresql/$PG_VER/main ]] && PG_CLUSTER=dealstream # main exists on another port
    log "creating PostgreSQL cluster $PG_VER/$PG_CLUSTER on port $PG_PORT"
    pg_createcluster --port "$PG_PORT" "$PG_VER" "$PG_CLUSTER" >&2 ||
      die "pg_createcluster failed (run as root: sudo bash scripts/ensure-services.sh)"
    PG_FRESH=1
  fi
  if [[ $status == online ]]; then return; fi # running, just not answering on our address (yet)
  log "starting PostgreSQL cluster $PG_VER/$PG_CLUSTER"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" start >&2 ||
    die "could not start PostgreSQL (try: sudo pg_ctlcluster $PG_VER $PG_CLUSTER start)"
}

pg_login_ok() { # TCP login as postgres without a password, as the default DATABASE_URL does
  PGCONNECT_TIMEOUT=5 psql -w -X -q -At -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1
}

# A fresh Debian cluster asks for passwords over TCP; development here uses trust on loopback.
setup_fresh_postgres() {
  local hba=/etc/postgresql/$PG_VER/$PG_CLUSTER/pg_hba.conf
  if ! pg_login_ok; then
    log "TCP login as postgres failed; adding loopback 'trust' lines at the top of $hba (development only)"
    printf '%s\n' '# added by dealstream scripts/ensure-services.sh: passwordless loopback for development' \
      'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust' | cat - "$hba" >"$hba.new"
    cat "$hba.new" >"$hba" && rm -f "$hba.new" # keep the file's owner and mode
    pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" reload >&2
    sleep 1
    pg_login_ok || die "still cannot log in as postgres over TCP; check $hba"
  fi
  if [[ $EUID -eq 0 ]]; then # a root role lets psql work without -U when running as root
    psql -w -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c \
      'DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\''root'\'') THEN CREATE ROLE root SUPERUSER LOGIN; END IF; END $$' >&2
  fi
}

ensure_postgres() {
  if pg_up; then log "PostgreSQL at $PG_HOST:$PG_PORT answers; using it as-is"; return; fi
  is_local "$PG_HOST" || die "PostgreSQL at $PG_HOST:$PG_PORT (DATABASE_URL) does not answer, and it is not local so this script cannot start it"
  if ! pg_installed; then
    can_apt || die "PostgreSQL is not installed. Install and start it, e.g. 'sudo apt-get install -y postgresql && sudo pg_ctlcluster 15 main start' (or rerun this script as root), or point DATABASE_URL at a running server"
    apt_install postgresql
    PG_FRESH=1
  fi
  if ! pg_up; then start_postgres; fi
  wait_for pg_up || die "PostgreSQL did not answer on $PG_HOST:$PG_PORT within ${WAIT_SECONDS}s (check listen_addresses and /var/log/postgresql/)"
  if ((PG_FRESH)); then
    [[ -n $PG_VER ]] || read -r PG_VER PG_CLUSTER < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }')
    setup_fresh_postgres
  fi
  log "PostgreSQL at $PG_HOST:$PG_PORT is up"
}

# ---------------------------------------------------------------- Redis
redis_up() {
  if have redis-cli; then # NOAUTH still means a server answers; credentials are the app's business
    case $(timeout 5 redis-cli -u "$REDIS_URL" ping 2>&1) in *PONG* | *NOAUTH*) return 0 ;; *) return 1 ;; esac
  else
    tcp_up "$REDIS_HOST" "$REDIS_PORT"
  fi
}

ensure_redis() {
  if redis_up; then log "Redis at $REDIS_HOST:$REDIS_PORT answers; using it as-is"; return; fi
  is_local "$REDIS_HOST" || die "Redis at $REDIS_HOST:$REDIS_PORT (REDIS_URL) does not answer, and it is not local so this script cannot start it"
  if ! have redis-server; then
    can_apt || die "Redis is not installed. Install and start it, e.g. 'sudo apt-get install -y redis-server' (or rerun this script as root), or point REDIS_URL at a running server"
    apt_install redis-server
  fi
  if ! redis_up; then # the package may have started it already
    log "starting redis-server on 127.0.0.1:$REDIS_PORT"
    # No persistence: development data is disposable (compose runs Redis with AOF for production).
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >&2
  fi
  wait_for redis_up || die "Redis did not answer on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECONDS}s"
  log "Redis at $REDIS_HOST:$REDIS_PORT is up"
}

ensure_postgres
ensure_redis
