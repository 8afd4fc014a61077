"""Small I/O helpers shared by HQ, edge and speech code (crash-safe files, YAML config files)."""
