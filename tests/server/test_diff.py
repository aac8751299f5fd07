#!/usr/bin/env python3
"""test_diff.py SERVER [--only NAME...] [--dump-random DIR] [--verbose]

Differential test: nvkv-server against redis-server (the reference), reply
byte for byte.

Starts SERVER (nvkv-server, fresh pool in a temporary directory) and
`redis-server --save '' --appendonly no`, both on free loopback ports,
runs the same scripts against both over raw sockets (RESP multibulk
requests) and compares the raw reply bytes command by command. Every
difference is printed with its script, line, command and both replies
(repr). Exit status 1 if any difference is not allowed.

Scripts: tests/server/diff/*.txt, one command per line, plus seeded
random scripts generated here (random-1, -2: SET/GET/DEL/INCR/... over 20
keys; random-3, -4: hash commands over five hashes, some past 128
fields; random-5, -6: list commands; random-7, -8: set commands;
random-9, -10: sorted set commands).
Before each script both servers get FLUSHALL and new connections.

Line syntax (arguments split by shlex in non-POSIX mode, so the quotes
are seen):
    SET k "a\\x00b"      "..." decodes \\xNN \\n \\r \\t \\0 \\\\ (write a
                         double quote as \\x22); '...' is literal; a bare
                         word is literal; "" and '' are the empty string
    # text               a comment (also blank lines)
    !sleep MS            wait MS milliseconds (expiry)
    !flush               FLUSHALL on both servers
    !scan PAT COUNT [TYPE]  a full SCAN iteration (0 to 0) on both with
                         MATCH PAT (PAT '-' for none), COUNT (or '-') and
                         TYPE (optional); compares the sets of keys
                         (deduplicated) and that each ends within 10000
                         calls
    !sorted CMD ...      the reply is an array compared as a sorted multiset
    !len CMD ...         the reply is an array: only its length is compared
                         (random picks: SPOP, SRANDMEMBER)
    !approx N CMD ...    integer replies may differ by up to N
    !cursor CMD ...      a SCAN reply: its cursor value is not compared
                         (they differ by design), its keys as a multiset
    @2 CMD ...           send on the second connection (WATCH tests);
                         prefixes combine: `@2 !sorted KEYS *`

Allowed differences: tests/server/diff/ALLOWED lists, one a line,
`COMMAND reason` (any difference in replies to that command, e.g. INFO)
or `script.txt:LINE reason` (that line only). Allowed differences are
printed but do not fail the test.

todo_*.txt scripts hold commands nvkv-server does not support yet (or
known gaps): their differences are printed as TODO but do not fail the
test. Renaming the script (dropping the todo_ prefix) makes them count.
"""
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DIFF_DIR = os.path.join(HERE, 'diff')
SCAN_BOUND = 10000
REPLY_TIMEOUT = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- parsing

ESC = {'n': b'\n', 'r': b'\r', 't': b'\t', '0': b'\0', '\\': b'\\',
       'a': b'\a', 'b': b'\b', '"': b'"'}


