# -*- coding: utf-8 -*-
"""anju: the 重新计算 button for LibreOffice Calc (a Python-UNO user macro).

Installed into the LibreOffice user profile (user/Scripts/python/anju_button.py)
by ``anju button install-libreoffice``, which also fills in ANJU_PATHS below.
Script URI of the macro:

    vnd.sun.star.script:anju_button.py$recalculate?language=Python&location=user

LibreOffice runs user macros with its own Python (on Linux the system python3),
so this file only makes the anju engine importable there and hands over to
``engine.button.libreoffice.run_macro``; all the work and every message is there.
Run it as a script (``python3 anju_button.py``) to check that the engine imports.
"""

import os
import site
import sys

# Folders holding the anju engine and the packages it needs, written at install time.
ANJU_PATHS = []


def _add_anju_paths():
    before = list(sys.path)
    for path in ANJU_PATHS:
        if os.path.isdir(path) and path not in sys.path:
            site.addsitedir(path)            # also runs .pth files (editable installs)
    added = [p for p in sys.path if p not in before]
    if added:                                # anju's packages before the system's
        sys.path[:] = added + [p for p in sys.path if p not in added]


def _cannot_load(exc):
    text = ("无法加载 anju 引擎（%s: %s）。\n请在命令行运行“anju button install-libreoffice”重新安装按钮，"
            "并确认 LibreOffice 使用的 Python 版本与安装 anju 的 Python 相同。" % (type(exc).__name__, exc))
    try:
        import uno
        ctx = XSCRIPTCONTEXT.getComponentContext()
        doc = XSCRIPTCONTEXT.getDocument()
        window = doc.getCurrentController().getFrame().getContainerWindow()
        toolkit = ctx.ServiceManager.createInstanceWithContext("com.sun.star.awt.Toolkit", ctx)
        box = toolkit.createMessageBox(window, uno.Enum("com.sun.star.awt.MessageBoxType", "ERRORBOX"), 1,
                                       "anju 重新计算", text)
        box.execute()
    except BaseException:
        pass
    return text


def recalculate(*args):
    """重新计算当前工作簿（anju）。"""
    try:
        _add_anju_paths()
        from engine.button.libreoffice import run_macro
    except BaseException as exc:
        return _cannot_load(exc)
    return run_macro(XSCRIPTCONTEXT, args)


g_exportedScripts = (recalculate,)


if __name__ == "__main__":
    _add_anju_paths()
    import engine.button.libreoffice as module
    from engine import __version__
    print("anju %s OK: %s (Python %s)" % (__version__, module.__file__, sys.version.split()[0]))
