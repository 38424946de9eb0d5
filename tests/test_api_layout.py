"""The public API of `keras_hopfield.corruptions`, `keras_hopfield.attacks` and `keras_hopfield.functional`
is pinned (issue 28, Layout).

The first two were single modules and are now packages split by kind; `functional.py` and
`functional_classical.py` became the `functional` package split by model family (the old
`functional_classical` path re-exports its names). The names below were
taken from the modules before the split (every public name defined in the module),
so a name that goes missing, appears by accident or stays behind in the package's
`__init__` fails here; the serialised names of the layers and the private helpers
other modules import are pinned as well.
"""

import importlib
import pickle
import pkgutil
import types

import keras
import pytest

# [n for n in dir(module) if not n.startswith("_")], filtered to objects defined in the
# module, computed on corruptions.py / attacks.py before the split.
CORRUPTIONS = [
    "Brightness", "ColumnOcclusion", "Contrast", "GaussianNoise", "KeepTopFraction", "PerlinMask",
    "RandomPatchMask", "RandomPixelMask", "RowOcclusion", "adjust_brightness", "adjust_contrast",
    "check_fraction", "check_value_range", "gaussian_noise", "keep_top_fraction", "occlude_columns",
    "occlude_rows", "perlin_mask", "perlin_noise", "prepare_images", "random_patch_mask",
    "random_pixel_mask",
]
ATTACKS = [
    "ATTACKS", "Attack", "BIM", "DIFGSM", "EOTPGD", "FFGSM", "FGSM", "MIFGSM", "NIFGSM", "PGD", "bim",
    "difgsm", "eotpgd", "evaluate_transfer", "ffgsm", "fgsm", "get", "input_diversity",
    "make_surrogate_autoencoder", "mifgsm", "nifgsm", "per_sample_loss", "pgd",
    "train_surrogate_autoencoder", "transfer_attack",
]
# functional.py and functional_classical.py before the split (their `__all__` was exactly these).
FUNCTIONAL = [
    "ATTRACTOR_ACTIVATIONS", "AUTO_CHUNKED_MIN_PATTERNS", "RETRIEVALS", "SEPARATIONS", "SETTLE_LOSSES", "association",
    "attractor_activation", "attractor_activation_derivative", "barrier", "barrier_of_preactivation",
    "default_chunk_size", "entmax15", "global_fixed_point_beta", "hopfield_energy", "hopfield_iterate",
    "hopfield_retrieve", "hopfield_update", "lse", "pattern_separation", "resolve_retrieval", "retrieval_beta",
    "separate", "separation_conjugate", "settle_loss", "softmax", "sparsemax",
]
FUNCTIONAL_CLASSICAL = [
    "DYNAMICS", "INTERACTIONS", "TIES", "binarize", "classical_energy", "classical_local_field",
    "classical_parallel_step", "classical_sequential_sweep", "dam_capacity_estimate", "dam_classifier", "dam_energy",
    "dam_sequential_sweep", "dam_unit_fields", "double_factorial", "hebb_weights", "interaction",
    "interaction_derivative", "projector_update", "pseudo_inverse_weights", "run_classical_dynamics",
    "run_dam_dynamics", "sign", "zero_diagonal",
]
# Everything but the three validation helpers was in `__all__` before the split too.
CORRUPTIONS_ALL = sorted(set(CORRUPTIONS) - {"check_fraction", "check_value_range", "prepare_images"})
ATTACKS_ALL = sorted(ATTACKS)
# The rooms of each package (module name -> the public names it defines).
LAYOUT = {
    "keras_hopfield.corruptions": {
        "_common": {"check_fraction", "check_value_range", "prepare_images"},
        "noise": {"gaussian_noise", "GaussianNoise"},
        "masks": {
            "random_pixel_mask", "perlin_noise", "perlin_mask", "random_patch_mask", "occlude_columns",
            "occlude_rows", "keep_top_fraction", "RandomPixelMask", "PerlinMask", "RandomPatchMask",
            "ColumnOcclusion", "RowOcclusion", "KeepTopFraction",
        },
        "photometric": {"adjust_brightness", "adjust_contrast", "Brightness", "Contrast"},
    },
    "keras_hopfield.attacks": {
        "_common": {"Attack", "per_sample_loss"},
        "single_step": {"fgsm", "ffgsm", "FGSM", "FFGSM"},
        "iterative": {
            "bim", "pgd", "mifgsm", "nifgsm", "difgsm", "eotpgd", "input_diversity",
            "BIM", "PGD", "MIFGSM", "NIFGSM", "DIFGSM", "EOTPGD",
        },
        "registry": {"ATTACKS", "get"},
        "transfer": {
            "make_surrogate_autoencoder", "train_surrogate_autoencoder", "transfer_attack", "evaluate_transfer",
        },
    },
    "keras_hopfield.functional": {
        "_common": set(),
        "separation": {"SEPARATIONS", "lse", "softmax", "sparsemax", "entmax15", "separate", "separation_conjugate"},
        "modern": {
            "association", "hopfield_update", "hopfield_energy", "hopfield_iterate", "hopfield_retrieve",
            "global_fixed_point_beta", "pattern_separation", "retrieval_beta",
        },
        "chunked": {"RETRIEVALS", "AUTO_CHUNKED_MIN_PATTERNS", "resolve_retrieval", "default_chunk_size"},
        "attractor": {
            "ATTRACTOR_ACTIVATIONS", "SETTLE_LOSSES", "attractor_activation", "attractor_activation_derivative",
            "barrier", "barrier_of_preactivation", "settle_loss",
        },
        "classical": {
            "DYNAMICS", "TIES", "sign", "binarize", "zero_diagonal", "hebb_weights", "pseudo_inverse_weights",
            "projector_update", "classical_local_field", "classical_energy", "classical_parallel_step",
            "classical_sequential_sweep", "run_classical_dynamics",
        },
        "dense_memory": {
            "INTERACTIONS", "interaction", "interaction_derivative", "dam_energy", "dam_unit_fields",
            "dam_sequential_sweep", "run_dam_dynamics", "dam_classifier", "double_factorial", "dam_capacity_estimate",
        },
    },
}
PINNED = {
    "keras_hopfield.corruptions": CORRUPTIONS,
    "keras_hopfield.attacks": ATTACKS,
    # The package holds both former modules' names.
    "keras_hopfield.functional": FUNCTIONAL + FUNCTIONAL_CLASSICAL,
}
PINNED_ALL = {
    "keras_hopfield.corruptions": CORRUPTIONS_ALL,
    "keras_hopfield.attacks": ATTACKS_ALL,
    "keras_hopfield.functional": sorted(FUNCTIONAL + FUNCTIONAL_CLASSICAL),
}


