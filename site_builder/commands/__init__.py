"""One module per command (or group of commands); cli.py only lists them."""
