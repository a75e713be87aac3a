"""The CLI's commands, one module each: ``add_parser(subparsers)`` adds the command (its
``func`` default is the module's ``run``), ``run(args)`` runs it and returns the exit status.

A new command is a module here with those two functions, listed in :data:`COMMANDS`."""

from landgui.cli.commands import (
    assess,
    compare,
    evaluate,
    finetune,
    gui,
    predict,
    sample_dataset,
    segment,
    split,
    train,
)

COMMANDS = (gui, split, train, evaluate, compare, predict, finetune, sample_dataset, segment, assess)
"""In the order ``landgui --help`` lists them."""
