"""`python -m bench`: every benchmark module in bench/ in turn, each printing its tables."""

import importlib
import pkgutil

import bench

HELPERS = {"harness", "engine", "worker"}  # shared by the benchmarks, not benchmarks

if __name__ == "__main__":
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
        if module in HELPERS or module.startswith("_"):
            continue
        benchmark = importlib.import_module(f"bench.{module}")
        if hasattr(benchmark, "main"):
            print(f"\n## bench.{module}\n", flush=True)
            benchmark.main([])
