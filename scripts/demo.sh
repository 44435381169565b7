#!/usr/bin/env bash
# The main job: install, build the guest image, start an all-in-one Tashi cluster
# here (`tashi up`: manager + agent + scheduler, sqlite), boot the guest as a VM,
# and show it Running with its console marker. The cluster keeps running until
# Ctrl-C; the VM keeps running after that, and the next run re-adopts it.
#
# Usage: scripts/demo.sh    (env: TASHI_DATA_DIR, TASHI_PORT; tashi up reads them too)
# Ctrl-C stops it (exit 130), whatever step it is at.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UP_PID=""
stop_up() {
    [[ -n $UP_PID ]] || return 0
    kill -TERM "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
}
trap 'echo "demo: interrupted${UP_PID:+; stopping the cluster (its VMs keep running)}" >&2
      exit 130' INT TERM
trap stop_up EXIT

echo "== installing what the demo needs (scripts/install.sh demo)"
scripts/install.sh demo   # after a Ctrl-C it says so itself and exits 130: so do we
echo "== building the guest image (scripts/build-guest-image.sh)"
IMAGE=$(scripts/build-guest-image.sh | tail -n 1)
export PATH="$PWD/.venv/bin:$PATH"

export TASHI_DATA_DIR=${TASHI_DATA_DIR:-$HOME/.local/share/tashi}
export TASHI_PORT=${TASHI_PORT:-8470}
DATA_DIR=$TASHI_DATA_DIR
export TASHI_URL="http://127.0.0.1:$TASHI_PORT"
umask 077   # the data directory and tashi-up.out: the owner's only
mkdir -p "$DATA_DIR"

echo "== starting tashi up (log: $DATA_DIR/tashi-up.log)"
tashi up >"$DATA_DIR/tashi-up.out" 2>&1 &   # its log: DATA_DIR/tashi-up.log
UP_PID=$!
# TERM, not INT, stops it: a background job of a script starts with SIGINT ignored.
fail() {
    echo "demo: $*" >&2
    tail -n 5 "$DATA_DIR/tashi-up.out" >&2
    tail -n 20 "$DATA_DIR/tashi-up.log" >&2 2>/dev/null || true
    exit 1
}
ready=""
for _ in $(seq 300); do   # up to a minute
    if [[ -s $DATA_DIR/admin.token ]] && tashi --token "$(cat "$DATA_DIR/admin.token")" \
        host list >/dev/null 2>&1; then ready=yes; break; fi
    kill -0 $UP_PID 2>/dev/null || fail "tashi up stopped (log above)"
    sleep 0.2
done
[[ -n $ready ]] || fail "the cluster did not answer within a minute (log above)"
TASHI_TOKEN=$(cat "$DATA_DIR/admin.token")
export TASHI_TOKEN

state_of() {   # the state of VM $1, or "none"
    local shown
    shown=$(tashi --json vm show "$1" 2>/dev/null) || { echo none; return; }
    .venv/bin/python -c 'import json, sys; print(json.loads(sys.argv[1])["state"])' "$shown"
}

tashi host list
tashi image show tashi-guest >/dev/null 2>&1 ||   # the build is cached: this imports it
    scripts/build-guest-image.sh --import tashi-guest --public >/dev/null
tashi image list
state=$(state_of demo)
if [[ $state != none && $state != Running && $state != Pending && $state != Activating ]]
then
    echo "== VM demo is $state from an earlier run: destroying it to boot a fresh one"
    tashi vm destroy demo --wait
    state=none
fi
if [[ $state == none ]]; then
    echo "== booting VM demo from image tashi-guest"
    tashi vm create demo --image tashi-guest --memory 128 --wait
fi
seen=""
for _ in $(seq 360); do   # up to three minutes (TCG emulation boots slowly)
    if tashi vm console demo | grep -q TASHI-GUEST-READY; then seen=yes; break; fi
    sleep 0.5
done
tashi vm list
state=$(state_of demo)
[[ $state == Running ]] || fail "VM demo is $state, not Running"
[[ -n $seen ]] || fail "VM demo is Running but its console shows no TASHI-GUEST-READY"
echo "== console of demo:"
tashi vm console demo | grep -E 'TASHI-GUEST-(DISK|IP|READY)'
cat <<MSG

Tashi is running on $TASHI_URL with VM 'demo' Running. In another shell:
  export TASHI_URL=$TASHI_URL TASHI_TOKEN=\$(cat $DATA_DIR/admin.token)
  tashi vm list; tashi vm console demo; tashi vm shutdown demo --wait; tashi vm destroy demo
Ctrl-C stops the cluster (the VM keeps running; the next run re-adopts it).
MSG
wait $UP_PID
