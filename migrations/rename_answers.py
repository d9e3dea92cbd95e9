"""Renames answers in a generated project's answers file: a Copier migration.

When a release renames a question, `copier.yml` gets a migration that runs this script
before the update renders anything, so the project's old answer is kept under the new
name instead of being replaced by the new question's default:

    _migrations:
      - version: v0.3.0
        when: "{{ _stage == 'before' }}"
        command:
          - "{{ _copier_python }}"
          - "{{ _copier_conf.src_path }}/migrations/rename_answers.py"
          - "{{ _copier_conf.answers_file }}"
          - old_name=new_name

It runs with the Python that runs Copier, so PyYAML (a dependency of Copier) is there.
An answer already under its new name is left alone, so running it twice is harmless.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HEADER = "# Changes here will be overwritten by Copier; do not edit by hand.\n"


def rename(answers_file: Path, renames: dict[str, str]) -> list[str]:
    """Renames the answers `old` to `new` for each pair; returns the old names."""
    answers = yaml.safe_load(answers_file.read_text()) or {}
    renamed = []
    for old, new in renames.items():
        if old in answers and new not in answers:
            answers[new] = answers.pop(old)
            renamed.append(old)
    if renamed:
        write(answers_file, answers)
    return renamed


def write(answers_file: Path, answers: dict[str, object]) -> None:
    """Replaces the answers file with `answers` at once."""
    partial = answers_file.with_name(f".{answers_file.name}.partial")
    partial.write_text(HEADER + yaml.safe_dump(answers, default_flow_style=False))
    partial.replace(answers_file)


def main(argv: list[str]) -> int:
    """Runs `rename_answers.py ANSWERS_FILE OLD=NEW ...`."""
    if len(argv) < 2 or not all(arg.count("=") == 1 for arg in argv[1:]):
        print(f"usage: {Path(__file__).name} ANSWERS_FILE OLD=NEW ...", file=sys.stderr)
        return 2
    rename(Path(argv[0]), dict(arg.split("=") for arg in argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
