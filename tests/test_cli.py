"""The command line and experiment files: flags, precedence, and one-line errors."""

import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, write_pairs

from tfpix2pix import config as C
from tfpix2pix.cli import build_parser, resolve_config
from tfpix2pix.train import main


def resolve(*argv):
    return resolve_config(build_parser("prog", "test").parse_args(list(argv)))


def run_main(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# --- configuration -------------------------------------------------------------------------

def test_no_data_uses_the_builtin_demo_preset():
    cfg = resolve()
    assert cfg.data.path == "builtin:shapes" and cfg.name == "demo"
    assert (cfg.model.netG, cfg.data.crop_size) == ("unet_64", 64)
    assert cfg.run_dir == os.path.join("runs", "demo")


def test_with_data_the_defaults_are_the_papers():
    cfg = resolve("--data", "somewhere")
    m = cfg.model
    assert (m.netG, m.netD, m.ngf, m.ndf) == ("unet_256", "basic", 64, 64)
    assert (cfg.data.load_size, cfg.data.crop_size, cfg.train.batch_size) == (286, 256, 1)
    assert (cfg.train.lr, cfg.train.beta1, cfg.train.lambda_l1) == (2e-4, 0.5, 100.0)


def test_facades_experiment_file_has_the_paper_settings_and_flags_override_it():
    path = str(ROOT / "experiments" / "facades.yaml")
    cfg = resolve("--config", path)
    assert cfg.data.direction == "BtoA"
    assert (cfg.train.n_epochs, cfg.train.n_epochs_decay, cfg.train.batch_size) == (200, 0, 1)
    assert (cfg.data.load_size, cfg.data.crop_size) == (286, 256)
    over = resolve("--config", path, "--data", "/d", "--batch-size", "4", "--netD", "n_layers",
                   "--n-layers-D", "4", "--no-flip", "--lambda-L1", "10", "--epochs", "3")
    assert (over.data.path, over.train.batch_size, over.model.netD, over.model.n_layers_D) == (
        "/d", 4, "n_layers", 4)
    assert over.data.no_flip and over.train.lambda_l1 == 10.0 and over.train.n_epochs == 3
    assert over.train.n_epochs_decay == 0  # untouched keys keep the file's values


def test_the_issues_flags_exist_and_the_saved_config_round_trips(tmp_path):
    help_text = build_parser("prog", "test").format_help()
    for flag in ["--data", "--direction", "--run-dir", "--config", "--epochs", "--n-epochs-decay",
                 "--batch-size", "--load-size", "--crop-size", "--netG", "--netD", "--ngf",
                 "--ndf", "--norm", "--lambda-L1", "--lr", "--seed"]:
        assert flag in help_text
    cfg = resolve("--data", "x", "--norm", "instance", "--seed", "7")
    C.save_yaml(cfg, str(tmp_path / "c.yaml"))
    assert resolve("--config", str(tmp_path / "c.yaml")) == cfg


# --- bad input: one clear line and exit code 2 ---------------------------------------------

def test_missing_data_folder(capsys, tmp_path):
    code, _out, err = run_main(capsys, "--data", str(tmp_path / "nope"),
                               "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(code, err, str(tmp_path / "nope"), "not found")
    assert not (tmp_path / "run").exists()  # nothing is written for a bad command


def test_data_folder_without_images(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _out, err = run_main(capsys, "--data", str(tmp_path / "empty"))
    assert_one_line_error(code, err, "no train/ folder", str(tmp_path / "empty"))
    (tmp_path / "empty" / "train").mkdir()
    (tmp_path / "empty" / "train" / "notes.txt").write_text("not a pair")
    code, _out, err = run_main(capsys, "--data", str(tmp_path / "empty"))
    assert_one_line_error(code, err, "no .jpg or .png images", "train")


def test_file_that_is_not_an_image(capsys, pairs_dir, tmp_path):
    bad = pairs_dir / "train" / "0003.jpg"
    bad.write_bytes(b"this is not a JPEG")
    code, _out, err = run_main(capsys, "--data", str(pairs_dir), "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, str(bad), "not a readable JPEG or PNG")


def test_pair_whose_width_is_not_twice_its_height(capsys, pairs_dir, tmp_path):
    bad = write_pairs(pairs_dir / "train", 1, size=32, width=50, seed=5, ext=".jpg")[0]
    code, _out, err = run_main(capsys, "--data", str(pairs_dir), "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, bad, "50x32", "twice as wide")


@pytest.mark.parametrize("argv, fragments", [
    (["--netG", "unet_300"], ["--netG", "unet_300", "unet_256"]),
    (["--norm", "group"], ["--norm", "'group'", "batch, sync_batch, instance, none"]),
    (["--direction", "AB"], ["--direction", "AtoB, BtoA"]),
    (["--crop-size", "100"], ["--crop-size 100", "multiple of"]),
    (["--crop-size", "512"], ["--crop-size 512", "--load-size"]),
    (["--batch-size", "0"], ["--batch-size", "positive"]),
    (["--config", "no/such.yaml"], ["--config no/such.yaml", "not found"]),
])
def test_bad_flags(capsys, argv, fragments):
    code, _out, err = run_main(capsys, "--data", "anything", *argv)
    assert_one_line_error(code, err, *fragments)


# Combinations of options that cannot train: one line at start-up, before TensorFlow.
@pytest.mark.parametrize("argv, fragments", [
    (["--netD", "pixel", "--n-layers-D", "2"], ["--n-layers-D", "--netD pixel"]),
    (["--netG", "resnet_9blocks", "--crop-size", "254"], ["--crop-size 254", "multiple of 4",
                                                          "resnet_9blocks"]),
    (["--netG", "resnet_6blocks", "--num-downs", "4"], ["--num-downs", "resnet_6blocks"]),
    (["--no-gan", "--gan-mode", "hinge"], ["--no-gan", "--gan-mode hinge"]),
    (["--no-gan", "--lambda-L1", "0"], ["--no-gan", "--lambda-L1 0"]),
    (["--no-gan", "--unconditional"], ["--no-gan", "--unconditional"]),
    (["--gan-mode", "wgangp"], ["--gan-mode wgangp", "--norm batch", "instance or none"]),
    (["--gan-mode", "wgangp", "--norm", "sync_batch"], ["--norm sync_batch"]),
    (["--num-D", "3"], ["--num-D", "multiscale", "--netD basic"]),
    (["--netD", "multiscale", "--num-D", "4", "--netG", "unet_64", "--load-size", "72",
      "--crop-size", "64"], ["--crop-size 64", "too small", "--num-D 4"]),
    (["--input-nc", "5"], ["--input-nc", "1 to 4"]),
    (["--lambda-feat", "-1"], ["--lambda-feat", "zero or more"]),
    (["--lr-policy", "exp"], ["--lr-policy", "linear, step, cosine, constant"]),
    (["--preprocess", "fit"], ["--preprocess", "scale_width_and_crop"]),
    (["--gan-mode", "wgan"], ["--gan-mode", "wgangp"]),
])
def test_incompatible_options_are_refused_before_anything_is_built(capsys, argv, fragments):
    code, _out, err = run_main(capsys, "--data", "anything", *argv)
    assert_one_line_error(code, err, *fragments)


def test_option_checks_do_not_import_tensorflow():
    # validate() runs before the slow TensorFlow import, so a bad flag answers at once.
    code = ("import sys; from tfpix2pix.cli import build_parser, resolve_config\n"
            "from tfpix2pix.errors import UserError\n"
            "p = build_parser('p', 'd')\n"
            "try:\n"
            "    resolve_config(p.parse_args(['--data', 'x', '--no-gan', '--gan-mode', 'hinge']))\n"
            "except UserError as exc:\n"
            "    print(exc)\n"
            "print(any(m.startswith('tensorflow') for m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    message, imported = done.stdout.strip().splitlines()
    assert "--no-gan" in message and imported == "False"


def test_input_nc_2_with_jpeg_data_is_refused_naming_the_file(capsys, tmp_path):
    write_pairs(tmp_path / "jpegs" / "train", 2, ext=".jpg")
    code, _out, err = run_main(capsys, "--data", str(tmp_path / "jpegs"), "--input-nc", "2",
                               "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(code, err, "0000.jpg", "--input-nc 2", "JPEG")
    assert not (tmp_path / "run").exists()  # refused before the run folder or a model


def test_bad_experiment_file(capsys, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"model": {"netg": "unet_256"}}))
    code, _out, err = run_main(capsys, "--config", str(path))
    assert_one_line_error(code, err, str(path), "unknown key 'model.netg'")
    path.write_text("model: [unclosed")
    code, _out, err = run_main(capsys, "--config", str(path))
    assert_one_line_error(code, err, str(path), "not valid YAML")


def test_unparseable_flag_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--epochs", "many"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--epochs" in err


def test_run_folder_of_another_model_is_refused(capsys, pairs_dir, tmp_path):
    common = ["--data", str(pairs_dir), "--run-dir", str(tmp_path / "run"), "--load-size", "72",
              "--crop-size", "64", "--netG", "unet_64", "--ngf", "8", "--ndf", "8",
              "--batch-size", "2", "--epochs", "1", "--n-epochs-decay", "0"]
    code, out, _err = run_main(capsys, *common)
    assert code == 0 and "Finished at step 4" in out
    code, _out, err = run_main(capsys, *common, "--ngf", "16")
    assert_one_line_error(code, err, "--run-dir", "--ngf 8", "--ngf 16")


def test_the_module_reports_errors_without_a_stack_trace(tmp_path):
    """The real entry point, in a fresh interpreter: one line on stderr, exit code 2."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "tfpix2pix.train", "--data", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --data ")
    help_proc = subprocess.run([sys.executable, "-m", "tfpix2pix.train", "--help"],
                               capture_output=True, text=True, env=env, timeout=120)
    assert help_proc.returncode == 0 and "--netG" in help_proc.stdout
