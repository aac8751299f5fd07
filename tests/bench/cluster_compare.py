#!/usr/bin/env python3
"""cluster_compare.py [--n N] [--pipeline P] [--tests T] [--shards 1,2,4]
[--backends nvkv,redis] SERVER DIR -- the proxy's cost and the shards' gain.

For each backend (nvkv-server, and redis-server with appendonly yes and
appendfsync always: the same promise), in the same run, one after the
other: redis-benchmark -q -c 50 -n N -P P -r 100000 -t T against one
server without a proxy, then through nutcracker in front of 1, 2 and 4
shards (examples/kvstore/cluster/nvkv-cluster, pools or AOFs in DIR).
Prints a table of requests per second, each with its ratio to the same
backend's server without proxy.  nvkv-server picks its backend as any
nvheap program does (PMEM_IS_PMEM_FORCE=1 on tmpfs: emulated pmem).

  scons mode=release bench-cluster [bench_dir=/dev/shm] [bench_n=100000]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, '..', '..', 'examples', 'kvstore', 'cluster',
                       'nvkv-cluster')


def bench(port, a):
    r = subprocess.run(['redis-benchmark', '-p', str(port), '-q', '-c', '50',
                        '-n', str(a.n), '-P', str(a.pipeline), '-r',
                        '100000', '-t', a.tests], capture_output=True,
                       text=True, timeout=3600)
    out = r.stdout.replace('\r', '\n')
    rates = {}
    for name, v in re.findall(r'^\s*([A-Z_0-9]+)(?: \([^)]*\))?: ([0-9.]+) '
                              r'requests per second', out, re.M):
        if name not in rates:  # LPUSH before LRANGE's own LPUSH
            rates[name] = float(v)
    if r.returncode or not rates:
        sys.exit('cluster_compare: redis-benchmark failed: ' +
                 (r.stderr or out)[-500:])
    return rates


def cluster(a, d, backend, shards):
    sub = os.path.join(d, '%s-%d' % (backend, shards))
    subprocess.run(['python3', CLUSTER, 'start', '--dir', sub, '--port', '0',
                    '--shards', str(shards), '--backend', backend,
                    '--server', a.server, '--server-arg=--size=256M'],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(sub, 'cluster.json')) as f:
        st = json.load(f)
    return sub, st


def stop(sub):
    subprocess.run(['python3', CLUSTER, 'stop', '--dir', sub], check=True,
                   stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=100000)
    ap.add_argument('--pipeline', type=int, default=1)
    ap.add_argument('--tests', default='set,get,incr,lpush,lpop,sadd,hset,'
                    'zadd,mset')
    ap.add_argument('--shards', default='1,2,4')
    ap.add_argument('--backends', default='nvkv,redis')
    ap.add_argument('server')
    ap.add_argument('dir')
    a = ap.parse_args()
    a.server = os.path.abspath(a.server)
    d = tempfile.mkdtemp(dir=a.dir, prefix='nvkv-cluster-bench.')
    rows = {}  # (backend, setup) -> rates
    setups = ['direct'] + ['%d shards' % int(n) for n in a.shards.split(',')]
    try:
        for backend in a.backends.split(','):
            # "direct": one shard's server, its port, no proxy in between
            sub, st = cluster(a, d, backend, 1)
            rows[(backend, 'direct')] = bench(st['shards'][0]['port'], a)
            rows[(backend, '1 shards')] = bench(st['port'], a)
            stop(sub)
            for n in a.shards.split(','):
                if int(n) == 1:
                    continue
                sub, st = cluster(a, d, backend, int(n))
                rows[(backend, '%s shards' % n)] = bench(st['port'], a)
                stop(sub)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    tests = list(rows[next(iter(rows))].keys())
    print('redis-benchmark -q -c 50 -n %d -P %d -r 100000, requests per '
          'second (ratio to the same server without proxy)' %
          (a.n, a.pipeline))
    head = ['test'] + ['%s %s' % (b, s.replace('1 shards', '1 shard')
                                  if s != 'direct' else 'no proxy')
                       for b in a.backends.split(',') for s in setups]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for t in tests:
        cells = [t]
        for b in a.backends.split(','):
            base = rows[(b, 'direct')].get(t)
            for s in setups:
                v = rows[(b, s)].get(t)
                if v is None:
                    cells.append('-')
                elif s == 'direct' or not base:
                    cells.append('%.0f' % v)
                else:
                    cells.append('%.0f (%.2fx)' % (v, v / base))
        print('| ' + ' | '.join(cells) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
