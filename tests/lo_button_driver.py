"""Drive one headless LibreOffice for the button tests (run with LibreOffice's Python).

    python3 lo_button_driver.py JOB.json

JOB: {"soffice": path, "profile": folder, "script": script URI, "log_dir": folder,
      "files": [{"path": …, "presses": 1, "store": true, "inspect": false, "before": copy path}, …]}

One soffice process for everything (start-up is most of the cost): for each file,
load it hidden, make its frame the active one (so the macro finds it as the
current document, as after a click on the toolbar), press the button through the
script provider ``presses`` times (no arguments, as a toolbar or menu does), store
the document in its own format and close it. Prints one JSON line:
{"files": [{"path", "texts", "modules", "buttons"}…], "toolbar": […], "no_document": text}.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def inspect(doc):
    modules = {}
    libraries = doc.BasicLibraries
    for library in libraries.getElementNames():
        libraries.loadLibrary(library)
        container = libraries.getByName(library)
        for module in container.getElementNames():
            modules[library + "." + module] = container.getByName(module)
    buttons = []
    sheets = doc.Sheets
    for i in range(sheets.Count):
        sheet = sheets.getByIndex(i)
        forms = sheet.DrawPage.Forms
        for f in range(forms.Count):
            form = forms.getByIndex(f)
            for c in range(form.Count):
                buttons.append({"sheet": sheet.Name, "label": getattr(form.getByIndex(c), "Label", None),
                                "events": [e.ScriptCode for e in form.getScriptEvents(c)]})
    return modules, buttons


def main():
    job = json.load(open(sys.argv[1], encoding="utf-8"))
    pipe = "anju_" + uuid.uuid4().hex
    env = dict(os.environ, ANJU_LOG_DIR=job["log_dir"])
    proc = subprocess.Popen(
        [job["soffice"], "--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
         "-env:UserInstallation=" + uno.systemPathToFileUrl(job["profile"]),
         "--accept=pipe,name=%s;urp;" % pipe],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    out = {"files": []}
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(480):
            try:
                ctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
                break
            except Exception:
                if proc.poll() is not None:
                    raise SystemExit("soffice exited with %s" % proc.returncode)
                time.sleep(0.25)
        else:
            raise SystemExit("soffice did not accept a connection")
        smgr = ctx.ServiceManager
        desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)

        # the toolbar the installer added, as Calc's UI configuration sees it
        supplier = smgr.createInstanceWithContext("com.sun.star.ui.ModuleUIConfigurationManagerSupplier", ctx)
        manager = supplier.getUIConfigurationManager("com.sun.star.sheet.SpreadsheetDocument")
        resource = "private:resource/toolbar/custom_toolbar_anju"
        toolbar = []
        if manager.hasSettings(resource):
            settings = manager.getSettings(resource, False)
            for i in range(settings.Count):
                item = {p.Name: p.Value for p in settings.getByIndex(i)}
                toolbar.append({"url": item.get("CommandURL"), "label": item.get("Label")})
        out["toolbar"] = toolbar

        # pressed with no spreadsheet open at all
        factory = smgr.createInstanceWithContext("com.sun.star.script.provider.MasterScriptProviderFactory", ctx)
        out["no_document"] = factory.createScriptProvider("").getScript(job["script"]).invoke((), (), ())[0]

        for item in job["files"]:
            doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(item["path"]), "_blank", 0,
                                               (prop("Hidden", True),))
            doc.getCurrentController().getFrame().activate()
            if item.get("before"):       # the same document stored by LibreOffice before any press
                filter_name = next(a.Value for a in doc.getArgs() if a.Name == "FilterName")
                doc.storeToURL(uno.systemPathToFileUrl(item["before"]), (prop("FilterName", filter_name),))
            script = doc.getScriptProvider().getScript(job["script"])
            texts = []
            for _ in range(item.get("presses", 1)):
                started = time.time()
                texts.append(script.invoke((), (), ())[0])
                texts.append(round(time.time() - started, 3))
            result = {"path": item["path"], "texts": texts[0::2], "seconds": texts[1::2]}
            if item.get("inspect"):
                result["modules"], result["buttons"] = inspect(doc)
            if item.get("store", True):
                doc.store()
            doc.close(True)
            out["files"].append(result)
        try:
            desktop.terminate()
        except Exception:
            pass            # the bridge goes away with the office process
    finally:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
