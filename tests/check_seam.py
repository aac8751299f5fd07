#!/usr/bin/env python3
"""Fail if an object outside the persistence backends references a flush,
drain or persistent-copy function of libpmem, or msync(2).

Usage: check_seam.py OBJECT...   (run by `scons test`)

Reads undefined symbols with nm, so a call hidden behind a macro or an
inline function is caught too.
"""
import os
import re
import subprocess
import sys

ALLOWED = {'persist_pmem.os', 'persist_pmem.o',
           'persist_msync.os', 'persist_msync.o'}
FORBIDDEN = re.compile(
    r'^(pmem_(flush|drain|persist|msync|deep_\w+|memcpy\w*|memmove\w*|'
    r'memset\w*)|msync)$')


def main(objs):
    bad = []
    for obj in objs:
        if os.path.basename(obj) in ALLOWED or obj.endswith('.py'):
            continue
        out = subprocess.run(['nm', '-u', obj], check=True,
                             capture_output=True, text=True).stdout
        for line in out.split('\n'):
            sym = line.split()[-1] if line.split() else ''
            sym = sym.split('@')[0]
            if FORBIDDEN.match(sym):
                bad.append(f'{obj}: calls {sym}')
    if bad:
        print('persistence seam violated (only heap/persist_*.c may '
              'flush, fence or msync):')
        print('\n'.join('  ' + b for b in bad))
        return 1
    print(f'seam check: {len(objs)} objects, no flush/fence outside '
          'the backends')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
