#!/bin/sh
# A stand-in for `docker` on a test host: runs the image's command with this host's python3, as a container with
# the host's network, pid namespace and mounted folders would. Knows run [-d] [--rm] [-i] [--name N] [--network X]
# [--pid X] [-v A:B] [-e K=V] IMAGE CMD..., inspect -f FORMAT ID and rm -f NAME.
STATE=$(dirname "$0")
cmd=$1; shift
case "$cmd" in
  run)
    detach=""; name=""
    while [ $# -gt 0 ]; do
      case "$1" in
        -d) detach=1; shift ;;
        --rm|-i) shift ;;
        --name) name=$2; shift 2 ;;
        --network|--pid|-v) shift 2 ;;
        -e) export "$2"; shift 2 ;;
        *) break ;;
      esac
    done
    echo "$1" >>"$STATE/images"
    shift 2  # the image, and its "python3"
    if [ -n "$detach" ]; then
      setsid nohup python3 "$@" >"$STATE/$name.log" 2>&1 </dev/null &
      echo $! >"$STATE/$name.pid"
      echo "$name"
    else
      exec python3 "$@"
    fi ;;
  inspect) cat "$STATE/$3.pid" ;;
  rm) [ -f "$STATE/$2.pid" ] && kill "$(cat "$STATE/$2.pid")" 2>/dev/null; true ;;
esac
