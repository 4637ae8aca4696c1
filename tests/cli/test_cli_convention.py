"""Every console script and both MMEngine launchers follow the one CLI convention: a bad flag is an error line and
exit 2, ``--version`` answers, and Ctrl-C is one line and exit 130 (no tracebacks, from workers neither)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:  # the helpers' place once tests/ is a package (i19), and today's
    from tests.helpers.miniature_datasets import make_gopro
except ImportError:
    from miniature_datasets import make_gopro

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore',
       'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])}


def console_scripts():
    """The ``name = module:function`` entries of setup.py, as (name, module)."""
    text = (REPO / 'setup.py').read_text()
    return re.findall(r"'(mprnet-[a-z]+) = ([\w.]+):main'", text)


COMMANDS = console_scripts() + [('python -m mprnet_plugin.mmengine.train', 'mprnet_plugin.mmengine.train'),
                                ('python -m mprnet_plugin.mmengine.test', 'mprnet_plugin.mmengine.test')]


def python_m(module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', module, *args], env=ENV, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_there_are_eleven_console_scripts():
    assert len(console_scripts()) == 11


@pytest.mark.slow
@pytest.mark.parametrize('prog,module', COMMANDS, ids=[name for name, _ in COMMANDS])
def test_a_bad_flag_is_an_error_line_exit_2_and_version_answers(prog, module, tmp_path):
    proc = python_m(module, '--no-such-flag', cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert re.match(r'\S.*: error: ', last) and '--no-such-flag' in proc.stderr, proc.stderr
    version = python_m(module, '--version', cwd=tmp_path)
    assert version.returncode == 0 and '(mprnet_plugin)' in version.stdout, version.stderr


@pytest.mark.slow
def test_ctrl_c_during_prep_is_one_line_exit_130_without_worker_tracebacks(tmp_path):
    src = make_gopro(tmp_path / 'raw', size=(256, 384), frames=6).parent
    dst = tmp_path / 'GoPro'
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches the main process and every worker.
    proc = subprocess.Popen([sys.executable, '-m', 'mprnet_plugin.cli.prep', 'gopro', '--src', str(src), '--dst',
                             str(dst), '--workers', '2', '--crop-size', '32', '--step', '8'], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not (dst.exists() and any(dst.rglob('.*.tmp-*'))):  # encoding has started (an atomic output is open)
        assert proc.poll() is None and time.time() < deadline, 'prep ended before it could be interrupted'
        time.sleep(0.2)
    time.sleep(1.0)  # the pool's workers are busy now
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err[-3000:]
    errors = [line for line in err.splitlines() if ': error: ' in line]
    assert errors == ['mprnet-prep: error: interrupted'], err[-3000:]
    assert not list(dst.rglob('.*.tmp-*')), 'a half-written output was left'
