"""`python -m cllm_build` is the same as the `cllm` command."""

from cllm_build.cli import main

main()
