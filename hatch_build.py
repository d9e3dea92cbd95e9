"""Build hook: the wheel carries the template's release history as a git bundle.

`jaxscaffold update` renders the release a project was made with and the new one, so
a wheel needs more than the template's files to update offline. This hook builds the
history (`scaffold.history.build_bundle`: the checkout's releases up to the
package's version, and the template files as that version) and adds it to the wheel
as `scaffold/_template/history.bundle`. Editable installs skip it: a checkout builds
the history when asked.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent


class HistoryBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds `history.bundle` to the wheel's template."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Builds the bundle into a scratch folder and force-includes it."""
        if self.target_name != "wheel" or version == "editable":
            return
        sys.path.insert(0, str(ROOT))
        try:
            from scaffold import __version__
            from scaffold.history import BUNDLE, build_bundle
        finally:
            sys.path.remove(str(ROOT))
        self._scratch = tempfile.TemporaryDirectory(prefix="jaxscaffold-build-")
        bundle = Path(self._scratch.name) / BUNDLE
        build_bundle(ROOT, __version__, bundle)
        build_data["force_include"][str(bundle)] = f"scaffold/_template/{BUNDLE}"

    def finalize(
        self, version: str, build_data: dict[str, Any], artifact_path: str
    ) -> None:
        """Removes the scratch folder once the wheel is written."""
        if hasattr(self, "_scratch"):
            self._scratch.cleanup()
