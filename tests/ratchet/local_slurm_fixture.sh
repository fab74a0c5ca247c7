#!/usr/bin/env bash
# ctest's fixture around the slurm tests: one cluster for the whole ctest run
# instead of one per test process (each test's own LocalSlurmEnvironment then
# finds it running and leaves it). A cluster that was running before the run
# is left running at its end.
#   local_slurm_fixture.sh start|stop NOTE_FILE
set -euo pipefail
script=$(dirname "$0")/../../scripts/local-slurm
note=$2
if [[ $(id -u) != 0 ]] || ! command -v slurmctld >/dev/null; then
  echo "no local Slurm here (needs root and Debian's slurmctld): the slurm tests skip"
  exit 0
fi
case $1 in
  start)
    if "$script" status >/dev/null; then
      echo "was running" >"$note"
    else
      rm -f "$note"
      "$script" start
    fi
    ;;
  stop)
    [[ -e $note ]] || "$script" stop
    rm -f "$note"
    ;;
esac
