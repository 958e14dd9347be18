"""The one typed configuration tree, and what is made of it.

Every option lives in ``schema``, once, as a dataclass field with its default and
help text. The command line (``cli.py``), experiment files (``experiments/*.yaml``,
read by ``loading``) and the ``config.yaml`` each run writes are all views of this
tree; ``checks`` refuses what cannot train, before TensorFlow loads.

Precedence, lowest first: field defaults, the built-in demo preset (only when
no dataset is given), the ``--config`` file, command-line flags.
"""

from .checks import check_choices, validate
from .loading import (BASE_KEY, LEGACY_VALUES, apply_overrides, load_yaml, merge, save_yaml,
                      to_dict)
from .schema import (DEMO_PRESET, SECTION_TOPICS, TOPICS, Config, DataConfig, DemoConfig,
                     EvaluateConfig, ExportConfig, InferConfig, LogConfig, ModelConfig,
                     PredictConfig, TrainConfig, default, flag_for, flag_name, get, leaves, list_names, opt)

__all__ = ["Config", "DataConfig", "ModelConfig", "TrainConfig", "LogConfig", "InferConfig",
           "PredictConfig", "EvaluateConfig", "ExportConfig", "DemoConfig", "DEMO_PRESET",
           "TOPICS", "SECTION_TOPICS", "opt",
           "leaves", "get", "default", "flag_name", "flag_for", "list_names", "to_dict",
           "apply_overrides", "merge", "load_yaml", "save_yaml", "BASE_KEY", "LEGACY_VALUES",
           "validate", "check_choices"]
