"""Renderers of the shared report: HTML (also the PDF's source), PDF, and the Excel workbook."""
