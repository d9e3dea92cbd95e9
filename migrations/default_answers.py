"""Gives a generated project answers it lacks: a Copier migration.

When a release adds a question whose default should not apply to projects made
before it (a licence, say, which a project never chose), `copier.yml` gets a
migration that runs this script before the update renders anything, so those
projects keep the value they had in effect:

    _migrations:
      - version: v0.6.0
        when: "{{ _stage == 'before' }}"
        command:
          - "{{ _copier_python }}"
          - "{{ _copier_conf.src_path }}/migrations/default_answers.py"
          - "{{ _copier_conf.answers_file }}"
          - license=none

An answer the project has, or one given with `--data`, is left alone. Values are
read as YAML (`none` stays the string "none"; `false` is a boolean).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from rename_answers import write  # Beside this file, on its path.


def add_missing(answers_file: Path, defaults: dict[str, str]) -> list[str]:
    """Adds each answer of `defaults` the file lacks; returns their names."""
    answers = yaml.safe_load(answers_file.read_text()) or {}
    added = [name for name in defaults if name not in answers]
    for name in added:
        answers[name] = yaml.safe_load(defaults[name])
    if added:
        write(answers_file, answers)
    return added


def main(argv: list[str]) -> int:
    """Runs `default_answers.py ANSWERS_FILE NAME=VALUE ...`."""
    if len(argv) < 2 or not all("=" in arg for arg in argv[1:]):
        usage = f"usage: {Path(__file__).name} ANSWERS_FILE NAME=VALUE ..."
        print(usage, file=sys.stderr)
        return 2
    add_missing(Path(argv[0]), dict(arg.split("=", 1) for arg in argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
