"""One module per task, wiring data, model, loss, metrics and defaults."""
