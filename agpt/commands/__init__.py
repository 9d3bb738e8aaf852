"""Subcommands of the agpt CLI; each module has add_arguments(parser) and main(args)."""
