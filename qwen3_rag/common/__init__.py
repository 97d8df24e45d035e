"""What the commands share: model and store options, quiet libraries, rich terminal output."""
