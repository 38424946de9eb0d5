"""Every guide opens with a snippet that runs (on the current backend), and the nav lists every page."""

import re
from pathlib import Path

import keras
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
MKDOCS = DOCS.parent / "mkdocs.yml"


def _nav_pages(section):
    """The pages listed under a top-level nav `section` of mkdocs.yml (nested groups included)."""
    lines = MKDOCS.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- {section}:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    pages = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        match = re.search(r":\s*(\S+\.md)\s*$", line)
        if match:
            pages.append(match.group(1))
    return pages


GUIDES = _nav_pages("Guides")


def test_the_guides_are_found():
    assert {"retrieval.md", "cban.md", "crhn.md", "distributed.md", "evaluation/attacks.md"} <= set(GUIDES)


@pytest.mark.parametrize("page", GUIDES)
def test_guide_opens_with_a_runnable_snippet(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    title, body = text.split("\n", 1)
    assert title.startswith("# "), page
    assert body.lstrip().startswith("```python\n"), f"{page} must open with a python snippet"
    code = body.lstrip()[len("```python\n") :].split("\n```", 1)[0]
    backend = re.match(r"# backend: (\w+)", code)
    if backend and backend.group(1) != keras.backend.backend():
        pytest.skip(f"the snippet of {page} is for the {backend.group(1)} backend")
    exec(compile(code, str(DOCS / page), "exec"), {"__name__": "__docs__"})
    keras.backend.clear_session()


def test_every_docs_page_is_in_the_nav():
    listed = set(re.findall(r":\s*(\S+\.md)\s*$", MKDOCS.read_text(encoding="utf-8"), flags=re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), "pages missing from mkdocs.yml nav"
