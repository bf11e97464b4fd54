"""The chat simulator: test a robot in a sandbox without Telegram (issue 8, item 6)."""

from desktop.simulator.panel import SimulatorDock, SimulatorPanel

__all__ = ["SimulatorDock", "SimulatorPanel"]
