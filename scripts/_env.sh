# Shared by scripts/serve-demo and scripts/test: find Python 3.11+, make .venv, install the project.
# Sourced, not executed.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

APT_UPDATED=""
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: apt-get not found; install these yourself: $*" >&2
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        as_root apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer is required (apt-get install python3)" >&2
    return 1
}

# ensure_venv EXTRA: create .venv if missing and install the project (with extras, e.g. "[test]").
# Reinstalls only when pyproject.toml changed since the last install.
ensure_venv() {
    local extra="${1:-}" python stamp
    if [ ! -x .venv/bin/python ]; then
        python="$(find_python)"
        if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
            echo "python3-venv is missing: installing it"
            local version
            version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            apt_install "python${version}-venv" || apt_install python3-venv
        fi
        "$python" -m venv .venv
    fi
    stamp=".venv/.installed${extra//[^a-z]/-}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e ".${extra}"
        touch "$stamp"
    fi
}
