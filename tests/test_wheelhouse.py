"""Offline install: every wheel the app needs is in the wheelhouse, and the app starts from it.

Why: city servers often cannot reach a package index. `make wheelhouse` fills a folder on a
machine that can; the server installs from that folder alone. This test proves the folder is
complete the way the server would find out — a fresh virtual environment, `pip install
--no-index --find-links WHEELHOUSE citybi` with every index and proxy unreachable, then the app
started from that environment until Streamlit's health check answers.

Cost: the third-party wheels (~270 MB, the lock's run-time pins) are built once per content of
requirements.lock, pyproject.toml and the Makefile and kept in .cache/wheelhouse/ (git-ignored);
a clean CI clone downloads them from the index once. The wheel of citybi is built from this
checkout on every run, so the test never installs yesterday's code.
"""
from __future__ import annotations

import ast
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "wheelhouse"
# nothing listens on port 9 (discard): any attempt to reach an index through a proxy fails at once
UNREACHABLE = "http://127.0.0.1:9"
START_S = 180.0

pytestmark = pytest.mark.offline


# run in the fresh venv: import every module of the wheel and every module the pages import; a
# run-time dependency missing from the wheelhouse fails here by name, not later on some page
IMPORT_ALL = """
import importlib, importlib.resources, pkgutil, sys
import citybi, connectors
names = sys.argv[1:]
for pkg in (citybi, connectors):
    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
              if not m.name.endswith("__main__")]
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{name}: {type(err).__name__}: {err}")
if not importlib.resources.files("citybi.ui").joinpath("icon.png").is_file():
    failed.append("citybi/ui/icon.png is not in the wheel")
print(citybi.__file__, connectors.__file__, len(names))
print("\\n".join(failed), file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def _page_imports() -> list[str]:
    """Every absolute import in app.py and pages/ (they are scripts, not part of the wheel)."""
    names: set[str] = set()
    for script in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return sorted(names)


def _key() -> str:
    """What the cached wheels depend on: the pins, the declared dependencies, the recipe."""
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml", "Makefile"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def _offline_env(**extra: str) -> dict[str, str]:
    """This process's environment without any way to an index: no pip/uv settings or config files
    (this machine's pip.conf adds find-links and extra indexes), PIP_NO_INDEX, a dead proxy."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"))
           and not k.lower().endswith("_proxy")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_PROXY=UNREACHABLE, HTTP_PROXY=UNREACHABLE, HTTPS_PROXY=UNREACHABLE, ALL_PROXY=UNREACHABLE,
               http_proxy=UNREACHABLE, https_proxy=UNREACHABLE, all_proxy=UNREACHABLE, NO_PROXY="", no_proxy="")
    env.update(extra)
    return env


def _run(cmd: list[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 900) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cached third-party wheels (built with `make wheelhouse` when the key changed) plus a
    wheel of citybi built from this checkout, offline, with the setuptools the wheelhouse holds."""
    cached = CACHE / _key()
    if not (cached / "requirements.txt").exists():
        # older keys hold ~270 MB each and are never used again
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        _run(["make", "-s", "wheelhouse", f"WHEELHOUSE={cached}"], cwd=ROOT, timeout=1800)
    house = tmp_path_factory.mktemp("wheelhouse")
    for wheel in cached.iterdir():
        if not wheel.name.startswith("citybi-"):
            (house / wheel.name).symlink_to(wheel)
    build = tmp_path_factory.mktemp("citybi_build")
    shutil.copytree(ROOT, build / "src", ignore=shutil.ignore_patterns(
        ".venv", ".git", ".cache", "data", "build", "*.egg-info", "__pycache__", "tests", "wheelhouse*"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--find-links", house, "-w", house,
          build / "src"], env=_offline_env())
    return house


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and resp.read().strip() == b"ok":
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def test_a_fresh_venv_installs_from_the_wheelhouse_alone_and_the_app_starts(
        wheelhouse: Path, tmp_path: Path) -> None:
    server_log = tmp_path / "serve.log"
    venv = tmp_path / "venv"
    env = _offline_env()
    _run([sys.executable, "-m", "venv", venv], env=env)  # ensurepip's bundled pip: offline too
    py = venv / "bin" / "python"
    # --no-compile: byte-compiling every module of ~75 packages is most of pip's time here (37 s
    # without it, ~2 min with it on this 2-core machine) and proves nothing about completeness
    _run([py, "-m", "pip", "install", "-q", "--no-compile", "--no-index", "--find-links", wheelhouse, "citybi"],
         env=env)

    # pip's own view: every declared requirement, lazy imports included (pydeck, kaleido), is installed
    _run([py, "-m", "pip", "check"], env=env)
    # everything imports, from the new environment, not from this checkout (-P: no cwd on sys.path)
    citybi_file, connectors_file, count = _run([py, "-P", "-c", IMPORT_ALL, *_page_imports()], env=env,
                                               cwd=tmp_path).split()
    assert Path(citybi_file).is_relative_to(venv) and Path(connectors_file).is_relative_to(venv)
    assert int(count) > 100  # the walk saw the package, not an empty shell
    assert "citybi" in _run([venv / "bin" / "citybi", "--help"], env=env, cwd=tmp_path)

    # the app: the checkout's pages on the new environment's packages, a throw-away warehouse.
    # Started from tmp_path so `-m` cannot pick up this checkout's citybi before the installed one.
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with server_log.open("wb") as out:
        proc = subprocess.Popen(
            [str(py), "-m", "citybi.ui.serve", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
            env=_offline_env(CITYBI_DB=str(tmp_path / "city.duckdb")),
        )
    try:
        assert _healthy(proc, url), f"the app did not answer {url}/_stcore/health:\n{server_log.read_text()[-3000:]}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group, started just above
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
