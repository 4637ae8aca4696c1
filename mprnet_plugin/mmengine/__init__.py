"""MMEngine integration: model, dataset, metrics and launchers."""
