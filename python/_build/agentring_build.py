"""A PEP 517 build backend for the agentring package, standard library only.

Why not setuptools: the package is pure Python with no build step, and setuptools can only make a
wheel with the `wheel` package installed (before setuptools 70.1), which an offline machine may
lack. This backend needs nothing: `pip install ./python` works offline, with or without
--no-build-isolation, on any Python >= 3.8.

Hooks: build_wheel, build_sdist, build_editable (PEP 660: a .pth file pointing at this source
tree, so the package keeps finding ../build/lib/libagentring.so), prepare_metadata_for_build_wheel
and the get_requires_* hooks (nothing required). The name, version, summary and requires-python
come from pyproject.toml's [project] table.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # python/
PACKAGE = "agentring"
WHEEL_TAG = "py3-none-any"


def _project():
    """[project] name, version, description, requires-python from pyproject.toml."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        text = f.read().decode("utf-8")
    try:
        import tomllib  # Python 3.11+

        return tomllib.loads(text)["project"]
    except ImportError:
        pass
    # Older Pythons: the [project] table's simple `key = "string"` lines are all we need.
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
    return dict(re.findall(r'^([A-Za-z-]+)\s*=\s*"([^"]*)"\s*$', section, re.M))


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", "Name: %s" % p["name"], "Version: %s" % p["version"]]
    if p.get("description"):
        lines.append("Summary: %s" % p["description"])
    if p.get("requires-python"):
        lines.append("Requires-Python: %s" % p["requires-python"])
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return p["name"], p["version"], "\n".join(lines) + "\n\n" + body


def _dist_info_name(name, version):
    return "%s-%s.dist-info" % (re.sub(r"[-_.]+", "_", name), version)


def _package_files():
    """(archive path, absolute path) of every module of the package, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".typed")):
                full = os.path.join(dirpath, fn)
                out.append((os.path.relpath(full, ROOT).replace(os.sep, "/"), full))
    return out


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def _write_wheel(wheel_directory, files):
    """Writes a wheel holding `files` ((archive path, bytes)) plus its dist-info."""
    name, version, metadata = _metadata()
    dist_info = _dist_info_name(name, version)
    wheel_name = "%s-%s-%s.whl" % (re.sub(r"[-_.]+", "_", name), version, WHEEL_TAG)
    files = list(files) + [
        (dist_info + "/METADATA", metadata.encode("utf-8")),
        (dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: agentring_build\n"
                                "Root-Is-Purelib: true\nTag: %s\n" % WHEEL_TAG).encode()),
    ]
    record = [_record_line(path, data) for path, data in files]
    record.append(dist_info + "/RECORD,,")
    files.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return wheel_name


# ---- PEP 517 / PEP 660 hooks ---------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, metadata = _metadata()
    dist_info = _dist_info_name(name, version)
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w",
              encoding="utf-8") as f:
        f.write(metadata)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for arc, full in _package_files():
        with open(full, "rb") as f:
            files.append((arc, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [("agentring_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = "%s-%s" % (re.sub(r"[-_.]+", "_", name), version)
    members = [("PKG-INFO", metadata.encode("utf-8"))]
    for rel in ("pyproject.toml", "README.md", "_build/agentring_build.py"):
        full = os.path.join(ROOT, rel)
        if os.path.exists(full):
            with open(full, "rb") as f:
                members.append((rel, f.read()))
    for arc, full in _package_files():
        with open(full, "rb") as f:
            members.append((arc, f.read()))
    sdist_name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, sdist_name), "w:gz",
                      format=tarfile.PAX_FORMAT) as tar:
        for rel, data in members:
            info = tarfile.TarInfo("%s/%s" % (base, rel))
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return sdist_name
