"""The robot (funnel) editor: canvas, palette, properties panel and problems list."""
