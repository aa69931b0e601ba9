"""The plugin author kit: the template package, built and installed like a third-party plugin from a folder
outside packages/, passes the public lithops.testing contract suites and shows up in `lithops plugins`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "lithops-plugin-template"


def test_template_plugin_builds_installs_and_passes_the_contract(tmp_path):
    source = tmp_path / "lithops-plugin-template"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
    site = tmp_path / "site"
    # builds the wheel with the template's own build backend (hatchling), then installs it, all offline
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (site / "lithops_plugin_template" / "plugin.py").exists()
    assert list(site.glob("lithops_plugin_template-0.1.0.dist-info/entry_points.txt"))

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
               PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([sys.executable, "-c", "import lithops_plugin_template as m; print(m.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(site)), where  # the installed copy, not a source tree

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", str(source / "tests"), "-q", "-p", "no:cacheprovider", "-rs"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    summary = tests.stdout.strip().splitlines()[-1]
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " failed" not in summary and " passed" in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 40  # every suite ran: plugin, storage and compute
    assert "backend declares no 'timeout' capability" in tests.stdout  # only the declared gaps were skipped

    plugins = subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", "plugins"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert "lithops-plugin-template 0.1.0" in plugins.stdout
    assert "compute  template (serverless)" in plugins.stdout
    assert "storage  template_storage" in plugins.stdout

    script = (
        "import lithops\n"
        "with lithops.FunctionExecutor(backend='template', log_level=None, max_workers=3) as fexec:\n"
        "    print(fexec.map(lambda x: x * x, range(6), chunksize=2).get_result())\n"
    )
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "[0, 1, 4, 9, 16, 25]", run.stderr


def test_the_tutorial_shows_the_template_files_as_they_are():
    """docs/plugins.md walks through the template file by file: each block must be the file itself."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    doc = doc[doc.index("## Tutorial"):doc.index("## Another example")]
    blocks = re.findall(r"^`([^`\n]+)`:\n\n```\w*\n(.*?)\n```$", doc, flags=re.S | re.M)
    shown = {path: text for path, text in blocks if (TEMPLATE / path).is_file()}
    expected = {"pyproject.toml", "src/lithops_plugin_template/plugin.py", "src/lithops_plugin_template/storage.py",
                "src/lithops_plugin_template/compute.py", "tests/conftest.py", "tests/test_contract.py"}
    assert set(shown) == expected
    for path, text in shown.items():
        assert text == (TEMPLATE / path).read_text().rstrip(), f"docs/plugins.md shows an outdated {path}"


def _install_metadata_only(site, package, module, source, entry_point=None):
    """A real installed distribution (its metadata and one module) that registers ``module`` as a plugin."""
    dist = site / f"{package.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[lithops]\n{entry_point or package} = {module}\n")
    (site / f"{module}.py").write_text(source)


def _lithops(*args, env, timeout=120):
    return subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _env(tmp_path, site):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    return dict(os.environ, LITHOPS_CONFIG_FILE=str(empty), LITHOPS_STATE_DIR=str(tmp_path / "state"),
                LITHOPS_DISABLED_PLUGINS="lithops-aws",
                PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))


CLASH = '''
from lithops.plugins import StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="localhost", backend="lithops_localhost.storage:LocalhostStorage")]
'''

EXTENSION = '''
import click

from lithops.plugins import StorageBackendSpec, hookimpl
from lithops_localhost.plugin import STORAGE_CONFIG

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="extstore", backend="lithops_localhost.storage:LocalhostStorage",
                               config=STORAGE_CONFIG, checks=("lithops_ext_plugin:bucket_is_writable",))]


@click.group("extstore")
def extstore():
    """Commands of the extstore plugin."""


@extstore.command("hello")
@click.argument("name")
def hello(name):
    """Greet NAME."""
    click.echo(f"extstore says hello to {name}")


@hookimpl
def lithops_cli_commands():
    return [extstore]


def bucket_is_writable(fexec):
    fexec.storage.put_object(fexec.storage.bucket, "ext-check", b"1")
    fexec.storage.delete_object(fexec.storage.bucket, "ext-check")
    return f"wrote to {fexec.storage.bucket}"
'''


def test_plugins_flags_conflicts_and_exits_1_on_failures(tmp_path):
    site = tmp_path / "site"
    _install_metadata_only(site, "lithops-clash", "lithops_clash_plugin", CLASH)
    env = _env(tmp_path, site)
    out = _lithops("plugins", env=env)
    assert out.returncode == 1, out
    assert ("CONFLICT: storage backend 'localhost' is registered by both lithops-clash and lithops-localhost: "
            "neither can be used. Uninstall one (pip uninstall lithops-clash)" in out.stdout), out.stdout
    assert "(plugin API 1)" in out.stdout

    _install_metadata_only(site, "lithops-future", "lithops_future_plugin", 'LITHOPS_PLUGIN_API = "7"\n')
    env["LITHOPS_DISABLED_PLUGINS"] += ",lithops-clash"
    out = _lithops("plugins", env=env)
    assert out.returncode == 1, out
    assert "FAILED TO LOAD: lithops-future 0.1 is written for Lithops plugin API '7'" in out.stdout, out.stdout
    assert "pip install --upgrade lithops-core" in out.stdout


def test_a_plugin_adds_commands_and_self_checks(tmp_path):
    site = tmp_path / "site"
    _install_metadata_only(site, "lithops-ext", "lithops_ext_plugin", EXTENSION)
    env = _env(tmp_path, site)
    out = _lithops("--help", env=env)
    assert "  extstore " in out.stdout, out.stdout
    out = _lithops("extstore", "hello", "you", env=env)
    assert out.returncode == 0 and out.stdout.strip() == "extstore says hello to you", out
    out = _lithops("plugins", env=env)
    assert "command  lithops extstore  Commands of the extstore plugin." in out.stdout, out.stdout
    out = _lithops("test", "-s", "extstore", "-t", "bucket_is_writable", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "extstore: bucket is writ" in out.stdout and "wrote to storage" in out.stdout, out.stdout
