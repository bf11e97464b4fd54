"""Category icons of the node palette and node headers (white glyphs, 24×24 SVG)."""
