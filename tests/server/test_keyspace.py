#!/usr/bin/env python3
"""test_keyspace.py SERVER NVHEAP_TOOL -- nvkv-server's keyspace-wide
picks at the sizes users reach, on both indexes (the hash map and the
B-tree).

RANDOMKEY over 200,000 keys written by four clients at once: every
answer is a key that exists, 100,000 draws spread evenly over the keys
(each hundredth of them within a few sigma of its share), and when half
of the keys have expired (not yet removed) it answers only live ones; an
empty store answers nil.

COPY of every type at 200,000 elements (equal, independent, with the
expiry), and SIGKILL during repeated COPYs of a 100,000-field hash:
the copy is whole after the restart.
Exit status 0 only if every check passed."""
import random
import signal
import subprocess
import sys
import threading
import time

from nvkvtest import Checks, Conn, NvkvProc, run_tests

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()
N = 200000


def fill(port, t, ttl):
    """Client t's quarter of the keys k000000..k199999; the odd ones with
    a PX of ttl ms if ttl."""
    c = Conn(port)
    for i in range(t * N // 4, (t + 1) * N // 4, 1000):
        cmds = []
        for j in range(i, i + 1000):
            cmds.append(['SET', 'k%06d' % j, j] +
                        (['PX', ttl] if ttl and j % 2 else []))
        r = c.pipeline(cmds)
        if r != ['+OK'] * 1000:
            check(False, 'client %d: %r' % (t, r[:3]))
            return
    c.close()


def fill_all(port, ttl):
    ts = [threading.Thread(target=fill, args=(port, t, ttl))
          for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def randomkey(d, index):
    s = NvkvProc(SERVER, d, 'rk-' + index, '--size', '1G', '--index', index)
    c = Conn(s.port)
    check(c.cmd('RANDOMKEY') == 'nil', '%s: an empty store: nil' % index)
    fill_all(s.port, 0)
    check(c.cmd('DBSIZE') == N, '%s: %d keys' % (index, N))
    hits = [0] * 100
    bad = 0
    for _ in range(100):
        for k in c.pipeline([['RANDOMKEY']] * 1000):
            i = int(k[1:]) if k and k[:1] == b'k' else -1
            if not 0 <= i < N:
                bad += 1
            else:
                hits[i * 100 // N] += 1
    # (an even pick: 1,000 per hundredth, sigma 31)
    check(not bad and min(hits) >= 820 and max(hits) <= 1180,
          '%s: 100,000 RANDOMKEYs over 200,000 keys: %d per hundredth at '
          'least, %d at most, %d not keys' % (index, min(hits), max(hits),
                                             bad))
    # half of them expire: only live ones are answered
    c.cmd('FLUSHALL')
    fill_all(s.port, 300)
    time.sleep(0.6)
    got = [k for k in c.pipeline([['RANDOMKEY']] * 5000)]
    odd = sum(1 for k in got if k == 'nil' or int(k[1:]) % 2)
    check(odd == 0, '%s: after half expired, %d of 5,000 RANDOMKEYs an '
          'expired key or nil' % (index, odd))
    c.close()
    check(s.stop() == 0, '%s: stopped cleanly' % index)
    chk = subprocess.run([TOOL, 'check', s.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def test_randomkey_hash(d):
    randomkey(d, 'hash')


def test_randomkey_btree(d):
    randomkey(d, 'btree')


def test_copy(d):
    """COPY of a 200,000-field hash, a 200,000-element list, a
    200,000-member set and sorted set: each copy equals its source and
    is independent of it (a write to one leaves the other), the expiry
    goes with it; then SIGKILL while a client COPYs a 100,000-field hash
    again and again with REPLACE: after the restart the copy is whole."""
    s = NvkvProc(SERVER, d, 'copy', '--size', '2G')
    c = Conn(s.port)
    for i in range(0, 200000, 1000):
        r = range(i, i + 1000)
        c.pipeline([['HSET', 'h'] + [x for j in r for x in ('f%d' % j, j)],
                    ['RPUSH', 'l'] + ['e%d' % j for j in r],
                    ['SADD', 's'] + ['m%d' % j for j in r],
                    ['ZADD', 'z'] + [x for j in r for x in (j % 97,
                                                           'm%d' % j)]])
    c.cmd('PEXPIRE', 'z', 3600000)
    r = c.pipeline([['COPY', k, k + '2'] for k in 'hlsz'])
    check(r == [1] * 4, 'COPY of each: %r' % (r,))
    for a, b in (('HGETALL', None), ('LRANGE', (0, -1)),
                 ('SMEMBERS', None), ('ZRANGE', (0, -1, 'WITHSCORES'))):
        k = {'HGETALL': 'h', 'LRANGE': 'l', 'SMEMBERS': 's',
             'ZRANGE': 'z'}[a]
        x = c.cmd(a, k, *(b or ()))
        y = c.cmd(a, k + '2', *(b or ()))
        if a in ('HGETALL', 'SMEMBERS'):
            x, y = sorted(x), sorted(y)
        check(x == y and len(x) >= 200000, '%s %s2 equals %s (%d)' %
              (a, k, k, len(y)))
    ttl, ttl2 = c.cmd('PTTL', 'z'), c.cmd('PTTL', 'z2')
    check(3000000 < ttl2 <= 3600000 and abs(ttl - ttl2) < 1000,
          'the expiry is copied: %r, the source %r' % (ttl2, ttl))
    c.pipeline([['HSET', 'h2', 'f0', 'x'], ['RPOP', 'l2'],
                ['SREM', 's2', 'm0'], ['ZREM', 'z2', 'm0']])
    check(c.cmd('HGET', 'h', 'f0') == b'0' and c.cmd('LLEN', 'l') == 200000
          and c.cmd('SISMEMBER', 's', 'm0') == 1 and
          c.cmd('ZSCORE', 'z', 'm0') == b'0', 'the sources are their own')
    # killed while copying
    c.cmd('DEL', 'h2', 'l2', 's2', 'z2')
    c.pipeline([['HSET', 'k'] + [x for j in range(i, i + 1000)
                                 for x in ('f%d' % j, 'v%d' % j)]
                for i in range(0, 100000, 1000)])
    copies = {'n': 0}
    stop = threading.Event()

    def copier():
        cc = Conn(s.port, timeout=30)
        try:
            while not stop.is_set():
                if cc.cmd('COPY', 'k', 'kc', 'REPLACE') != 1:
                    check(False, 'COPY failed')
                    return
                copies['n'] += 1
        except (OSError, RuntimeError):
            pass  # the kill

    t = threading.Thread(target=copier)
    t.start()
    t0 = time.monotonic()
    while copies['n'] < 1 and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    time.sleep(random.uniform(0.2, 1.5))  # most likely inside a copy
    s.p.send_signal(signal.SIGKILL)
    s.p.wait()
    stop.set()
    t.join()
    c.close()
    s2 = NvkvProc(SERVER, d, 'copy', '--size', '2G')
    c = Conn(s2.port)
    n = c.cmd('HLEN', 'kc')
    check(copies['n'] >= 1 and n == 100000 and
          c.cmd('HGET', 'kc', 'f99999') == b'v99999',
          'after the kill the copy is whole: %r fields (%d copies '
          'acknowledged)' % (n, copies['n']))
    c.close()
    check(s2.stop() == 0, 'stopped cleanly')
    chk = subprocess.run([TOOL, 'check', s2.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def main():
    return run_tests('test_keyspace', check, [test_randomkey_hash,
                                              test_randomkey_btree,
                                              test_copy],
                     sys.argv[3:])


if __name__ == '__main__':
    sys.exit(main())
