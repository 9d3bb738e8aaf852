"""Collected results tables, figures and the self-contained HTML ablation report."""
