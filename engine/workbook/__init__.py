"""Workbook input/output for anju: reading templates and writing results back losslessly."""