def _public(module):
    return sorted(
        n for n in dir(module) if not n.startswith("_") and not isinstance(getattr(module, n), types.ModuleType)
    )


@pytest.mark.parametrize("package", sorted(PINNED))
def test_public_names_are_the_pinned_ones(package):
    module = importlib.import_module(package)
    assert _public(module) == sorted(PINNED[package])
    assert sorted(module.__all__) == PINNED_ALL[package]


@pytest.mark.parametrize("package", sorted(PINNED))
def test_every_name_imports_from_the_old_path_and_lives_in_its_room(package):
    module = importlib.import_module(package)
    rooms = {importlib.import_module(f"{package}.{room}"): names for room, names in LAYOUT[package].items()}
    assert set().union(*rooms.values()) == set(PINNED[package])
    for name in PINNED[package]:
        obj = getattr(module, name)
        exec(f"from {package} import {name}", {})  # the old import path
        (home,) = [room for room, names in rooms.items() if name in names]
        assert getattr(home, name) is obj, name
        if hasattr(obj, "__module__") and not isinstance(obj, dict):
            assert obj.__module__ == home.__name__, (name, obj.__module__)
            assert obj.__module__.startswith(package + "."), (name, obj.__module__)
    # The public rooms list exactly their own public names in `__all__`.
    for room, names in rooms.items():
        if not room.__name__.rsplit(".", 1)[1].startswith("_"):
            assert set(room.__all__) == names, room.__name__


