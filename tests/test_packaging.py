"""Installing tfbin, again and again: tfbin.zoo and tfbin.convert stay importable from anywhere."""
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def source(tmp_path):
    """A copy of the project's files that an install reads."""
    copy = tmp_path / "src"
    for name in ("tfbin", "zoo", "convert"):
        shutil.copytree(os.path.join(ROOT, name), copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md", "_tfbin_command.py"):
        shutil.copy(os.path.join(ROOT, name), copy / name)
    return copy


def fresh_environment(path):
    """A new venv without tfbin, whose dependencies come from this one's site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # A path line in a .pth file is not itself scanned for .pth files, so this
    # environment does not see the editable install of the running tests.
    with open(os.path.join(site, "dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return python


def pip_install(python, *args):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", *args],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def import_from_elsewhere(python, cwd):
    code = "import tfbin, tfbin.zoo, tfbin.convert, tfbin.cli; print(tfbin.zoo.__file__); print(tfbin.convert.__file__)"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_editable_install_twice_keeps_the_subpackages_importable(source, tmp_path):
    python = fresh_environment(tmp_path / "venv")
    pip_install(python, "-e", str(source))
    pip_install(python, "-e", str(source))  # as after a `git pull`
    zoo, convert = import_from_elsewhere(python, tmp_path)
    assert zoo == str(source / "zoo" / "__init__.py")
    assert convert == str(source / "convert" / "__init__.py")


def test_regular_install_has_the_subpackages(source, tmp_path):
    python = fresh_environment(tmp_path / "venv")
    pip_install(python, str(source))
    zoo, convert = import_from_elsewhere(python, tmp_path)
    assert zoo.endswith(os.path.join("site-packages", "tfbin", "zoo", "__init__.py"))
    assert convert.endswith(os.path.join("site-packages", "tfbin", "convert", "__init__.py"))
