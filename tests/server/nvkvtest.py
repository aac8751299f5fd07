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
