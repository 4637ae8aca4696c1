"""The packaged recipes: names, -opt resolution, and mprnet-options list / path / copy."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mprnet_plugin.cli import options as options_cli
from mprnet_plugin.config.recipes import (RecipeError, description, find_recipe, options_root, recipes,
                                          resolve_opt_argument, resolve_option_file)

REPO_OPTIONS = Path(__file__).resolve().parents[2] / 'options'


def test_every_option_file_is_a_recipe_with_a_summary():
    table = recipes()
    on_disk = sorted(p for p in REPO_OPTIONS.rglob('*') if p.suffix in ('.yml', '.py'))
    assert options_root() == REPO_OPTIONS  # a checkout reads its own options/, no second copy
    assert sorted(table.values()) == on_disk and len(table) >= 17
    assert table['train/MPRNet_GoPro'] == REPO_OPTIONS / 'train' / 'MPRNet_GoPro.yml'
    for name, path in table.items():
        summary = description(path)
        assert summary and not summary.startswith(('#', ' ')), name
        if path.suffix == '.yml':
            assert isinstance(yaml.safe_load(path.read_text()), dict), name
    assert description(table['test/MPRNet_DND']).endswith("into the benchmark's submission format.")  # 2 lines joined


def test_names_full_short_case_and_group(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder, as after pip install
    train_gopro = str(REPO_OPTIONS / 'train' / 'MPRNet_GoPro.yml')
    for name in ('train/MPRNet_GoPro', 'train/GoPro', 'train/gopro', 'options/train/MPRNet_GoPro.yml',
                 'train/MPRNet_GoPro.yml'):
        assert resolve_option_file(name) == train_gopro, name
    assert resolve_option_file('GoPro', group='train') == train_gopro
    assert resolve_option_file('GoPro', group='test') == str(REPO_OPTIONS / 'test' / 'MPRNet_GoPro.yml')
    assert resolve_option_file('GoPro', group='mmengine') == str(REPO_OPTIONS / 'mmengine' / 'mprnet_gopro.py')
    assert resolve_option_file('demo_train') == str(REPO_OPTIONS / 'demo' / 'MPRNet_demo_train.yml')
    assert resolve_option_file('SIDD', group='test') == str(REPO_OPTIONS / 'test' / 'MPRNet_SIDD.yml')
    assert find_recipe('finetune_RealBlur-J').name == 'MPRNet_finetune_RealBlur-J.yml'
    with pytest.raises(RecipeError, match=r"'GoPro' names 3 packaged recipes: train/MPRNet_GoPro, "
                                          r"test/MPRNet_GoPro, mmengine/mprnet_gopro"):
        resolve_option_file('GoPro')
    with pytest.raises(RecipeError, match='neither an existing file nor a packaged recipe'):
        resolve_option_file('my_gopro.yml')
    with pytest.raises(RecipeError, match="'nope' is not one of the groups"):
        resolve_option_file('nope/GoPro')


def test_an_existing_path_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'train').mkdir()
    (tmp_path / 'train' / 'GoPro').write_text('name: mine\n')
    assert resolve_option_file('train/GoPro') == 'train/GoPro'
    with pytest.raises(RecipeError, match="'train' is a directory"):
        resolve_option_file('train')


def test_opt_argument_is_rewritten_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ['-opt', 'GoPro', '--force_yml', 'train:total_iter=2']
    got = resolve_opt_argument(argv, 'train', 'mprnet-train')
    assert got == ['-opt', str(REPO_OPTIONS / 'train' / 'MPRNet_GoPro.yml'), '--force_yml', 'train:total_iter=2']
    assert 'mprnet-train: -opt GoPro: the packaged recipe' in capsys.readouterr().err
    assert resolve_opt_argument(['-opt=test/SIDD']) == [f"-opt={REPO_OPTIONS / 'test' / 'MPRNet_SIDD.yml'}"]
    capsys.readouterr()
    (tmp_path / 'mine.yml').write_text('name: x\n')
    assert resolve_opt_argument(['-opt', 'mine.yml', '--auto_resume']) == ['-opt', 'mine.yml', '--auto_resume']
    assert capsys.readouterr().err == ''  # a file of the user's is used as it is, silently


def test_options_list_path_and_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert options_cli.main(['list']) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == len(recipes())
    assert any(line.startswith('train/MPRNet_GoPro ') and 'GoPro' in line.split(None, 1)[1] for line in listing)
    assert options_cli.main(['list', '--group', 'mmengine']) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        'mmengine/mprnet_demo', 'mmengine/mprnet_gopro', 'mmengine/mprnet_gopro_local']
    assert options_cli.main(['path', 'train/GoPro']) == 0
    assert capsys.readouterr().out.strip() == str(REPO_OPTIONS / 'train' / 'MPRNet_GoPro.yml')

    source = (REPO_OPTIONS / 'train' / 'MPRNet_GoPro.yml').read_bytes()
    assert options_cli.main(['copy', 'train/GoPro', 'my_gopro.yml']) == 0
    assert (tmp_path / 'my_gopro.yml').read_bytes() == source
    (tmp_path / 'my_gopro.yml').write_text('name: my edits\n')
    assert options_cli.main(['copy', 'train/GoPro', 'my_gopro.yml']) == 2
    assert 'my_gopro.yml already exists; pass --force' in capsys.readouterr().err
    assert (tmp_path / 'my_gopro.yml').read_text() == 'name: my edits\n'  # the lab's edits survive
    assert options_cli.main(['copy', 'train/GoPro', 'my_gopro.yml', '--force']) == 0
    assert (tmp_path / 'my_gopro.yml').read_bytes() == source
    (tmp_path / 'recipes').mkdir()
    assert options_cli.main(['copy', 'test/SIDD', 'recipes']) == 0
    assert (tmp_path / 'recipes' / 'MPRNet_SIDD.yml').is_file()
    assert options_cli.main(['copy', 'GoPro', 'x.yml']) == 2
    assert 'names 3 packaged recipes' in capsys.readouterr().err and not (tmp_path / 'x.yml').exists()
    with pytest.raises(SystemExit) as exit_info:
        options_cli.main(['--version'])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith('mprnet-options (mprnet_plugin) 0.')
