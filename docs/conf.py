"""Sphinx configuration of sfckit's documentation site (built locally, kept in the repo).

Build: ``python -m sphinx -W -b html docs docs/_build`` (warnings are errors; the gallery
in ``examples/`` runs at build time on simulated cohorts).
"""

import os
from importlib.metadata import version as installed_version

os.environ.setdefault("MPLBACKEND", "Agg")

# the API reference's step functions, one per verb of the step registry (included by api.rst)
_here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_here, "api_steps.rst"), "w", encoding="utf-8") as _page:
    from sfckit.docs import api_steps_rst

    _page.write(api_steps_rst())

project = "sfckit"
author = "sfckit developers"
release = installed_version("sfckit")
extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build", "api_steps.rst", "auto_examples/*.ipynb", "auto_examples/*.py", "**.zip"
]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_typehints = "signature"  # real types in the signatures (and the numpydoc sections)
html_theme = "alabaster"
html_static_path: list[str] = []
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "show_memory": False,
}
