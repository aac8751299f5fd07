#!/usr/bin/env python3
"""test_glob_redis.py GLOB_CLI -- kv_glob against the real redis-server.

Starts redis-server (no persistence, a temporary --dir) on a free loopback
port, SETs a few hundred keys -- the empty key, keys full of '[', ']', '-',
'\\', '*', '?', '^', NULs and high bytes, both cases -- and for several
hundred patterns, hand-picked edge cases and seeded random ones, compares
redis-server's KEYS with what kv_glob matches (through GLOB_CLI,
tests/server/glob_cli.c).  KEYS is case-sensitive; nocase is left to
tests/unit/test_glob.c.

Redis's KEYS answers a lone '*' with every key without matching, so for
that pattern alone the empty key, which stringmatchlen() and kv_glob
refuse, is expected in Redis's answer only.
Exit status 0 only if every pattern gave the same keys."""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

GLOB_CLI = sys.argv[1]
rng = random.Random(20240611)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Redis:
    """A minimal binary-safe RESP2 client: bulk strings in, replies out."""

    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=30)
        self.buf = b''

    def send(self, *args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            out.append(b'$%d\r\n%s\r\n' % (len(a), a))
        self.s.sendall(b''.join(out))

    def _line(self):
        while b'\r\n' not in self.buf:
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError('redis-server closed the connection')
            self.buf += d
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError('redis-server closed the connection')
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b'+', b':'):
            return rest
        if kind == b'-':
            raise RuntimeError('redis error: ' + rest.decode(errors='replace'))
        if kind == b'$':
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b'*':
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError('bad reply line %r' % line)

    def call(self, *args):
        self.send(*args)
        return self.reply()


def start_redis(d):
    exe = shutil.which('redis-server')
    if not exe:
        sys.exit('redis-server is not installed')
    port = free_port()
    p = subprocess.Popen([exe, '--port', str(port), '--bind', '127.0.0.1',
                          '--save', '', '--appendonly', 'no', '--dir', d,
                          '--logfile', os.path.join(d, 'redis.log')],
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            r = Redis(port)
            if r.call(b'PING') == b'PONG':
                return p, r
        except (OSError, EOFError, RuntimeError):
            pass
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            sys.exit('redis-server did not start (see %s/redis.log)' % d)
        time.sleep(0.05)


# ---- keys ----

# Bytes keys and patterns are drawn from: the glob's specials, both cases,
# NUL and high bytes (Redis compares range ends as signed chars).
SPECIAL = b'[]-\\*?^'
LETTERS = b'abcAB'
BYTES = SPECIAL + LETTERS + b'0]z\x00\x80\xe9\xff'


def keys():
    ks = {b'', b'a', b'b', b'A', b'B', b'ab', b'abc', b'aB', b'Ab', b'ABC',
          b'hello', b'hallo', b'hxllo', b'hllo', b'heeeello', b'HELLO',
          b'[', b']', b'-', b'\\', b'*', b'?', b'^', b'[]', b'[a]', b'[a-]',
          b'a-', b'-a', b'a]', b'\\\\', b'a\\', b'\\a', b'*a', b'a*',
          b'**', b'?a', b'a?', b'^a', b'[^a]', b'_', b'`', b'0', b'9', b'z',
          b'Z', b'/', b'\x00', b'a\x00b', b'\x00\x00', b'\x80', b'\xe9',
          b'\xff', b'\x7f', b'\x01', b'a\xe9', b'\xe9a', b'\xc9',
          b'key:1', b'key:2', b'key:10', b'key:[1]', b'user:*:name',
          b'a' * 40, b'a' * 39 + b'b', b'ab' * 20}
    while len(ks) < 400:
        n = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12))
        alpha = rng.choice((BYTES, LETTERS, LETTERS + SPECIAL, b'ab'))
        ks.add(bytes(rng.choice(alpha) for _ in range(n)))
    return sorted(ks)


# ---- patterns ----

