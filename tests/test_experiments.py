"""Every experiment file loads, resolves to a valid config, and sets what its row of the paper needs."""

import glob
import os

import pytest

from tfpix2pix import config as C

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
