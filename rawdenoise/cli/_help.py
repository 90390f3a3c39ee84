"""One style for the values in ``--help``: flags show none, values an UPPERCASE metavar.

Typer shows Python types (``--overwrite <bool>``, ``<list[Path]>``, ``<str>``). After the app
is built, :func:`tidy_metavars` walks every command and gives

- a flag (``--json``, ``--verify/--no-verify``, typer's own ``--install-completion``) no metavar;
- a value option or argument without an explicit ``metavar`` one made from its type: ``N``
  (int), ``NUMBER`` (float), ``TEXT`` (str), ``FILE``, ``DIR`` or ``PATH`` (paths), the choices
  joined by ``|`` (enums); an argument's name is its metavar (``PATHS``), and no type follows it.

Commands set a meaningful metavar themselves where a type says too little (``--model NAME``,
``--option KEY=VALUE``, ``--shard I/N``); this fills in the rest, so no Python type leaks.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

_SIMPLE = {int: "N", float: "NUMBER", str: "TEXT"}


def _from_annotation(annotation: Any) -> str | None:
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return _from_annotation(args[0]) if args else None
    return _SIMPLE.get(annotation)


def derived_metavar(param: Any) -> str:
    """The metavar a typer parameter gets from its type (see the module docstring)."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return "VALUE"
    if desc.is_choice and desc.choices:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if desc.is_path:
        kind = desc.path_type.upper()
        return kind if kind in ("FILE", "DIR") else "PATH"
    simple = _from_annotation(desc.annotation)
    if simple is not None:
        return simple
    return "PATH" if "Path" in str(desc.annotation) else "VALUE"


def _no_type(ctx: Any = None) -> None:
    """An argument's metavar says it all: no ``<type>`` after it."""
    return None


def tidy_metavars(command: Any, parent: Any = None) -> Any:
    """Apply the help style to ``command`` and its subcommands, in place; returns it.

    ``--help`` is made lazily by click, from the context's ``help_option_names``: it is made
    here in a context like the one a real run gets (``parent``'s, for a subcommand) so that
    the flag can be tidied too (click caches it on the command).
    """
    ctx = command.context_class(command, parent=parent, **command.context_settings)
    params = [*getattr(command, "params", [])]
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.display_type_rich = _no_type
        elif param.metavar is None:
            param.metavar = derived_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        tidy_metavars(sub, ctx)
    return command