def decode_dq(s, where):
    """The inside of a double-quoted argument: \\xNN and friends."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == '\\' and i + 1 < len(s):
            n = s[i + 1]
            if n == 'x' and i + 3 < len(s) + 0 and len(s[i + 2:i + 4]) == 2:
                try:
                    out.append(int(s[i + 2:i + 4], 16))
                    i += 4
                    continue
                except ValueError:
                    pass
            if n in ESC:
                out += ESC[n]
                i += 2
                continue
        out += c.encode('utf-8', 'surrogateescape')
        i += 1
    return bytes(out)


def split_args(text, where):
    lx = shlex.shlex(text, posix=False)
    lx.whitespace_split = True
    lx.commenters = ''
    args = []
    try:
        toks = list(lx)
    except ValueError as e:
        raise SystemExit('%s: cannot split: %s' % (where, e))
    for t in toks:
        if len(t) >= 2 and t[0] == t[-1] == '"':
            args.append(decode_dq(t[1:-1], where))
        elif len(t) >= 2 and t[0] == t[-1] == "'":
            args.append(t[1:-1].encode('utf-8', 'surrogateescape'))
        else:
            args.append(t.encode('utf-8', 'surrogateescape'))
    return args


class Step:
    """One script line: kind is 'cmd', 'sleep', 'flush' or 'scan'."""

    def __init__(self, lineno, text, kind, args=(), conn=1, sort=False,
                 approx=0, value=0, cursor=False, length=False):
        self.lineno, self.text, self.kind = lineno, text, kind
        self.args, self.conn, self.sort = list(args), conn, sort
        self.approx, self.value, self.cursor = approx, value, cursor
        self.length = length


def parse_script(name, lines):
    steps = []
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        where = '%s:%d' % (name, n)
        conn, sort, approx, cursor, length = 1, False, 0, False, False
        rest = line
        while True:
            head, _, tail = rest.partition(' ')
            if head == '@2':
                conn = 2
            elif head == '!cursor':
                cursor = True
            elif head == '!sorted':
                sort = True
            elif head == '!len':
                length = True
            elif head == '!approx':
                a, _, tail = tail.strip().partition(' ')
                approx = int(a)
            else:
                break
            rest = tail.strip()
        head, _, tail = rest.partition(' ')
        if head == '!sleep':
            steps.append(Step(n, line, 'sleep', value=int(tail)))
        elif head == '!flush':
            steps.append(Step(n, line, 'flush'))
        elif head == '!scan':
            a = split_args(tail, where)
            if len(a) not in (2, 3):
                raise SystemExit(where + ': !scan PATTERN COUNT [TYPE]')
            steps.append(Step(n, line, 'scan', a, conn=conn))
        elif head.startswith('!'):
            raise SystemExit(where + ': unknown directive ' + head)
        else:
            a = split_args(rest, where)
            if not a:
                raise SystemExit(where + ': empty command')
            steps.append(Step(n, line, 'cmd', a, conn, sort, approx,
                              cursor=cursor, length=length))
    return steps


# ------------------------------------------------------------- the wire

def encode(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.s.settimeout(REPLY_TIMEOUT)
        self.buf = b''

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _fill(self):
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            raise Closed('<timeout: no reply in %.0fs>' % REPLY_TIMEOUT)
        except OSError as e:
            raise Closed('<connection error: %s>' % e)
        if not d:
            raise Closed('<connection closed>')
        self.buf += d

    def _line(self, pos):
        while True:
            i = self.buf.find(b'\r\n', pos)
            if i >= 0:
                return i
            self._fill()

    def _reply_end(self, pos):
        """Index just past one complete RESP reply starting at pos."""
        while len(self.buf) <= pos:
            self._fill()
        t = self.buf[pos:pos + 1]
        e = self._line(pos)
        head = self.buf[pos + 1:e]
        if t in (b'+', b'-', b':', b'_', b',', b'#', b'('):
            return e + 2
        if t in (b'$', b'=', b'!'):
            n = int(head)
            if n < 0:
                return e + 2
            end = e + 2 + n + 2
            while len(self.buf) < end:
                self._fill()
            return end
        if t in (b'*', b'~', b'>', b'%', b'|'):
            n = int(head)
            if t in (b'%', b'|'):
                n *= 2
            p = e + 2
            for _ in range(max(n, 0)):
                p = self._reply_end(p)
            return p
        raise Closed('<unparseable reply: %r>' % self.buf[pos:pos + 80])

    def send(self, args):
        self.s.sendall(encode(args))

    def read(self):
        end = self._reply_end(0)
        r, self.buf = self.buf[:end], self.buf[end:]
        return r


def parse_reply(b):
    """Raw RESP2 reply bytes -> Python value (for sorted/approx/scan)."""
    def go(p):
        t = b[p:p + 1]
        e = b.index(b'\r\n', p)
        head = b[p + 1:e]
        if t == b'+':
            return ('+', head), e + 2
        if t == b'-':
            return ('-', head), e + 2
        if t == b':':
            return int(head), e + 2
        if t == b'$':
            n = int(head)
            if n < 0:
                return None, e + 2
            return b[e + 2:e + 2 + n], e + 2 + n + 2
        if t == b'*':
            n = int(head)
            if n < 0:
                return None, e + 2
            p, items = e + 2, []
            for _ in range(n):
                v, p = go(p)
                items.append(v)
            return items, p
        raise ValueError('type %r' % t)
    return go(0)[0]


class Target:
    """One server and its connections (1 and 2)."""

    def __init__(self, name, port):
        self.name, self.port, self.conns = name, port, {}

    def conn(self, i):
        if i not in self.conns:
            self.conns[i] = Conn(self.port)
        return self.conns[i]

    def reset(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}

    def send(self, i, args):
        try:
            self.conn(i).send(args)
            return None
        except (OSError, Closed) as e:
            self.conns.pop(i, None)
            return '<send failed: %s>' % e

    def read(self, i):
        try:
            return self.conn(i).read()
        except Closed as e:
            c = self.conns.pop(i, None)
            if c:
                c.close()
            return str(e).encode()

    def call(self, i, args):
        err = self.send(i, args)
        return err.encode() if err else self.read(i)


def call_both(targets, i, args):
    errs = [t.send(i, args) for t in targets]
    return [e.encode() if e else t.read(i) for t, e in zip(targets, errs)]


# ------------------------------------------------------------- servers

def wait_ping(port, proc, what, deadline=15):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit('%s exited (%d) at start' % (what, proc.returncode))
        try:
            c = Conn(port)
            c.send([b'PING'])
            r = c.read()
            c.close()
            if r == b'+PONG\r\n':
                return
        except (OSError, Closed):
            time.sleep(0.05)
    raise SystemExit(what + ' did not answer PING')


def start_servers(server, tmp):
    nport = free_port()
    nv = subprocess.Popen([server, '--pool', os.path.join(tmp, 'p.pool'),
                           '--port', str(nport)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = nv.stdout.readline().decode(errors='replace')
    if 'listening' not in line:
        raise SystemExit('nvkv-server did not start: ' + line +
                         nv.stdout.read().decode(errors='replace'))
    # keep draining its output so it never blocks on a full pipe
    nvlog = open(os.path.join(tmp, 'nvkv.log'), 'wb')
    subprocess.Popen(['cat'], stdin=nv.stdout, stdout=nvlog)
    rport = free_port()
    rd = subprocess.Popen(['redis-server', '--port', str(rport), '--bind',
                           '127.0.0.1', '--save', '', '--appendonly', 'no',
                           '--dir', tmp],
                          stdout=open(os.path.join(tmp, 'redis.log'), 'wb'),
                          stderr=subprocess.STDOUT)
    wait_ping(nport, nv, 'nvkv-server')
    wait_ping(rport, rd, 'redis-server')
    return (nv, nport), (rd, rport)


# ------------------------------------------------------------- allowed

def load_allowed():
    allowed = {}
    path = os.path.join(DIFF_DIR, 'ALLOWED')
    if not os.path.exists(path):
        return allowed
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            key, _, reason = line.partition(' ')
            if ':' not in key:
                key = key.upper()
            allowed[key] = reason.strip()
    return allowed


# ------------------------------------------------------------- random

def random_hash_script(seed, n=3000):
    """Hash commands over five hashes and a string: h0 stays small (20
    short fields: insertion order, compared byte for byte), the others
    take 300 fields and long values (redis converts them to hashtables at
    129 fields or a 65-byte value; their listings are compared sorted)."""
    r = random.Random(seed)
    keys = ['h0', 'h1', 'h2', 'h3', 'h4', 's']
    vals = ['v', '', '0', '1', '-1', '42', '3.5', '007', 'x y',
            '"\\x00\\r\\n"', 'y' * 70, '9223372036854775806']

    def key():
        return r.choice(keys)

    def fld(k):
        if k == 'h0':
            return 'f%d' % r.randrange(20)
        return r.choice(['f%d' % r.randrange(300), 'L' + 'z' * 70])

    def val(k):
        x = r.choice(vals[:10] if k == 'h0' else vals)
        return x if x.startswith('"') else "'%s'" % x

    lines = ['SET s string']
    for _ in range(n):
        k = key()
        c = r.randrange(100)
        if c < 35:
            m = r.randint(1, 3)
            lines.append('%s %s %s' % (r.choice(['HSET', 'HSET', 'HMSET']), k,
                         ' '.join('%s %s' % (fld(k), val(k))
                                  for _ in range(m))))
        elif c < 47:
            lines.append('HGET %s %s' % (k, fld(k)))
        elif c < 51:
            lines.append('HMGET %s %s' % (k, ' '.join(fld(k) for _ in
                                                      range(r.randint(1, 4)))))
        elif c < 59:
            lines.append('HDEL %s %s' % (k, ' '.join(fld(k) for _ in
                                                     range(r.randint(1, 3)))))
        elif c < 63:
            lines.append('HLEN ' + k)
        elif c < 66:
            lines.append('HEXISTS %s %s' % (k, fld(k)))
        elif c < 69:
            lines.append('HSTRLEN %s %s' % (k, fld(k)))
        elif c < 72:
            lines.append('HSETNX %s %s %s' % (k, fld(k), val(k)))
        elif c < 77:
            lines.append('HINCRBY %s %s %d' % (k, fld(k), r.choice(
                [1, -5, 1000, 2 ** 62, -(2 ** 62)])))
        elif c < 80:
            lines.append('HINCRBYFLOAT %s %s %s' % (k, fld(k), r.choice(
                ['1.5', '-0.25', '1e3', '3'])))
        elif c < 88:
            cmd = r.choice(['HGETALL', 'HKEYS', 'HVALS'])
            lines.append(('%s %s' if k == 'h0' else '!sorted %s %s') %
                         (cmd, k))
        elif c < 91:
            lines.append('TYPE ' + k)
        elif c < 92:
            lines.append('DEL ' + k)
        elif c < 93:
            lines.append('SET %s %s' % (k, val(k)))
        elif c < 95:
            lines.append('GET ' + k)
        elif c < 97:
            lines.append('EXISTS %s %s' % (k, key()))
        else:
            lines.append('!sorted HRANDFIELD %s 1000' % k)
    for k in keys:
        lines.append(('%s %s' if k == 'h0' else '!sorted %s %s') %
                     ('HGETALL', k))
    return lines


def random_list_script(seed, n=4000):
    """List commands over four lists and a string: pushes of up to 40
    elements at either end (so lists span many of nvkv's 60-element
    chunks), pops with counts, inserts and removals in the middle (chunk
    splits and shifts), LSET/LINDEX/LRANGE at any index, LTRIM, LMOVE
    between the lists and onto the same one; the whole lists compared at
    the end."""
    r = random.Random(seed)
    keys = ['l0', 'l1', 'l2', 'l3', 's']
    vals = ['a', 'b', 'c', '', '0', 'x y', '"\\x00\\r\\n"', 'z' * 70]

    def key():
        return r.choice(keys)

    def val():
        x = r.choice(vals)
        return x if x.startswith('"') else "'%s'" % x

    def idx():
        return r.choice([0, 1, -1, -2, r.randrange(-300, 300),
                         r.randrange(1000)])

    def end():
        return r.choice(['LEFT', 'RIGHT'])

    lines = ['SET s string']
    for _ in range(n):
        k = key()
        c = r.randrange(100)
        if c < 30:
            lines.append('%s %s %s' % (r.choice(['LPUSH', 'RPUSH', 'LPUSHX',
                                                 'RPUSH', 'RPUSHX']), k,
                         ' '.join(val() for _ in range(r.randint(1, 40)))))
        elif c < 38:
            cmd = r.choice(['LPOP', 'RPOP'])
            lines.append(cmd + ' ' + k if r.randrange(2) else
                         '%s %s %d' % (cmd, k, r.choice([0, 1, 3, 70])))
        elif c < 44:
            lines.append('LINDEX %s %d' % (k, idx()))
        elif c < 50:
            lines.append('LRANGE %s %d %d' % (k, idx(), idx()))
        elif c < 55:
            lines.append('LSET %s %d %s' % (k, idx(), val()))
        elif c < 62:
            lines.append('LINSERT %s %s %s %s' % (
                k, r.choice(['BEFORE', 'AFTER']), val(), val()))
        elif c < 68:
            lines.append('LREM %s %d %s' % (k, r.choice([0, 1, 2, -1, -3]),
                                            val()))
        elif c < 71:
            lines.append('LTRIM %s %d %d' % (k, r.choice([0, 1, 5, -50]),
                                             r.choice([-1, -2, 100, 200])))
        elif c < 77:
            lines.append('LPOS %s %s%s' % (k, val(), r.choice(
                ['', ' RANK 2', ' RANK -1', ' COUNT 0', ' COUNT 3 RANK -2',
                 ' MAXLEN 50', ' COUNT 0 MAXLEN 100'])))
        elif c < 85:
            lines.append('LMOVE %s %s %s %s' % (k, key(), end(), end()))
        elif c < 87:
            lines.append('RPOPLPUSH %s %s' % (k, key()))
        elif c < 92:
            lines.append('LLEN ' + k)
        elif c < 95:
            lines.append('TYPE ' + k)
        elif c < 96:
            lines.append('DEL ' + k)
        elif c < 97:
            lines.append('EXISTS %s %s' % (k, key()))
        else:
            lines.append('LRANGE %s 0 -1' % k)
    for k in keys:
        lines.append('LRANGE %s 0 -1' % k)
    return lines


def random_set_script(seed, n=4000):
    """Set commands over five sets, a hash and a string: adds of up to 40
    members (so sets pass nvkv's 128-member chain and redis's 512-integer
    intset), removals, membership, moves between the sets, the algebra
    and its *STORE forms (a destination that is also a source), random
    picks compared by count; listings compared sorted."""
    r = random.Random(seed)
    keys = ['s0', 's1', 's2', 's3', 's4', 'h', 'str']

    def key():
        return r.choice(keys)

    def mem():
        x = r.choice(['m%d' % r.randrange(400), '%d' % r.randrange(600),
                      '', 'x y', '"\\x00\\r\\n"', 'L' + 'z' * 70])
        return x if x.startswith('"') else "'%s'" % x

    def keys_(lo, hi):
        return ' '.join(key() for _ in range(r.randint(lo, hi)))

    lines = ['SET str string', 'HSET h f v']
    for _ in range(n):
        k = key()
        c = r.randrange(100)
        if c < 30:
            lines.append('SADD %s %s' % (k, ' '.join(
                mem() for _ in range(r.randint(1, 40)))))
        elif c < 40:
            lines.append('SREM %s %s' % (k, ' '.join(
                mem() for _ in range(r.randint(1, 8)))))
        elif c < 48:
            lines.append('SISMEMBER %s %s' % (k, mem()))
        elif c < 52:
            lines.append('SMISMEMBER %s %s' % (k, ' '.join(
                mem() for _ in range(r.randint(1, 5)))))
        elif c < 57:
            lines.append('SCARD ' + k)
        elif c < 62:
            lines.append('!sorted SMEMBERS ' + k)
        elif c < 68:
            lines.append('SMOVE %s %s %s' % (k, key(), mem()))
        elif c < 74:
            lines.append('!sorted %s %s' % (r.choice(
                ['SINTER', 'SUNION', 'SDIFF']), keys_(1, 3)))
        elif c < 80:
            lines.append('%s %s %s' % (r.choice(
                ['SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE']), k,
                keys_(1, 3)))
        elif c < 83:
            nk = r.randint(1, 3)
            lines.append('SINTERCARD %d %s%s' % (nk, keys_(nk, nk),
                         r.choice(['', ' LIMIT 0', ' LIMIT 5'])))
        elif c < 87:
            lines.append('!len SRANDMEMBER %s %d' % (
                k, r.choice([0, 1, 5, 1000, -1, -20])))
        elif c < 89:
            lines.append('!sorted SRANDMEMBER %s 100000' % k)
        elif c < 92:
            lines.append('TYPE ' + k)
        elif c < 93:
            lines.append('DEL ' + k)
        elif c < 95:
            lines.append('EXISTS %s %s' % (k, key()))
        elif c < 97:
            lines.append('RENAME %s %s' % (k, key()))
        else:
            lines.append('!cursor SSCAN %s 0 COUNT 100000' % k)
    for k in keys:
        lines.append('!sorted SMEMBERS ' + k)
    return lines


def random_zset_script(seed, n=4000):
    """Sorted set commands over four sorted sets, a set and a string:
    ZADDs of up to 40 members with every flag (scores with ties, so the
    member order decides; infinities), ZINCRBY, ZREM, ranks, every form
    of range (by rank, score and member, reversed, with LIMIT and
    WITHSCORES), counts, pops and removals by range, random picks by
    count; sets past redis's 128-member listpack.  The order is defined:
    every reply is compared byte for byte.  The member ranges go to 'lx',
    whose scores are all 0 (over mixed scores redis leaves their answer
    unspecified, and its two encodings differ)."""
    r = random.Random(seed)
    keys = ['z0', 'z1', 'z2', 'z3', 's', 'str']

    def key():
        return r.choice(keys)

    def mem():
        x = r.choice(['m%d' % r.randrange(300), 'm%d' % r.randrange(20),
                      '', 'x y', '"\\x00\\r\\n"', 'L' + 'z' * 70])
        return x if x.startswith('"') else "'%s'" % x

    def score():
        return r.choice(['%d' % r.randrange(-5, 50), '%d' % r.randrange(5),
                         '1.5', '-0.25', '1e3', 'inf', '-inf', '+inf',
                         '%.3f' % r.uniform(-100, 100)])

    def end():
        x = r.choice(['%d' % r.randrange(-5, 50), '-inf', '+inf',
                      '(%d' % r.randrange(-5, 50), '(1.5'])
        return "'%s'" % x

    def lex():
        return "'%s'" % r.choice(['-', '+', '[m1', '(m1', '[m5', '(m2',
                                  '[', '[m', '(x'])

    def idx():
        return r.choice([0, 1, -1, -2, r.randrange(-300, 300)])

    lines = ['SET str string', 'SADD s a']
    for _ in range(n):
        k = key()
        c = r.randrange(100)
        if c < 26:
            flags = r.choice(['', '', '', 'NX ', 'XX ', 'GT ', 'LT ',
                              'CH ', 'XX CH ', 'GT CH ', 'NX CH '])
            if r.randrange(10) == 0:
                lines.append('ZADD %s %sINCR %s %s' % (k, flags, score(),
                                                       mem()))
            else:
                lines.append('ZADD %s %s%s' % (k, flags, ' '.join(
                    '%s %s' % (score(), mem())
                    for _ in range(r.randint(1, 40)))))
        elif c < 30:
            lines.append('ZINCRBY %s %s %s' % (k, score(), mem()))
        elif c < 37:
            lines.append('ZREM %s %s' % (k, ' '.join(
                mem() for _ in range(r.randint(1, 6)))))
        elif c < 42:
            lines.append('ZSCORE %s %s' % (k, mem()))
        elif c < 44:
            lines.append('ZMSCORE %s %s %s' % (k, mem(), mem()))
        elif c < 48:
            lines.append('%s %s %s' % (r.choice(['ZRANK', 'ZREVRANK']), k,
                                       mem()))
        elif c < 50:
            lines.append('ZCARD ' + k)
        elif c < 56:
            lines.append('%s %s %d %d%s' % (
                r.choice(['ZRANGE', 'ZREVRANGE']), k, idx(), idx(),
                r.choice(['', ' WITHSCORES'])))
        elif c < 63:
            rev = r.randrange(2)
            lim = r.choice(['', ' LIMIT 0 5', ' LIMIT 3 -1',
                            ' LIMIT %d 10' % r.randrange(100)])
            ws = r.choice(['', ' WITHSCORES'])
            if r.randrange(2):
                lines.append('ZRANGE %s %s %s BYSCORE%s%s%s' % (
                    k, end(), end(), ' REV' if rev else '', lim, ws))
            else:
                lines.append('%s %s %s %s%s%s' % (
                    'ZREVRANGEBYSCORE' if rev else 'ZRANGEBYSCORE', k,
                    end(), end(), ws, lim))
        elif c < 67:
            rev = r.randrange(2)
            lim = r.choice(['', ' LIMIT 0 5', ' LIMIT 2 -1'])
            if r.randrange(3) == 0:
                lines.append('ZADD lx %s' % ' '.join(
                    '0 ' + mem() for _ in range(r.randint(1, 30))))
            elif r.randrange(2):
                lines.append('ZRANGE lx %s %s BYLEX%s%s' % (
                    lex(), lex(), ' REV' if rev else '', lim))
            else:
                lines.append('%s lx %s %s%s' % (
                    'ZREVRANGEBYLEX' if rev else 'ZRANGEBYLEX', lex(),
                    lex(), lim))
        elif c < 71:
            lines.append('ZCOUNT %s %s %s' % (k, end(), end()))
        elif c < 73:
            lines.append('ZLEXCOUNT %s %s %s' % (
                'lx', lex(), lex()))
        elif c < 77:
            cmd = r.choice(['ZPOPMIN', 'ZPOPMAX'])
            lines.append(cmd + ' ' + k if r.randrange(2) else
                         '%s %s %d' % (cmd, k, r.choice([0, 1, 3, 50])))
        elif c < 79:
            lines.append('ZREMRANGEBYRANK %s %d %d' % (k, idx(), idx()))
        elif c < 81:
            lines.append('ZREMRANGEBYSCORE %s %s %s' % (k, end(), end()))
        elif c < 82:
            lines.append(r.choice(['ZREMRANGEBYLEX lx %s %s' % (lex(), lex()),
                                   'ZREM lx ' + mem(),
                                   'ZRANGE lx 0 -1 WITHSCORES']))
        elif c < 86:
            lines.append('!len ZRANDMEMBER %s %d%s' % (
                k, r.choice([0, 1, 5, 1000, -1, -20]),
                r.choice(['', ' WITHSCORES'])))
        elif c < 89:
            lines.append('ZRANGE %s 0 -1 WITHSCORES' % k)
        elif c < 92:
            lines.append('TYPE ' + k)
        elif c < 93:
            lines.append('DEL ' + k)
        elif c < 95:
            lines.append('EXISTS %s %s' % (k, key()))
        elif c < 96:
            lines.append('RENAME %s %s' % (k, key()))
        else:
            lines.append('!cursor ZSCAN %s 0 COUNT 100000' % k)
    for k in keys + ['lx']:
        lines.append('ZRANGE %s 0 -1 WITHSCORES' % k)
    return lines


def random_script(seed, n=2000):
    r = random.Random(seed)
    keys = ['k%d' % i for i in range(18)] + ['', 'b\\x00\\xff']
    vals = ['v', 'hello', '', '0', '1', '-1', '42', '007', '+1', ' 1',
            '9223372036854775806', '-9223372036854775807', 'x y',
            '"\\x00\\r\\n"', '3.5']

    def k():
        return '"%s"' % r.choice(keys)

    def v():
        x = r.choice(vals)
        return x if x.startswith('"') else "'%s'" % x

    lines = []
    slots, used = set(range(40000)), set()
    for _ in range(n):
        c = r.randrange(100)
        if c < 14:
            extra = r.choice(['', '', '', ' NX', ' XX', ' GET', ' EX 100000',
                              ' KEEPTTL', ' PX 99999000'])
            lines.append('SET %s %s%s' % (k(), v(), extra))
        elif c < 28:
            lines.append('GET %s' % k())
        elif c < 33:
            lines.append('DEL ' + ' '.join(k() for _ in range(r.randint(1, 3))))
        elif c < 40:
            lines.append(r.choice(['INCR', 'DECR']) + ' ' + k())
        elif c < 44:
            lines.append('%s %s %d' % (r.choice(['INCRBY', 'DECRBY']), k(),
                                       r.choice([1, -5, 1000, 2 ** 62,
                                                 -(2 ** 62), 0])))
        elif c < 49:
            lines.append('APPEND %s %s' % (k(), v()))
        elif c < 53:
            lines.append('EXISTS ' + ' '.join(k() for _ in range(r.randint(1, 4))))
        elif c < 57:
            n2 = r.randint(1, 3)
            lines.append('MSET ' + ' '.join('%s %s' % (k(), v())
                                            for _ in range(n2)))
        elif c < 61:
            lines.append('MGET ' + ' '.join(k() for _ in range(r.randint(1, 4))))
        elif c < 64:
            lines.append('GETSET %s %s' % (k(), v()))
        elif c < 67:
            lines.append('SETNX %s %s' % (k(), v()))
        elif c < 70:
            lines.append('STRLEN ' + k())
        elif c < 75:
            # every expiry time differs from every other by 5 s or more,
            # so GT and LT never compare two times a few ms apart
            slot = r.choice(sorted(slots - used))
            used.add(slot)
            cmd = r.choice(['EXPIRE', 'PEXPIRE'])
            t = 100010 + 10 * slot
            t = t if cmd == 'EXPIRE' else (t + 5) * 1000
            lines.append('%s %s %d%s' % (
                cmd, k(), t, r.choice(['', '', ' NX', ' XX', ' GT', ' LT'])))
        elif c < 78:
            lines.append('PERSIST ' + k())
        elif c < 83:
            lines.append('!approx 2 TTL ' + k())
        elif c < 85:
            lines.append('!approx 2000 PTTL ' + k())
        elif c < 88:
            lines.append('!sorted KEYS ' + r.choice(['*', 'k1*', 'k?', '*1',
                                                     'k[0-5]', '?']))
        elif c < 91:
            lines.append('DBSIZE')
        elif c < 93:
            lines.append('TYPE ' + k())
        elif c < 95:
            lines.append('GETDEL ' + k())
        elif c < 97:
            lines.append('MSETNX %s %s %s %s' % (k(), v(), k(), v()))
        elif c < 98:
            lines.append('GETEX %s%s' % (k(), r.choice(['', ' PERSIST',
                                                        ' EX 100000'])))
        else:
            lines.append('!scan k* %d' % r.choice([1, 3, 10]))
    return lines


# ------------------------------------------------------------- running

class Result:
    def __init__(self):
        self.fails, self.allowed, self.todo, self.commands = [], [], [], 0


def fmt_args(args):
    return ' '.join(repr(a)[1:] if a else "''" for a in args)


def compare(step, a, b):
    """True if nvkv's reply a matches redis's reply b under step's rules."""
    if a == b:
        return True
    if step.sort or step.approx or step.cursor or step.length:
        try:
            va, vb = parse_reply(a), parse_reply(b)
        except (ValueError, IndexError):
            return False
        if step.cursor:
            ok = [isinstance(v, list) and len(v) == 2 and
                  isinstance(v[0], bytes) and isinstance(v[1], list)
                  for v in (va, vb)]
            return (all(ok) and
                    sorted(va[1], key=repr) == sorted(vb[1], key=repr))
        if step.length:
            return (isinstance(va, list) and isinstance(vb, list) and
                    len(va) == len(vb))
        if step.sort and isinstance(va, list) and isinstance(vb, list):
            key = repr
            return sorted(va, key=key) == sorted(vb, key=key)
        if step.approx and isinstance(va, int) and isinstance(vb, int):
            return abs(va - vb) <= step.approx
    return False


