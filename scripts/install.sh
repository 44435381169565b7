#!/usr/bin/env bash
# Install what Tashi needs on a Debian machine: system packages (QEMU, qemu-img, the
# guest-image tools) with apt, and Tashi itself (with its test tools) in ./.venv.
# Idempotent; quiet when everything is there already.
#
# Usage: scripts/install.sh        (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
[[ $(id -u) == 0 ]] || SUDO=sudo

# busybox-static is not among them: the guest-image build downloads it (apt-get
# download) without installing it on the host, where it would replace busybox.
APT_PACKAGES=(qemu-system-x86 qemu-utils cpio syslinux syslinux-common postgresql
              mtools dosfstools xz-utils python3-venv python3-pip slapd ldap-utils)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "install: apt-get install ${missing[*]}" >&2
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
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
echo "install: done; commands are in $(pwd)/.venv/bin" >&2
