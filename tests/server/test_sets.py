#!/usr/bin/env python3
"""test_sets.py SERVER NVHEAP_TOOL -- nvkv-server's sets and sorted sets
at the sizes users reach, next to redis-server as the reference.

Four clients at once pipeline SADDs of 1,000 members into their own sets
and one they share (200,000 members in all); then, on both servers, the
same reads and the algebra over 100,000-member sets (SCARD, SMEMBERS,
SISMEMBER/SMISMEMBER, SINTER, SUNION, SDIFF, SINTERCARD and the *STORE
forms, one naming its own source), SREMs and SMOVEs of 50,000 members,
every reply compared with redis-server's (listings sorted: the orders
differ by design); a member of 64 KiB (the limit) and one byte more; the
random picks checked for what they promise (SPOP of 50,000: distinct
members, gone afterwards; SRANDMEMBER distinct or repeating); a full
SSCAN visits every member; then SIGKILL with clients mid-pipeline: after
a restart each set holds every acknowledged SADD and each in-flight one
all or nothing, and `nvheap check` finds no problem.

Sorted sets the same way: four clients pipelining ZADDs of 1,000 members
(200,000 in all, scores with ties) into their own sorted sets and a
shared one; then on both servers every read (ZRANGE of all 200,000 with
scores, ranks, score and member ranges with LIMIT, counts) and the
removals (ZREM, ZREMRANGEBY*, ZPOPMIN/ZPOPMAX of 50,000, updates that
move members) compared byte for byte (the order is defined); a full
ZSCAN; the algebra (ZUNION, ZINTER, ZDIFF, the *STORE forms, ZINTERCARD)
and ZRANGESTORE over those sets against redis; SIGKILL mid-pipeline.

LMPOP and ZMPOP as queues: four producers, two consumers, 200,000
elements each way, every one taken once.

The random picks at that size: SPOP, SRANDMEMBER and HRANDFIELD read a
few B-tree nodes per pick, not the whole collection.
Exit status 0 only if every check passed."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

from nvkvtest import Checks, Conn, NvkvProc, Redis, run_tests

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()
BATCH = 1000


def sadd_batches(port, key, members, shared=None):
    """SADD members to key (and to shared) in pipelined batches; the
    replies: the number added per batch."""
    c = Conn(port)
    cmds = []
    for i in range(0, len(members), BATCH):
        part = members[i:i + BATCH]
        cmds.append(['SADD', key] + part)
        if shared:
            cmds.append(['SADD', shared] + part)
    out = []
    for i in range(0, len(cmds), 20):
        out += c.pipeline(cmds[i:i + 20])
    c.close()
    return out


def fill(port):
    """Four clients at once; sets a, b, c, d of 100,000 members (a: even
    i, b: i % 3 == 0, c: i < 100,000, d: i >= 100,000) of 200,000, and
    'all' holding every one."""
    groups = {
        'a': [i for i in range(200000) if i % 2 == 0],
        'b': [i for i in range(0, 300000, 3)],
        'c': list(range(100000)),
        'd': list(range(100000, 200000)),
    }
    res = {}

    def run(k):
        res[k] = sadd_batches(port, k, ['m%d' % i for i in groups[k]],
                              'all' if k in 'cd' else None)

    ts = [threading.Thread(target=run, args=(k,)) for k in groups]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {k: set('m%d' % i for i in v) for k, v in groups.items()}, res


def same(nv, rd, cmd, sort=False, what=None):
    a, b = nv.cmd(*cmd), rd.cmd(*cmd)
    if sort and isinstance(a, list) and isinstance(b, list):
        a, b = sorted(a), sorted(b)
    check(a == b, '%s: nvkv %r, redis %r' % (
        what or ' '.join(map(str, cmd))[:80], str(a)[:200], str(b)[:200]))
    return a


def test_scale(d):
    nvs, rds = NvkvProc(SERVER, d, 'sets', '--size', '1G'), Redis(d, 'ref')
    model, res = fill(nvs.port)
    _, rres = fill(rds.port)
    check(res == rres, 'concurrent SADD replies differ from redis')
    check(all(sum(v) == 100000 for k, v in res.items() if k in 'ab'),
          'SADD counted every new member')
    nv, rd = Conn(nvs.port), Conn(rds.port)
    for k in ('a', 'b', 'c', 'd', 'all', 'nokey'):
        same(nv, rd, ['SCARD', k])
    allm = same(nv, rd, ['SMEMBERS', 'all'], sort=True)
    check(len(allm) == 200000 and set(allm) == {x.encode() for x in
                                                model['c'] | model['d']},
          'SMEMBERS all: every member once (%d)' % len(allm))
    probe = ['m%d' % i for i in range(0, 400000, 397)]
    same(nv, rd, ['SMISMEMBER', 'a'] + probe)
    for m in probe[:50]:
        same(nv, rd, ['SISMEMBER', 'b', m])
    for cmd in (['SINTER', 'a', 'b'], ['SINTER', 'a', 'b', 'c'],
                ['SUNION', 'a', 'b'], ['SUNION', 'a', 'b', 'c', 'd'],
                ['SDIFF', 'a', 'b'], ['SDIFF', 'all', 'a', 'b'],
                ['SDIFF', 'c', 'd']):
        same(nv, rd, cmd, sort=True)
    for cmd in (['SINTERCARD', 2, 'a', 'b'],
                ['SINTERCARD', 3, 'a', 'b', 'c', 'LIMIT', 1000],
                ['SINTERSTORE', 'i', 'a', 'b'],
                ['SUNIONSTORE', 'u', 'a', 'b', 'c', 'd'],
                ['SDIFFSTORE', 'x', 'all', 'b'],
                ['SUNIONSTORE', 'a', 'a', 'd'],   # its own source
                ['SDIFFSTORE', 'c', 'c', 'c']):   # empty: c is deleted
        same(nv, rd, cmd)
    for k in ('i', 'u', 'x', 'a', 'c'):
        same(nv, rd, ['SCARD', k])
        same(nv, rd, ['SMEMBERS', k], sort=True, what='SMEMBERS ' + k)
    same(nv, rd, ['EXISTS', 'c'])
    # removals and moves, pipelined
    rem = [['SREM', 'u'] + ['m%d' % j for j in range(i, i + BATCH)]
           for i in range(0, 50000, BATCH)]
    mov = [['SMOVE', 'u', 'moved', 'm%d' % i]
           for i in range(49000, 52000)]
    a, b = nv.pipeline(rem + mov), rd.pipeline(rem + mov)
    check(a == b, 'SREM/SMOVE pipeline replies differ from redis')
    for k in ('u', 'moved'):
        same(nv, rd, ['SCARD', k])
        same(nv, rd, ['SMEMBERS', k], sort=True, what='SMEMBERS ' + k)
    # the member limit
    big = 'M' * 65536
    same(nv, rd, ['SADD', 'lim', big])
    same(nv, rd, ['SISMEMBER', 'lim', big])
    r = nv.cmd('SADD', 'lim', big + 'x')
    check(isinstance(r, str) and r.startswith('-ERR') and 'member' in r,
          'a member over the limit is an error naming it: %r' % r[:80])
    same(nv, rd, ['SCARD', 'lim'])
    # random picks: what they promise
    r = nv.cmd('SRANDMEMBER', 'all', 1000)
    check(len(r) == 1000 and len(set(r)) == 1000 and
          set(r) <= set(allm), 'SRANDMEMBER 1000: distinct members')
    r = nv.cmd('SRANDMEMBER', 'all', -5000)
    check(len(r) == 5000 and set(r) <= set(allm),
          'SRANDMEMBER -5000: 5000 members')
    popped = nv.cmd('SPOP', 'all', 50000)
    check(len(popped) == 50000 and len(set(popped)) == 50000 and
          set(popped) <= set(allm), 'SPOP 50000: distinct members')
    check(nv.cmd('SCARD', 'all') == 150000, 'SPOP removed them')
    left = nv.cmd('SMISMEMBER', 'all', *popped[:5000])
    check(left == [0] * 5000, 'popped members are gone')
    # a full SSCAN visits every member of a 150,000-member set
    seen, cur, calls = set(), b'0', 0
    while True:
        cur, part = nv.cmd('SSCAN', 'all', cur, 'COUNT', 500)
        seen.update(part)
        calls += 1
        if cur == b'0' or calls > 3000:
            break
    check(seen == set(allm) - set(popped) and calls <= 3000,
          'SSCAN visited every member (%d calls)' % calls)
    nv.close()
    rd.close()
    check(nvs.stop() == 0, 'nvkv-server stopped cleanly')
    chk = subprocess.run([TOOL, 'check', nvs.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def test_killed(d):
    """Four clients pipelining SADDs (and SREMs of what they added) into
    their own sets when the server is SIGKILLed: the restarted server
    has every acknowledged write, and each in-flight command's members
    all or none."""
    s = NvkvProc(SERVER, d, 'kill')
    acked, inflight = {}, {}
    stop = threading.Event()

    def run(k):
        c = Conn(s.port, timeout=10)
        model, n = set(), 0
        acked[k] = model
        try:
            while not stop.is_set():
                add = ['%s-%d' % (k, i) for i in range(n, n + 200)]
                rem = ['%s-%d' % (k, i) for i in range(n - 200, n - 150)]
                n += 200
                cmds = [['SADD', k] + add, ['SREM', k] + rem]
                inflight[k] = (add, rem)
                r = c.pipeline(cmds)
                if r != [200, len(rem) if n > 200 else 0]:
                    check(False, 'replies %r' % (r,))
                    return
                model.update(add)
                model.difference_update(rem)
                inflight[k] = None
        except (OSError, RuntimeError):
            pass  # the kill

    ts = [threading.Thread(target=run, args=('k%d' % i,)) for i in range(4)]
    for t in ts:
        t.start()
    time.sleep(3)
    s.p.send_signal(signal.SIGKILL)
    s.p.wait()
    stop.set()
    for t in ts:
        t.join()
    s2 = NvkvProc(SERVER, d, 'kill')
    c = Conn(s2.port)
    for k, model in acked.items():
        got = set(x.decode() for x in c.cmd('SMEMBERS', k))
        fl = inflight.get(k)
        ok = got == model
        if not ok and fl:   # the SADD in flight, then perhaps its SREM
            add, rem = fl
            ok = got in (model | set(add),
                         (model | set(add)) - set(rem))
        check(ok and len(model) > 1000,
              '%s: %d members after the kill, %d acknowledged' % (
                  k, len(got), len(model)))
    c.close()
    check(s2.stop() == 0, 'restarted server stopped cleanly')
    chk = subprocess.run([TOOL, 'check', s2.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check after the kill: %r' %
          chk.stdout[-300:])


def zfill(port, key, items, shared=None):
    """ZADD (score, member) items to key (and shared) in pipelined
    batches of 1,000; the replies."""
    c = Conn(port)
    cmds = []
    for i in range(0, len(items), BATCH):
        flat = []
        for s, m in items[i:i + BATCH]:
            flat += [s, m]
        cmds.append(['ZADD', key] + flat)
        if shared:
            cmds.append(['ZADD', shared] + flat)
    out = []
    for i in range(0, len(cmds), 20):
        out += c.pipeline(cmds[i:i + 20])
    c.close()
    return out


def zgroups():
    """z0..z3: 50,000 members each (z0, z1 with scores i % 1000: ties;
    z2 decimals; z3 all 0, for member ranges), and 'zall' every one of
    z0 and z1."""
    return {
        'z0': [(i % 1000, 'm%06d' % i) for i in range(0, 100000, 2)],
        'z1': [(i % 1000, 'm%06d' % i) for i in range(1, 100000, 2)],
        'z2': [('%d.%d' % (i % 777, i % 7), 'n%d' % i)
               for i in range(50000)],
        'z3': [(0, 'l%05d' % i) for i in range(50000)],
    }


def test_zscale(d):
    nvs, rds = NvkvProc(SERVER, d, 'zsets', '--size', '1G'), Redis(d, 'zref')
    res = {}
    for port, out in ((nvs.port, res.setdefault('nv', {})),
                      (rds.port, res.setdefault('rd', {}))):
        g = zgroups()

        def run(k, port=port, out=out, g=g):
            out[k] = zfill(port, k, g[k], 'zall' if k in ('z0', 'z1')
                           else None)

        ts = [threading.Thread(target=run, args=(k,)) for k in g]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    check(res['nv'] == res['rd'], 'concurrent ZADD replies differ')
    nv, rd = Conn(nvs.port), Conn(rds.port)
    cmds = [['ZCARD', k] for k in ('z0', 'z1', 'z2', 'z3', 'zall')]
    cmds += [['ZRANGE', 'zall', 0, -1, 'WITHSCORES'],
             ['ZRANGE', 'z2', 0, -1, 'WITHSCORES'],
             ['ZREVRANGE', 'zall', 0, 999, 'WITHSCORES'],
             ['ZRANGE', 'zall', 49000, 51000],
             ['ZRANGE', 'zall', -1000, -1, 'REV'],
             ['ZRANGEBYSCORE', 'zall', 100, '(200', 'LIMIT', 500, 1000],
             ['ZREVRANGEBYSCORE', 'zall', 900, 800, 'WITHSCORES',
              'LIMIT', 10, 3000],
             ['ZRANGE', 'z2', '(5.5', 90, 'BYSCORE', 'LIMIT', 0, 5000],
             ['ZRANGE', 'z3', '[l10000', '(l20000', 'BYLEX'],
             ['ZRANGE', 'z3', '+', '[l40000', 'BYLEX', 'REV', 'LIMIT',
              100, 1000],
             ['ZCOUNT', 'zall', 250, 750], ['ZCOUNT', 'z2', '(1', '(2'],
             ['ZLEXCOUNT', 'z3', '-', '(l30000'],
             ['ZMSCORE', 'zall'] + ['m%06d' % i for i in
                                    range(0, 100000, 97)]]
    cmds += [['ZRANK', 'zall', 'm%06d' % i] for i in range(0, 100000, 991)]
    cmds += [['ZREVRANK', 'z2', 'n%d' % i] for i in range(0, 50000, 499)]
    a, b = nv.pipeline(cmds), rd.pipeline(cmds)
    for c, x, y in zip(cmds, a, b):
        check(x == y, '%s: nvkv %r, redis %r' % (
            ' '.join(map(str, c))[:80], str(x)[:120], str(y)[:120]))
    check(isinstance(a[5], list) and len(a[5]) == 200000,
          'ZRANGE zall WITHSCORES: 100,000 members and scores')
    # the algebra at that size, against redis
    alg = [['ZUNIONSTORE', 'zu', 2, 'z0', 'z1', 'WEIGHTS', 1, 2],
           ['ZRANGE', 'zu', 0, -1, 'WITHSCORES'],
           ['ZINTER', 2, 'zall', 'z0', 'WEIGHTS', 2, 3, 'WITHSCORES'],
           ['ZINTERSTORE', 'zi', 2, 'zall', 'z1', 'AGGREGATE', 'MIN'],
           ['ZRANGE', 'zi', 0, -1, 'WITHSCORES'],
           ['ZDIFF', 2, 'zall', 'z0', 'WITHSCORES'],
           ['ZDIFFSTORE', 'zd', 2, 'zall', 'z1'], ['ZCARD', 'zd'],
           ['ZUNION', 3, 'z2', 'z3', 'z0', 'AGGREGATE', 'MAX',
            'WITHSCORES'],
           ['ZUNIONSTORE', 'zu', 2, 'zu', 'z2'],  # its own input
           ['ZRANGE', 'zu', 0, -1, 'WITHSCORES'],
           ['ZINTERCARD', 2, 'zall', 'z0'],
           ['ZINTERCARD', 2, 'zall', 'z0', 'LIMIT', 5000],
           ['ZINTERCARD', 2, 'z0', 'z1'],
           ['ZRANGESTORE', 'zr', 'zall', 1000, 60000],
           ['ZRANGE', 'zr', 0, -1, 'WITHSCORES'],
           ['ZRANGESTORE', 'zr', 'z2', 90, '(5.5', 'BYSCORE', 'REV',
            'LIMIT', 10, 20000],
           ['ZRANGE', 'zr', 0, -1, 'WITHSCORES']]
    a2, b2 = nv.pipeline(alg), rd.pipeline(alg)
    for c, x, y in zip(alg, a2, b2):
        check(x == y, '%s: nvkv %r, redis %r' % (
            ' '.join(map(str, c))[:80], str(x)[:120], str(y)[:120]))
    check(a2[-4] == 59001 and a2[-2] > 5000 and
          len(a2[-1]) == 2 * a2[-2], 'ZRANGESTORE stored 59,001 and '
          '%r' % (a2[-2],))
    check(a2[0] == 100000 and len(a2[8]) == 300000 and a2[9] == 150000,
          'ZUNIONSTORE of 100,000, ZUNION of 150,000, a store onto its '
          'own input: %r %r %r' % (a2[0], len(a2[8]), a2[9]))
    # writes: removals, moves by score update, pops, range removals
    w = [['ZREM', 'zall'] + ['m%06d' % j for j in range(i, i + BATCH)]
         for i in range(0, 20000, BATCH)]
    w += [['ZADD', 'zall', 'XX', 'CH'] +
          [x for j in range(i, i + BATCH) for x in (j % 13, 'm%06d' % j)]
          for i in range(20000, 40000, BATCH)]
    w += [['ZINCRBY', 'zall', 0.5, 'm%06d' % i]
          for i in range(40000, 41000)]
    w += [['ZPOPMIN', 'zall', 25000], ['ZPOPMAX', 'zall', 25000],
          ['ZREMRANGEBYRANK', 'zall', 1000, 2000],
          ['ZREMRANGEBYSCORE', 'zall', '(500', 600],
          ['ZREMRANGEBYLEX', 'z3', '[l20000', '(l45000'],
          ['ZCARD', 'zall'], ['ZCARD', 'z3'],
          ['ZRANGE', 'zall', 0, -1, 'WITHSCORES'],
          ['ZRANGE', 'z3', 0, -1]]
    a, b = nv.pipeline(w), rd.pipeline(w)
    for c, x, y in zip(w, a, b):
        check(x == y, '%s: nvkv %r, redis %r' % (
            ' '.join(map(str, c))[:80], str(x)[:120], str(y)[:120]))
    # a full ZSCAN visits every member once at least
    want = set(a[-2][0::2])
    seen, cur, calls = set(), b'0', 0
    while True:
        cur, part = nv.cmd('ZSCAN', 'zall', cur, 'COUNT', 500)
        seen.update(part[0::2])
        calls += 1
        if cur == b'0' or calls > 3000:
            break
    check(seen == want and calls <= 3000,
          'ZSCAN visited every member (%d calls)' % calls)
    r = nv.cmd('ZRANDMEMBER', 'zall', 2000, 'WITHSCORES')
    check(len(r) == 4000 and len(set(r[0::2])) == 2000 and
          set(r[0::2]) <= want, 'ZRANDMEMBER 2000: distinct members')
    nv.close()
    rd.close()
    check(nvs.stop() == 0, 'nvkv-server stopped cleanly')
    chk = subprocess.run([TOOL, 'check', nvs.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def test_zkilled(d):
    """Four clients pipelining ZADDs (and ZREMs of what they added) into
    their own sorted sets, and a fifth replacing one by ZUNIONSTOREs of
    5,000 members, when the server is SIGKILLed: the restarted server
    has every acknowledged write, an in-flight command's members all or
    none, in order, and the stored set whole."""
    s = NvkvProc(SERVER, d, 'zkill')
    acked, inflight = {}, {}
    stop = threading.Event()

    def run(k):
        c = Conn(s.port, timeout=10)
        model, n = {}, 0
        acked[k] = model
        try:
            while not stop.is_set():
                add = [(n + i) % 97 for i in range(200)]
                names = ['%s-%d' % (k, n + i) for i in range(200)]
                rem = ['%s-%d' % (k, i) for i in range(n - 200, n - 150)]
                flat = [x for p in zip(add, names) for x in p]
                inflight[k] = (dict(zip(names, add)), rem)
                r = c.pipeline([['ZADD', k] + flat, ['ZREM', k] + rem])
                if r != [200, 50 if n else 0]:
                    check(False, 'replies %r' % (r,))
                    return
                n += 200
                model.update(zip(names, add))
                for m in rem:
                    model.pop(m, None)
                inflight[k] = None
        except (OSError, RuntimeError):
            pass  # the kill

    # a fifth client replaces 'zs' by ZUNIONSTORE again and again with
    # one of two 5,000-member sets, weighted by its count: after the kill
    # 'zs' is one whole store (the last acknowledged or the one in
    # flight), never a mix
    c0 = Conn(s.port)
    for src, pre in (('zsa', 'a'), ('zsb', 'b')):
        c0.cmd('ZADD', src, *[x for i in range(5000)
                              for x in (i % 50, '%s-%d' % (pre, i))])
    c0.close()
    stores = {'acked': None, 'inflight': None, 'n': 0}

    def store():
        c = Conn(s.port, timeout=10)
        n = 1
        try:
            while not stop.is_set():
                stores['inflight'] = n
                r = c.cmd('ZUNIONSTORE', 'zs', 1, 'zsa' if n % 2 else 'zsb',
                          'WEIGHTS', n)
                if r != 5000:
                    check(False, 'ZUNIONSTORE replied %r' % (r,))
                    return
                stores['acked'], stores['n'] = n, stores['n'] + 1
                n += 1
        except (OSError, RuntimeError):
            pass  # the kill

    ts = [threading.Thread(target=run, args=('zk%d' % i,))
          for i in range(4)] + [threading.Thread(target=store)]
    for t in ts:
        t.start()
    time.sleep(3)
    s.p.send_signal(signal.SIGKILL)
    s.p.wait()
    stop.set()
    for t in ts:
        t.join()
    s2 = NvkvProc(SERVER, d, 'zkill')
    c = Conn(s2.port)

    def stored(n):
        pre = 'a' if n % 2 else 'b'
        m = {'%s-%d' % (pre, i): (i % 50) * n for i in range(5000)}
        return [x for mm in sorted(m, key=lambda x: (m[x], x))
                for x in (mm.encode(), str(m[mm]).encode())]

    got = c.cmd('ZRANGE', 'zs', 0, -1, 'WITHSCORES')
    ok = any(n is not None and got == stored(n)
             for n in (stores['acked'], stores['inflight']))
    check(ok and stores['n'] > 10, 'zs after the kill is one whole '
          'ZUNIONSTORE (%d acknowledged; %d members)' % (stores['n'],
                                                         len(got) // 2))

    def order(m):
        return [x for mm in sorted(m, key=lambda x: (m[x], x))
                for x in (mm.encode(), str(m[mm]).encode())]

    for k, model in acked.items():
        got = c.cmd('ZRANGE', k, 0, -1, 'WITHSCORES')
        ok = got == order(model)
        fl = inflight.get(k)
        if not ok and fl:
            add, rem = fl
            m2 = dict(model)
            m2.update(add)
            m3 = {x: v for x, v in m2.items() if x not in rem}
            ok = got in (order(m2), order(m3))
        check(ok and len(model) > 1000,
              '%s: %d members after the kill, %d acknowledged' % (
                  k, len(got) // 2, len(model)))
    c.close()
    check(s2.stop() == 0, 'restarted server stopped cleanly')
    chk = subprocess.run([TOOL, 'check', s2.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check after the kill: %r' %
          chk.stdout[-300:])


def info_field(c, name):
    for line in c.cmd('INFO', 'nvheap').decode().split('\r\n'):
        if line.startswith(name + ':'):
            return int(line.split(':')[1])
    raise RuntimeError('INFO has no ' + name)


def test_unlink_background(d):
    """UNLINK of a 400,000-element list and DEL of a 200,000-field hash
    are answered at once; their objects are freed afterwards by the
    background thread (INFO's pool_used is still high right after the
    reply, other clients' commands are answered meanwhile, and it comes
    back down); a SIGKILL while freeing loses nothing else, and the next
    open finishes the freeing."""
    s = NvkvProc(SERVER, d, 'unlink', '--size', '1G')
    c, o = Conn(s.port), Conn(s.port)
    c.cmd('SET', 'keep', 'v')
    base = info_field(c, 'pool_used')
    for i in range(0, 400000, 2000):
        c.pipeline([['RPUSH', 'big'] + ['e%d' % j
                                        for j in range(i, i + 2000)]])
    for i in range(0, 200000, 2000):
        c.pipeline([['HSET', 'h'] + [x for j in range(i, i + 2000)
                                     for x in ('f%d' % j, j)]])
    full = info_field(c, 'pool_used')
    check(full > base + (40 << 20), 'the values take space (%d)' % full)
    r = c.pipeline([['UNLINK', 'big'], ['DEL', 'h']])
    check(r == [1, 1], 'UNLINK and DEL answered: %r' % (r,))
    right_after = info_field(o, 'pool_used')
    answered = [o.cmd('SET', 'k%d' % i, i) for i in range(200)]
    during = info_field(o, 'pool_used')
    check(answered == ['+OK'] * 200, 'other writes answered meanwhile')
    check(right_after > base + (full - base) // 2,
          'freed after the reply, not before it (%d of %d still used)'
          % (right_after - base, full - base))
    t0 = time.monotonic()
    while info_field(o, 'pool_used') > base + (4 << 20) and \
            time.monotonic() - t0 < 120:
        time.sleep(0.1)
    after = info_field(o, 'pool_used')
    check(after <= base + (4 << 20), 'the space came back: %d bytes '
          'over the start (%d during the writes)' % (after - base,
                                                      during - base))
    check(info_field(o, 'reclaim_slices') > 10, 'in slices')
    check(c.cmd('EXISTS', 'big', 'h') == 0 and c.cmd('GET', 'keep') ==
          b'v', 'the keys are gone, the rest kept')
    # killed while freeing: the next open frees the rest
    for i in range(0, 400000, 2000):
        c.pipeline([['LPUSH', 'big2'] + ['e%d' % j
                                         for j in range(i, i + 2000)]])
    check(c.cmd('UNLINK', 'big2') == 1, 'UNLINK big2')
    s.p.send_signal(signal.SIGKILL)
    s.p.wait()
    c.close()
    o.close()
    s2 = NvkvProc(SERVER, d, 'unlink', '--size', '1G')
    c = Conn(s2.port)
    check(c.cmd('EXISTS', 'big2') == 0 and c.cmd('GET', 'keep') == b'v' and
          c.cmd('GET', 'k199') == b'199', 'after the kill: keys as acked')
    t0 = time.monotonic()
    while info_field(c, 'pool_used') > base + (4 << 20) and \
            time.monotonic() - t0 < 120:
        time.sleep(0.1)
    check(info_field(c, 'pool_used') <= base + (4 << 20),
          'the rest freed after the restart')
    c.close()
    check(s2.stop() == 0, 'stopped cleanly')
    chk = subprocess.run([TOOL, 'check', s2.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def test_random_picks(d):
    """SPOP, SRANDMEMBER and HRANDFIELD on a 200,000-member set and a
    200,000-field hash pick by B-tree descents: each pick reads a few
    nodes (INFO's btree_nodes_read), not the whole collection (a listing
    reads every node), so popping thousands one by one stays cheap; what
    they pick is what they promise (members, distinct where asked, popped
    ones gone, each field with its value); and 200,000 draws from a
    10,000-member set reach every part of it about equally."""
    s = NvkvProc(SERVER, d, 'picks', '--size', '1G')
    c = Conn(s.port)
    rng = random.Random(7)
    members = ['m%06d' % i for i in range(200000)]
    rng.shuffle(members)  # in random order: nodes of every fill
    for i in range(0, len(members), 20 * BATCH):
        c.pipeline([['SADD', 'big'] + members[j:j + BATCH]
                    for j in range(i, i + 20 * BATCH, BATCH)])
        c.pipeline([['HSET', 'h'] + [x for m in members[j:j + BATCH]
                                     for x in ('f' + m[1:], 'v' + m[1:])]
                    for j in range(i, i + 20 * BATCH, BATCH)])
    check(c.cmd('SCARD', 'big') == 200000 and c.cmd('HLEN', 'h') == 200000,
          'filled')
    allm = {m.encode() for m in members}

    def reads():
        return info_field(c, 'btree_nodes_read')

    # 2,000 SPOPs one by one
    r0 = reads()
    popped = c.pipeline([['SPOP', 'big']] * 2000)
    per = (reads() - r0) / 2000
    check(per <= 40, 'SPOP reads %.1f B-tree nodes per call (a listing '
          'of the set: ~10,000)' % per)
    check(len(set(popped)) == 2000 and set(popped) <= allm,
          'SPOP: 2,000 distinct members')
    check(c.cmd('SCARD', 'big') == 198000 and
          c.cmd('SMISMEMBER', 'big', *popped) == [0] * 2000,
          'the popped members are gone')
    # SPOP with a count
    r0 = reads()
    p2 = c.cmd('SPOP', 'big', 1000)
    per = (reads() - r0) / 1000
    check(len(p2) == 1000 and len(set(p2)) == 1000 and set(p2) <= allm and
          not set(p2) & set(popped), 'SPOP 1000: distinct members, none '
          'popped before')
    check(per <= 40, 'SPOP 1000 reads %.1f nodes per member' % per)
    check(c.cmd('SCARD', 'big') == 197000 and
          c.cmd('SMISMEMBER', 'big', *p2) == [0] * 1000, 'and removes them')
    # SRANDMEMBER: one, distinct, repeating
    r0 = reads()
    one = c.pipeline([['SRANDMEMBER', 'big']] * 2000)
    per = (reads() - r0) / 2000
    check(per <= 20, 'SRANDMEMBER reads %.1f nodes per call' % per)
    check(c.cmd('SMISMEMBER', 'big', *one) == [1] * 2000,
          'SRANDMEMBER: members of the set')
    r0 = reads()
    r = c.cmd('SRANDMEMBER', 'big', 500)
    r2 = c.cmd('SRANDMEMBER', 'big', -500)
    per = (reads() - r0) / 1000
    check(len(r) == 500 and len(set(r)) == 500 and len(r2) == 500 and
          c.cmd('SMISMEMBER', 'big', *(r + r2)) == [1] * 1000,
          'SRANDMEMBER 500: distinct members; -500: 500 members')
    check(per <= 20, 'SRANDMEMBER 500 and -500 read %.1f nodes per '
          'member' % per)
    check(c.cmd('SCARD', 'big') == 197000, 'SRANDMEMBER removed nothing')
    # HRANDFIELD
    r0 = reads()
    f = c.pipeline([['HRANDFIELD', 'h']] * 2000)
    per = (reads() - r0) / 2000
    check(per <= 20, 'HRANDFIELD reads %.1f nodes per call' % per)
    check(all(x[:1] == b'f' and b'm' + x[1:] in allm for x in f),
          'HRANDFIELD: fields of the hash')
    for cnt in (300, -300):
        r = c.cmd('HRANDFIELD', 'h', cnt, 'WITHVALUES')
        pairs = list(zip(r[0::2], r[1::2]))
        check(len(r) == 600 and all(v == b'v' + k[1:] and b'm' + k[1:]
                                    in allm for k, v in pairs),
              'HRANDFIELD %d WITHVALUES: fields with their values' % cnt)
        if cnt > 0:
            check(len({k for k, _ in pairs}) == 300, 'distinct fields')
    check(c.cmd('HLEN', 'h') == 200000, 'HRANDFIELD removed nothing')
    # the spread of 200,000 draws over a 10,000-member set
    small = ['s%05d' % i for i in range(10000)]
    rng.shuffle(small)
    c.pipeline([['SADD', 'spread'] + small[i:i + BATCH]
                for i in range(0, 10000, BATCH)])
    hits = [0] * 100
    for part in c.pipeline([['SRANDMEMBER', 'spread', -1000]] * 200):
        for m in part:
            hits[int(m[1:]) // 100] += 1
    print('spread: %d..%d' % (min(hits), max(hits)))
    # (sigma 45: an unbiased pick stays well inside; the descent without
    # its rejections, each kid as likely as its siblings, drew 1,332..3,247)
    check(sum(hits) == 200000 and min(hits) >= 1700 and max(hits) <= 2300,
          'draws in each hundredth of the set: %d..%d of 2,000 expected'
          % (min(hits), max(hits)))
    # a small set and hash (chains): each element as likely
    c.cmd('SADD', 'few', 'a', 'b', 'c', 'd', 'e')
    c.cmd('HSET', 'fewh', 'a', 1, 'b', 2, 'c', 3, 'd', 4, 'e', 5)
    for what, cmds in (('SRANDMEMBER', [['SRANDMEMBER', 'few']] * 5000),
                       ('HRANDFIELD', [['HRANDFIELD', 'fewh']] * 5000)):
        got = c.pipeline(cmds)
        n = {m: got.count(m) for m in (b'a', b'b', b'c', b'd', b'e')}
        check(sum(n.values()) == 5000 and min(n.values()) >= 800 and
              max(n.values()) <= 1200, '%s of a 5-element chain: %r' %
              (what, n))
    c.close()
    check(s.stop() == 0, 'nvkv-server stopped cleanly')
    chk = subprocess.run([TOOL, 'check', s.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def test_mpop(d):
    """LMPOP and ZMPOP as queues at scale: four producers push 200,000
    elements (50,000 each) over 8 lists and 8 sorted sets while two
    consumers drain them with LMPOP and ZMPOP over all 8 keys, COUNT 100:
    every element is taken exactly once, each list's in its order and
    each sorted set's lowest first, and the keys are gone at the end."""
    s = NvkvProc(SERVER, d, 'mpop', '--size', '1G')
    lists = ['q%d' % i for i in range(8)]
    zsets = ['p%d' % i for i in range(8)]
    done = threading.Event()
    got = {'l': [], 'z': []}

    def produce(t):
        c = Conn(s.port)
        for b in range(0, 50000, 500):
            cmds = []
            for k in range(8):
                el = ['%d:%d' % (t, b + j) for j in range(k, 500, 8)]
                cmds.append(['RPUSH', lists[k]] + el)
                cmds.append(['ZADD', zsets[k]] +
                            [x for e in el for x in (int(e.split(':')[1]), e)])
            r = c.pipeline(cmds)
            if any(isinstance(x, str) for x in r):
                check(False, 'producer %d: %r' % (t, r[:2]))
                return
        c.close()

    def consume(which):
        c = Conn(s.port)
        keys = lists if which == 'l' else zsets
        cmd = (['LMPOP', 8] + keys + ['LEFT', 'COUNT', 100]) if which == 'l' \
            else (['ZMPOP', 8] + keys + ['MIN', 'COUNT', 100])
        out = got[which]
        while True:
            r = c.cmd(*cmd)
            if not r:  # a nil array
                if done.is_set():
                    # one more try: the last pushes may have landed
                    r = c.cmd(*cmd)
                    if not r:
                        break
                else:
                    time.sleep(0.002)
                    continue
            key, els = r
            if which == 'z':
                els = [(m, float(sc)) for m, sc in els]
            out.append((key, els))
        c.close()

    prods = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    cons = [threading.Thread(target=consume, args=(w,)) for w in 'lz']
    for t in prods + cons:
        t.start()
    for t in prods:
        t.join()
    done.set()
    for t in cons:
        t.join()
    c = Conn(s.port)
    # lists: each element once, each list's (per producer) in order
    seen, order_ok = [], True
    last = {}
    for key, els in got['l']:
        for e in els:
            seen.append(e)
            t, i = map(int, e.split(b':'))
            if last.get((key, t), -1) >= i:
                order_ok = False
            last[(key, t)] = i
    check(len(seen) == 200000 and len(set(seen)) == 200000,
          'LMPOP took %d elements, %d distinct, of 200,000' %
          (len(seen), len(set(seen))))
    check(order_ok, 'LMPOP: each list in its order')
    zs = [m for _, els in got['z'] for m, _ in els]
    check(len(zs) == 200000 and len(set(zs)) == 200000,
          'ZMPOP took %d members, %d distinct, of 200,000' %
          (len(zs), len(set(zs))))
    check(all(all(a[1] <= b[1] for a, b in zip(els, els[1:]))
              for _, els in got['z']), 'ZMPOP: lowest first in each reply')
    check(c.cmd('EXISTS', *(lists + zsets)) == 0, 'the keys are gone')
    c.close()
    check(s.stop() == 0, 'nvkv-server stopped cleanly')
    chk = subprocess.run([TOOL, 'check', s.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def main():
    return run_tests('test_sets', check, [test_scale, test_killed,
                                          test_zscale, test_zkilled,
                                          test_unlink_background,
                                          test_random_picks, test_mpop],
                     sys.argv[3:])


if __name__ == '__main__':
    sys.exit(main())
