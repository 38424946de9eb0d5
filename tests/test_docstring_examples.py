"""Every `>>>` example in the docstrings of `keras_hopfield` runs, as a doctest, on each backend.

Each docstring runs in an empty namespace, so an example must import what it uses
(as a reader copying it would have to), and its printed results are compared
with what the docstring shows (`ELLIPSIS`, `NORMALIZE_WHITESPACE`). The examples of
`keras_hopfield.datasets` read the local data directory and run as real-data tests.
"""

import doctest
import importlib
import pkgutil
import warnings

import keras
import pytest

import keras_hopfield

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules():
    names = ["keras_hopfield"] + [m.name for m in pkgutil.walk_packages(keras_hopfield.__path__, "keras_hopfield.")]
    return [importlib.import_module(name) for name in names]


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = {}
    for module in _modules():
        for test in finder.find(module, globs={}):
            if test.examples:
                tests[test.name] = test
    return tests


DOCTESTS = _doctests()


def test_the_docstrings_have_examples():
    # A guard against the finder silently collecting nothing (e.g. a changed layout).
    assert len(DOCTESTS) > 100
    for name in ("keras_hopfield.layers.retrieval.HopfieldRetrieval", "keras_hopfield.models.cban.CBAN"):
        assert name in DOCTESTS


def _needs_data(name):
    return name == "keras_hopfield.datasets" or name.startswith("keras_hopfield.datasets.")


@pytest.mark.parametrize("name", sorted(n for n in DOCTESTS if not _needs_data(n)))
def test_docstring_example(name):
    _run(DOCTESTS[name])


@pytest.mark.parametrize("name", sorted(n for n in DOCTESTS if _needs_data(n)))
def test_docstring_example_with_data(name, data_dir, monkeypatch):
    monkeypatch.setenv("KERAS_HOPFIELD_DATA", data_dir)
    _run(DOCTESTS[name])


def _run(test):
    keras.utils.set_random_seed(0)
    test = doctest.DocTest(list(test.examples), {}, test.name, test.filename, test.lineno, test.docstring)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)
