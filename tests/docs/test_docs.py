"""The documentation stays true to the checkout: its links resolve, and it names every command and flag there is.

(a) Every relative link and ``#anchor`` in README.md, docs/*.md and benchmarks/ (README.md, results/*.md) points at
a file that exists and at a heading of it (GitHub's slugs: lower case, punctuation dropped, spaces to '-').
(b) Every console script of setup.py and the two MMEngine launchers are named in docs/, and every long flag their
``--help`` prints appears there too.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / 'docs'
LAUNCHERS = ('mprnet_plugin.mmengine.train', 'mprnet_plugin.mmengine.test')
# Sub-commands whose own --help lists further flags: (console script, arguments before --help).
SUBCOMMANDS = (('mprnet-options', ('list',)), ('mprnet-options', ('copy',)))

FENCE = re.compile(r'^\s*(```|~~~)')
LINK = re.compile(r'!?\[(?:[^\]\\]|\\.)*\]\(([^()\s]+)(?:\s+"[^"]*")?\)')
INLINE_CODE = re.compile(r'`[^`]*`')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
FLAG = re.compile(r'(?<![\w-])--[A-Za-z][\w-]*')


def linked_files() -> List[Path]:
    """The Markdown files whose links are checked."""
    files = [ROOT / 'README.md', *sorted(DOCS.glob('*.md')), ROOT / 'benchmarks' / 'README.md']
    return files + sorted((ROOT / 'benchmarks' / 'results').glob('*.md'))


def prose_lines(text: str) -> List[str]:
    """The lines of ``text`` outside fenced code blocks."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to '-'."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # a link in a heading keeps its text
    text = re.sub(r'[^\w\- ]', '', text.lower())
    return text.replace(' ', '-')


def anchors(path: Path) -> set:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: Dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text(encoding='utf-8')):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f'{base}-{count}')
    return found


def links(path: Path) -> List[str]:
    """The link targets of a Markdown file, outside code."""
    targets = []
    for line in prose_lines(path.read_text(encoding='utf-8')):
        targets += LINK.findall(INLINE_CODE.sub('', line))
    return targets


def test_slug_follows_github() -> None:
    assert slug('Training and testing with BasicSR\'s launchers') == 'training-and-testing-with-basicsrs-launchers'
    assert slug('`mprnet-infer`: restoring images') == 'mprnet-infer-restoring-images'
    assert slug('`datasets.<phase>.io_backend`') == 'datasetsphaseio_backend'


@pytest.mark.parametrize('path', linked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(path: Path) -> None:
    broken = []
    for target in links(path):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition('#')
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f'{target}: no file {dest}')
        elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
            broken.append(f'{target}: no heading #{anchor} in {dest.relative_to(ROOT)}')
    assert not broken, f'{path.relative_to(ROOT)}:\n' + '\n'.join(broken)


def console_scripts() -> Dict[str, str]:
    """``{script: module}`` from setup.py's entry points."""
    text = (ROOT / 'setup.py').read_text(encoding='utf-8')
    found = dict(re.findall(r"'(mprnet-[\w-]+)\s*=\s*([\w.]+):main'", text))
    assert len(found) >= 11, found
    return found


def docs_text() -> str:
    return '\n'.join(p.read_text(encoding='utf-8') for p in sorted(DOCS.glob('*.md')))


def test_every_command_is_documented() -> None:
    text = docs_text()
    missing = [name for name in [*console_scripts(), *LAUNCHERS] if not re.search(rf'(?<![\w-]){re.escape(name)}'
                                                                                  r'(?![\w-])', text)]
    assert not missing, f'not named in docs/: {missing}'


# Runs in one child process (the repository first on its path), so torch and basicsr are imported once.
HELP_DRIVER = r'''
import contextlib, importlib, io, json, sys
out = {}
for label, module, args in json.loads(sys.argv[1]):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        try:
            importlib.import_module(module).main([*args, '--help'])
        except SystemExit:
            pass
    out[label] = buffer.getvalue()
print(json.dumps(out))
'''


def help_texts() -> Dict[str, str]:
    """Each command's ``--help`` output, by command (sub-commands as 'mprnet-options list')."""
    scripts = console_scripts()
    jobs: List[Tuple[str, str, List[str]]] = [(name, module, []) for name, module in scripts.items()]
    jobs += [(module, module, []) for module in LAUNCHERS]
    jobs += [(' '.join([name, *args]), scripts[name], list(args)) for name, args in SUBCOMMANDS]
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    done = subprocess.run([sys.executable, '-c', HELP_DRIVER, json.dumps(jobs)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_flag_is_documented() -> None:
    text = docs_text()
    documented = set(FLAG.findall(text))
    missing = {}
    for command, help_text in help_texts().items():
        flags = set(FLAG.findall(help_text))
        assert '--help' in flags, f'{command}: no --help output:\n{help_text[:500]}'
        if flags - documented:
            missing[command] = sorted(flags - documented)
    assert not missing, f'flags in --help but not in docs/: {missing}'
