"""The README: its quick start runs as it is written."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_the_readme_quick_start_runs_offline() -> None:
    """The README's first code block, as it is: it must run with no network and no secret."""
    from pathlib import Path  # noqa: PLC0415

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python", readme.index("## Quick start")) + len("```python")
    code = readme[start : readme.index("```", start)]
    assert "asyncio.run(main())" in code
    namespace: dict[str, object] = {"__name__": "quickstart"}
    exec(compile(code.replace("asyncio.run(main())", ""), "README", "exec"), namespace)  # noqa: S102
    main = namespace["main"]
    assert callable(main)
    await main()
