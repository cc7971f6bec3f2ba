"""llama-cpp-python's OpenAI-compatible server, with llama.cpp's weight repacking off.

    python -m bots.engines.llamacpp_server --model FILE.gguf --host 127.0.0.1 --port 8001

The same arguments as `python -m llama_cpp.server`; on CPUs where llama.cpp's repacked
weights crash (bots/engines/llamacpp.py, `disable_weight_repacking`) this one serves.
"""

from __future__ import annotations

import runpy

from bots.engines.llamacpp import disable_weight_repacking

if __name__ == "__main__":
    disable_weight_repacking()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
