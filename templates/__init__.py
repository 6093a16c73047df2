"""The jinja2 templates of every generated file, shipped inside the package."""