def full_scan(t, conn, args):
    pat, count = args[0], args[1]
    extra = []
    if pat != b'-':
        extra += [b'MATCH', pat]
    if count != b'-':
        extra += [b'COUNT', count]
    if len(args) > 2:
        extra += [b'TYPE', args[2]]
    cursor, keys, calls = b'0', set(), 0
    while True:
        raw = t.call(conn, [b'SCAN', cursor] + extra)
        calls += 1
        try:
            v = parse_reply(raw)
            cursor, batch = v[0], v[1]
            if not isinstance(cursor, bytes) or not isinstance(batch, list):
                raise ValueError
        except (ValueError, IndexError, TypeError, KeyError):
            return ('bad reply', raw)
        keys.update(batch)
        if cursor == b'0':
            return ('ok', calls, sorted(keys))
        if calls >= SCAN_BOUND:
            return ('no end', calls, sorted(keys))


def run_script(name, steps, targets, allowed, res, verbose):
    todo = name.startswith('todo_')
    for t in targets:
        t.reset()
        t.call(1, [b'FLUSHALL'])
    for st in steps:
        where = '%s:%d' % (name, st.lineno)
        if st.kind == 'sleep':
            time.sleep(st.value / 1000.0)
            continue
        if st.kind == 'flush':
            call_both(targets, 1, [b'FLUSHALL'])
            continue
        res.commands += 1
        if st.kind == 'scan':
            ra = full_scan(targets[0], st.conn, st.args)
            rb = full_scan(targets[1], st.conn, st.args)
            same = (ra[0] == rb[0] == 'ok' and ra[2] == rb[2])
            cmdname = 'SCAN'
            shown = ('!scan ' + fmt_args(st.args))
            a = ra if ra[0] != 'ok' else (ra[0], ra[2])
            b = rb if rb[0] != 'ok' else (rb[0], rb[2])
        else:
            a, b = call_both(targets, st.conn, st.args)
            same = compare(st, a, b)
            cmdname = st.args[0].decode('latin-1').upper()
            shown = ('@2 ' if st.conn == 2 else '') + fmt_args(st.args)
        if verbose:
            print('  %s %s -> %r' % (where, shown, a))
        if same:
            continue
        rec = (where, cmdname, shown, a, b)
        if where in allowed:
            res.allowed.append(rec + (allowed[where],))
        elif cmdname in allowed:
            res.allowed.append(rec + (allowed[cmdname],))
        elif todo:
            res.todo.append(rec)
        else:
            res.fails.append(rec)


