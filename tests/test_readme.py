"""The README's code runs as written (fewer epochs) and learns."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_trains():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README has no python example"
    code = blocks[0].replace("epochs=10", "epochs=4").replace("verbose=2", "verbose=0")
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    history = namespace["model"].history.history
    assert np.isfinite(history["val_loss"]).all()
    # Retrieval beats the noise (MSE 1.0) and improves with training.
    assert history["val_loss"][-1] < 0.8
    assert history["val_loss"][-1] < history["val_loss"][0]


def _readme_commands():
    """Every `python examples/...`, `python benchmarks/...` or `python -m ...` command the README shows."""
    text = README.read_text(encoding="utf-8")
    spans = re.findall(r"`((?:KERAS_BACKEND=\w+ )?python [^`]+)`", text)
    spans += [line for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S) for line in block.splitlines()]
    commands = []
    for span in spans:
        for part in span.split("&&"):
            part = part.strip()
            match = re.match(r"(?:KERAS_BACKEND=\w+ )?python (-m [\w.]+|\S+\.py)(.*)", part)
            if match and not match.group(1).startswith("-m pytest"):
                commands.append((match.group(1), match.group(2).split("...")[0].split()))
    return commands


def test_every_command_the_readme_shows_exists_with_its_options():
    repo = README.parent
    commands = _readme_commands()
    assert len(commands) >= 15, commands
    for target, args in commands:
        if target.startswith("-m "):
            module = target[3:]
            assert (repo / (module.replace(".", "/") + ".py")).is_file(), target
            continue
        script = repo / target
        assert script.is_file(), target
        # the options are declared by the script or by the shared helpers it calls
        sources = script.read_text(encoding="utf-8") + "".join(
            (script.parent / helper).read_text(encoding="utf-8")
            for helper in ("_common.py", "_harness.py")
            if (script.parent / helper).is_file()
        )
        for option in (a for a in args if a.startswith("--")):
            assert f'"{option}"' in sources, f"{target} has no option {option}"
