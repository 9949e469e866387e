"""What a job runs: a callable, an import path, a registered task name, or a command."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cronwork.errors import TargetError


@dataclass(frozen=True, slots=True)
class Command:
    """A command line run as a subprocess; stdout and stderr are captured, exit code 0 is success.

    ``Command("./backup.sh --full")`` splits the string with shlex unless ``shell=True``.
    """

    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = field(default=None, hash=False)
    shell: bool = False

    def __init__(
        self,
        argv: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        shell: bool = False,
    ) -> None:
        if isinstance(argv, str):
            if not argv.strip():
                raise TargetError("command is empty")
            parts: tuple[str, ...] = (argv,) if shell else tuple(_split(argv))
        else:
            parts = tuple(argv)
            if not parts:
                raise TargetError("command is empty")
            for i, part in enumerate(parts):
                if not isinstance(part, str):
                    raise TargetError(
                        f"command argument {i} must be a string, got {type(part).__name__}"
                    )
        if env is not None:
            for key, value in env.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise TargetError(f"command env entry {key!r} must map a string to a string")
        object.__setattr__(self, "argv", parts)
        object.__setattr__(self, "cwd", cwd)
        object.__setattr__(self, "env", dict(env) if env is not None else None)
        object.__setattr__(self, "shell", shell)

    @property
    def line(self) -> str:
        """The command as one shell-quoted line, for display."""
        if self.shell:
            return self.argv[0]
        return shlex.join(self.argv)


def _split(text: str) -> list[str]:
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise TargetError(f"cannot split command {text!r}: {exc}") from None
    if not parts:
        raise TargetError("command is empty")
    return parts
