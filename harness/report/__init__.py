"""Reports people can look at: HTML with inline SVG charts, JSON beside it."""