def test_the_packages_have_exactly_these_rooms():
    for package, layout in LAYOUT.items():
        module = importlib.import_module(package)
        found = {m.name for m in pkgutil.iter_modules(module.__path__)}
        assert found == set(layout), (package, found)


def test_the_old_functional_classical_path_keeps_its_names():
    from keras_hopfield import functional, functional_classical

    assert _public(functional_classical) == sorted(FUNCTIONAL_CLASSICAL)
    assert sorted(functional_classical.__all__) == sorted(FUNCTIONAL_CLASSICAL)
    for name in FUNCTIONAL_CLASSICAL:
        exec(f"from keras_hopfield.functional_classical import {name}", {})
        assert getattr(functional_classical, name) is getattr(functional, name), name


def test_the_functional_api_page_documents_every_room():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "api" / "functional.md").read_text()
    for room in LAYOUT["keras_hopfield.functional"]:
        if not room.startswith("_"):
            assert f"::: keras_hopfield.functional.{room}\n" in text, room


def test_layers_keep_their_registered_names():
    """Files saved before the split name the layers `keras_hopfield>Class`; that is what they load by."""
    from keras_hopfield import corruptions as C

    for name in ["Brightness", "ColumnOcclusion", "Contrast", "GaussianNoise", "KeepTopFraction", "PerlinMask",
                 "RandomPatchMask", "RandomPixelMask", "RowOcclusion"]:
        cls = getattr(C, name)
        assert keras.saving.get_registered_name(cls) == f"keras_hopfield>{name}"
        assert keras.saving.get_registered_object(f"keras_hopfield>{name}") is cls


def test_a_model_saved_with_the_old_module_path_loads(tmp_path):
    """A `.keras` file written before the split records `module: keras_hopfield.corruptions`."""
    import json
    import zipfile

    from keras_hopfield import corruptions as C

    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, C.Contrast(0.5)(C.PerlinMask(0.3, 2, seed=1)(C.GaussianNoise(0.1, seed=0)(inputs))))
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"][1:]:
        layer["module"] = "keras_hopfield.corruptions"  # as the pre-split module wrote it
    files["config.json"] = json.dumps(config).encode()
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(old, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    loaded = keras.saving.load_model(old)
    assert [type(layer) for layer in loaded.layers[1:]] == [C.GaussianNoise, C.PerlinMask, C.Contrast]
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]


def test_attack_objects_pickle_and_private_helpers_stay_importable():
    from keras_hopfield import attacks as A

    # The Attack classes are built with type(); they must be findable where __module__ says.
    for cls in A.ATTACKS.values():
        attack = cls(eps=0.1)
        assert type(pickle.loads(pickle.dumps(attack))) is cls
        assert pickle.loads(pickle.dumps(attack)).params == {"eps": 0.1}
    # Private helpers other modules import from the old path (keras_hopfield.metrics, attacks).
    from keras_hopfield.corruptions import _check_seed, _SeedStream, _to_float_tensor  # noqa: F401


@pytest.mark.parametrize(
    "package, page",
    [("keras_hopfield.corruptions", "corruptions.md"), ("keras_hopfield.attacks", "attacks.md")],
)
def test_the_api_page_lists_every_public_name(package, page):
    """The reference page names its members (the package re-exports them from its rooms), so it
    must list every public name; the attack classes made by `_attack_class` (no static docstring)
    are documented through their functions and `ATTACKS`."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "evaluation" / page).read_text()
    block = re.search(rf"^::: {re.escape(package)}\n    options:\n      members:\n((?:        - \w+\n)+)", text, re.M)
    assert block, f"docs/evaluation/{page} has no members list for {package}"
    listed = re.findall(r"- (\w+)", block.group(1))
    generated = {"FGSM", "FFGSM", "BIM", "PGD", "MIFGSM", "NIFGSM", "DIFGSM", "EOTPGD"}
    assert len(listed) == len(set(listed))
    assert set(listed) == set(PINNED[package]) - generated
