"""Sequence classification: a recurrent classifier of labelled text (sentiment, topic, the language of a name).

    config.py   the run's settings and the task's training defaults
    data.py     vocab.json (``ClassifyVocab``), text -> ids, training/validation/test splits
    metrics.py  the classification report, as a table and a confusion-matrix picture
    predict.py  class probabilities and the run's predictor (``Classifier``)
    task.py     ``TASK``: the task behind ``rnnkit.runs.train("classify", ...)``, cross-validation included

Train, resume and open runs with ``rnnkit.runs`` (``train``, ``resume``, ``open_run``).
"""

from rnnkit.tasks.classify.config import LEVELS, TRAIN_DEFAULTS, ClassifyConfig, ClassifyDataConfig, fold_config
from rnnkit.tasks.classify.data import ClassifyVocab, Splits, build_vocab, encode_texts, load_splits, text_tokens
from rnnkit.tasks.classify.metrics import classification_report, format_report, plot_confusion
from rnnkit.tasks.classify.predict import Classifier, predict_proba, score
from rnnkit.tasks.classify.task import (
    CONFUSION_FILE,
    CV_FILE,
    REPORT_FILE,
    TASK,
    ClassifyTask,
    classify_loss,
    fold_row,
)

__all__ = ["CONFUSION_FILE", "CV_FILE", "LEVELS", "REPORT_FILE", "TASK", "TRAIN_DEFAULTS", "Classifier",
           "ClassifyConfig", "ClassifyDataConfig", "ClassifyTask", "ClassifyVocab", "Splits", "build_vocab",
           "classification_report", "classify_loss", "encode_texts", "fold_config", "fold_row", "format_report",
           "load_splits", "plot_confusion", "predict_proba", "score", "text_tokens"]
