"""llama.cpp's own OpenAI-compatible HTTP server (xllamacpp) running the
bundled model on loopback: a real server that no one here wrote.

Run as a script: `python -m tests.servers.llama_server <model.gguf> <alias>`, with
the API key in LLAMA_SERVER_API_KEY; it prints its base URL and serves until
its standard input closes.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    import xllamacpp as xlc

    model, alias = sys.argv[1], sys.argv[2]
    params = xlc.CommonParams()
    params.model.path = model
    params.model_alias = alias
    params.n_ctx = 2048
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.hostnames = ["127.0.0.1"]
    params.api_keys = [os.environ["LLAMA_SERVER_API_KEY"]]
    params.verbosity = -1
    server = xlc.Server(params)
    print(f"{server.listening_address}/v1", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
