"""Built-in methods: rest.py. They register through zsarbench's entry points (pyproject.toml,
group zsarbench.methods), as a plugin's do."""