def main():
    argv = sys.argv[1:]
    if not argv or argv[0].startswith('-'):
        raise SystemExit(__doc__)
    server = argv.pop(0)
    only, dump, verbose = [], None, False
    while argv:
        a = argv.pop(0)
        if a == '--only':
            only.append(argv.pop(0))
        elif a == '--dump-random':
            dump = argv.pop(0)
        elif a == '--verbose':
            verbose = True
        else:
            raise SystemExit('unknown option ' + a)
    start = time.monotonic()
    scripts = []
    for fn in sorted(os.listdir(DIFF_DIR)):
        if fn.endswith('.txt'):
            with open(os.path.join(DIFF_DIR, fn), encoding='utf-8',
                      errors='surrogateescape') as f:
                scripts.append((fn, f.read().splitlines()))
    for seed in range(1, 11):
        lines = (random_script(seed) if seed < 3 else
                 random_hash_script(seed) if seed < 5 else
                 random_list_script(seed) if seed < 7 else
                 random_set_script(seed) if seed < 9 else
                 random_zset_script(seed))
        scripts.append(('random-%d' % seed, lines))
        if dump:
            with open(os.path.join(dump, 'random-%d.txt' % seed), 'w') as f:
                f.write('\n'.join(lines) + '\n')
    if only:
        scripts = [s for s in scripts if any(o in s[0] for o in only)]
    allowed = load_allowed()
    tmp = tempfile.mkdtemp(prefix='nvkv-diff-',
                           dir=os.environ.get('NVHEAP_TEST_DIR', '/dev/shm'))
    procs = []
    res = Result()
    try:
        (nv, nport), (rd, rport) = start_servers(server, tmp)
        procs = [nv, rd]
        targets = [Target('nvkv', nport), Target('redis', rport)]
        for name, lines in scripts:
            run_script(name, parse_script(name, lines), targets, allowed,
                       res, verbose)
        for t in targets:
            t.reset()
        if nv.poll() is not None:
            res.fails.append(('-', '-', 'nvkv-server exited',
                              nv.returncode, None))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    def show(tag, recs):
        for r in recs:
            where, cmd, shown, a, b = r[:5]
            print('%s %s [%s] %s' % (tag, where, cmd, shown))
            print('    nvkv : %r' % (a,))
            print('    redis: %r' % (b,))
            if len(r) > 5:
                print('    allowed: ' + r[5])
    show('ALLOWED', res.allowed)
    show('TODO', res.todo)
    show('DIFF', res.fails)
    print('%d scripts, %d commands, %d differences (%d allowed, %d todo), '
          '%.1fs' % (len(scripts), res.commands,
                     len(res.fails) + len(res.allowed) + len(res.todo),
                     len(res.allowed), len(res.todo),
                     time.monotonic() - start))
    sys.exit(1 if res.fails else 0)


if __name__ == '__main__':
    main()
