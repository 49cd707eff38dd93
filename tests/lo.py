"""LibreOffice headless as a formula recalculator for tests (shared helper).

LibreOffice trusts the cached values of an Excel file by default
(Tools → Options → Calc → Formula → "Recalculation on file load: Never
recalculate"). ``recalculate`` therefore runs soffice with a throw-away user
profile whose registrymodifications.xcu sets

    /org.openoffice.Office.Calc/Formula/Load  OOXMLRecalcMode = 0   (0 always, 1 never, 2 ask)
    /org.openoffice.Office.Calc/Formula/Load  ODFRecalcMode   = 0

and converts the files to .xlsx, which writes the recalculated values as the
formula cells' cached values. Many files go through one soffice call (one
start-up costs about a second; the machine has 2 cores and CI has a budget).

    from tests import lo           # or: import lo (tests/ is on sys.path under pytest)
    lo.require()                   # skips the test when soffice is missing
    converted = lo.recalculate([path1, path2])   # {original path: recalculated copy}
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

RECALC_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
</oor:items>
"""

XLSX_FILTER = "xlsx:Calc MS Excel 2007 XML"


def soffice() -> str | None:
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return None


def available() -> bool:
    return soffice() is not None


def require() -> None:
    """Skip the calling test when LibreOffice is not installed."""
    if not available():
        import pytest
        pytest.skip("LibreOffice (soffice) 未安装：跳过需要 LibreOffice 重新计算的测试")


def make_profile(recalc: bool = True) -> Path:
    """A fresh user profile folder (/tmp/anju-lo-<random>) with the recalculation settings."""
    profile = Path(tempfile.gettempdir()) / f"anju-lo-{uuid.uuid4().hex[:12]}"
    (profile / "user").mkdir(parents=True)
    if recalc:
        (profile / "user" / "registrymodifications.xcu").write_text(RECALC_XCU, encoding="utf-8")
    return profile


def convert(paths, outdir: Path, *, target: str = XLSX_FILTER, recalc: bool = True, timeout: int = 300,
            processes: int = 1) -> None:
    """Convert every path into outdir (names must be unique): one soffice call per process,
    each with its own profile, the files split between them."""
    binary = soffice()
    if binary is None:
        raise RuntimeError("LibreOffice (soffice) 未安装")
    paths = [str(p) for p in paths]
    processes = max(1, min(processes, len(paths)))
    groups = [paths[i::processes] for i in range(processes)]
    running = []
    try:
        for group in groups:
            profile = make_profile(recalc)
            env = dict(os.environ, HOME=str(profile))
            command = [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nolockcheck",
                       "--convert-to", target, "--outdir", str(outdir)] + group
            running.append((profile, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)))
        for profile, process in running:
            try:
                _, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise RuntimeError(f"soffice 超时（{timeout} 秒）") from None
            if process.returncode != 0:
                raise RuntimeError(f"soffice 失败（{process.returncode}）：{stderr.decode(errors='replace')[-2000:]}")
    finally:
        for profile, process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
            shutil.rmtree(profile, ignore_errors=True)


def recalculate(paths, outdir=None, *, recalc: bool = True, timeout: int = 300, processes: int = 1) -> dict:
    """Recalculate workbooks with LibreOffice; returns {original path: recalculated .xlsx copy}.

    The originals are never touched: they are copied (under unique names) to a
    temporary folder first. ``outdir`` defaults to a new temporary folder, which
    the caller removes (tests pass a folder under pytest's ``tmp_path``).
    """
    paths = [Path(p) for p in paths]
    work = Path(tempfile.mkdtemp(prefix="anju-lo-in-"))
    outdir = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="anju-lo-out-"))
    outdir.mkdir(parents=True, exist_ok=True)
    copies = {}
    try:
        for index, path in enumerate(paths):
            copy = work / f"{index:04d}-{path.name}"
            shutil.copyfile(path, copy)
            copies[path] = copy
        convert(list(copies.values()), outdir, recalc=recalc, timeout=timeout, processes=processes)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    result = {}
    for original, copy in copies.items():
        converted = outdir / (copy.stem + ".xlsx")
        if not converted.exists():
            raise RuntimeError(f"LibreOffice 没有生成“{converted.name}”（源文件 {original}）")
        result[original] = converted
    shutil.rmtree(work, ignore_errors=True)
    return result
