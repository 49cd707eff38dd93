Attribute VB_Name = "AnjuButton"
Option Explicit

' anju: the recalculate button of the evaluation templates.
' Keep this module ASCII-only: VBA stores source in the ANSI code page.
' All user-facing text lives in Python (engine.excel_button) and in cells.
' The command is a literal on purpose: cmd.exe and sh see it unchanged.

Sub AnjuRecalculate()
    RunPython "import engine.excel_button as b; b.recalculate()"
End Sub
