#!/usr/bin/env python3
"""test_batch.py SERVER -- nvkv-server's group commit with many clients
at once, as the prepared batches of a disk pool run it (scons test runs it
as the backend chooses, and with NVKV_PREPARE=0): 50 connections each send
a pipeline of writes and reads of their own keys (random, new and old:
SET, GET, DEL, INCR, APPEND, MSET, EXISTS, MULTI/EXEC, and LPUSH/RPOP,
HSET, SADD and ZADD on a list, hash, set and sorted set of its own,
which the prepared batches snapshot too) per round, 100
rounds, 10,000 keys and more; every reply equals a model's, DBSIZE agrees,
and after SIGKILL the restarted server holds every acknowledged write.
Exit status 0 only if every check passed."""
import os
import random
import shutil
import selectors
import signal
import socket
import subprocess
import sys
import tempfile

from nvkvtest import Checks, free_port, parse, resp

SERVER = sys.argv[1]
check = Checks()
CONNS, ROUNDS, PER = 50, 100, 8


def start(pool):
    port = free_port()
    p = subprocess.Popen([SERVER, '--pool', pool, '--port', str(port),
                          '--size', '256M'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = p.stdout.readline().decode()
    if 'listening' not in line:
        raise RuntimeError('server did not start: ' + line)
    p.stdout.readline()
    return p, port


def connect(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(('127.0.0.1', port), timeout=60)
        s.setblocking(False)
        socks.append(s)
    return socks


def exchange(socks, pipes):
    """Send each socket its pipeline at once, then read all the replies
    (all connections in flight together: one batch or a few)."""
    sel = selectors.DefaultSelector()
    want, got, bufs, out = {}, {}, {}, {}
    for s, cmds in zip(socks, pipes):
        data = b''.join(resp(*c) for c in cmds)
        out[s] = data
        want[s] = len(cmds)
        got[s] = []
        bufs[s] = b''
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while any(len(got[s]) < want[s] for s in socks):
        for key, ev in sel.select(timeout=60):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE and out[s]:
                n = s.send(out[s])
                out[s] = out[s][n:]
                if not out[s]:
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                d = s.recv(1 << 20)
                if not d:
                    raise RuntimeError('connection closed')
                bufs[s] += d
                while True:
                    v, n = parse(bufs[s])
                    if v is None:
                        break
                    bufs[s] = bufs[s][n:]
                    got[s].append(v)
    sel.close()
    return [got[s] for s in socks]


def enc(v):
    return v.encode() if isinstance(v, str) else v


def model_cmd(m, c):
    """Apply command c to the model m (a dict of bytes), return the reply
    nvkv-server must give (as parse() returns it)."""
    op = c[0]
    if op == 'SET':
        m[c[1]] = enc(c[2])
        return '+OK'
    if op == 'GET':
        return m.get(c[1], 'nil')
    if op == 'DEL':
        return int(m.pop(c[1], None) is not None)
    if op == 'EXISTS':
        return int(c[1] in m)
    if op == 'INCR':
        v = int(m.get(c[1], b'0')) + 1
        m[c[1]] = str(v).encode()
        return v
    if op == 'APPEND':
        m[c[1]] = m.get(c[1], b'') + enc(c[2])
        return len(m[c[1]])
    if op == 'MSET':
        for i in range(1, len(c), 2):
            m[c[i]] = enc(c[i + 1])
        return '+OK'
    if op == 'LPUSH':
        m.setdefault(c[1], []).insert(0, enc(c[2]))
        return len(m[c[1]])
    if op == 'RPOP':
        if c[1] not in m:
            return 'nil'
        v = m[c[1]].pop()
        if not m[c[1]]:
            del m[c[1]]
        return v
    if op == 'HSET':
        h = m.setdefault(c[1], {})
        new = enc(c[2]) not in h
        h[enc(c[2])] = enc(c[3])
        return int(new)
    if op in ('SADD', 'ZADD'):
        s = m.setdefault(c[1], {})
        mem = enc(c[-1])
        new = mem not in s
        s[mem] = c[2] if op == 'ZADD' else 0
        return int(new)
    raise ValueError(op)


def pipeline(rng, conn, m, rnd):
    """PER commands on connection conn's own keys, and their replies."""
    cmds, replies = [], []
    mine = [k for k in m if k.startswith('c%d:' % conn) and
            isinstance(m[k], bytes) and k != 'c%d:n' % conn]

    def key(new):
        if new or not mine:
            return 'c%d:%d' % (conn, rng.randrange(1 << 30))
        return rng.choice(mine)
    while len(cmds) < PER:
        r = rng.random()
        if r < 0.35:
            c = [('SET', key(True), 'v%d' % rnd)]
        elif r < 0.5:
            c = [('GET', key(rng.random() < 0.2))]
        elif r < 0.6:
            c = [('DEL', key(rng.random() < 0.2))]
        elif r < 0.7:
            c = [('INCR', 'c%d:n' % conn)]
        elif r < 0.78:
            c = [('APPEND', key(False), 'a')]
        elif r < 0.86:
            c = [('MSET', key(True), 'm1', key(True), 'm2')]
        elif r < 0.89:
            c = [('EXISTS', key(False))]
        elif r < 0.93:
            x = rng.randrange(5)
            c = [(('LPUSH', 'c%d:L' % conn, 'e%d' % rnd),
                  ('RPOP', 'c%d:L' % conn),
                  ('HSET', 'c%d:H' % conn, 'f%d' % rng.randrange(200),
                   'v%d' % rnd),
                  ('SADD', 'c%d:S' % conn, 'm%d' % rng.randrange(200)),
                  ('ZADD', 'c%d:Z' % conn, rng.randrange(50),
                   'm%d' % rng.randrange(200)))[x]]
        else:
            # a transaction: queued replies, then EXEC's array
            inner = [('SET', key(True), 'x'), ('INCR', 'c%d:n' % conn)]
            cmds.append(('MULTI',))
            replies.append('+OK')
            for ic in inner:
                cmds.append(ic)
                replies.append('+QUEUED')
            cmds.append(('EXEC',))
            replies.append([model_cmd(m, ic) for ic in inner])
            continue
        for x in c:
            cmds.append(x)
            replies.append(model_cmd(m, x))
            if x[0] in ('SET', 'MSET', 'APPEND'):
                mine.extend(k for k in x[1::2] if k not in mine)
    return cmds, replies


def main():
    rng = random.Random(15)
    d = tempfile.mkdtemp(prefix='nvkv-batch.',
                         dir=os.environ.get('NVHEAP_TEST_DIR', '/dev/shm'))
    pool = os.path.join(d, 'kv.pool')
    p, port = start(pool)
    socks = connect(port, CONNS)
    m = {}
    bad = 0
    for rnd in range(ROUNDS):
        pipes, wants = [], []
        for conn in range(CONNS):
            cmds, replies = pipeline(rng, conn, m, rnd)
            pipes.append(cmds)
            wants.append(replies)
        gots = exchange(socks, pipes)
        for conn in range(CONNS):
            for c, w, g in zip(pipes[conn], wants[conn], gots[conn]):
                if g != w and bad < 5:
                    check(False, 'round %d conn %d %r: got %r, want %r' %
                          (rnd, conn, c, g, w))
                    bad += 1
    check(bad == 0, '%d commands on %d connections: every reply as the '
          'model says' % (ROUNDS * CONNS * PER, CONNS))
    n = exchange(socks[:1], [[('DBSIZE',)]])[0][0]
    check(n == len(m), 'DBSIZE %r, model %d keys' % (n, len(m)))
    info = exchange(socks[:1], [[('INFO', 'stats')]])[0][0].decode()
    batches = int(info.split('group_commits:')[1].split()[0])
    check(batches < ROUNDS * CONNS,
          'writes of connections in flight together share commits '
          '(%d commits)' % batches)
    for s in socks:
        s.close()
    # every acknowledged write survives SIGKILL
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    p, port = start(pool)
    s = connect(port, 1)
    keys = sorted(k for k in m if isinstance(m[k], bytes))
    lost = 0
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        got = exchange(s, [[('GET', k) for k in part]])[0]
        lost += sum(1 for k, g in zip(part, got) if g != m[k])
    for k in sorted(k for k in m if not isinstance(m[k], bytes)):
        t = k.split(':')[1]
        cmd = {'L': ('LRANGE', k, 0, -1), 'H': ('HGETALL', k),
               'S': ('SMEMBERS', k), 'Z': ('ZRANGE', k, 0, -1,
                                            'WITHSCORES')}[t]
        got = exchange(s, [[cmd]])[0][0]
        if t == 'L':
            ok = got == m[k]
        elif t == 'H':
            ok = dict(zip(got[0::2], got[1::2])) == m[k]
        elif t == 'S':
            ok = set(got) == set(m[k])
        else:
            ok = got == [x for mm in sorted(m[k], key=lambda y:
                                            (m[k][y], y))
                         for x in (mm, str(m[k][mm]).encode())]
        lost += not ok
        keys.append(k)
    check(lost == 0, 'after SIGKILL: all %d keys hold their acknowledged '
          'values (%d differ)' % (len(keys), lost))
    s[0].close()
    p.send_signal(signal.SIGTERM)
    p.stdout.read()
    check(p.wait(timeout=60) == 0, 'SIGTERM')
    shutil.rmtree(d, ignore_errors=True)
    print('test_batch: %d checks, %d failures' % (check.n, len(check.failures)))
    return 1 if check.failures else 0


if __name__ == '__main__':
    sys.exit(main())
