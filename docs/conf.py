"""Sphinx configuration: numpydoc docstrings, sphinx-gallery examples."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import skl_sepnmf  # noqa: E402

project = "skl_sepnmf"
author = "the skl_sepnmf developers"
copyright = "2026, the skl_sepnmf developers"
release = version = skl_sepnmf.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# No intersphinx: documentation builds offline.
extlinks = {"doi": ("https://doi.org/%s", "doi:%s")}
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]

html_theme = "pydata_sphinx_theme"
# The gallery pages embed their audio players (base64 WAV): a copy of each
# page's source would double their size in the built docs.
html_copy_source = False
html_title = f"skl_sepnmf {version}"
html_theme_options = {"navigation_with_keys": False}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # scripts with arguments, shown in the docs pages, not in the gallery
    "ignore_pattern": r"(quickstart|separate_collection)\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}
