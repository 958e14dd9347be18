"""The command line and experiment files: flags, precedence, and one-line errors."""

import ast
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, command_env, write_pairs

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
    env = command_env()
    proc = subprocess.run([sys.executable, "-m", "tfpix2pix.train", "--data", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --data ")
    help_proc = subprocess.run([sys.executable, "-m", "tfpix2pix.train", "--help"],
                               capture_output=True, text=True, env=env, timeout=120)
    assert help_proc.returncode == 0 and "--netG" in help_proc.stdout


# --- --help --------------------------------------------------------------------------------

def _help_of(capsys, main_function):
    with pytest.raises(SystemExit) as exc:
        main_function(["--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_help_is_plain_text_with_one_options_section(capsys):
    from tfpix2pix.export.__main__ import main as export_main
    from tfpix2pix.predict import main as predict_main
    for command in (main, predict_main, export_main):
        text = _help_of(capsys, command)
        assert "``" not in text and "(default: '')" not in text
        assert text.count("\noptions:\n") == 1, text
        assert "(default: False)" not in text and "(default: ())" not in text
    options = _help_of(capsys, main).split("\noptions:\n")[1].split("\n\n")[0]
    assert "--config" in options and "--name" in options


def test_help_says_which_defaults_the_demo_changes(capsys):
    text = " ".join(_help_of(capsys, main).split())  # unwrapped
    assert "Without --data" in text and "'demo:'" in text
    helps = {action.dest: action.help for action in build_parser("p", "d")._actions}
    demo = {f"{section}.{key}": value for section, values in C.DEMO_PRESET.items()
            if isinstance(values, dict) for key, value in values.items()}
    demo["name"] = C.DEMO_PRESET["name"]
    for key, f, _typ in C.leaves():
        if key in demo:
            shown = f"(default: {f.default}; " if f.default != "" else "("
            assert helps[key].endswith(f"{shown}demo: {demo[key]})"), helps[key]
        else:
            assert "demo:" not in helps[key], key
    assert helps["train.lr"].endswith("(default: 0.0002)")


# --- names and defaults are declared once ----------------------------------------------------

def test_every_option_with_names_takes_them_from_a_registry():
    from tfpix2pix.names import GAN_MODES, LR_POLICIES, Registry
    for tree in (C.Config, C.PredictConfig, C.ExportConfig):
        for key, f, _typ in C.leaves(tree):
            choices = f.metadata["choices"]
            if choices is not None:
                assert isinstance(choices, Registry), key
                assert C.list_names(key) == choices.names
    assert C.list_names("gan_mode") == C.list_names("--gan-mode") == GAN_MODES.names
    assert C.list_names("train.lr_policy") == ("linear", "step", "cosine", "constant") == \
        LR_POLICIES.names
    with pytest.raises(KeyError):
        C.list_names("lr")


def _package_imports(path):
    """The tfpix2pix modules a source file imports, at the top or inside functions."""
    here = path.relative_to(ROOT).with_suffix("").parts[:-1]  # its package
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            prefix = ".".join(here[:len(here) + 1 - node.level]) if node.level else ""
            module = ".".join(part for part in (prefix, node.module) if part)
            if node.module is None:  # from .. import config
                found.update(f"{module}.{alias.name}" for alias in node.names)
            elif module.startswith("tfpix2pix"):
                found.add(module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tfpix2pix"))
    return found


def test_the_names_sit_below_config_models_and_training():
    # No upward import and no cycle: names imports nothing of the package; the model registry
    # and data layouts only names; config no training module.
    pkg = ROOT / "tfpix2pix"
    assert _package_imports(pkg / "names.py") == set()
    for path in (pkg / "models" / "registry.py", pkg / "data" / "layouts.py"):
        assert _package_imports(path) == {"tfpix2pix.names"}, path
    for path in (pkg / "config").glob("*.py"):
        assert not any(m.startswith("tfpix2pix.training") for m in _package_imports(path)), path


def test_the_registry_decides_which_model_options_apply():
    # Generated from models.registry: every option refused for exactly the architectures that
    # do not take it, accepted for the others; its default never counts as given.
    from tfpix2pix.errors import UserError
    from tfpix2pix.models.registry import DISCRIMINATORS, GENERATORS, OPTIONS
    base = C.apply_overrides(C.Config(), {"data": {"path": "x"}}, "test")
    for what, registry in (("netG", GENERATORS), ("netD", DISCRIMINATORS)):
        for name, arch in registry.items():
            for key, option in OPTIONS.items():
                if not any(key in a.options for a in registry.values()):
                    continue
                assert C.default(f"model.{option.config_field}") == option.default
                value = 5 if key == "num_downs" else 1
                cfg = C.apply_overrides(base, {"model": {what: name,
                                                         option.config_field: value}}, "test")
                if key in arch.options:
                    C.validate(C.apply_overrides(cfg, {"data": {"preprocess": "none"}}, "t"))
                else:
                    with pytest.raises(UserError, match=f"--{what} {name} takes none"):
                        C.validate(cfg)


def test_the_speed_benchmark_takes_the_training_flags_and_their_defaults():
    bench = ROOT / "benchmarks" / "train_speed.py"
    done = subprocess.run([sys.executable, str(bench), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for key in ("model.norm", "train.precision", "train.jit", "train.batch_size"):
        flag = C.flag_for(key)
        assert f"(default: {C.default(key)})" in text.split(f" {flag} ", 1)[1][:700], key
    assert "{batch,sync_batch,instance,none}" in text and "[{auto,on,off}]" in text
    done = subprocess.run([sys.executable, str(bench), "--norm", "group"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "--norm: unknown norm 'group'" in done.stderr
