"""Experiment files: each resolves to a valid config, states only what differs, sets its row."""

import glob
import os

import pytest
import yaml

from tfpix2pix import config as C
from tfpix2pix.errors import UserError

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments")
FILES = sorted(glob.glob(os.path.join(ROOT, "**", "*.yaml"), recursive=True))


def _resolve(path):
    return C.validate(C.apply_overrides(C.Config(), C.load_yaml(path), path))


def _flat(cfg):
    return {key: C.get(cfg, key) for key, _f, _t in C.leaves()}


def test_there_are_experiment_files_for_the_datasets_and_the_ablations():
    names = {os.path.relpath(p, ROOT) for p in FILES}
    assert {"facades.yaml", "cityscapes_label2photo.yaml", "cityscapes_photo2label.yaml",
            "maps_aerial2map.yaml", "maps_map2aerial.yaml", "edges2shoes.yaml",
            "edges2handbags.yaml", "night2day.yaml"} <= names
    assert len([n for n in names if n.startswith("ablations" + os.sep)]) == 13


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_file_resolves_to_a_valid_config_named_after_it(path):
    cfg = _resolve(path)
    assert cfg.name == os.path.splitext(os.path.basename(path))[0]
    assert cfg.data.path  # a dataset is named, so the demo preset never applies
    # Every experiment reproduces the paper's optimizer and jitter unless it says otherwise.
    assert (cfg.train.lr, cfg.train.beta1, cfg.data.load_size, cfg.data.crop_size) == (
        2e-4, 0.5, 286, 256)


# Each ablation against the full objective (table1_L1_cGAN): exactly these settings differ.
ABLATIONS = {
    "table1_L1": {"train.no_gan": True},
    "table1_GAN": {"model.unconditional": True, "train.lambda_l1": 0.0},
    "table1_cGAN": {"train.lambda_l1": 0.0},
    "table1_L1_GAN": {"model.unconditional": True},
    "table1_L1_cGAN": {},
    "table2_encoder_decoder_L1": {"model.netG": "encoder_decoder_256", "train.no_gan": True},
    "table2_encoder_decoder_L1_cGAN": {"model.netG": "encoder_decoder_256"},
    "table2_unet_L1": {"train.no_gan": True},
    "table2_unet_L1_cGAN": {"train.batch_size": 10},
    "table3_D_1x1": {"model.netD": "pixel"},
    "table3_D_16x16": {"model.netD": "n_layers", "model.n_layers_D": 1},
    "table3_D_70x70": {},
    "table3_D_286x286": {"model.netD": "n_layers", "model.n_layers_D": 5},
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_each_ablation_changes_exactly_its_rows_settings(name):
    base = _flat(_resolve(os.path.join(ROOT, "ablations", "table1_L1_cGAN.yaml")))
    cfg = _flat(_resolve(os.path.join(ROOT, "ablations", f"{name}.yaml")))
    changed = {k: v for k, v in cfg.items() if v != base[k] and k != "name"}
    assert changed == ABLATIONS[name]
    assert base["data.direction"] == "BtoA" and base["train.n_epochs"] == 200


def _file_keys(path):
    """A file's own keys (not its base's), flattened: {"model.netD": "pixel", ...}."""
    with open(path) as fh:
        data = yaml.safe_load(fh)
    data.pop(C.BASE_KEY, None)
    return {f"{section}.{key}": value for section, values in data.items()
            if isinstance(values, dict) for key, value in values.items()}


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_file_states_only_what_differs_from_its_base_or_the_defaults(path):
    with open(path) as fh:
        base = yaml.safe_load(fh).get(C.BASE_KEY)
    beneath = (_resolve(os.path.join(os.path.dirname(path), base)) if base
               else C.Config())
    restated = {key: value for key, value in _file_keys(path).items()
                if C.get(beneath, key) == value}
    assert not restated, f"{path} restates {restated}"


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_each_ablation_file_is_its_base_plus_its_rows_settings(name):
    path = os.path.join(ROOT, "ablations", f"{name}.yaml")
    with open(path) as fh:
        base = yaml.safe_load(fh)[C.BASE_KEY]
    assert base == ("../cityscapes_label2photo.yaml" if name == "table1_L1_cGAN"
                    else "table1_L1_cGAN.yaml")
    assert _file_keys(path) == ABLATIONS[name]


# --- base: the loader --------------------------------------------------------------------

def _write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_base_is_loaded_first_and_the_file_replaces_its_keys_one_by_one(tmp_path):
    _write(tmp_path, "grand.yaml", "name: grand\ndata: {path: /d, direction: BtoA}\n"
                                   "train: {n_epochs: 7, batch_size: 2}\n")
    _write(tmp_path, "sets/parent.yaml", "base: ../grand.yaml\nname: parent\n"
                                         "train: {batch_size: 3}\n")
    child = _write(tmp_path, "sets/child.yaml", "base: parent.yaml\nname: child\n"
                                                "model: {netD: pixel}\n")
    loaded = C.load_yaml(child)
    assert loaded == {"name": "child", "data": {"path": "/d", "direction": "BtoA"},
                      "train": {"n_epochs": 7, "batch_size": 3}, "model": {"netD": "pixel"}}
    cfg = C.validate(C.apply_overrides(C.Config(), loaded, child))
    assert (cfg.train.n_epochs, cfg.train.batch_size, cfg.model.netD) == (7, 3, "pixel")


@pytest.mark.parametrize("files, fragments", [
    ({"a.yaml": "base: missing.yaml\n"}, ["a.yaml -> ", "missing.yaml", "not found",
                                          "relative to"]),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, ["leads back", "loop"]),
    ({"a.yaml": "base: [b.yaml]\n"}, ["base must name a YAML file"]),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "data: [unclosed\n"}, ["b.yaml", "not valid YAML"]),
])
def test_a_bad_base_is_one_clear_error(tmp_path, files, fragments):
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(UserError) as info:
        C.load_yaml(str(tmp_path / "a.yaml"))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_a_run_folders_config_has_no_base(tmp_path):
    # base belongs to experiment files; the config.yaml a run saves is complete.
    with pytest.raises(UserError, match="unknown key 'base'"):
        C.apply_overrides(C.Config(), {"base": "x.yaml"}, "config.yaml")
