"""Where the bundled rule packs live, for installed and editable installs alike."""

from importlib.resources import files
from pathlib import Path


def rules_folder(program: str) -> Path:
    return Path(str(files("rules").joinpath(program)))
