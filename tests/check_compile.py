#!/usr/bin/env python3
"""check_compile.py CC FLAGS... -- FILE

Compile FILE with -DCASE=0 (must succeed) and with -DCASE=N for every
"case N:" marker in it (must fail, with an error reported at the marked
line or in a macro expanded there).  Proves that the typed pointer macros turn type mistakes into
compile errors.  Exit status 0 only if every case behaves."""
import re
import subprocess
import sys


def compile_case(cmd, path, case):
    p = subprocess.run(cmd + ['-DCASE=%d' % case, '-fsyntax-only', path],
                       capture_output=True, text=True)
    return p.returncode, p.stderr


def main():
    args = sys.argv[1:]
    sep = args.index('--')
    cmd, path = args[:sep], args[sep + 1]
    cases = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            m = re.search(r'/\* case (\d+):', line)
            if m:
                cases[int(m.group(1))] = lineno
    bad = 0
    rc, err = compile_case(cmd, path, 0)
    if rc != 0:
        print('check_compile: %s: case 0 (correct code) does not compile:\n%s'
              % (path, err))
        bad += 1
    for case, lineno in sorted(cases.items()):
        rc, err = compile_case(cmd, path, case)
        # the error may be reported inside the macro, with the marked
        # line as its point of expansion
        where = re.compile(r'%s:%d:\d+: ' % (re.escape(path), lineno))
        if rc == 0:
            print('check_compile: %s: case %d compiled but must not (line %d)'
                  % (path, case, lineno))
            bad += 1
        elif 'error:' not in err or not where.search(err):
            print('check_compile: %s: case %d failed, but not with an error '
                  'on line %d:\n%s' % (path, case, lineno, err))
            bad += 1
    print('check_compile: %s: %d cases rejected, correct code accepted%s'
          % (path, len(cases), '' if not bad else ': %d FAILED' % bad))
    return 1 if bad or not cases else 0


if __name__ == '__main__':
    sys.exit(main())