HAND = [
    b'*', b'**', b'***', b'', b'?', b'??', b'???', b'*?', b'?*', b'*??*',
    b'a', b'a*', b'*a', b'*a*', b'a*b', b'*a*b*', b'a**', b'a*?',
    b'h?llo', b'h*llo', b'h[ae]llo', b'h[^e]llo', b'h[a-b]llo',
    b'[abc]', b'[^abc]', b'[a-c]', b'[c-a]', b'[^c-a]', b'[A-Z]', b'[a-z]',
    b'[A-z]', b'[Z-a]', b'[a-Z]', b'[0-9]', b'[9-0]*',
    b'[a-]', b'[a-]*', b'[a-]x', b'[-a]', b'[-]', b'[--0]', b'[a-b-c]',
    b'[^-]', b'[]', b'[]]', b'[]*', b'[^]', b'[^]*', b'[^]]', b'[]a]',
    b'[', b'[^', b'[a', b'[a*', b'[^a', b'[abc', b'*[', b'*[^', b'a[', b'[[',
    b'[\\]]', b'[\\]', b'[\\', b'[a\\', b'[\\\\]', b'[\\^a]', b'[\\-a]',
    b'[\\a-c]', b'[a-\\]', b'[^\\]]', b'[\\*]', b'[*?]', b'[?]',
    b'\\*', b'\\?', b'\\[', b'\\]', b'\\[a]', b'\\a', b'\\\\', b'\\\\*',
    b'\\', b'a\\', b'*\\', b'\\\\\\', b'*\\*', b'\\-',
    b'\x00', b'a\x00b', b'a?b', b'*\x00*', b'[\x00]', b'[^\x00]',
    b'[\x00-\x01]', b'[a-\xff]', b'[\xff-a]', b'[\x80-\xff]', b'[\x01-\x7f]',
    b'[\x80-a]', b'[\x80-Z]', b'[\xe9]', b'[^\xe9]', b'\xe9*', b'*\xe9',
    b'[\x7f-\x80]', b'[\xff]', b'[\x00-\xff]', b'[\xe9-\xff]',
    b'key:*', b'key:?', b'key:[0-9]', b'key:\\[*', b'user:\\*:*',
    b'*a*a*a*a*a*a*a*a*a*ab', b'*a*a*a*a*a*a*a*a*a*a', b'a*a*a*b',
    b'*[a]*?*[^b]*a*', b'*b', b'*ab*ab', b'*ab*ab*',
]


def random_pattern():
    parts = []
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.25:
            parts.append(b'*' * rng.choice((1, 1, 1, 2)))
        elif r < 0.35:
            parts.append(b'?')
        elif r < 0.6:
            body = bytes(rng.choice(BYTES) for _ in range(rng.randint(0, 4)))
            head = rng.choice((b'[', b'[', b'[^'))
            tail = rng.choice((b']', b']', b']', b''))
            parts.append(head + body + tail)
        elif r < 0.7:
            parts.append(b'\\' + bytes([rng.choice(BYTES)]))
        else:
            alpha = rng.choice((BYTES, LETTERS, b'ab'))
            parts.append(bytes(rng.choice(alpha)
                               for _ in range(rng.randint(1, 3))))
    return b''.join(parts)


def from_key(k):
    """A key made into a pattern that may match it and its neighbours."""
    out = []
    for c in k:
        r = rng.random()
        if r < 0.15:
            out.append(b'?')
        elif r < 0.25:
            out.append(b'*')
        elif r < 0.35:
            out.append(b'[%c%c]' % (c, rng.choice(BYTES)))
        elif r < 0.4:
            out.append(b'[%c-%c]' % (c, rng.choice(BYTES)))
        elif r < 0.45:
            out.append(b'\\%c' % c)
        else:
            out.append(bytes([c]))
    if rng.random() < 0.3:
        out.insert(rng.randint(0, len(out)), b'*')
    return b''.join(out)


def patterns(ks):
    ps = list(HAND)
    seen = set(ps)
    while len(ps) < len(HAND) + 500:
        p = random_pattern() if rng.random() < 0.5 else from_key(
            rng.choice(ks))
        if p not in seen:
            seen.add(p)
            ps.append(p)
    return ps


def kv_glob_all(ks, ps):
    data = [b'%d\n' % len(ks)]
    for item in ks + ps:
        data.append(b'%d\n%s' % (len(item), item))
    p = subprocess.run([GLOB_CLI], input=b''.join(data),
                       stdout=subprocess.PIPE, timeout=300)
    if p.returncode:
        sys.exit('glob_cli failed (exit %d)' % p.returncode)
    lines = p.stdout.split(b'\n')
    if len(lines) != len(ps) + 1 or lines[-1]:
        sys.exit('glob_cli gave %d lines for %d patterns' %
                 (len(lines) - 1, len(ps)))
    return [{ks[int(i)] for i in line.split()} for line in lines[:-1]]


def main():
    ks = keys()
    ps = patterns(ks)
    d = tempfile.mkdtemp(prefix='glob-redis-')
    proc = None
    try:
        proc, r = start_redis(d)
        for k in ks:
            r.send(b'SET', k, b'v')
        for k in ks:
            if r.reply() != b'OK':
                sys.exit('SET failed')
        if int(r.call(b'DBSIZE')) != len(ks):
            sys.exit('redis-server holds the wrong number of keys')
        for p in ps:
            r.send(b'KEYS', p)
        want = [set(r.reply()) for _ in ps]
        r.call(b'FLUSHALL')
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)

    got = kv_glob_all(ks, ps)
    failures = 0
    matches = 0
    for p, w, g in zip(ps, want, got):
        if p == b'*':  # KEYS's shortcut: every key, unmatched
            g = g | {b''}
        matches += len(w)
        if w != g:
            failures += 1
            if failures <= 20:
                print('FAIL: pattern %r: redis-server only %r, kv_glob '
                      'only %r' % (p, sorted(w - g)[:10], sorted(g - w)[:10]))
    empty = sum(1 for w in want if not w)
    print('%d keys, %d patterns (%d hand-picked), %d matches in all, %d '
          'patterns matching nothing; %d differ' %
          (len(ks), len(ps), len(HAND), matches, empty, failures))
    sys.exit(1 if failures else 0)


main()
