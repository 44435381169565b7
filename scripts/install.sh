#!/usr/bin/env bash
# Install what Tashi needs on a Debian machine: system packages with apt, and Tashi
# itself in ./.venv. Idempotent; quiet when everything is there already, and saying
# what it does while it works (pip's downloads and installs, one line each).
#
# Usage: scripts/install.sh [all|demo] [--dry-run]   (as root, or with sudo available)
#   all   (default) everything the tests need (scripts/test.sh): QEMU, qemu-img, the
#         guest-image tools, PostgreSQL, slapd and ldap-utils, promtool (of prometheus);
#         Tashi with its test tools
#   demo  only what `tashi up` and scripts/demo.sh need: QEMU, qemu-img, the guest-image
#         tools; Tashi without the test tools (no PostgreSQL, no slapd)
#   --dry-run  print what would be installed, install nothing
# Ctrl-C stops it with a message and exit code 130; running it again finishes the job.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODE=all
DRY_RUN=""
for arg in "$@"; do
    case $arg in
        all|demo) MODE=$arg ;;
        --dry-run) DRY_RUN=yes ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install: unknown argument '$arg' (use: all, demo, --dry-run)" >&2; exit 2 ;;
    esac
done

PIP_LOG=""
trap 'rm -f "$PIP_LOG"; echo "install: interrupted; run scripts/install.sh $MODE again" \
      "to finish" >&2; exit 130' INT TERM

SUDO=""
[[ $(id -u) == 0 ]] || SUDO=sudo

# busybox-static is not among them: the guest-image build downloads it (apt-get
# download) without installing it on the host, where it would replace busybox.
APT_PACKAGES=(qemu-system-x86 qemu-utils cpio syslinux syslinux-common mtools dosfstools
              xz-utils python3-venv python3-pip)
PIP_TARGET=.
if [[ $MODE == all ]]; then
    APT_PACKAGES+=(postgresql slapd ldap-utils prometheus)  # prometheus: its promtool
    PIP_TARGET='.[test]'
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [[ -n $DRY_RUN ]]; then
    echo "install ($MODE, dry run): apt packages: ${APT_PACKAGES[*]}"
    echo "install ($MODE, dry run): of them missing: ${missing[*]:-none}"
    echo "install ($MODE, dry run): pip: install -e '$PIP_TARGET' into $(pwd)/.venv"
    exit 0
fi
if ((${#missing[@]})); then
    echo "install: apt-get install ${missing[*]} (a minute or two)" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null
    $SUDO apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "install: creating .venv with $($PYTHON --version)" >&2
    "$PYTHON" -m venv .venv
fi

# pip's own lines, shortened to what it is doing; "already satisfied" ones are dropped.
pip_progress() {
    local line
    while IFS= read -r line; do
        case $line in
            Collecting*|Downloading*|Building*|Installing*|Successfully*|ERROR*|WARNING*)
                echo "install: pip: ${line:0:110}" >&2 ;;
        esac
    done
}
echo "install: pip install -e '$PIP_TARGET' (Tashi and its Python packages)" >&2
PIP_LOG=$(mktemp)
if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
        -e "$PIP_TARGET" 2>&1 | tee "$PIP_LOG" | pip_progress; then
    echo "install: pip failed; its last lines:" >&2
    tail -n 20 "$PIP_LOG" >&2
    rm -f "$PIP_LOG"
    exit 1
fi
rm -f "$PIP_LOG"
echo "install: done ($MODE); commands are in $(pwd)/.venv/bin" >&2
