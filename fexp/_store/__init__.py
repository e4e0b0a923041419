"""Every byte on disk: atomic writes, params.yml, twins, the row index, messages, checkpoints."""
