#!/usr/bin/env python3
"""The crash test of examples/list, through `nvheap crashtest`.

Usage: test_example.py NVHEAP GOOD.so BROKEN.so

- GOOD.so (the stack) passes: exit 0, "N crash states, 0 failures" with
  N in the thousands (every fence explored);
- BROKEN.so (push does not snapshot the size it changes) is caught: exit
  1, failures reported, each with a replay command, and the first replay
  command, run as printed, fails again on exactly one state;
- usage errors: a missing file, a shared object with no tests, an unknown
  test name, all exit 2 with a message.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

LINE = re.compile(r'^stack-push-pop: (\d+) crash states, (\d+) failures$',
                  re.M)
failures = 0


def check(cond, what):
    global failures
    print(('ok   ' if cond else 'FAIL ') + what)
    failures += not cond


def run(args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def main():
    tool, good, broken = sys.argv[1:4]
    rc, out, err = run([tool, 'crashtest', good, '--seed', '1',
                        '--budget', '120'])
    m = LINE.search(out)
    check(rc == 0 and m and m.group(2) == '0',
          'the stack passes (exit %d): %s' % (rc, m and m.group(0)))
    check(m and int(m.group(1)) >= 5000,
          'at least 5,000 crash states (%s)' % (m and m.group(1)))
    check('fences' in err and '(budget reached)' not in err,
          'every fence explored within the budget')

    rc, out, err = run([tool, 'crashtest', broken, '--seed', '1',
                        '--budget', '120'])
    m = LINE.search(out)
    check(rc == 1 and m and int(m.group(2)) > 0,
          'the planted bug is caught (exit %d): %s' % (rc, m and m.group(0)))
    replays = re.findall(r'^  replay: (.*)$', err, re.M)
    check(len(replays) >= 1 and 'FAIL stack-push-pop (seed 1)' in err,
          'failures are reported with %d replay commands' % len(replays))
    if replays:
        rc, out, err = run(shlex.split(replays[-1]))
        m = LINE.search(out)
        check(rc == 1 and m and m.group(1) == '1' and m.group(2) == '1',
              'its replay fails again, on one state: %s' %
              (m and m.group(0)))

    with tempfile.TemporaryDirectory() as d:
        rc, _, err = run([tool, 'crashtest', os.path.join(d, 'none.so')])
        check(rc == 2 and 'cannot load' in err, 'a missing file: exit 2, '
              + err.strip().splitlines()[0] if err.strip() else 'no message')
    rc, _, err = run([tool, 'crashtest', '/lib/x86_64-linux-gnu/libm.so.6'])
    check(rc == 2 and 'exports no tests' in err,
          'a shared object without tests: exit 2 (%s)' % err.strip())
    rc, _, err = run([tool, 'crashtest', good, '--workload', 'nope'])
    check(rc == 2 and 'no test "nope"' in err,
          'an unknown test: exit 2 (%s)' % err.strip())
    rc, out, _ = run([tool, 'crashtest', good, '--list'])
    check(rc == 0 and out.startswith('stack-push-pop'),
          '--list names the test')
    print('test_example: %d failures' % failures)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
