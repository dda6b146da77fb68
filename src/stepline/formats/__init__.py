"""Text formats several subpackages read, each parsed in one place.

- `formats.yaml`: safe YAML that remembers the line and column of every key and value, so a
  message can say `pipeline.yaml:12:5: steps.train.component: ...` (pipeline.yaml, MLproject,
  python_env.yaml, conda.yml all go through it);
- `formats.refs`: the reference grammar: artifacts `[project/]name[:alias|vN]` and registered
  models `NAME@alias`, `NAME:vK`, `models:/NAME/K`.

These modules import nothing from stepline but `stepline.errors`, so every layer may use them.
"""
