"""Where the installed template is, and what its `copier.yml` says."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from scaffold.errors import ScaffoldError


@functools.cache
def template_root() -> Path:
    """Returns the folder holding `copier.yml` and `template/`.

    An installed wheel carries them in `scaffold/_template`; a source checkout (an
    editable install) has them beside the package.
    """
    here = Path(__file__).resolve().parent
    for root in (here / "_template", here.parent):
        if (root / "copier.yml").is_file() and (root / "template").is_dir():
            return root
    raise ScaffoldError(
        "This installation of jaxscaffold lacks its template; reinstall jaxscaffold."
    )


@functools.cache
def template_config() -> dict[str, Any]:
    """Returns `copier.yml`: its settings (`_...`), questions and derived values."""
    config: dict[str, Any] = yaml.safe_load(
        (template_root() / "copier.yml").read_text()
    )
    return config
