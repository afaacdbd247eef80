"""The README's 30-second example runs as written."""
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs():
    text = README.read_text()
    code = text.split("## 30-second example", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)
    assert tuple(namespace["spikes"].shape) == (75, 32, 128)
    assert tuple(namespace["out"].states.shape) == (100, 8, 1, 2)
