"""Bundled rule packs (YAML), one folder per program. Data only; a package so it ships in the wheel."""
