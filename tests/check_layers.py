#!/usr/bin/env python3
"""Fail if the library's layers depend upward (docs/layers.md).

Usage: check_layers.py [--root DIR] OBJECT...   (run by `scons test`)
       check_layers.py --plant CC [--root DIR] OBJECT...
         the same check, which must pass, then on a copy of the sources
         with an upward include planted, and with an object planted that
         calls upward: both must be caught (the check's own test)

Every source and header of heap/, tx/ and objects/ belongs to one layer,
by the table below; a file may include headers of its own layer and the
layers under it, and call functions defined in them, nothing above.
Includes are read from the sources (#include "..."), calls from the
objects' undefined symbols (nm), so a call hidden in a macro or an inline
function is caught too.  A file the table does not place is an error:
a new file is given its layer when it is added.
"""
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout

# Bottom to top.  A pattern is a path relative to the source root; a
# trailing '/' takes the whole folder (the longest match wins).
LAYERS = [
    ('base', 'persistence seam, pool file, header, handles, errors', [
        'heap/error.c', 'heap/error.h', 'heap/checksum.h', 'heap/u64map.h',
        'heap/layout.h', 'heap/persist.c', 'heap/persist.h',
        'heap/persist_pmem.c', 'heap/persist_msync.c', 'heap/persist_sim.c',
        'heap/persist_sim.h', 'heap/persist_none.c', 'heap/pool.h',
        'heap/pool_file.c', 'heap/pool_hdr.c', 'heap/pool_handle.c',
        'heap/pool_persist.c']),
    ('log', 'lanes, redo records, checkpoints, log scan, replay', [
        'heap/log/']),
    ('heap', 'arenas, size classes, blocks, atomic commits, stats', [
        'heap/']),
    ('tx', 'undo records, transactions, commit, undo recovery', [
        'tx/']),
    ('objects', 'types, checked stores, counts, dying list, pins, root', [
        'objects/']),
    ('api', 'opening and closing a pool, repair', [
        'objects/open.c', 'objects/open.h', 'objects/repair.c']),
    ('crashtest', 'the crash-state explorer, on the api and the simulator', [
        'tools/crashtest/']),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    best, best_len = None, -1
    for i, (_, _, pats) in enumerate(LAYERS):
        for p in pats:
            hit = path.startswith(p) if p.endswith('/') else path == p
            if hit and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def sources(root):
    out = []
    for d in ('heap', 'tx', 'objects', 'tools/crashtest'):
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for n in names:
                if n.endswith(('.c', '.h')):
                    out.append(os.path.relpath(os.path.join(dirpath, n),
                                               root))
    return sorted(out)


def obj_source(obj, srcs):
    """The source path (relative) an object in build/<mode>/ came from."""
    parts = os.path.normpath(obj).split(os.sep)
    base = os.path.splitext(parts[-1])[0] + '.c'
    for k in range(len(parts) - 1):
        cand = '/'.join(parts[k:-1] + [base])
        if cand in srcs:
            return cand
    return None


def nm(obj):
    out = subprocess.run(['nm', obj], check=True, capture_output=True,
                         text=True).stdout
    defs, undef = set(), set()
    for line in out.split('\n'):
        f = line.split()
        if len(f) == 2 and f[0] == 'U':
            undef.add(f[1].split('@')[0])
        elif len(f) == 3 and f[1] in 'TDBRVW':
            defs.add(f[2])
    return defs, undef


def check(root, argv):
    srcs = sources(root)
    srcset = set(srcs)
    bad = []
    for s in srcs:
        if layer_of(s) is None:
            bad.append(f'{s}: in no layer (add it to check_layers.py)')
    for s in srcs:
        ls = layer_of(s)
        if ls is None:
            continue
        with open(os.path.join(root, s), encoding='utf-8') as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            if inc not in srcset:
                continue
            li = layer_of(inc)
            if li is not None and li > ls:
                bad.append(f'{s}: includes {inc} ({LAYERS[ls][0]} -> '
                           f'{LAYERS[li][0]}, upward)')
    objs = [o for o in argv if o.endswith(('.o', '.os'))]
    owner, table = {}, {}
    for o in objs:
        s = obj_source(o, srcset)
        if s is None:
            bad.append(f'{o}: no source for it under {root}')
            continue
        table[s] = nm(o)
        for d in table[s][0]:
            owner[d] = s
    for s, (_, undef) in sorted(table.items()):
        ls = layer_of(s)
        for u in sorted(undef):
            d = owner.get(u)
            if d is None:
                continue
            ld = layer_of(d)
            if ld is not None and ls is not None and ld > ls:
                bad.append(f'{s}: calls {u} of {d} ({LAYERS[ls][0]} -> '
                           f'{LAYERS[ld][0]}, upward)')
    if bad:
        print('layering violated (a layer uses only the layers under it; '
              'docs/layers.md):')
        print('\n'.join('  ' + b for b in bad))
        return 1
    print(f'layer check: {len(srcs)} files, {len(objs)} objects, '
          f'{len(LAYERS)} layers ({" < ".join(l[0] for l in LAYERS)}), '
          'nothing depends upward')
    return 0


def quiet_check(root, objs):
    out = io.StringIO()
    with redirect_stdout(out):
        rc = check(root, objs)
    return rc, out.getvalue()


def plant(cc, root, objs):
    """Plant an upward include and an upward call; both must be caught."""
    rc, out = quiet_check(root, objs)
    if rc:
        print(out, end='')
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for d in ('heap', 'tx', 'objects', 'tools/crashtest'):
            shutil.copytree(os.path.join(root, d), os.path.join(tmp, d))
        lane = os.path.join(tmp, 'heap', 'log', 'lane.h')
        with open(lane, 'a', encoding='utf-8') as f:
            f.write('#include "tx/tx.h"\n')
        rc, out = quiet_check(tmp, [])
        want_inc = 'heap/log/lane.h: includes tx/tx.h (log -> tx, upward)'
        if rc == 0 or want_inc not in out:
            print('layer check self-test: a planted upward include was '
                  'not caught:\n' + out)
            return 1
        os.remove(lane)
        shutil.copy(os.path.join(root, 'heap', 'log', 'lane.h'), lane)
        src = os.path.join(tmp, 'heap', 'planted.c')
        with open(src, 'w', encoding='utf-8') as f:
            f.write('void nvh_planted(void);\n'
                    'int nvh_tx_commit(void *tx);\n'
                    'void nvh_planted(void) { nvh_tx_commit(0); }\n')
        obj = os.path.join(tmp, 'heap', 'planted.os')
        subprocess.run([cc, '-c', '-o', obj, src], check=True)
        rc, out = quiet_check(tmp, objs + [obj])
        want_call = ('heap/planted.c: calls nvh_tx_commit of '
                     'objects/txobj.c (heap -> objects, upward)')
        if rc == 0 or want_call not in out:
            print('layer check self-test: a planted upward call was not '
                  'caught:\n' + out)
            return 1
    print('layer check self-test: a planted upward include (log -> tx) '
          'and call (heap -> objects) are caught')
    return 0


def main(argv):
    root, cc = '.', None
    while argv[:1] in (['--root'], ['--plant']):
        if argv[0] == '--root':
            root = argv[1]
        else:
            cc = argv[1]
        argv = argv[2:]
    if cc:
        return plant(cc, root, argv)
    return check(root, argv)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
