"""Sequence classification: a recurrent classifier of labelled text (sentiment, topic, the language of a name).

    config.py   the run's settings and the task's training defaults
    data.py     vocab.json (``ClassifyVocab``), text -> ids, training/validation/test splits
    metrics.py  the classification report, as a table and a confusion-matrix picture
    predict.py  class probabilities and the run's predictor (``Classifier``)
    wide.py     the wide part (NB-weighted n-gram logistic regression): fitting, ``wide.pt``, loading
    task.py     ``TASK``: the task behind ``rnnkit.runs.train("classify", ...)``, cross-validation included

Train, resume and open runs with ``rnnkit.runs`` (``train``, ``resume``, ``open_run``).
"""

from rnnkit.tasks.classify.config import (
    LEVELS,
    TRAIN_DEFAULTS,
    ClassifyConfig,
    ClassifyDataConfig,
    WideConfig,
    fold_config,
)
from rnnkit.tasks.classify.data import (
    ClassifyVocab,
    Splits,
    build_vocab,
    encode_texts,
    load_splits,
    text_tokens,
    wide_tokens,
)
from rnnkit.tasks.classify.metrics import classification_report, format_report, plot_confusion
from rnnkit.tasks.classify.predict import Classifier, mix_proba, predict_proba, score, score_proba
from rnnkit.tasks.classify.task import (
    CONFUSION_FILE,
    CV_FILE,
    REPORT_FILE,
    TASK,
    ClassifyTask,
    classify_loss,
    fold_row,
    split_report,
)
from rnnkit.tasks.classify.wide import WIDE_FILE, fit_wide, load_wide, save_wide

__all__ = ["CONFUSION_FILE", "CV_FILE", "LEVELS", "REPORT_FILE", "TASK", "TRAIN_DEFAULTS", "WIDE_FILE", "Classifier",
           "ClassifyConfig", "ClassifyDataConfig", "ClassifyTask", "ClassifyVocab", "Splits", "WideConfig",
           "build_vocab", "classification_report", "classify_loss", "encode_texts", "fit_wide", "fold_config",
           "fold_row", "format_report", "load_splits", "load_wide", "mix_proba", "plot_confusion", "predict_proba",
           "save_wide", "score", "score_proba", "split_report", "text_tokens", "wide_tokens"]
