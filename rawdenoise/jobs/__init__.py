"""The jobs behind the commands: one module per ``rawdenoise`` subcommand, each with a
validated options object (one field per command-line option) and the function that does the
work, reporting through callbacks. :mod:`rawdenoise.cli` maps its options onto these and shows
the results; nothing here prints or imports the CLI."""
