"""Training a tiny Kimi-K2 on a CPU (course modules 15 and 17)."""

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .data import BatchIterator, pack_windows
from .schedule import wsd_learning_rate
from .trainer import OPTIMIZERS, TrainingError, TrainSettings, evaluate, read_log, train

__all__ = ["BatchIterator", "OPTIMIZERS", "TrainSettings", "TrainingError", "evaluate", "latest_checkpoint",
           "load_checkpoint", "pack_windows", "read_log", "save_checkpoint", "train", "wsd_learning_rate"]
