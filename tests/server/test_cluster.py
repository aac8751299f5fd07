#!/usr/bin/env python3
"""test_cluster.py SERVER NVHEAP [TEST...] -- nvkv-server shards behind
twemproxy (nutcracker), started by examples/kvstore/cluster/nvkv-cluster,
on loopback ports:

- the same command script through the proxy to nvkv-server shards and to
  redis-server shards (the same shard names, so ketama puts every key on
  the same shard in both): replies byte for byte;
- which commands nutcracker forwards: every command nvkv-server lists in
  COMMAND, sent through the proxy; those refused must be exactly the list
  in docs/kvstore.md;
- redis-cli and redis-benchmark through the proxy, with and without
  pipelining, no error;
- 200,000 keys from 4 clients spread over all 3 shards (counted on each
  shard: disjoint, all present, none with less than a fifth);
- a shard SIGKILLed and restarted during a write load from 4 clients:
  every write the proxy acknowledged (an ack journal) is present
  afterwards, the other shards kept acknowledging writes while it was
  down, its own keys were answered with errors, not acknowledged, and
  its pool checks clean.
"""
import faulthandler
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nvkvtest import Checks, Conn, parse, procs, resp, run_tests  # noqa: E402

SERVER = os.path.abspath(sys.argv[1])
NVHEAP = os.path.abspath(sys.argv[2])
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
CLUSTER = os.path.join(ROOT, 'examples', 'kvstore', 'cluster', 'nvkv-cluster')
DOC = os.path.join(ROOT, 'docs', 'kvstore.md')
check = Checks()
faulthandler.register(signal.SIGUSR1)  # where a hung run is: kill -USR1


class Pids:
    """What run_tests kills at the end if a test left it running."""

    def __init__(self, cl):
        self.cl = cl
        self.p = self

    def poll(self):
        return None if self.cl.running() else 0

    def kill(self):
        self.cl.stop()

    def wait(self):
        return 0


