#!/bin/sh
# redis_compare.sh SERVER DIR [N] -- redis-benchmark against nvkv-server and
# against redis-server with appendonly yes and appendfsync always (every
# write fsynced before its reply: the same promise nvkv makes), both with
# their files in DIR (so on the same disk), in the same run, one after the
# other.  Prints the requests per second of each and the ratio.
#
#   scons mode=release bench-redis [bench_dir=/var/tmp] [bench_n=100000]
set -eu
server=$1
dir=$2
n=${3:-100000}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d "$dir/nvkv-bench.XXXXXX")
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

rates() { # redis-benchmark's last SET and GET lines
	redis-benchmark -p "$port" -t set,get -n "$n" -q 2>&1 | tr '\r' '\n' |
		awk '/^SET: [0-9]/ {s=$2} /^GET: [0-9]/ {g=$2} END {print s, g}'
}

"$server" --pool "$work/kv.pool" --port "$port" > "$work/nvkv.log" 2>&1 &
pid=$!
sleep 1
set -- $(rates)
nset=$1 nget=$2
kill -TERM $pid; wait $pid || true

redis-server --port "$port" --dir "$work" --appendonly yes \
	--appendfsync always --save '' --daemonize no > "$work/redis.log" 2>&1 &
pid=$!
sleep 1
set -- $(rates)
rset=$1 rget=$2
redis-cli -p "$port" shutdown nosave > /dev/null 2>&1 || true
wait $pid || true

echo "bench redis-compare ($dir, n=$n): nvkv-server SET $nset/s GET $nget/s;" \
     "redis-server appendfsync always SET $rset/s GET $rget/s;" \
     "ratio SET $(echo "$nset $rset" | awk '{printf "%.2fx", $1/$2}')" \
     "GET $(echo "$nget $rget" | awk '{printf "%.2fx", $1/$2}')"
