"""KPI Workbench domain and storage (no UI code here)."""