class Cluster:
    def __init__(self, d, name, shards, backend='nvkv', *extra):
        self.dir = os.path.join(d, name)
        self.backend = backend
        r = subprocess.run(['python3', CLUSTER, 'start', '--dir', self.dir,
                            '--port', '0', '--shards', str(shards),
                            '--backend', backend, '--server', SERVER,
                            '--server-arg=--size=64M'] + list(extra),
                           capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise RuntimeError('nvkv-cluster start: ' + r.stderr)
        self.load()
        procs.append(Pids(self))

    def load(self):
        import json
        with open(os.path.join(self.dir, 'cluster.json')) as f:
            self.st = json.load(f)
        self.port = self.st['port']
        self.shard_ports = [s['port'] for s in self.st['shards']]

    def running(self):
        pids = [s.get('pid') for s in self.st['shards']]
        pids.append(self.st.get('proxy_pid'))
        for p in pids:
            try:
                if p:
                    os.kill(p, 0)
                    with open('/proc/%d/stat' % p) as f:
                        if f.read().split(') ')[-1][:1] != 'Z':
                            return True
            except OSError:
                pass
        return False

    def kill_shard(self, k):
        os.kill(self.st['shards'][k]['pid'], signal.SIGKILL)

    def start_shard(self, k):
        r = subprocess.run(['python3', CLUSTER, 'shard-start', str(k),
                            '--dir', self.dir], capture_output=True,
                           text=True, timeout=120)
        if r.returncode:
            raise RuntimeError('nvkv-cluster shard-start: ' + r.stderr)
        self.load()

    def stop(self):
        r = subprocess.run(['python3', CLUSTER, 'stop', '--dir', self.dir],
                           capture_output=True, text=True, timeout=120)
        return r.returncode

    def pool(self, k):
        return self.st['shards'][k]['pool']


def raw_replies(port, cmds, batch=100):
    """The replies' bytes, one per command, sent in pipelines of batch."""
    import socket
    out = []
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    for i in range(0, len(cmds), batch):
        chunk = cmds[i:i + batch]
        s.sendall(b''.join(resp(*x) for x in chunk))
        buf, pos = b'', 0
        while len(out) < i + len(chunk):
            r, end = parse(buf, pos)
            if end:
                out.append(buf[pos:end])
                pos = end
                continue
            data = s.recv(1 << 20)
            if not data:
                raise RuntimeError('connection closed after %d replies'
                                   % len(out))
            buf += data
    s.close()
    return out


def script(seed, n):
    """n commands nutcracker forwards, over 60 keys of every type."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.randrange(60)
        s, h, li, st, z = ('s:%d' % k, 'h:%d' % k, 'l:%d' % k, 'S:%d' % k,
                           'z:%d' % k)
        v = str(rnd.randrange(1000))
        r = rnd.randrange(30)
        out.append([
            ['SET', s, v], ['GET', s], ['INCRBY', s, v], ['APPEND', s, v],
            ['STRLEN', s], ['GETRANGE', s, 0, 2], ['SETNX', s, v],
            ['MSET', s, v, 's:%d' % rnd.randrange(60), v],
            ['MGET', s, 's:%d' % rnd.randrange(60), 's:%d' % rnd.randrange(60)],
            ['DEL', s, 's:%d' % rnd.randrange(60), h],
            ['EXPIRE', s, 1000], ['TTL', s], ['PERSIST', s], ['TYPE', s],
            ['HSET', h, 'f%s' % v[:1], v], ['HGET', h, 'f%s' % v[:1]],
            ['HLEN', h], ['HDEL', h, 'f%s' % v[:1]], ['HINCRBY', h, 'n', 3],
            ['RPUSH', li, v, v + 'x'], ['LPUSH', li, v], ['LRANGE', li, 0, -1],
            ['LPOP', li], ['LLEN', li], ['SADD', st, v[:2]],
            ['SISMEMBER', st, v[:2]], ['SCARD', st], ['SREM', st, v[:2]],
            ['ZADD', z, rnd.randrange(50), 'm%s' % v[:1]],
            ['ZRANGE', z, 0, -1, 'WITHSCORES'],
        ][r])
        if rnd.randrange(20) == 0:
            out.append(['ZINCRBY', z, 2, 'm1'])
            out.append(['ZRANK', z, 'm1'])
            out.append(['HGETALL', h])  # one field at most: no order issue
    return out


def test_differential(d):
    nv = Cluster(d, 'nv', 3)
    rd = Cluster(d, 'rd', 3, 'redis')
    try:
        cmds = script(7, 6000)
        a = raw_replies(nv.port, cmds)
        b = raw_replies(rd.port, cmds)
        diffs = [i for i in range(len(cmds)) if a[i] != b[i]]
        check(not diffs, 'through the proxy, %d of %d replies differ from '
              'redis-server shards; first: %r: %r vs %r' % (
                  len(diffs), len(cmds), cmds[diffs[0]] if diffs else '',
                  a[diffs[0]] if diffs else '', b[diffs[0]] if diffs else ''))
        # placement: the same keys on the same shard in both clusters
        for k in range(3):
            ka = sorted(all_keys(nv.shard_ports[k]))
            kb = sorted(all_keys(rd.shard_ports[k]))
            check(ka == kb and ka, 'shard%d holds the same keys behind both '
                  'proxies (%d, %d)' % (k, len(ka), len(kb)))
    finally:
        check(nv.stop() == 0, 'the nvkv cluster stops cleanly')
        rd.stop()


def all_keys(port):
    c = Conn(port)
    keys, cur = [], '0'
    while True:
        r = c.cmd('SCAN', cur, 'COUNT', 1000)
        cur = r[0]
        keys += r[1]
        if cur in (b'0', '0'):
            break
    c.close()
    return keys


def documented_refused():
    """The command list under "Commands nutcracker does not forward"."""
    text = open(DOC).read()
    m = re.search(r'<!-- nutcracker-refused -->(.*?)<!-- /nutcracker-refused'
                  r' -->', text, re.S)
    if not m:
        return None
    return set(x.lower() for x in re.findall(r'`([A-Za-z]+)`', m.group(1)))


def forwarded(port, name, arity):
    """Does the proxy forward `name` (any reply, an error too) or refuse it
    (it closes the connection)?  Tried with the fewest arguments the arity
    allows and, for a variadic command, one more."""
    least = arity - 1 if arity > 0 else -arity - 1
    for n in ([least] if arity > 0 else [least, least + 1]):
        args = [name] + ['k%d' % i for i in range(n)]
        try:
            c = Conn(port, timeout=10)
            r = c.cmd(*args)
            c.close()
            if r is not None:
                return True
        except (RuntimeError, OSError):
            pass
    return False


def test_commands(d):
    cl = Cluster(d, 'cmds', 2)
    try:
        c = Conn(cl.shard_ports[0])
        table = c.cmd('COMMAND')
        c.close()
        names = {}
        for e in table:
            names[e[0].decode().lower()] = e[1]
        check(len(names) > 100, 'COMMAND lists %d commands' % len(names))
        refused = set()
        for name, arity in sorted(names.items()):
            if name in ('shutdown', 'quit', 'debug'):
                continue  # would stop a shard or end the connection
            if not forwarded(cl.port, name, arity):
                refused.add(name)
        doc = documented_refused()
        check(doc is not None, 'docs/kvstore.md lists the commands '
              'nutcracker refuses')
        doc = doc or set()
        check(refused == doc - {'shutdown', 'quit', 'debug'},
              'the refused commands are the documented ones: refused but '
              'not listed %s; listed but forwarded %s' % (
                  sorted(refused - doc),
                  sorted(doc - refused - {'shutdown', 'quit', 'debug'})))
        print('nutcracker forwards %d of nvkv-server\'s %d commands'
              % (len(names) - len(refused), len(names)))
        check(cl.running(), 'the cluster survives every command')
        # the proxy's PING and its pipelining of many clients
        check(Conn(cl.port).cmd('PING') == '+PONG', 'PING through the proxy')
    finally:
        cl.stop()


def bench_lines(out):
    return re.findall(r'([A-Z_0-9]+(?: \([^)]*\))?): ([0-9.]+) requests per '
                      r'second', out)


def test_cli_and_benchmark(d):
    cl = Cluster(d, 'bench', 3)
    try:
        cli = ['redis-cli', '-p', str(cl.port)]
        r = subprocess.run(cli + ['SET', 'greeting', 'hello'],
                           capture_output=True, text=True, timeout=30)
        check(r.stdout.strip() == 'OK', 'redis-cli SET through the proxy: %r'
              % r.stdout)
        r = subprocess.run(cli + ['GET', 'greeting'], capture_output=True,
                           text=True, timeout=30)
        check(r.stdout.strip() == 'hello', 'redis-cli GET through the '
              'proxy: %r' % r.stdout)
        r = subprocess.run(cli + ['MGET', 'greeting', 'nothing', 'greeting'],
                           capture_output=True, text=True, timeout=30)
        check(r.stdout.split('\n')[:3] == ['hello', '', 'hello'],
              'redis-cli MGET over shards: %r' % r.stdout)
        tests = ('set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,'
                 'zpopmin,lrange_100,mset')
        for pipe in ('1', '16'):
            r = subprocess.run(['redis-benchmark', '-p', str(cl.port), '-q',
                                '-c', '50', '-n', '5000', '-r', '100000',
                                '-P', pipe, '-t', tests],
                               capture_output=True, text=True, timeout=600)
            lines = bench_lines(r.stdout)
            errs = [x for x in (r.stdout + r.stderr).split('\n')
                    if 'ERR' in x or 'rror' in x]
            check(r.returncode == 0 and len(lines) >= 15 and not errs,
                  'redis-benchmark -P %s through the proxy: %d tests, '
                  'errors %r' % (pipe, len(lines), errs[:3]))
            print('redis-benchmark -P %s through the proxy: %s' % (
                pipe, ', '.join('%s %s/s' % (t, v) for t, v in lines[:3])))
        sizes = [Conn(p).cmd('DBSIZE') for p in cl.shard_ports]
        check(all(s > 0 for s in sizes), 'the benchmark\'s keys are on '
              'every shard: %r' % sizes)
        check(cl.running(), 'every process still runs')
    finally:
        check(cl.stop() == 0, 'the cluster stops cleanly')


def test_spread(d):
    cl = Cluster(d, 'spread', 3)
    n, nthreads = 200000, 4
    errors = []

    def writer(t):
        try:
            c = Conn(cl.port)
            keys = range(t, n, nthreads)
            batch = []
            for i in keys:
                batch.append(('SET', 'key:%d' % i, 'v%d' % i))
                if len(batch) == 500:
                    rs = c.pipeline(batch)
                    errors.extend(r for r in rs if r != '+OK')
                    batch = []
            if batch:
                errors.extend(r for r in c.pipeline(batch) if r != '+OK')
            c.close()
        except Exception as e:  # reported as a failed check below
            errors.append(repr(e))

    try:
        ts = [threading.Thread(target=writer, args=(t,))
              for t in range(nthreads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(not errors, '%d SETs through the proxy from %d clients: '
              'errors %r' % (n, nthreads, errors[:3]))
        sizes = [Conn(p).cmd('DBSIZE') for p in cl.shard_ports]
        check(sum(sizes) == n, 'the shards hold %d keys in all: %r'
              % (n, sizes))
        check(min(sizes) > n / 5, 'every shard holds more than a fifth: %r'
              % sizes)
        print('%d keys over 3 shards: %s' % (n, sizes))
        seen = set()
        overlap = 0
        for p in cl.shard_ports:
            ks = set(all_keys(p))
            overlap += len(seen & ks)
            seen |= ks
        check(overlap == 0 and len(seen) == n, 'each key on exactly one '
              'shard (%d seen, %d on two)' % (len(seen), overlap))
        c = Conn(cl.port)
        sample = random.Random(3).sample(range(n), 3000)
        got = []
        for i in range(0, len(sample), 100):
            got += c.cmd('MGET', *['key:%d' % x for x in sample[i:i + 100]])
        check(got == [b'v%d' % x for x in sample], 'MGET through the proxy '
              'reads 3,000 keys back from all shards')
        c.close()
    finally:
        check(cl.stop() == 0, 'the cluster stops cleanly')


def ask(port, *cmd):
    """One command on a new connection: its reply, or 'closed' if the
    proxy closed the connection instead."""
    try:
        c = Conn(port, timeout=20)
        r = c.cmd(*cmd)
        c.close()
        return r
    except (RuntimeError, OSError):
        return 'closed'


def failed(r):
    return isinstance(r, str) and (r.startswith('-') or r == 'closed')


def test_shard_killed(d):
    cl = Cluster(d, 'kill', 3)
    nthreads = 4
    journal_path = os.path.join(d, 'acks.journal')
    journal = open(journal_path, 'w')
    jlock = threading.Lock()
    stop = threading.Event()
    phase = {'v': 'before'}  # before, down, after
    stats = {}  # (phase, ok|err) -> count
    attempted = {}  # key -> every value tried (a list's elements too)

    def ack(t, line):
        with jlock:
            journal.write(line + '\n')

    def count(ph, what):
        with jlock:
            stats[(ph, what)] = stats.get((ph, what), 0) + 1

    def writer(t):
        i = 0
        c = None
        while not stop.is_set():
            try:
                if c is None:
                    c = Conn(cl.port, timeout=20)
                batch = []
                for _ in range(10):
                    i += 1
                    j = i % 16
                    if i % 3 == 0:
                        batch.append(('INCR', 'c:%d:%d' % (t, j)))
                    elif i % 3 == 1:
                        batch.append(('RPUSH', 'l:%d:%d' % (t, j), str(i)))
                    else:
                        batch.append(('SET', 'w:%d:%d' % (t, i), str(i)))
                    with jlock:
                        attempted.setdefault(batch[-1][1], []).append(
                            batch[-1][2] if len(batch[-1]) > 2 else '1')
                ph = phase['v']
                rs = c.pipeline(batch)
                ph2 = phase['v']
                for cmd, r in zip(batch, rs):
                    good = (r == '+OK' or (isinstance(r, int) and r > 0))
                    count(ph if ph == ph2 else 'edge', 'ok' if good else 'err')
                    if good:
                        ack(t, '%s %s %s %s' % (cmd[0], cmd[1],
                                                cmd[2] if len(cmd) > 2 else
                                                r, ph if ph == ph2 else
                                                'edge'))
            except (RuntimeError, OSError):
                count(phase['v'], 'closed')
                c = None  # the proxy closed the connection: a new one
                time.sleep(0.01)

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(nthreads)]
    # keys of each shard, for the multi-key commands while shard1 is down
    c = Conn(cl.port)
    c.pipeline([('SET', 'm:%d' % i, 'old') for i in range(300)])
    c.close()
    where = {}
    for k, p in enumerate(cl.shard_ports):
        s = Conn(p)
        for i in range(300):
            if s.cmd('EXISTS', 'm:%d' % i):
                where.setdefault(k, []).append('m:%d' % i)
        s.close()
    check(sorted(where) == [0, 1, 2], 'the m: keys are on every shard')
    try:
        for t in ts:
            t.start()
        time.sleep(1.5)
        # killed first, then the phase: a batch sent and answered wholly in
        # 'down' went out after the kill (a batch spanning a change is
        # 'edge'), so none of its acknowledged writes can be on shard1
        cl.kill_shard(1)
        time.sleep(0.05)
        phase['v'] = 'down'
        time.sleep(0.5)
        # a read of shard1's key, alone or with others: an error, never
        # a value (nil) it does not have; a write spanning shards: an error
        m0, m1, m2 = where[0][0], where[1][0], where[2][0]
        r = ask(cl.port, 'GET', m1)
        check(failed(r), 'GET of a key of the dead shard: an error (%r)' % r)
        r = ask(cl.port, 'MGET', m0, m1, m2)
        check(failed(r), 'MGET with a key of the dead shard: an error (%r)'
              % r)
        r = ask(cl.port, 'MSET', m0, 'new', m1, 'new', m2, 'new')
        check(failed(r), 'MSET with a key of the dead shard: an error (%r)'
              % r)
        print('while shard1 is down: GET %r, MGET %r, MSET %r' % (
            ask(cl.port, 'GET', m1), ask(cl.port, 'MGET', m0, m1),
            ask(cl.port, 'MSET', m1, 'new')))
        r = ask(cl.port, 'MGET', m0, m2)
        check(r == [b'new', b'new'], 'the parts of that MSET on the live '
              'shards were done (%r)' % r)
        time.sleep(1.0)
        phase['v'] = 'restarting'
        cl.start_shard(1)
        phase['v'] = 'after'
        time.sleep(1.5)
        stop.set()
        for t in ts:
            t.join()
        journal.close()
        print('ack journal: %s' % sorted(stats.items()))
        check(stats.get(('down', 'ok'), 0) > 100, 'the other shards '
              'acknowledged writes while shard1 was down: %d'
              % stats.get(('down', 'ok'), 0))
        check(stats.get(('down', 'err'), 0) + stats.get(('down', 'closed'), 0)
              > 0, 'shard1\'s keys were answered with errors while it was '
              'down')
        check(stats.get(('after', 'ok'), 0) > 100, 'writes acknowledged '
              'after the restart: %d' % stats.get(('after', 'ok'), 0))
        # replay the journal against the store
        sets, incrs, pushes = {}, {}, {}
        down_keys = []
        for line in open(journal_path):
            op, key, val, ph = line.split()
            if op == 'SET':
                sets[key] = val
            elif op == 'INCR':
                incrs[key] = max(incrs.get(key, 0), int(val))
            else:
                pushes.setdefault(key, []).append(val)
            if ph == 'down':
                down_keys.append(key)
        c = Conn(cl.port)
        keys = sorted(sets)
        lost = 0
        for i in range(0, len(keys), 200):
            got = c.cmd('MGET', *keys[i:i + 200])
            lost += sum(1 for k, g in zip(keys[i:i + 200], got)
                        if g != sets[k].encode())
        check(lost == 0, 'every acknowledged SET is present: %d of %d lost'
              % (lost, len(keys)))
        bad = 0
        for k, n in incrs.items():
            v = int(c.cmd('GET', k))
            bad += not (n <= v <= len(attempted[k]))
        check(bad == 0, 'every counter at least its acknowledged INCRs and '
              'at most those tried: %d of %d wrong' % (bad, len(incrs)))
        bad = 0
        for k, acked in pushes.items():
            lst = [x.decode() for x in c.cmd('LRANGE', k, 0, -1)]
            pos = {x: i for i, x in enumerate(lst)}
            idx = [pos.get(x, -1) for x in acked]
            bad += (-1 in idx or idx != sorted(idx)
                    or not set(lst) <= set(attempted[k]))
        check(bad == 0, 'every list holds its acknowledged pushes in order '
              'and nothing never tried: %d of %d wrong' % (bad, len(pushes)))
        c.close()
        # none of the writes acknowledged while shard1 was down is on it
        s1 = Conn(cl.shard_ports[1])
        on1 = sum(s1.cmd('EXISTS', k) for k in down_keys[:2000])
        s1.close()
        check(on1 == 0 and down_keys, 'the %d writes acknowledged while '
              'shard1 was down are on the other shards (%d on shard1)'
              % (len(down_keys), on1))
        r = ask(cl.port, 'MGET', m0, m1, m2)
        check(r == [b'new', b'old', b'new'], 'after the restart the dead '
              'shard\'s part of that MSET is not there (%r)' % r)
    finally:
        stop.set()
        for t in ts:
            t.join()
        check(cl.stop() == 0, 'the cluster stops cleanly')
    r = subprocess.run([NVHEAP, 'check', cl.pool(1)], capture_output=True,
                       text=True, timeout=300)
    check(r.returncode == 0, 'nvheap check of the killed shard\'s pool: %s'
          % (r.stdout + r.stderr)[-300:])


if __name__ == '__main__':
    sys.exit(run_tests('test_cluster', check,
                       [test_differential, test_commands,
                        test_cli_and_benchmark, test_spread,
                        test_shard_killed], sys.argv[3:]))
