#!/bin/sh
# redis_compare.sh [--csv FILE] [--label L] [--tests T] SERVER DIR [N [P]] --
# redis-benchmark
# against nvkv-server and against redis-server with appendonly yes and
# appendfsync always (every write fsynced before its reply: the same
# promise nvkv makes), both with their files in DIR (so on the same disk),
# in the same run, one after the other.  N requests per test (100000), P
# requests pipelined per connection (redis-benchmark -P; 1).  Prints the
# requests per second of each and the ratio; with --csv, also appends the
# rows kv-set-PP and kv-get-PP (with --label L: kv-L-set-PP, kv-L-get-PP)
# to FILE in bench's CSV format (the header first if FILE is empty or new;
# the libpmemobj column holds redis-server's figure).  redis-benchmark
# runs 50 connections (-c 50).  nvkv-server picks its backend as any
# nvheap program does: with PMEM_IS_PMEM_FORCE=1 on tmpfs, emulated pmem;
# on an ordinary file on disk, msync.  --tests T: redis-benchmark's tests
# (its -t, comma-separated; default set,get), each printed and written to
# the CSV as kv-L-TEST-PP (lower case; set and get keep their rows).
#
#   scons mode=release bench-redis [bench_dir=/var/tmp] [bench_n=100000]
set -eu
csv=
if [ "${1:-}" = --csv ]; then
	[ $# -ge 2 ] || { echo "redis_compare.sh: --csv needs a FILE" >&2; exit 2; }
	csv=$2
	shift 2
fi
label=
if [ "${1:-}" = --label ]; then
	[ $# -ge 2 ] || { echo "redis_compare.sh: --label needs a name" >&2; exit 2; }
	label=$2-
	shift 2
fi
tests=set,get
if [ "${1:-}" = --tests ]; then
	[ $# -ge 2 ] || { echo "redis_compare.sh: --tests needs a list" >&2; exit 2; }
	tests=$2
	shift 2
fi
case $tests in *[!a-z0-9_,]*|'') echo "redis_compare.sh: --tests is a comma-separated list of redis-benchmark tests" >&2; exit 2;; esac
if [ $# -lt 2 ] || [ $# -gt 4 ]; then
	echo "usage: redis_compare.sh [--csv FILE] [--label L] [--tests T] SERVER DIR [N [P]]" >&2
	exit 2
fi
server=$1
dir=$2
n=${3:-100000}
p=${4:-1}
case $n$p in *[!0-9]*|'') echo "redis_compare.sh: N and P are numbers" >&2; exit 2;; esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d "$dir/nvkv-bench.XXXXXX")
pid=
trap '[ -z "$pid" ] || kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

rates() { # the requests per second of each test, in the order of $tests
	redis-benchmark -p "$port" -c 50 -t "$tests" -n "$n" -P "$p" -q 2>&1 |
		tr '\r' '\n' |
		awk -v tests="$tests" '
		/^[A-Z_0-9]+( \([^)]*\))?: [0-9]/ && !/needed/ {
			name = tolower($1); sub(/:$/, "", name)
			for (i = 1; i <= NF; i++)
				if ($i == "requests") rate[name] = $(i - 1)
		}
		END {
			n = split(tests, t, ",")
			for (i = 1; i <= n; i++) printf "%s ", rate[t[i]]
			print ""
		}'
}
ntests=$(echo "$tests" | awk -F, '{print NF}')

up() { # wait up to 5 s for the server on $port to answer PING
	i=0
	while [ $i -lt 50 ]; do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
		kill -0 $pid 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

fail() { # $1: what, $2: its log
	echo "redis_compare.sh: $1 failed; its log:" >&2
	cat "$2" >&2
	exit 1
}

"$server" --pool "$work/kv.pool" --port "$port" > "$work/nvkv.log" 2>&1 &
pid=$!
up || fail "nvkv-server" "$work/nvkv.log"
nv=$(rates)
set -- $nv
[ $# -eq "$ntests" ] || fail "redis-benchmark against nvkv-server" "$work/nvkv.log"
kill -TERM $pid; wait $pid || true
pid=

redis-server --port "$port" --dir "$work" --appendonly yes \
	--appendfsync always --save '' --daemonize no > "$work/redis.log" 2>&1 &
pid=$!
up || fail "redis-server" "$work/redis.log"
rd=$(rates)
set -- $rd
[ $# -eq "$ntests" ] || fail "redis-benchmark against redis-server" "$work/redis.log"
redis-cli -p "$port" shutdown nosave > /dev/null 2>&1 || true
wait $pid || true
pid=

ratio() { echo "$1 $2" | awk '{printf "%.4f", $1/$2}'; }
# one line: each test's nvkv-server and redis-server rates and the ratio
echo "$tests" "$nv" "$rd" | awk -v head="bench redis-compare${label:+ ${label%-}} ($dir, n=$n, P=$p):" '
{
	n = split($1, t, ",")
	line = head " nvkv-server"
	for (i = 1; i <= n; i++) line = line " " toupper(t[i]) " " $(1 + i) "/s"
	line = line "; redis-server appendfsync always"
	for (i = 1; i <= n; i++) line = line " " toupper(t[i]) " " $(1 + n + i) "/s"
	line = line "; ratio"
	for (i = 1; i <= n; i++)
		line = line " " toupper(t[i]) " " sprintf("%.2fx", $(1 + i) / $(1 + n + i))
	print line
}'
if [ -n "$csv" ]; then
	[ -s "$csv" ] || echo "workload,kind,nvheap,libpmemobj,ratio,unit,nvh_barriers_per_op,pmdk_barriers_per_op,nvh_lines_per_op,pmdk_lines_per_op,nvh_hot_meta_per_op,pmdk_hot_meta_per_op,nvh_scaling,pmdk_scaling,nvh_floor_pct,pmdk_floor_pct" > "$csv"
	i=1
	for t in $(echo "$tests" | tr , ' '); do
		a=$(echo "$nv" | awk -v i=$i '{print $i}')
		b=$(echo "$rd" | awk -v i=$i '{print $i}')
		echo "kv-${label}$t-P$p,kv,$a,$b,$(ratio "$a" "$b"),req/s,,,,,,,,,,"
		i=$((i + 1))
	done >> "$csv"
fi
