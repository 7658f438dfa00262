# Helpers shared by the bench scripts (sourced; defines functions only).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # url, pid
  for _ in $(seq 1 240); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server $2 exited" >&2; return 1; }
    sleep 0.5
  done
  echo "$1 did not answer within 2 minutes" >&2
  return 1
}

cpu_ticks() { # utime + stime of a pid (fields 14 and 15, counted after the command name)
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

