"""nvkvtest.py -- what the server tests (tests/server/test_*.py) share: a
counter of checks that remembers the failed ones, a free loopback port,
and requests in RESP."""
import socket


class Checks:
    """check(cond, what): count a check; a false one is printed and kept
    in check.failures.  check.n is the number made."""

    def __init__(self):
        self.n = 0
        self.failures = []

    def __call__(self, cond, what):
        self.n += 1
        if not cond:
            self.failures.append(what)
            print('FAIL:', what, flush=True)
        return cond


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def resp(*args):
    """A command as a RESP multibulk; arguments are bytes or str()-ed."""
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out


def parse(b, i=0):
    """One RESP2 reply from b[i:]: (value, end) or (None, 0)."""
    if i >= len(b):
        return None, 0
    e = b.find(b'\r\n', i)
    if e < 0:
        return None, 0
    t, line = b[i:i + 1], b[i + 1:e]
    if t in (b'+', b'-'):
        return (t + line).decode(), e + 2
    if t == b':':
        return int(line), e + 2
    if t == b'$':
        n = int(line)
        if n < 0:
            return 'nil', e + 2
        if len(b) < e + 2 + n + 2:
            return None, 0
        return b[e + 2:e + 2 + n], e + 4 + n
    if t == b'*':
        n = int(line)
        j, out = e + 2, []
        for _ in range(max(n, 0)):
            v, j2 = parse(b, j)
            if j2 == 0:
                return None, 0
            out.append(v)
            j = j2
        return out, j
    raise RuntimeError('bad reply %r' % b[i:i + 40])
