"""The `trainyard` command-line tool."""


def main() -> None:
    raise SystemExit("trainyard: not built yet")
