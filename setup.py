"""Installs the repository's top-level folders under one `aet` package.

The layout keeps `config/ pipelines/ components/ kinds/ domains/ serving/ report/` at the top of the
repository; installed, they are `aet.config`, `aet.pipelines`, ... so nothing generic
lands at the top of a user's site-packages. Metadata and dependencies: setup.cfg.
"""

from setuptools import find_packages, setup

FOLDERS = ("config", "pipelines", "components", "kinds", "domains", "serving", "report")

packages = [
    f"aet.{package}"
    for folder in FOLDERS
    for package in [folder, *(f"{folder}.{sub}" for sub in find_packages(folder))]
]
setup(
    packages=packages,
    package_dir={f"aet.{folder}": folder for folder in FOLDERS},
)
