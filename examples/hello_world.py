"""Hello world, twice: as a function and as a class.

    python examples/hello_world.py --help
    python examples/hello_world.py --greeting Hi --times 2 -r /tmp/hello
    python examples/hello_world.py --debug
"""

from __future__ import annotations

import fexp
from fexp import Root


@fexp.experiment
def hello_world(
    root: Root,               # the experiment itself: directory, message(), ...
    greeting: str = "Hello",  # @p the word to start with
    to: str = "World",        # @p who to greet
    times: int = 1,           # @p how many times to greet; a help text may
                              #    continue on the next comment line
):
    """Greet someone and record how long the greeting was."""
    for _ in range(times):
        text = f"{greeting} {to}!"
        print(text)
        root.message({"length": len(text)})
    (root.directory / "greeting.txt").write_text(text + "\n")


class HelloWorld(fexp.Experiment):
    """The same experiment with the class API."""

    greeting: str = "Hello"  # @p the word to start with
    to: str = "World"        # @p who to greet
    times: int = 1           # @p how many times to greet

    def run(self) -> None:
        for _ in range(self.times):
            text = f"{self.greeting} {self.to}!"
            print(text)
            self.message({"length": len(text)})


if __name__ == "__main__":
    hello_world.main()
