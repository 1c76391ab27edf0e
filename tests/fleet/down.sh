#!/usr/bin/env bash
# Tears down a fleet started by up.sh: stops exactly the processes it recorded (and what runs
# inside its host roots), unmounts everything in reverse order, removes the instance dir.
# The cached base stays (rm -rf /var/cache/patchdeck-fleet to drop it).
#
#   tests/fleet/down.sh [--instance NAME]    (default: "manual"; env PD_FLEET_INSTANCE)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) PD_FLEET_INSTANCE=$2; shift 2 ;;
    *) die "usage: down.sh [--instance NAME]" ;;
  esac
done
check_instance
if [ ! -d "$(instance_dir)" ]; then log "fleet $PD_FLEET_INSTANCE is not up"; exit 0; fi
teardown_instance
log "fleet $PD_FLEET_INSTANCE is down"
